"""A booted stand-in behaves like the EC2 build instance Packer and Ansible expect."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from cattle_sandbox.standin import LooksLikeHost, StandInError, namespaces

pytestmark = pytest.mark.standin

# The venv's tools sit next to its python (pytest runs from .venv/bin).
ANSIBLE_INVENTORY = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")


def test_boots_to_running_systemd(standin_module):
    assert standin_module.system_state in ("running", "degraded"), standin_module.failed_units()
    state = standin_module.run(["systemctl", "is-system-running"], check=False).stdout.strip()
    assert state in ("running", "degraded")
    assert standin_module.run(["systemctl", "is-active", "ssh"]).stdout.strip() == "active"
    assert standin_module.boot_seconds < 30


def test_ssh_as_admin_with_the_generated_key(standin_module):
    result = standin_module.ssh(["sh", "-c", "id -un; hostname"])
    assert result.stdout.split() == ["admin", standin_module.name]


def test_host_key_is_verified(standin_module, tmp_path):
    """A known_hosts with another key for the address must make ssh refuse to connect."""
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    key_type, key_data = (tmp_path / "other.pub").read_text().split()[:2]
    wrong_known_hosts = tmp_path / "known_hosts"
    wrong_known_hosts.write_text(f"{standin_module.address} {key_type} {key_data}\n")
    argv = [
        arg if not arg.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={wrong_known_hosts}"
        for arg in standin_module.ssh_argv()
    ]
    result = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_sudo_works_without_a_password(standin_module):
    assert standin_module.ssh(["sudo", "-n", "id", "-u"]).stdout.strip() == "0"


def test_root_login_over_ssh_is_refused_even_with_an_authorized_key(standin_module):
    public_key = standin_module.private_key_path.with_suffix(".pub").read_text()
    standin_module.run(
        ["sh", "-c", "install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys"], input=public_key
    )
    try:
        result = standin_module.ssh(["true"], user="root", check=False, timeout=30)
    finally:
        standin_module.run(["rm", "-rf", "/root/.ssh"])
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
    effective = standin_module.run(["sshd", "-T"]).stdout.splitlines()
    assert "permitrootlogin no" in effective and "passwordauthentication no" in effective


def test_password_logins_are_not_offered(standin_module):
    argv = standin_module.ssh_argv()
    argv.insert(1, "-o")
    argv.insert(2, "PreferredAuthentications=password,keyboard-interactive")
    result = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


def test_sshd_listens_on_the_standin_address_only(standin_module):
    listening = standin_module.run(["sshd", "-T"]).stdout.splitlines()
    assert f"listenaddress {standin_module.address}:{standin_module.port}" in listening
    assert [line for line in listening if line.startswith("listenaddress")] == [
        f"listenaddress {standin_module.address}:{standin_module.port}"
    ]


def test_run_enters_the_standin_not_the_host(standin_module):
    inside = standin_module.run(["sh", "-c", "cat /proc/1/comm; hostname; readlink /proc/self/ns/mnt"]).stdout.split()
    assert inside[:2] == ["systemd", standin_module.name]
    assert inside[2] != os.readlink("/proc/self/ns/mnt")


def test_run_refuses_targets_that_look_like_the_host(standin_module):
    # systemd-nspawn itself lives in the host's namespaces: exactly the mistake to refuse.
    with pytest.raises(LooksLikeHost, match="systemd-nspawn process itself"):
        namespaces.nsenter_argv(standin_module.process.pid, ["sysctl", "-w", "kernel.printk=4"])
    real_init = standin_module.init_pid
    standin_module.init_pid = standin_module.process.pid
    try:
        with pytest.raises(StandInError, match="no longer its init"):
            standin_module.run(["true"])
    finally:
        standin_module.init_pid = real_init
    assert standin_module.run(["true"]).returncode == 0


def test_standin_reaches_nothing_but_its_link(standin_module):
    """Only the /30 to the sandbox, and the metadata service's address through it: no default
    route, no DNS."""
    routes = [line.split() for line in standin_module.run(["cat", "/proc/net/route"]).stdout.splitlines()[1:]]
    # /proc/net/route: interface, destination, gateway, ..., mask; addresses in little-endian hex.
    interface, slot = standin_module.network.standin_interface, standin_module.network.slot
    assert sorted((route[0], route[1], route[2], route[7]) for route in routes) == sorted([
        (interface, f"00{slot:02X}FEA9", "00000000", "FCFFFFFF"),
        (interface, "FEA9FEA9", f"01{slot:02X}FEA9", "FFFFFFFF"),  # 169.254.169.254 via 169.254.X.1
    ])
    assert "nameserver" not in standin_module.run(["cat", "/etc/resolv.conf"]).stdout


def test_apt_knows_only_the_local_repository(standin_module):
    standin_module.run(["apt-get", "update", "-q"], timeout=120)
    policy = standin_module.run(["apt-cache", "policy"]).stdout
    sources = [line.split()[1] for line in policy.splitlines() if line.strip().startswith(("500 ", "100 "))]
    assert set(sources) - {"/var/lib/dpkg/status"} == {"file:/srv/cattle-repo"}


def test_packer_vars_and_inventory_describe_the_same_host(standin_module):
    assert standin_module.packer_vars() == {
        "ssh_host": standin_module.address,
        "ssh_port": 22,
        "ssh_username": "admin",
        "ssh_private_key_file": str(standin_module.private_key_path),
    }
    listed = subprocess.run(
        [ANSIBLE_INVENTORY, "-i", standin_module.inventory_path, "--list"], capture_output=True, text=True, check=True
    ).stdout
    host = json.loads(listed)["_meta"]["hostvars"][standin_module.name]
    assert host["ansible_host"] == standin_module.address
    assert host["ansible_ssh_private_key_file"] == str(standin_module.private_key_path)
    assert yaml.safe_load(standin_module.inventory_path.read_text())["all"]["children"]["standin"]
