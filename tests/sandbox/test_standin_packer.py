"""Debian's Packer 1.6.6 reaches a stand-in with packer_vars(): its SSH communicator and the
ansible provisioner with use_proxy = false (the path the amazon-ebs build takes)."""

import json
import os
import shutil
import subprocess

import pytest

from fixtures.packer import STANDIN_SSH_COMMUNICATOR, STANDIN_SSH_VARIABLES, packer_build, packer_env

pytestmark = [pytest.mark.standin, pytest.mark.packer]

TEMPLATE = STANDIN_SSH_VARIABLES + """
variable "ansible_env_vars" { type = list(string) }

source "null" "standin" {""" + STANDIN_SSH_COMMUNICATOR + """}

build {
  sources = ["source.null.standin"]
  provisioner "shell" {
    inline = ["echo \\"shell as $(id -un), sudo as $(sudo -n id -un)\\""]
  }
  provisioner "ansible" {
    playbook_file = "play.yml"
    use_proxy        = false
    user             = var.ssh_username
    ansible_env_vars = var.ansible_env_vars
  }
}
"""

PLAY = """\
- hosts: all
  gather_facts: false
  become: true
  tasks:
    - ansible.builtin.command: cat /proc/sys/kernel/hostname
      register: where
      changed_when: false
    - ansible.builtin.debug:
        msg: "ansible on {{ where.stdout }}"
"""


@pytest.fixture(scope="module")
def packer():
    found = shutil.which("packer")
    if not found:
        pytest.fail("packer is not installed: run `make setup`", pytrace=False)
    return found


def provision(packer, standin, workdir, ansible_env_vars):
    (workdir / "standin.pkr.hcl").write_text(TEMPLATE)
    (workdir / "play.yml").write_text(PLAY)
    variables = dict(standin.packer_vars(), ansible_env_vars=json.dumps(ansible_env_vars))
    env = packer_env(os.environ, workdir, ANSIBLE_LOCAL_TEMP=str(workdir / "ansible"))
    return packer_build(workdir, "standin.pkr.hcl", variables, env, packer=packer)


def test_packer_provisions_the_standin_over_ssh(standin, packer, tmp_path):
    result = provision(packer, standin, tmp_path, standin.packer_ansible_env_vars())
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "shell as admin, sudo as root" in result.stdout
    assert f'"msg": "ansible on {standin.name}"' in result.stdout
    # Packer's persistent Ansible connection is ended with the stand-in.
    assert any(item.endswith("(ssh)") for item in standin.leftovers())
    standin.stop()
    assert standin.leftovers() == []


def test_packer_ansible_run_checks_the_host_key(standin, packer, tmp_path):
    """With packer_ansible_env_vars() a wrong known_hosts stops the build (Packer alone would not)."""
    wrong = tmp_path / "wrong_known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "other"], check=True)
    wrong.write_text(f"{standin.address} " + " ".join((tmp_path / "other.pub").read_text().split()[:2]) + "\n")
    env_vars = [var.replace(str(standin.known_hosts_path), str(wrong)) for var in standin.packer_ansible_env_vars()]
    result = provision(packer, standin, tmp_path, env_vars)
    assert result.returncode != 0
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stdout
