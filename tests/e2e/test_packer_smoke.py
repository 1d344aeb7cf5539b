"""Real Packer (Debian's 1.6.6, amazon-ebs builder) against the sandbox.

(a) communicator none: Packer launches, snapshots and registers an AMI that image_info finds.
(b) SSH into a booted stand-in: the ansible provisioner runs a playbook inside it for real.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from fixtures.ansible import VENV_BIN, module_play
from fixtures.aws import register_image

pytestmark = [pytest.mark.sandbox, pytest.mark.packer]

TEMPLATE_DIR = Path(__file__).parent / "packer"
ARTIFACT_LINE = re.compile(r"^\d+,([^,]*),artifact,0,id,(.*)$")


def packer_env(aws_env, tmp_path):
    env = dict(aws_env)
    env.update(
        {
            "CHECKPOINT_DISABLE": "1",  # no version check call home
            "PACKER_CONFIG_DIR": str(tmp_path / "packer-config"),
            "PACKER_CACHE_DIR": str(tmp_path / "packer-cache"),
            "PACKER_LOG": "1",
            "PACKER_LOG_PATH": str(tmp_path / "packer.log"),
            "PATH": f"{VENV_BIN}{os.pathsep}{aws_env.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
        }
    )
    return env


def packer_build(build, variables, env, var_file, timeout=600):
    """Run `packer build -only=<build>`; return the AMI id of its artifact and the output."""
    var_file.write_text(json.dumps(variables))
    cmd = ["packer", "build", "-machine-readable", "-color=false", f"-only={build}", f"-var-file={var_file}", "."]
    completed = subprocess.run(
        cmd, cwd=TEMPLATE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = completed.stdout
    assert completed.returncode == 0, f"packer build failed:\n{output[-5000:]}\n{completed.stderr[-2000:]}"
    artifacts = [match.group(2) for match in map(ARTIFACT_LINE.match, output.splitlines()) if match]
    assert artifacts, f"packer reported no artifact:\n{output[-3000:]}"
    _region, image_id = artifacts[0].split(":")
    return image_id, output


def base_variables(aws, ec2, ami_name):
    return {
        "endpoint": aws.endpoint,
        "source_ami": register_image(ec2, "debian-12-base"),
        "ami_name": ami_name,
        "app": "web",
    }


def find_by_app(playbook):
    run = playbook(module_play("find", "image_info", {"app": "web"}))
    assert not run.failed, run.explain()
    return run.result("find")["images"]


def test_packer_without_communicator_builds_an_ami_that_image_info_finds(aws, ec2, aws_env, tmp_path, playbook):
    variables = base_variables(aws, ec2, "web-smoke-none")
    image_id, _output = packer_build(
        "amazon-ebs.none", variables, packer_env(aws_env, tmp_path), tmp_path / "vars.pkrvars.json"
    )
    images = find_by_app(playbook)
    assert [image["image_id"] for image in images] == [image_id]
    assert images[0]["name"] == "web-smoke-none"
    assert images[0]["state"] == "available"
    assert images[0]["tags"]["cattle:managed-by"] == "cattle.immutable"
    # Packer cleaned up after itself: the build instance is gone.
    states = [
        instance["State"]["Name"]
        for reservation in ec2.describe_instances()["Reservations"]
        for instance in reservation["Instances"]
    ]
    assert states and set(states) == {"terminated"}


@pytest.mark.standin
def test_packer_over_ssh_runs_the_ansible_provisioner_inside_the_stand_in(
    aws, ec2, aws_env, tmp_path, playbook, standin
):
    variables = base_variables(aws, ec2, "web-smoke-ssh")
    variables.update(standin.packer_vars())
    variables["ansible_env_vars"] = standin.packer_ansible_env_vars()
    variables["ansible_playbook_command"] = str(VENV_BIN / "ansible-playbook")
    image_id, output = packer_build(
        "amazon-ebs.ssh", variables, packer_env(aws_env, tmp_path), tmp_path / "vars.pkrvars.json"
    )
    assert "Write the build marker" in output
    marker = standin.run(["cat", "/etc/cattle-build-marker"])
    assert marker.stdout == "provisioned by packer for smoke\n"
    assert [image["image_id"] for image in find_by_app(playbook)] == [image_id]
