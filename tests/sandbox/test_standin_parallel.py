"""Several stand-ins at once (as under pytest-xdist) do not share anything that matters."""

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.standin


def test_two_standins_boot_side_by_side(standin_factory):
    # Booted concurrently: the slot claim (`ip netns add`) is what keeps them apart.
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda _: standin_factory(), range(2))
    assert first.name != second.name
    assert first.address != second.address and first.network.slot != second.network.slot
    assert first.private_key_path != second.private_key_path
    assert first.known_hosts_path.read_text().split()[2] != second.known_hosts_path.read_text().split()[2]
    assert first.ssh(["hostname"]).stdout.strip() == first.name
    assert second.ssh(["hostname"]).stdout.strip() == second.name
    assert first.run(["hostname"]).stdout.strip() == first.name
    assert second.run(["hostname"]).stdout.strip() == second.name
    # Each systemd manages a cgroup tree of its own (shared, units failed with 219/CGROUP).
    assert host_cgroups(first.init_pid).isdisjoint(host_cgroups(second.init_pid))
    assert first.failed_units() == [] and second.failed_units() == []


def host_cgroups(pid):
    """The cgroup paths of pid in the name=systemd and unified hierarchies, as the host sees them."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return {line.split(":", 2)[2] for line in lines if line.startswith("0::") or ":name=systemd:" in line}


def test_one_standins_credentials_do_not_open_another(standin_factory):
    first, second = standin_factory(), standin_factory()
    foreign_key = [
        arg if arg != str(second.private_key_path) else str(first.private_key_path) for arg in second.ssh_argv()
    ]
    result = subprocess.run([*foreign_key, "true"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 255 and "Permission denied" in result.stderr
    foreign_host = [
        (
            arg
            if arg != f"UserKnownHostsFile={second.known_hosts_path}"
            else f"UserKnownHostsFile={first.known_hosts_path}"
        )
        for arg in second.ssh_argv()
    ]
    result = subprocess.run([*foreign_host, "true"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 255 and "Host key verification failed" in result.stderr


def test_stopping_one_leaves_the_other_running(standin_factory):
    first, second = standin_factory(), standin_factory()
    first.stop()
    assert first.leftovers() == []
    assert second.ssh(["true"]).returncode == 0
    assert second.run(["systemctl", "is-system-running"], check=False).stdout.strip() in ("running", "degraded")
