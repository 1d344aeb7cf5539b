"""Real Packer (Debian's 1.6.6, amazon-ebs builder) against the sandbox, without image_build:
`packer build` of the shipped packer/sandbox-smoke template (copied per test, as Packer's
working directory).

(a) communicator none: Packer launches, snapshots and registers an AMI that image_info finds.
(b) SSH into a booted stand-in: the ansible provisioner runs image.yml inside it for real.
"""

import json
import re
import shutil
import subprocess

import pytest

from fixtures.ansible import REPO_ROOT, VENV_BIN, module_play
from fixtures.aws import register_image
from fixtures.packer import packer_env

pytestmark = [pytest.mark.sandbox, pytest.mark.packer]

TEMPLATE = REPO_ROOT / "packer" / "sandbox-smoke"
ARTIFACT_LINE = re.compile(r"^\d+,([^,]*),artifact,0,id,(.*)$")


@pytest.fixture
def template(tmp_path):
    copy = tmp_path / "template"
    shutil.copytree(TEMPLATE, copy)
    return copy


def smoke_env(aws_env, tmp_path):
    return packer_env(
        aws_env, tmp_path, PACKER_LOG="1", PACKER_LOG_PATH=str(tmp_path / "packer.log"), ANSIBLE_NOCOLOR="1"
    )


def packer_build(template, build, variables, env, var_file, timeout=600):
    """Run `packer build -only=<build>` in the template; return the AMI id of its artifact and the output."""
    var_file.write_text(json.dumps(variables))
    cmd = ["packer", "build", "-machine-readable", "-color=false", f"-only={build}", f"-var-file={var_file}", "."]
    completed = subprocess.run(
        cmd, cwd=template, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = completed.stdout
    assert completed.returncode == 0, f"packer build failed:\n{output[-5000:]}\n{completed.stderr[-2000:]}"
    artifacts = [match.group(2) for match in map(ARTIFACT_LINE.match, output.splitlines()) if match]
    assert artifacts, f"packer reported no artifact:\n{output[-3000:]}"
    _region, image_id = artifacts[0].split(":")
    return image_id, output


def base_variables(aws, ec2, tmp_path, ami_name):
    """What image_build would pass (the template's contract), and the sandbox's endpoint."""
    return {
        "endpoint": aws.endpoint,
        "source_ami": register_image(ec2, "debian-12-base"),
        "ami_name": ami_name,
        "app": "web",
        "fingerprint": "0123456789abcdef" * 4,
        "validation_report": str(tmp_path / "validation-report.json"),
        "manifest_path": str(tmp_path / "manifest.json"),
    }


def find_by_app(playbook):
    run = playbook(module_play("find", "image_info", {"app": "web"}))
    assert not run.failed, run.explain()
    return run.result("find")["images"]


def test_packer_without_communicator_builds_an_ami_that_image_info_finds(
    aws, ec2, aws_env, tmp_path, playbook, template
):
    variables = base_variables(aws, ec2, tmp_path, "web-smoke-none")
    image_id, _output = packer_build(
        template, "amazon-ebs.none", variables, smoke_env(aws_env, tmp_path), tmp_path / "vars.pkrvars.json"
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
    aws, ec2, aws_env, tmp_path, playbook, template, standin
):
    variables = base_variables(aws, ec2, tmp_path, "web-smoke-ssh")
    variables.update(standin.packer_vars())
    variables["ansible_env_vars"] = standin.packer_ansible_env_vars()
    variables["ansible_playbook_command"] = str(VENV_BIN / "ansible-playbook")
    image_id, output = packer_build(
        template, "amazon-ebs.ssh", variables, smoke_env(aws_env, tmp_path), tmp_path / "vars.pkrvars.json"
    )
    assert "Write the build marker" in output
    marker = standin.run(["cat", "/etc/cattle-build-marker"])
    assert marker.stdout == "provisioned by packer for sandbox-smoke\n"
    assert [image["image_id"] for image in find_by_app(playbook)] == [image_id]
