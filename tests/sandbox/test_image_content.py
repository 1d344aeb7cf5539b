"""An AMI made from an instance a stand-in plays keeps the stand-in's file system, and a
stand-in boots from it: "launch a test instance from the new AMI", locally.

The boto3 tests replay what Packer's amazon-ebs builder does (RunInstances, provisioning
over SSH, StopInstances, CreateImage, and with encrypt_boot CopyImage + DeregisterImage of
the first AMI); the last test runs the real Packer build.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cattle_sandbox.aws import SandboxControlError
from cattle_sandbox.image_store import RUNTIME_DIRECTORIES, STORE_PREFIX, list_content, read_content_file
from cattle_sandbox.standin import NoImageContent, StandIn, StandInError, paths
from cattle_sandbox.standin.instance import port_answers
from cattle_sandbox.standin.stale import stale_image_stores

from fixtures.aws import register_image
from fixtures.packer import STANDIN_SSH_COMMUNICATOR, STANDIN_SSH_VARIABLES, packer_build, packer_env

pytestmark = [pytest.mark.sandbox, pytest.mark.standin]

MARKER = "/etc/cattle-image-marker"


def launch(ec2, source_image_id):
    reservation = ec2.run_instances(ImageId=source_image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    return reservation["Instances"][0]["InstanceId"]


def build_image(ec2, standin, aws, name, marker="built in the stand-in"):
    """Packer's calls, with the provisioning done inside the stand-in; returns the first AMI id."""
    source = register_image(ec2, f"{name}-source")
    standin.bind_to(aws.control)
    instance_id = launch(ec2, source)
    standin.run(["sh", "-c", f"echo '{marker}' > {MARKER}"])
    ec2.stop_instances(InstanceIds=[instance_id])
    return ec2.create_image(InstanceId=instance_id, Name=name)["ImageId"]


def encrypted_copy(ec2, image_id, name):
    """What encrypt_boot does after CreateImage: copy encrypted, deregister the first AMI."""
    copy_id = ec2.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name=name, Encrypted=True)["ImageId"]
    ec2.deregister_image(ImageId=image_id)
    return copy_id


def test_the_encrypted_copy_boots_with_what_was_built(aws, ec2, standin, standin_factory):
    first = build_image(ec2, standin, aws, "web-unencrypted")
    copy = encrypted_copy(ec2, first, "web-encrypted")

    content = aws.control.image_content(copy)
    booted = standin_factory(image_id=copy)

    assert content["image_ids"] == [copy]
    assert content["source_instance_id"].startswith("i-")
    assert booted.image_id == copy
    assert booted.run(["cat", MARKER]).stdout == "built in the stand-in\n"
    # Booted like an EC2 instance: its own host key and the admin's key, SSH ready.
    assert booted.ssh_expected is True
    assert booted.ssh(["cat", MARKER]).stdout == "built in the stand-in\n"
    build_key = standin.run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout
    assert booted.run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout != build_key
    assert booted.system_state in ("running", "degraded"), booted.failed_units()


def test_the_first_ami_loses_its_content_when_deregistered(aws, ec2, standin, standin_factory):
    first = build_image(ec2, standin, aws, "web-first")
    encrypted_copy(ec2, first, "web-first-encrypted")

    with pytest.raises(SandboxControlError) as raised:
        aws.control.image_content(first)
    with pytest.raises(NoImageContent) as refused:
        standin_factory(image_id=first)

    assert raised.value.status == 404
    assert "deregistered" in str(raised.value)
    assert first in str(refused.value) and "deregistered" in str(refused.value)


def test_content_is_shared_by_copies_and_goes_with_the_last_one(aws, ec2, standin):
    first = build_image(ec2, standin, aws, "web-shared")
    copy = ec2.copy_image(SourceImageId=first, SourceRegion="us-east-1", Name="web-shared-copy")["ImageId"]
    path = Path(aws.control.image_content(first)["path"])

    assert aws.control.image_content(copy)["path"] == str(path)
    assert aws.control.image_content(copy)["image_ids"] == sorted([first, copy])
    ec2.deregister_image(ImageId=first)
    assert path.is_file()
    ec2.deregister_image(ImageId=copy)
    assert not path.exists()


def test_imported_content_boots_and_the_file_it_came_from_stays(aws, ec2, standin, standin_factory, tmp_path):
    built = build_image(ec2, standin, aws, "web-to-cache", marker="cached build")
    cached = tmp_path / "cache" / "content.tar.zst"
    cached.parent.mkdir()
    cached.write_bytes(Path(aws.control.image_content(built)["path"]).read_bytes())
    aws.reset()  # another sandbox: the build and its content are gone
    ec2 = aws.client("ec2")
    registered = register_image(ec2, "web-from-cache")

    imported = aws.control.import_image_content(registered, cached)
    booted = standin_factory(image_id=registered)

    assert imported["imported_from"] == str(cached) and imported["image_ids"] == [registered]
    assert Path(imported["path"]).parent.name.startswith(STORE_PREFIX)
    assert booted.run(["cat", MARKER]).stdout == "cached build\n"
    ec2.deregister_image(ImageId=registered)
    aws.reset()
    assert not Path(imported["path"]).exists() and cached.is_file()


def test_what_importing_content_refuses_changes_nothing(aws, ec2, standin, tmp_path):
    built = build_image(ec2, standin, aws, "web-has-content")
    content = aws.control.image_content(built)
    registered = register_image(ec2, "web-registered")
    not_zstd = tmp_path / "plain.tar.zst"
    not_zstd.write_bytes(b"not compressed")

    refusals = {
        "has content": (built, content["path"]),
        "unknown AMI": ("ami-0123456789abcdef0", content["path"]),
        "relative path": (registered, "content.tar.zst"),
        "missing file": (registered, str(tmp_path / "missing.tar.zst")),
        "not a tarball name": (registered, str(tmp_path)),
        "not zstd": (registered, str(not_zstd)),
    }
    errors = {}
    for case, (image_id, path) in refusals.items():
        with pytest.raises(SandboxControlError) as raised:
            aws.control.import_image_content(image_id, path)
        errors[case] = raised.value

    assert errors["unknown AMI"].status == 404
    assert {error.status for case, error in errors.items() if case != "unknown AMI"} == {400}
    assert "already has content" in str(errors["has content"]) and "nothing was changed" in str(errors["has content"])
    assert "not zstd-compressed" in str(errors["not zstd"])
    assert "absolute path" in str(errors["relative path"])
    assert aws.control.image_content(built) == content
    with pytest.raises(SandboxControlError, match="import_image_content gives it one"):
        aws.control.image_content(registered)


def test_reset_removes_the_image_store(aws, ec2, standin):
    image_id = build_image(ec2, standin, aws, "web-reset")
    store = Path(aws.control.image_content(image_id)["path"]).parent
    assert store.name.startswith(STORE_PREFIX) and store.parent == paths.run_root()

    aws.reset()

    assert not store.exists()
    assert aws.control.image_contents() == []
    assert aws.control.standin_bindings() == []


def test_content_leaves_out_runtime_directories(aws, ec2, standin):
    standin.run(["sh", "-c", "echo runtime > /tmp/runtime-file; echo kept > /var/tmp/kept-file"])
    image_id = build_image(ec2, standin, aws, "web-runtime")

    members = list_content(aws.control.image_content(image_id)["path"])

    for directory in RUNTIME_DIRECTORIES:
        assert directory + "/" in members  # the mount point stays
        assert not [name for name in members if name.startswith(directory + "/") and name != directory + "/"]
    assert "var/tmp/kept-file" in members
    assert MARKER.lstrip("/") in members


def test_an_instance_no_stand_in_played_gives_an_ami_without_content(
    aws, ec2, standin_factory, standin_base, monkeypatch
):
    instance_id = launch(ec2, register_image(ec2, "plain-source"))
    image_id = ec2.create_image(InstanceId=instance_id, Name="plain")["ImageId"]
    copy_id = ec2.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name="plain-copy")["ImageId"]
    registered = register_image(ec2, "registered")

    with pytest.raises(NoImageContent) as unbound:
        standin_factory(image_id=image_id)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)  # from_image's default: the sandbox it names
    with pytest.raises(NoImageContent, match="which no stand-in played"):
        StandIn.from_image(standin_base, image_id)
    with pytest.raises(SandboxControlError) as copied:
        aws.control.image_content(copy_id)
    with pytest.raises(SandboxControlError) as no_file_system:
        aws.control.image_content(registered)
    with pytest.raises(SandboxControlError) as unknown:
        aws.control.image_content("ami-0123456789abcdef0")

    assert f"created from instance {instance_id}, which no stand-in played" in str(unbound.value)
    assert f"copy of {image_id}, which has no content" in str(copied.value)
    assert "RegisterImage" in str(no_file_system.value)
    assert "no AMI ami-0123456789abcdef0" in str(unknown.value)
    assert {copied.value.status, no_file_system.value.status, unknown.value.status} == {404}


def test_a_stand_in_stopped_before_create_image_gives_no_content(aws, ec2, standin_factory):
    build = standin_factory()
    build.bind_to(aws.control)
    instance_id = launch(ec2, register_image(ec2, "stopped-source"))
    build.stop()

    image_id = ec2.create_image(InstanceId=instance_id, Name="stopped-early")["ImageId"]

    with pytest.raises(SandboxControlError, match="no longer exists") as raised:
        aws.control.image_content(image_id)
    assert str(build.files.root) in str(raised.value)


def test_bind_by_instance_id_and_what_binding_refuses(aws, ec2, standin, tmp_path):
    instance_id = launch(ec2, register_image(ec2, "bind-source"))

    bound = standin.bind_to(aws.control, instance_id)
    image_id = ec2.create_image(InstanceId=instance_id, Name="bound-by-id")["ImageId"]

    assert bound == {"root": str(standin.files.root), "instance_id": instance_id, "pending": False}
    assert aws.control.image_content(image_id)["standin_root"] == str(standin.files.root)
    with pytest.raises(SandboxControlError) as not_a_standin:
        aws.control.bind_standin(tmp_path)
    with pytest.raises(SandboxControlError) as host_root:
        aws.control.bind_standin("/")
    with pytest.raises(SandboxControlError) as unknown_instance:
        standin.bind_to(aws.control, "i-0123456789abcdef0")
    assert not_a_standin.value.status == host_root.value.status == 400
    assert "is not a stand-in's root file system" in str(not_a_standin.value)
    assert unknown_instance.value.status == 404


def test_the_next_launch_takes_the_oldest_pending_binding(aws, ec2, standin_factory):
    first, second = standin_factory(), standin_factory()
    first.bind_to(aws.control)
    second.bind_to(aws.control)
    source = register_image(ec2, "order-source")

    instances = [launch(ec2, source), launch(ec2, source)]

    bindings = {item["instance_id"]: item["root"] for item in aws.control.standin_bindings()}
    assert bindings == {instances[0]: str(first.files.root), instances[1]: str(second.files.root)}
    assert aws.control.clear_standin_bindings() == 2


def golden_like_image(ec2, standin, aws):
    """An image that leaves the build the way image_cleanup leaves it: SSH off, no keys, no machine-id."""
    standin.run(["sh", "-c", "systemctl disable ssh.service && rm -f /etc/ssh/ssh_host_* "
                 "/home/admin/.ssh/authorized_keys && truncate -s 0 /etc/machine-id"])
    return build_image(ec2, standin, aws, "web-golden-like")


def test_an_image_with_ssh_off_boots_without_waiting_for_ssh(aws, ec2, standin, standin_factory):
    image_id = golden_like_image(ec2, standin, aws)

    booted = standin_factory(image_id=image_id)

    assert booted.ssh_expected is False
    assert booted.system_state in ("running", "degraded"), booted.failed_units()
    assert booted.run(["systemctl", "is-enabled", "ssh.service"], check=False).stdout.strip() == "disabled"
    assert booted.run(["systemctl", "is-active", "ssh.service"], check=False).stdout.strip() == "inactive"
    assert not port_answers(booted.address, 22)
    assert booted.run(["cat", MARKER]).stdout == "built in the stand-in\n"


def test_booting_as_is_adds_no_keys_and_the_tarball_shows_the_image_itself(aws, ec2, standin, standin_factory):
    image_id = golden_like_image(ec2, standin, aws)
    path = aws.control.image_content(image_id)["path"]

    booted = standin_factory(image_id=image_id, personalize=False)

    members = list_content(path)
    assert not [name for name in members if name.startswith("etc/ssh/ssh_host_")]
    assert "home/admin/.ssh/authorized_keys" not in members
    assert read_content_file(path, "etc/machine-id") == b""
    assert booted.run(["sh", "-c", "ls /etc/ssh/ssh_host_* /home/admin/.ssh/authorized_keys"],
                      check=False).returncode != 0
    assert booted.system_state in ("running", "degraded"), booted.failed_units()
    with pytest.raises(StandInError, match="booted as it is"):
        booted.ssh(["true"])


def test_booting_as_is_cannot_wait_for_ssh(standin_base):
    with pytest.raises(ValueError, match="needs personalize=True"):
        StandIn(standin_base, personalize=False, wait_for_ssh=True)


def test_a_dead_sandboxs_image_store_is_stale_and_a_live_one_is_not(aws, ec2, standin):
    image_id = build_image(ec2, standin, aws, "web-stale")
    live_store = Path(aws.control.image_content(image_id)["path"]).parent
    dead_store = paths.run_root() / f"{STORE_PREFIX}test-{os.getpid()}"
    dead_store.mkdir()
    try:
        exited = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
        owner = {"owner_pid": int(exited.stdout), "owner_start": 0}
        (dead_store / "owner.json").write_text(json.dumps(owner))

        stale = stale_image_stores()

        assert dead_store in stale
        assert live_store not in stale
    finally:
        dead_store.joinpath("owner.json").unlink(missing_ok=True)
        dead_store.rmdir()


# -- ModifyImageAttribute ImdsSupport (Packer 1.6.6 cannot set imds_support itself) ---------


def test_modify_image_attribute_sets_imds_support_to_v2(ec2):
    by_structure = register_image(ec2, "imds-structure")
    by_attribute = register_image(ec2, "imds-attribute")

    ec2.modify_image_attribute(ImageId=by_structure, ImdsSupport={"Value": "v2.0"})
    ec2.modify_image_attribute(ImageId=by_attribute, Attribute="imdsSupport", Value="v2.0")

    for image_id in (by_structure, by_attribute):
        assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["ImdsSupport"] == "v2.0"
        attribute = ec2.describe_image_attribute(ImageId=image_id, Attribute="imdsSupport")
        assert attribute["ImdsSupport"] == {"Value": "v2.0"}


def test_modify_image_attribute_refuses_other_imds_support_values(ec2):
    image_id = register_image(ec2, "imds-refused")

    with pytest.raises(ClientError) as raised:
        ec2.modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": "v1.0"})

    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "ImdsSupport" not in ec2.describe_images(ImageIds=[image_id])["Images"][0]


# -- the real Packer build -----------------------------------------------------------------

PACKER_TEMPLATE = STANDIN_SSH_VARIABLES + """
variable "endpoint" { type = string }
variable "source_ami" { type = string }

source "amazon-ebs" "content" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  skip_region_validation     = true
  source_ami                 = var.source_ami
  instance_type              = "t3.micro"
  ami_name                   = "web-packer-content"
  encrypt_boot               = true""" + STANDIN_SSH_COMMUNICATOR + """}

build {
  sources = ["source.amazon-ebs.content"]
  provisioner "shell" {
    inline = ["echo 'provisioned by packer' | sudo tee /etc/cattle-image-marker"]
  }
  post-processor "manifest" {
    output = "manifest.json"
  }
}
"""


@pytest.mark.packer
def test_real_packer_build_gives_an_ami_that_boots_with_the_provisioned_file(
    aws, ec2, aws_env, standin, standin_factory, tmp_path
):
    (tmp_path / "content.pkr.hcl").write_text(PACKER_TEMPLATE)
    variables = dict(standin.packer_vars(), endpoint=aws.endpoint, source_ami=register_image(ec2, "packer-source"))
    standin.bind_to(aws.control)
    result = packer_build(tmp_path, "content.pkr.hcl", variables, packer_env(aws_env, tmp_path))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    image_id = manifest["builds"][-1]["artifact_id"].split(":")[1]
    first = re.search(r"AMI: (ami-[0-9a-f]+)", result.stdout).group(1)
    contents = aws.control.image_contents()
    booted = standin_factory(image_id=image_id)

    # encrypt_boot: the manifest names the encrypted copy, the only AMI left, and it has the content.
    assert first != image_id
    with pytest.raises(SandboxControlError, match="deregistered"):
        aws.control.image_content(first)
    assert [image["ImageId"] for image in ec2.describe_images(Owners=["self"])["Images"]
            if image["Name"] == "web-packer-content"] == [image_id]
    assert [content["image_id"] for content in contents] == [image_id]
    assert booted.run(["cat", MARKER]).stdout == "provisioned by packer\n"
