"""Removing stand-ins whose owning process died without tearing them down (kill -9, OOM).

Each running stand-in has a state.json in its working directory naming its owner; a
stand-in whose owner is gone is stopped and removed the same way stop() would (its root
overlay unmounted, its upper directory deleted with the working directory). The image
stores of sandboxes (AMI contents) that died are removed too, and the shared root copies
(shared_roots.py) are pruned to their bound once the stale stand-ins no longer use them.
"""

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ..image_store import OWNER_FILE, STORE_PREFIX
from . import cgroups, commands, mounts, namespaces, network, paths, shared_roots
from .instance import read_argv

# A directory without state.json is a boot that is just starting, unless it is this old.
STATELESS_GRACE_SECONDS = 60
SHUTDOWN_GRACE = 15


@dataclass(frozen=True)
class StaleStandIn:
    work: Path
    state: dict

    @property
    def slot(self):
        return self.state.get("slot")


def find_stale():
    return [stale for stale in map(read_instance, sorted(paths.run_root().glob("standin-*"))) if stale]


def read_instance(work):
    """A StaleStandIn when work's owner is gone, else None."""
    state = read_state(work)
    if state is None:
        try:
            age = time.time() - work.stat().st_mtime
        except OSError:
            return None  # removed meanwhile
        return StaleStandIn(work, {}) if age > STATELESS_GRACE_SECONDS else None
    return None if owner_alive(state) else StaleStandIn(work, state)


def read_state(work):
    return read_json(work / "state.json")


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def owner_alive(state):
    pid = state.get("owner_pid")
    return bool(pid) and namespaces.process_alive(pid) and namespaces.start_time(pid) == state.get("owner_start")


def cleanup_stale(log=print):
    """Stops and removes every stale stand-in; returns how many there were."""
    # One cleanup at a time: two at once would both remove the same stand-in.
    with commands.exclusive_lock(paths.run_root() / ".cleanup.lock"):
        stale_ones = find_stale()
        for stale in stale_ones:
            log(f"standin: removing stale stand-in {stale.work.name} (slot {stale.slot}, owner {stale.state.get('owner_pid')})")
            remove(stale)
        for store in stale_image_stores():
            log(f"standin: removing image store {store.name} of a sandbox that is gone")
            shutil.rmtree(store, ignore_errors=True)
        shared_roots.prune(log=log)
    for name in orphan_namespaces():
        log(f"standin: network namespace {name} belongs to no known stand-in; remove it with `ip netns delete {name}`")
    return len(stale_ones)


def stale_image_stores():
    """AMI content directories (cattle_sandbox.image_store) of sandboxes that died without stopping."""
    stale = []
    for store in sorted(paths.run_root().glob(f"{STORE_PREFIX}*")):
        owner = read_json(store / OWNER_FILE)
        if owner is None:
            try:
                too_old = time.time() - store.stat().st_mtime > STATELESS_GRACE_SECONDS
            except OSError:
                continue  # removed meanwhile
            if too_old:
                stale.append(store)
        elif not owner_alive(owner):
            stale.append(store)
    return stale


def remove(stale):
    stop_nspawn(stale)
    # Those recorded at boot: the owner's own cgroup (v1 memory) need not be ours.
    cgroups.remove(stale.work.name, stale.state.get("cgroups") or None)
    # A slot whose namespace was already deleted may have gone to a live stand-in since.
    if stale.slot is not None and stale.slot not in slots(live_only=True):
        network.release_network(network.StandInNetwork(stale.slot))
    if stale.work.exists():
        mounts.remove_tree(stale.work)


def stop_nspawn(stale):
    """SIGTERM (orderly poweroff), then SIGKILL to the stand-in's init, then to nspawn."""
    pid = stale.state.get("nspawn_pid")
    if not pid or str(stale.work) not in " ".join(read_argv(pid)):
        return  # gone, or the pid now belongs to someone else
    os.kill(pid, signal.SIGTERM)
    if wait_for_exit(pid, SHUTDOWN_GRACE):
        return
    init_pid = stale.state.get("init_pid")
    if init_pid and init_matches(init_pid, stale.state.get("namespaces") or {}):
        os.kill(init_pid, signal.SIGKILL)
    if not wait_for_exit(pid, 5):
        os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, 5)


def init_matches(pid, recorded):
    return bool(recorded) and all(namespaces.namespace_id(pid, kind) == ns for kind, ns in recorded.items())


def wait_for_exit(pid, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not namespaces.process_alive(pid):
            return True
        time.sleep(0.1)
    return not namespaces.process_alive(pid)


def orphan_namespaces():
    """cattle-si-* namespaces that no stand-in directory claims."""
    claimed = {f"{network.NETNS_PREFIX}{slot}" for slot in slots(live_only=False)}
    return [name for name in network.netns_names() if name.startswith(network.NETNS_PREFIX) and name not in claimed]


def slots(live_only):
    """Slots named by stand-in directories (only those with a live owner, if live_only)."""
    states = (read_state(work) for work in paths.run_root().glob("standin-*"))
    return {state.get("slot") for state in states if state and (owner_alive(state) or not live_only)}
