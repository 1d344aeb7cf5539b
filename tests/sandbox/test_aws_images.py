"""AMIs in the sandbox: unique names, ImdsSupport, deprecation, snapshot tags."""

import datetime
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from moto.ec2.exceptions import EC2ClientError

from cattle_sandbox.aws import images
from cattle_sandbox.aws.control import SandboxControlError
from fixtures.images import images_named

pytestmark = pytest.mark.sandbox


def error_code(raised):
    return raised.value.response["Error"]["Code"]


def test_create_image_with_a_name_in_use_fails_as_duplicate(ec2, instance_id):
    first = ec2.create_image(InstanceId=instance_id, Name="web-2024-01-01")["ImageId"]

    with pytest.raises(ClientError) as raised:
        ec2.create_image(InstanceId=instance_id, Name="web-2024-01-01")

    assert error_code(raised) == "InvalidAMIName.Duplicate"
    assert first in raised.value.response["Error"]["Message"]
    assert [image["ImageId"] for image in images_named(ec2, "web-2024-01-01")] == [first]


def test_register_and_copy_image_refuse_a_name_in_use_too(ec2):
    source = ec2.register_image(Name="web-golden")["ImageId"]

    with pytest.raises(ClientError) as registered:
        ec2.register_image(Name="web-golden")
    with pytest.raises(ClientError) as copied:
        ec2.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="web-golden")

    assert error_code(registered) == error_code(copied) == "InvalidAMIName.Duplicate"
    assert ec2.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="web-golden-copy")["ImageId"]


def test_a_name_is_free_again_once_its_image_is_deregistered(ec2):
    old = ec2.register_image(Name="web-reused")["ImageId"]
    ec2.deregister_image(ImageId=old)

    new = ec2.register_image(Name="web-reused")["ImageId"]

    assert [image["ImageId"] for image in images_named(ec2, "web-reused")] == [new]


def test_imds_support_given_at_registration_is_kept(ec2):
    image_id = ec2.register_image(Name="web-imds", ImdsSupport="v2.0")["ImageId"]

    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    attribute = ec2.describe_image_attribute(ImageId=image_id, Attribute="imdsSupport")

    assert image["ImdsSupport"] == "v2.0"
    assert attribute["ImdsSupport"]["Value"] == "v2.0"


def test_image_deprecation_is_set_rounded_to_the_minute_and_cleared(ec2):
    image_id = ec2.register_image(Name="web-old")["ImageId"]
    tomorrow = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=1)
    deprecate_at = tomorrow.replace(second=40)

    assert ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=deprecate_at)["Return"] is True
    [deprecated] = ec2.describe_images(ImageIds=[image_id])["Images"]
    ec2.disable_image_deprecation(ImageId=image_id)
    [restored] = ec2.describe_images(ImageIds=[image_id])["Images"]

    expected = (deprecate_at.replace(second=0) + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert deprecated["DeprecationTime"] == expected
    assert "DeprecationTime" not in restored


def test_image_deprecation_refuses_a_time_in_the_past_and_unknown_images(ec2):
    image_id = ec2.register_image(Name="web-old")["ImageId"]
    yesterday = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)

    with pytest.raises(ClientError) as past:
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=yesterday)
    with pytest.raises(ClientError) as unknown:
        ec2.disable_image_deprecation(ImageId="ami-0000000000000000f")

    assert error_code(past) == "InvalidParameterValue"
    assert error_code(unknown) == "InvalidAMIID.NotFound"


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def test_image_deprecation_has_no_tolerance_for_a_recent_past(ec2):
    image_id = ec2.register_image(Name="web-old")["ImageId"]

    with pytest.raises(ClientError) as past:
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=utc_now() - datetime.timedelta(seconds=40))

    assert error_code(past) == "InvalidParameterValue"
    assert "in the past" in past.value.response["Error"]["Message"]
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[image_id])["Images"][0]


def test_image_deprecation_accepts_the_next_whole_minute_half_a_minute_away(ec2):
    image_id = ec2.register_image(Name="web-old")["ImageId"]
    next_minute = (utc_now() + datetime.timedelta(seconds=90)).replace(second=0, microsecond=0)

    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=next_minute)

    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert image["DeprecationTime"] == next_minute.strftime("%Y-%m-%dT%H:%M:00.000Z")


NOON = datetime.datetime(2026, 6, 1, 12, 0, 10)


@pytest.mark.parametrize(
    "requested, stored",
    [
        (NOON.replace(second=25), None),  # ahead of NOON, but rounds down to 12:00:00, before it
        (NOON.replace(second=30), "2026-06-01T12:01:00.000Z"),
        (NOON.replace(minute=1, second=29), "2026-06-01T12:01:00.000Z"),
        (datetime.datetime(2036, 6, 1, 12, 0), "2036-06-01T12:00:00.000Z"),  # 10 years less 10 s
        (datetime.datetime(2036, 6, 1, 12, 1), None),  # beyond 10 years from now
    ],
)
def test_deprecation_time_is_rounded_before_it_is_bounded(requested, stored):
    private = SimpleNamespace(id="ami-00000001", is_public=False, creation_date=NOON)
    if stored is None:
        with pytest.raises(EC2ClientError) as refused:
            images.accepted_deprecation_time(requested, NOON, private)
        assert refused.value.code == "InvalidParameterValue"
    else:
        assert images.accepted_deprecation_time(requested, NOON, private).strftime("%Y-%m-%dT%H:%M:%S.000Z") == stored


def test_image_deprecation_refuses_more_than_ten_years_ahead(ec2):
    image_id = ec2.register_image(Name="web-old")["ImageId"]
    eleven_years = utc_now() + datetime.timedelta(days=11 * 365)

    with pytest.raises(ClientError) as refused:
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=eleven_years)

    assert error_code(refused) == "InvalidParameterValue"
    assert "10 years from now" in refused.value.response["Error"]["Message"]
    assert ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=utc_now() + datetime.timedelta(days=9 * 365))


def test_a_public_image_is_deprecated_at_most_two_years_after_its_creation(ec2):
    image_id = ec2.register_image(Name="web-public")["ImageId"]
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})

    with pytest.raises(ClientError) as refused:
        ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=utc_now() + datetime.timedelta(days=3 * 365))

    assert error_code(refused) == "InvalidParameterValue"
    assert "2 years after the creation of public AMI" in refused.value.response["Error"]["Message"]
    assert ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=utc_now() + datetime.timedelta(days=365))


def test_the_control_api_sets_a_deprecation_time_that_has_passed(aws, ec2):
    image_id = ec2.register_image(Name="web-old")["ImageId"]

    answer = aws.control.set_image_deprecation_time(image_id, "2026-01-01T10:00:20Z")
    with pytest.raises(SandboxControlError) as unknown:
        aws.control.set_image_deprecation_time("ami-0000000000000000f", "2026-01-01T10:00:00Z")

    assert answer == {"image_id": image_id, "deprecation_time": "2026-01-01T10:00:00.000Z"}
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["DeprecationTime"] == "2026-01-01T10:00:00.000Z"
    assert unknown.value.status == 404


def test_create_image_tags_the_snapshot_it_is_asked_to_tag(ec2, instance_id):
    image_id = ec2.create_image(
        InstanceId=instance_id,
        Name="web-tagged",
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "app", "Value": "web"}]},
            {"ResourceType": "snapshot", "Tags": [{"Key": "app", "Value": "web-snapshot"}]},
        ],
    )["ImageId"]

    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    [snapshot] = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]

    assert image["Tags"] == [{"Key": "app", "Value": "web"}]
    assert snapshot["Tags"] == [{"Key": "app", "Value": "web-snapshot"}]


def test_registered_image_keeps_its_ebs_root_and_snapshot(ec2):
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    snapshots_before = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}

    image_id = ec2.register_image(
        Name="debian-12-base",
        Architecture="arm64",
        VirtualizationType="hvm",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]

    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    # Packer's amazon-ebs only builds from EBS-backed source AMIs.
    assert image["RootDeviceType"] == "ebs"
    assert image["RootDeviceName"] == "/dev/xvda"
    assert image["Architecture"] == "arm64"
    assert image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == snapshot
    snapshots_after = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snapshots_after == snapshots_before


def test_images_created_from_instances_are_ebs_backed(ec2, instance_id):
    image_id = ec2.create_image(InstanceId=instance_id, Name="web-ebs")["ImageId"]
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["RootDeviceType"] == "ebs"
