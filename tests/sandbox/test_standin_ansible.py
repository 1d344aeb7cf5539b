"""A real ansible-playbook run against a stand-in through its generated inventory."""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.standin

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

PLAY = """\
- name: Install Lynis from the local repository and run it
  hosts: standin
  gather_facts: false
  become: true
  tasks:
    - name: Install lynis
      ansible.builtin.apt:
        name: lynis
        update_cache: true
    - name: Ask lynis for its version
      ansible.builtin.command: lynis --version
      register: lynis_version
      changed_when: false
    - name: Show it
      ansible.builtin.debug:
        msg: "lynis {{ lynis_version.stdout }}"
"""


def run_playbook(standin, playbook, tmp_path):
    env = dict(
        os.environ,
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", standin.inventory_path, playbook],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def recap(output, host):
    """The PLAY RECAP counters of host, e.g. {"ok": 3, "changed": 1, ...}."""
    line = re.search(rf"^{re.escape(host)}\s*:(.*)$", output, re.MULTILINE).group(1)
    return {name: int(count) for name, count in re.findall(r"(\w+)=(\d+)", line)}


def test_playbook_installs_lynis_with_become(standin, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    result = run_playbook(standin, playbook, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    counters = recap(result.stdout, standin.name)
    assert (counters["ok"], counters["changed"], counters["failed"], counters["unreachable"]) == (3, 1, 0, 0)
    assert re.search(r'"msg": "lynis \d+\.\d+\.\d+"', result.stdout), result.stdout[-2000:]
    assert standin.run(["dpkg-query", "-W", "-f", "${db:Status-Status}", "lynis"]).stdout == "installed"
    # Idempotent from the stand-in's point of view too: a second run changes nothing.
    again = run_playbook(standin, playbook, tmp_path)
    assert again.returncode == 0 and recap(again.stdout, standin.name)["changed"] == 0, again.stdout[-3000:]


def test_inventory_enforces_the_host_key(standin, tmp_path):
    """Ansible must refuse a stand-in whose host key is not the generated one."""
    standin.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/etc/ssh/ssh_host_ed25519_key", "-C", "replaced"],
        input="y\n",
    )
    standin.run(["systemctl", "restart", "ssh"])
    playbook = tmp_path / "ping.yml"
    playbook.write_text("- hosts: standin\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n")
    result = run_playbook(standin, playbook, tmp_path)
    assert result.returncode == 4  # unreachable
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stdout + result.stderr
