"""A stand-in's network: its own namespace joined to the sandbox's by a veth pair.

Slot X gives namespace cattle-si-X and a veth pair: cattle-siX in the sandbox's namespace
(169.254.X.1/30) and eth0 in the stand-in's (169.254.X.2/30). There is deliberately no
default route inside: anything but the sandbox side fails at once with "unreachable". The
one other route is the instance metadata service's address, 169.254.169.254, through the
sandbox side, where cattle_sandbox.imds answers it.

`ip netns add` refuses an existing name, so creating the namespace is what claims a
slot: safe across pytest-xdist workers and concurrent test runs, which all share
/run/netns.
"""

import fcntl
import time
from dataclasses import dataclass
from pathlib import Path

from . import commands, paths

NETNS_DIR = Path("/run/netns")
NETNS_PREFIX = "cattle-si-"
PREFIX_LENGTH = 30
# 169.254.169.x is where clouds put their metadata service; never look like it.
SLOTS = tuple(slot for slot in range(1, 255) if slot != 169)
METADATA_ADDRESS = "169.254.169.254"
LINK_GONE_TIMEOUT = 5


class NoFreeSlot(RuntimeError):
    pass


@dataclass(frozen=True)
class StandInNetwork:
    slot: int

    @property
    def netns(self):
        return f"{NETNS_PREFIX}{self.slot}"

    @property
    def netns_path(self):
        return NETNS_DIR / self.netns

    @property
    def sandbox_interface(self):
        return f"{NETNS_PREFIX.rstrip('-')}{self.slot}"  # at most 12 of the 15 characters allowed

    @property
    def standin_interface(self):
        # Alone in its namespace, so it can carry the name an EC2 instance's first interface has.
        return "eth0"

    @property
    def sandbox_address(self):
        return f"169.254.{self.slot}.1"

    @property
    def standin_address(self):
        return f"169.254.{self.slot}.2"


def claim_network():
    """Claims a free slot and wires it up; the caller must release_network() it."""
    for slot in search_order():
        network = StandInNetwork(slot)
        if network.netns_path.exists() or not try_add_netns(network.netns):
            continue
        try:
            connect(network)
        except Exception:
            release_network(network)
            raise
        # What the metadata service said about an earlier instance at this address is void.
        (paths.metadata_registry() / f"{network.standin_address}.json").unlink(missing_ok=True)
        return network
    raise NoFreeSlot(
        f"all {len(SLOTS)} stand-in slots are taken ({NETNS_DIR}/{NETNS_PREFIX}*): stop stale stand-ins "
        "with `python -m cattle_sandbox.standin cleanup`"
    )


def search_order():
    """All slots, starting after the one the previous claim started at.

    Round-robin, so a slot just released is not handed out again at once: a check that
    nothing of a stopped stand-in remains must not find its successor instead.
    """
    start = next_counter_value() % len(SLOTS)
    return SLOTS[start:] + SLOTS[:start]


def next_counter_value():
    """A counter shared by every process using this cache, incremented under a lock."""
    counter = paths.run_root() / ".slot-counter"
    counter.parent.mkdir(parents=True, exist_ok=True)
    with open(counter, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read().strip()
        value = int(text) if text.isdigit() else 0
        handle.seek(0)
        handle.truncate()
        handle.write(f"{value + 1}\n")
    return value


def try_add_netns(name):
    """False when another process created the same name first."""
    result = commands.run(["ip", "netns", "add", name], check=False)
    if result.returncode == 0:
        return True
    if (NETNS_DIR / name).exists():
        return False
    raise commands.CommandError(["ip", "netns", "add", name], result.returncode, result.stderr)


def connect(network):
    """veth pair from the current (sandbox) namespace into the stand-in's, both ends up."""
    delete_link_if_present(network.sandbox_interface)  # a leak of an earlier owner of this slot
    ns = ["ip", "-n", network.netns]
    steps = [
        ["ip", "link", "add", network.sandbox_interface, "type", "veth",
         "peer", "name", network.standin_interface, "netns", network.netns],
        ["ip", "addr", "add", f"{network.sandbox_address}/{PREFIX_LENGTH}", "dev", network.sandbox_interface],
        ["ip", "link", "set", network.sandbox_interface, "up"],
        [*ns, "addr", "add", f"{network.standin_address}/{PREFIX_LENGTH}", "dev", network.standin_interface],
        [*ns, "link", "set", network.standin_interface, "up"],
        [*ns, "link", "set", "lo", "up"],
        [*ns, "route", "add", f"{METADATA_ADDRESS}/32", "via", network.sandbox_address],
    ]
    for argv in steps:
        commands.run(argv)


def release_network(network):
    """Deletes the namespace (which takes the veth pair with it) and any sandbox-side leftover."""
    if network.netns_path.exists():
        commands.run(["ip", "netns", "delete", network.netns])
    # The kernel dismantles the namespace, and our end of the pair with it, asynchronously.
    if not wait_until(lambda: not link_exists(network.sandbox_interface), LINK_GONE_TIMEOUT):
        delete_link_if_present(network.sandbox_interface)


def delete_link_if_present(interface):
    result = commands.run(["ip", "link", "delete", interface], check=False)
    if result.returncode != 0 and link_exists(interface):
        raise commands.CommandError(["ip", "link", "delete", interface], result.returncode, result.stderr)


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def link_exists(interface):
    # Not /sys/class/net: sysfs shows the namespace it was mounted in, not necessarily ours.
    return commands.run(["ip", "link", "show", "dev", interface], check=False).returncode == 0


def netns_names():
    listing = commands.run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]
