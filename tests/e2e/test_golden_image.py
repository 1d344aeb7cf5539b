"""The golden image, end to end in the sandbox.

The golden_build fixture (tests/fixtures/golden.py) runs `playbooks/build.yml` ->
cattle.immutable.image_build -> the real `packer build` (Debian's Packer 1.6.6) of
packer/golden's compat copy: amazon-ebs against the sandbox's EC2, SSH into a booted
stand-in that plays the build instance, playbooks/image.yml with every role, an encrypted
copy of the AMI, the manifest; then the same build again. It does so once per test run and
keeps the record; the first test checks what the build did. The second registers that AMI
in a fresh sandbox (golden_image: how every other test gets a Packer-built AMI), boots a
stand-in from it, as an instance launched from it would, and checks the image from outside:
the app is healthy, node exporter serves, SSH is off.
"""

import ipaddress
import json
import re
import socket
import urllib.request

import pytest

from cattle_sandbox.image_store import list_content, read_content_file
from fixtures.aws import eventually
from fixtures.golden import GOLDEN

pytestmark = [pytest.mark.sandbox, pytest.mark.packer, pytest.mark.standin, pytest.mark.xdist_group("golden")]

IMAGE_INFO_METRIC = re.compile(r"^cattle_image_info\{(?P<labels>[^}]*)\} 1$", re.MULTILINE)


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


def sandbox_ssh_sources():
    """ssh_source_cidrs as packer/golden/sandbox.pkrvars.hcl sets it (a JSON-compatible list)."""
    text = (GOLDEN / "sandbox.pkrvars.hcl").read_text()
    return json.loads(re.search(r"^ssh_source_cidrs\s*=\s*(\[.*\])$", text, re.MULTILINE).group(1))


def labels(text):
    return dict(re.findall(r'(\w+)="([^"]*)"', text))


def tags_of(resource):
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def test_the_golden_image_builds_in_the_sandbox_encrypted_tagged_validated_and_reused(golden_build):
    record, result = golden_build.record, golden_build.result
    image_id = result["image_id"]
    print(f"\ngolden image: {image_id}, build.yml {record['seconds']:.0f} s, "
          f"packer {result['build']['duration_seconds']} s")
    assert record["compat_removed"] == ["imds_support", "metadata_options", "required_plugins"]
    assert result["outcome"] == "built" and result["changed"] is True

    # Encrypted: Packer copied the AMI it created and deregistered the first; the manifest names the copy.
    counters = record["counters"]
    assert counters.get("ec2:CreateImage") == 1 and counters.get("ec2:CopyImage") == 1, counters
    [first_ami] = record["first_amis"]
    assert first_ami != image_id and record["first_amis_left"] == []
    build = record["manifest"]["builds"][-1]
    assert build["artifact_id"] == f"us-east-1:{image_id}" and build["custom_data"]["encrypted"] == "true"

    # IMDSv2 on the AMI (Packer 1.6.6 cannot set it; image_build did).
    assert record["image"].get("ImdsSupport") == "v2.0"
    assert result["imds_support"][0]["changed"] is True

    # Tags: the validation result and the Lynis score, from the report the playbook fetched.
    report, tags = record["validation_report"], tags_of(record["image"])
    assert report["result"] == "passed", report
    assert tags["cattle:validation"] == "passed"
    assert tags["cattle:lynis-score"] == str(int(report["lynis_score"]))
    assert int(tags["cattle:lynis-score"]) >= int(report["lynis_min_score"])
    assert tags["cattle:fingerprint"] == result["fingerprint"] and tags["cattle:source-ami"] == record["source_ami"]
    assert tags["cattle:vcs-revision"] == "e2e-golden" and tags["cattle:packer-version"] == "1.6.6"
    assert "cattle:build-started" in tags and "cattle:built-at" in tags
    assert record["snapshot_tags"]["cattle:fingerprint"] == result["fingerprint"]
    # What the image serves, from the report: a fleet's health check must agree with it.
    assert report["serves"] == {"unit": "app", "port": 8080, "health_path": "/health"}
    assert (tags["cattle:app-unit"], tags["cattle:app-port"], tags["cattle:health-path"]) == ("app", "8080", "/health")

    # SSH to the build instance: Packer's temporary security group (deleted by Packer at the
    # end, kept by the sandbox) let port ssh_port in from exactly the configured CIDRs, and
    # Packer's SSH came from inside them.
    [group] = record["deleted_security_groups"]
    port = record["packer_ssh_port"]
    ingress = sorted((rule["protocol"], rule["from_port"], rule["to_port"], rule["cidr_ipv4"]) for rule in group["ingress"])
    assert ingress == sorted(("tcp", port, port, cidr) for cidr in sandbox_ssh_sources()), group
    assert all(rule["cidr_ipv6"] is None and rule["source_group"] is None for rule in group["ingress"]), group
    assert any(ipaddress.ip_address(record["packer_ssh_from"]) in ipaddress.ip_network(cidr)
               for cidr in sandbox_ssh_sources())

    # The AMI's content itself: nothing of the build instance's identity or access.
    assert content_problems(golden_build.content_path) == []

    # Same inputs again: reused, Packer not run.
    reused = record["second_run"]
    assert reused["outcome"] == "reused" and reused["changed"] is False and reused["image_id"] == image_id
    assert reused["build"]["packer_ran"] is False


def test_an_instance_of_the_golden_image_is_healthy_serves_metrics_and_refuses_ssh(
    golden_image, aws, ec2, standin_factory
):
    image = ec2.describe_images(ImageIds=[golden_image.image_id])["Images"][0]
    assert image["Name"] == golden_image.build.image["Name"] and image.get("ImdsSupport") == "v2.0"
    assert tags_of(image)["cattle:validation"] == "passed"
    assert tags_of(image)["cattle:source-ami"] == golden_image.source_ami
    assert aws.control.image_content(golden_image.image_id)["imported_from"] == str(golden_image.build.content_path)

    # An instance launched from it: a stand-in booted from the AMI id, as it is (no keys added).
    booted = standin_factory(image_id=golden_image.image_id, control=aws.control, personalize=False)
    health = booted.run(["/opt/app/healthcheck.sh", "--wait", "60"], check=False, timeout=90)
    assert health.returncode == 0, health.stdout + health.stderr
    served = eventually(lambda: metrics(booted.address), timeout=60, interval=1)
    [metric] = IMAGE_INFO_METRIC.findall(served)
    assert labels(metric) == {"app": "web", "version": "1.0.0", "fingerprint": golden_image.build.fingerprint}
    assert ssh_refused(booted.address)
    enabled = booted.run(["systemctl", "is-enabled", "ssh.service"], check=False).stdout.strip()
    assert enabled in ("disabled", "masked"), enabled
    assert booted.run(["systemctl", "is-active", "ssh.service"], check=False).stdout.strip() == "inactive"
    print(f"booted from {golden_image.image_id} in {booted.boot_seconds:.1f} s: healthy, node exporter serving, "
          "SSH refused")
