"""The golden image, end to end in the sandbox.

`playbooks/build.yml` -> cattle.immutable.image_build -> the real `packer build` (Debian's
Packer 1.6.6) of packer/golden's compat copy (cattle_sandbox.packer_compat): amazon-ebs
against the sandbox's EC2, SSH into a booted stand-in that plays the build instance,
playbooks/image.yml with every role, an encrypted copy of the AMI, the manifest. Then a
stand-in boots from the new AMI id, as an instance launched from it would, and the image
is checked from outside: the app is healthy, node exporter serves, SSH is off, and the
AMI's own content carries no host keys, authorized keys or machine id.
"""

import json
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from cattle_sandbox.image_store import list_content, read_content_file
from cattle_sandbox.packer_compat import legacy_copy
from fixtures.ansible import REPO_ROOT, VENV_BIN, PlaybookRun, ansible_env
from fixtures.aws import eventually, register_image

pytestmark = [pytest.mark.sandbox, pytest.mark.packer, pytest.mark.standin]

GOLDEN = REPO_ROOT / "packer" / "golden"
BUILD_PLAYBOOK = REPO_ROOT / "playbooks" / "build.yml"
BUILD_TASK = "Build the image of web"
BUILD_TIMEOUT = 1200
CREATED_AMI = re.compile(r"amazon-ebs\.golden: AMI: (ami-[0-9a-f]+)")
IMAGE_INFO_METRIC = re.compile(r"^cattle_image_info\{(?P<labels>[^}]*)\} 1$", re.MULTILINE)


def build_playbook(env, extra_vars):
    full_env = ansible_env(env)
    full_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    command = [str(VENV_BIN / "ansible-playbook"), str(BUILD_PLAYBOOK), "-e", json.dumps(extra_vars)]
    started = time.monotonic()
    completed = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                               check=False)
    run = PlaybookRun(completed)
    run.seconds = time.monotonic() - started
    return run


def why_failed(run):
    """The build task's message (Packer's last lines) rather than the whole JSON report."""
    try:
        return run.result(BUILD_TASK).get("msg") or run.explain()
    except KeyError:
        return run.explain()


def golden_build_vars(template, standin, source_ami):
    """What the sandbox adds to packer/golden's sandbox.pkrvars.hcl for this stand-in."""
    variables = dict(standin.packer_vars())
    variables.update({
        "source_ami": source_ami,
        "ansible_env_vars": standin.packer_ansible_env_vars(),
        "ansible_playbook_command": str(VENV_BIN / "ansible-playbook"),
        # The copy lives elsewhere, so its default (relative to the template) would miss it.
        "playbook_file": str(REPO_ROOT / "playbooks" / "image.yml"),
    })
    return {
        "app": "web",
        "build_template": str(template),
        "build_var_files": [str(template / "sandbox.pkrvars.hcl")],
        "build_vars": variables,
        "build_vcs_revision": "e2e-golden",
    }


def tags_of(image):
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def describe(ec2, image_id):
    return ec2.describe_images(ImageIds=[image_id])["Images"][0]


def content_problems(path):
    """What the AMI's own file system carries that a clean image must not."""
    names = list_content(path)
    problems = [name for name in names if re.fullmatch(r"etc/ssh/ssh_host_[^/]*", name)]
    problems += [name for name in names if re.fullmatch(r"(root|home/[^/]+)/\.ssh/authorized_keys2?", name)]
    problems += [name for name in names if re.fullmatch(r"(root|home/[^/]+)/\.(bash|python|lesshst)_?history", name)]
    for machine_id in ("etc/machine-id", "var/lib/dbus/machine-id"):
        if machine_id in names:
            try:
                if read_content_file(path, machine_id).strip():
                    problems.append(machine_id + " has content")
            except FileNotFoundError:
                pass  # a symlink (dbus's points at /etc/machine-id)
    return problems


def metrics(address):
    """node exporter's answer, fetched from the sandbox's side of the stand-in's own veth pair."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{address}:9100/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def ssh_refused(address):
    try:
        with socket.create_connection((address, 22), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def labels(text):
    return dict(re.findall(r'(\w+)="([^"]*)"', text))


def test_the_golden_image_builds_in_the_sandbox_and_boots_clean_hardened_and_healthy(
    aws, ec2, build_env, tmp_path, standin, standin_factory
):
    source_ami = register_image(ec2, "debian-12-amd64-20260101")
    template = tmp_path / "golden-packer-1.6"
    removed = legacy_copy(GOLDEN, template)
    assert {removal.name for removal in removed} == {"required_plugins", "metadata_options", "imds_support"}
    standin.bind_to(aws.control)  # plays the instance Packer launches
    aws.control.reset_counters()

    run = build_playbook(build_env, golden_build_vars(template, standin, source_ami))
    assert not run.failed, why_failed(run)
    result = run.result(BUILD_TASK)
    assert result["outcome"] == "built" and result["changed"] is True
    image_id = result["image_id"]
    print(f"\ngolden image: {image_id}, build.yml {run.seconds:.0f} s, packer {result['build']['duration_seconds']} s")

    # Encrypted: Packer copied the AMI it created and deregistered the first; the manifest names the copy.
    counters = aws.control.counters()
    assert counters.get("ec2:CreateImage") == 1 and counters.get("ec2:CopyImage") == 1, counters
    log = Path(result["log_path"]).read_text(errors="replace")
    [first_ami] = set(CREATED_AMI.findall(log))
    assert first_ami != image_id
    assert ec2.describe_images(Filters=[{"Name": "image-id", "Values": [first_ami]}])["Images"] == []
    manifest = json.loads(Path(result["build"]["manifest_path"]).read_text())
    assert manifest["builds"][-1]["artifact_id"] == f"us-east-1:{image_id}"
    assert manifest["builds"][-1]["custom_data"]["encrypted"] == "true"

    # IMDSv2 on the AMI (Packer 1.6.6 cannot set it; image_build did).
    image = describe(ec2, image_id)
    assert image.get("ImdsSupport") == "v2.0"
    assert result["imds_support"][0]["changed"] is True

    # Tags: the validation result and the Lynis score, from the report the playbook fetched.
    report = json.loads((Path(result["build"]["manifest_path"]).parent / "validation-report.json").read_text())
    tags = tags_of(image)
    assert report["result"] == "passed", report
    assert tags["cattle:validation"] == "passed"
    assert tags["cattle:lynis-score"] == str(int(report["lynis_score"]))
    assert int(tags["cattle:lynis-score"]) >= int(report["lynis_min_score"])
    assert tags["cattle:fingerprint"] == result["fingerprint"] and tags["cattle:source-ami"] == source_ami
    assert tags["cattle:vcs-revision"] == "e2e-golden" and tags["cattle:packer-version"] == "1.6.6"
    assert "cattle:build-started" in tags and "cattle:built-at" in tags

    # The AMI's content itself: nothing of the build instance's identity or access.
    content = aws.control.image_content(image_id)
    assert image_id in content["image_ids"]
    assert content_problems(content["path"]) == []

    # An instance launched from it: a stand-in booted from the AMI id, as it is (no keys added).
    booted = standin_factory(image_id=image_id, control=aws.control, personalize=False)
    health = booted.run(["/opt/app/healthcheck.sh", "--wait", "60"], check=False, timeout=90)
    assert health.returncode == 0, health.stdout + health.stderr
    served = eventually(lambda: metrics(booted.address), timeout=60, interval=1)
    [metric] = IMAGE_INFO_METRIC.findall(served)
    assert labels(metric) == {"app": "web", "version": "1.0.0", "fingerprint": result["fingerprint"]}
    assert ssh_refused(booted.address)
    enabled = booted.run(["systemctl", "is-enabled", "ssh.service"], check=False).stdout.strip()
    assert enabled in ("disabled", "masked"), enabled
    assert booted.run(["systemctl", "is-active", "ssh.service"], check=False).stdout.strip() == "inactive"
    print(f"booted from {image_id} in {booted.boot_seconds:.1f} s: healthy, node exporter serving, SSH refused")

    # Same inputs again: reused, Packer not run.
    again = build_playbook(build_env, golden_build_vars(template, standin, source_ami))
    assert not again.failed, why_failed(again)
    reused = again.result(BUILD_TASK)
    assert reused["outcome"] == "reused" and reused["changed"] is False and reused["image_id"] == image_id
