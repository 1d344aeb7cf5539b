"""Teardown leaves nothing behind: no process, mount, namespace, interface, port, cgroup or file.

Checked independently of StandIn.leftovers() (ps, /proc/self/mountinfo, `ip netns list`,
`ip link`, `ip addr`, /sys/fs/cgroup), and leftovers() itself is shown to see a live stand-in.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cattle_sandbox.standin import BootError, StandIn, files, namespaces, paths, stale

pytestmark = pytest.mark.standin

ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


def traces(name, sandbox_interface, address, work):
    """Everything of one stand-in visible from here, found without the StandIn object."""
    found = []
    processes = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    found += [
        f"process: {line.strip()}"
        for line in processes.splitlines()
        if str(work) in line or f"--machine={name}" in line
    ]
    mountinfo = Path("/proc/self/mountinfo").read_text()
    found += [f"mount: {line}" for line in mountinfo.splitlines() if str(work) in line or f"/netns/{name} " in line]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    found += [f"netns: {line}" for line in netns.splitlines() if line.split()[0] == name]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    found += [f"link: {line}" for line in links.splitlines() if f" {sandbox_interface}@" in line]
    addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    found += [f"address: {line}" for line in addresses.splitlines() if address.rsplit(".", 1)[0] + "." in line]
    # At any depth: a hybrid host's memory hierarchy has it below our own cgroup there.
    found += [f"cgroup: {group}" for group in Path("/sys/fs/cgroup").glob(f"**/cattle-standin/{Path(work).name}")]
    if Path(work).exists():
        found.append(f"directory: {work}")
    if reachable(address, 22):
        found.append(f"port: {address}:22")
    return found


def reachable(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def identity(standin):
    return standin.name, standin.network.sandbox_interface, standin.address, standin.files.work


def test_stop_leaves_nothing_behind(standin_base, tmp_path):
    standin = StandIn(standin_base).start()
    # An ansible run leaves a persistent SSH connection (ControlPersist) that must end too.
    ping = subprocess.run(
        [ANSIBLE, "-i", standin.inventory_path, "standin", "-m", "ansible.builtin.ping"],
        capture_output=True,
        text=True,
        env=dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path)),
        check=False,
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    ident = identity(standin)
    running = traces(*ident)
    for kind in ("process:", "mount:", "netns:", "link:", "address:", "cgroup:", "directory:", "port:"):
        assert any(trace.startswith(kind) for trace in running), (kind, running)
    assert any("ssh-control" in trace for trace in running)  # the ansible connection
    assert len(standin.leftovers()) >= 7

    standin.stop()

    assert traces(*ident) == []
    assert standin.leftovers() == []
    assert standin.stop() == standin.teardown_seconds  # a second stop is harmless


def test_ssh_connections_it_did_not_open_are_ended(standin, tmp_path):
    """A persistent SSH master with a control path of someone else's (as Packer's ansible runs keep)."""
    argv = standin.ssh_argv()
    control = ["-o", f"ControlPath={tmp_path}/master"]
    subprocess.run(
        [argv[0], *control, "-o", "ControlMaster=yes", "-o", "ControlPersist=60", "-N", "-f", *argv[1:]],
        check=True,
        timeout=30,
    )
    check = subprocess.run(
        [argv[0], *control, "-O", "check", standin.address], capture_output=True, text=True, check=False
    )
    pid = int(check.stderr.split("pid=")[1].split(")")[0])
    assert f"process {pid} (ssh)" in standin.leftovers()
    standin.end_ssh_clients()
    assert not namespaces.process_alive(pid)
    assert standin.ssh(["true"]).returncode == 0  # new connections are still welcome


def test_context_manager_removes_the_standin_when_the_body_fails(standin_base):
    with pytest.raises(RuntimeError, match="test body failed"):
        with StandIn(standin_base) as standin:
            ident = identity(standin)
            raise RuntimeError("test body failed")
    assert traces(*ident) == []


def test_boot_timeout_says_why_and_cleans_up(standin_base):
    standin = StandIn(standin_base, boot_timeout=0.3)
    with pytest.raises(BootError) as raised:
        standin.start()
    message = str(raised.value)
    assert "not ready after 0 s" in message and "--- console" in message
    assert traces(*identity(standin)) == [] and standin.leftovers() == []


def test_nspawn_failure_shows_the_console_and_cleans_up(standin_base, monkeypatch):
    """A copy without an init: nspawn gives up at once, and its words end up in the error."""
    personalize = files.personalize

    def personalize_then_break(instance_files, **kwargs):
        personalize(instance_files, **kwargs)
        for init in ("sbin/init", "usr/sbin/init", "lib/systemd/systemd", "usr/lib/systemd/systemd"):
            (instance_files.root / init).unlink(missing_ok=True)

    monkeypatch.setattr(files, "personalize", personalize_then_break)
    standin = StandIn(standin_base)
    with pytest.raises(BootError, match="systemd-nspawn exited with status") as raised:
        standin.start()
    assert "init" in str(raised.value).split("--- console", 1)[1].lower()
    assert traces(*identity(standin)) == []


def test_owner_exit_without_stop_is_cleaned_up_at_exit(tmp_path):
    """A process that boots a stand-in and just exits leaves nothing (atexit)."""
    result = subprocess.run(
        [sys.executable, "-c", BOOT_AND_REPORT, "exit"],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert traces(*json.loads(result.stdout)) == []


def test_cleanup_removes_standins_of_killed_owners():
    """kill -9 skips atexit; `python -m cattle_sandbox.standin cleanup` removes what is left."""
    child = subprocess.Popen(
        [sys.executable, "-c", BOOT_AND_REPORT, "hang"], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    try:
        ident = json.loads(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert traces(*ident) != []  # orphaned: nobody stops it
    # Another test's cleanup (another xdist worker) may get to it first: what counts is
    # that it is gone afterwards.
    stale.cleanup_stale(log=lambda _: None)
    deadline = time.monotonic() + 5
    while traces(*ident) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert traces(*ident) == []


def test_cleanup_leaves_live_standins_alone(standin):
    stale.cleanup_stale(log=lambda _: None)
    assert standin.ssh(["true"]).returncode == 0
    assert standin.files.work.exists()


def child_env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(paths.SANDBOX_DIR), os.environ.get("PYTHONPATH", "")]))


BOOT_AND_REPORT = textwrap.dedent("""
    import json, sys, time
    from cattle_sandbox.standin import StandIn, find_prepared
    standin = StandIn(find_prepared()).start()
    print(json.dumps([standin.name, standin.network.sandbox_interface, standin.address,
                      str(standin.files.work)]), flush=True)
    if sys.argv[1] == "hang":
        time.sleep(600)
""")
