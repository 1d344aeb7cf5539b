"""cattle.immutable.image_distribute through real ansible-playbook runs against the sandbox."""


import pytest

from fixtures.ansible import module_play
from fixtures.aws import register_image

pytestmark = pytest.mark.sandbox

SOURCE = "us-east-1"
TARGETS = ["us-west-2", "eu-west-1"]
FINGERPRINT = "3f2a9c0d1e4b5a6f7a8b9c0d1e2f3a4b"
NAME = "web-3f2a9c0d1e4b5a6f"
WRITES = {"ec2:CopyImage", "ec2:CreateTags", "ec2:ModifyImageAttribute"}


def distribute_play(**args):
    args.setdefault("region", SOURCE)
    return module_play("distribute", "image_distribute", args)


def distribute(playbook, check=False, **args):
    run = playbook(distribute_play(**args), check=check)
    assert not run.failed, run.explain()
    return run.result("distribute")


def refused(playbook, **args):
    run = playbook(distribute_play(**args))
    assert run.failed, run.explain()
    return run.result("distribute")["msg"]


@pytest.fixture
def source(ec2):
    return register_image(
        ec2, NAME, {"cattle:app": "web", "cattle:fingerprint": FINGERPRINT, "cattle:validation": "passed"}
    )


def encrypted_image(ec2, name="web-00000000000000e1"):
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8, Encrypted=True)
    snapshot_id = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    image_id = ec2.register_image(
        Name=name,
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot_id}}],
    )["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "cattle:app", "Value": "web"}])
    return image_id


def images_in(boto3_client, region):
    images = boto3_client("ec2", region_name=region).describe_images(Owners=["self"])["Images"]
    return {image["ImageId"]: image for image in images}


def tags_of(image):
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def permissions(boto3_client, region, image_id):
    answer = boto3_client("ec2", region_name=region).describe_image_attribute(
        ImageId=image_id, Attribute="launchPermission"
    )
    return sorted(p["UserId"] for p in answer["LaunchPermissions"])


def state(boto3_client):
    """Every image in the three regions, with tags and launch permissions."""
    seen = []
    for region in [SOURCE] + TARGETS:
        for image_id, image in sorted(images_in(boto3_client, region).items()):
            seen.append(
                (region, image_id, image["Name"], sorted(tags_of(image).items()),
                 permissions(boto3_client, region, image_id))
            )
    return seen


def writes_in(counters):
    return {call: count for call, count in counters.items() if call in WRITES}


def test_copy_does_not_carry_the_source_regions_stages(playbook, ec2, boto3_client):
    promoted = register_image(
        ec2, NAME, {"cattle:app": "web", "cattle:fingerprint": FINGERPRINT, "cattle:stage:prod": "2026-11-26T10:00:00Z"}
    )
    result = distribute(playbook, image_id=promoted, app="web", regions=["us-west-2"])
    copy = images_in(boto3_client, "us-west-2")[result["images"]["us-west-2"]]
    tags = tags_of(copy)
    assert "cattle:stage:prod" not in tags
    assert tags["cattle:fingerprint"] == FINGERPRINT


def test_copies_to_each_region_with_tags_then_reuses(playbook, source, boto3_client):
    result = distribute(playbook, image_id=source, app="web", regions=TARGETS)
    assert result["changed"] is True
    assert sorted(result["copied"]) == sorted(TARGETS) and result["reused"] == []
    assert result["images"][SOURCE] == source
    for region in TARGETS:
        images = images_in(boto3_client, region)
        assert list(images) == [result["images"][region]]
        copy = images[result["images"][region]]
        assert copy["Name"] == NAME and copy["State"] == "available"
        tags = tags_of(copy)
        assert tags["cattle:app"] == "web"
        assert tags["cattle:fingerprint"] == FINGERPRINT
        assert tags["cattle:validation"] == "passed"
        assert tags["cattle:copied-from"] == f"{SOURCE}:{source}"

    before = state(boto3_client)
    again = distribute(playbook, image_id=source, app="web", regions=TARGETS)
    assert again["changed"] is False
    assert again["copied"] == [] and sorted(again["reused"]) == sorted(TARGETS)
    assert again["images"] == result["images"]
    assert state(boto3_client) == before


def test_a_lost_copy_answer_leaves_exactly_one_copy(playbook, source, boto3_client, aws):
    aws.control.reset_counters()
    aws.control.add_fault(service="ec2", action="CopyImage", kind="lose_response", count=1)
    result = distribute(playbook, image_id=source, app="web", regions=["us-west-2"])
    assert aws.control.counters()["ec2:CopyImage"] >= 2  # the lost one and its retry
    images = images_in(boto3_client, "us-west-2")
    assert list(images) == [result["images"]["us-west-2"]]
    assert tags_of(images[result["images"]["us-west-2"]])["cattle:app"] == "web"
    assert result["copied"] == ["us-west-2"] and result["changed"] is True
    assert distribute(playbook, image_id=source, app="web", regions=["us-west-2"])["changed"] is False


def test_an_untagged_copy_left_by_an_unfinished_run_is_adopted(playbook, source, boto3_client):
    west = boto3_client("ec2", region_name="us-west-2")
    west.copy_image(
        SourceRegion=SOURCE, SourceImageId=source, Name=NAME, Description=f"{SOURCE}:{source} copied by cattle.immutable"
    )
    result = distribute(playbook, image_id=source, app="web", regions=["us-west-2"])
    images = images_in(boto3_client, "us-west-2")
    assert list(images) == [result["images"]["us-west-2"]]
    assert tags_of(images[result["images"]["us-west-2"]])["cattle:app"] == "web"


def test_shares_with_accounts_and_purges_the_others(playbook, source, boto3_client):
    first = distribute(
        playbook, image_id=source, app="web", regions=["us-west-2"],
        launch_permissions={"user_ids": ["111122223333", "444455556666"]},
    )
    copy = first["images"]["us-west-2"]
    for region, image_id in ((SOURCE, source), ("us-west-2", copy)):
        assert permissions(boto3_client, region, image_id) == ["111122223333", "444455556666"]
        assert first["launch_permissions"][region] == {"added": ["111122223333", "444455556666"], "removed": []}

    same = distribute(
        playbook, image_id=source, app="web", regions=["us-west-2"],
        launch_permissions={"user_ids": ["111122223333", "444455556666"]},
    )
    assert same["changed"] is False

    without_purge = distribute(
        playbook, image_id=source, app="web", regions=["us-west-2"], launch_permissions={"user_ids": ["111122223333"]}
    )
    assert without_purge["changed"] is False
    assert permissions(boto3_client, SOURCE, source) == ["111122223333", "444455556666"]

    purged = distribute(
        playbook, image_id=source, app="web", regions=["us-west-2"],
        launch_permissions={"user_ids": ["111122223333", "777788889999"], "purge": True},
    )
    assert purged["changed"] is True
    for region, image_id in ((SOURCE, source), ("us-west-2", copy)):
        assert permissions(boto3_client, region, image_id) == ["111122223333", "777788889999"]
        assert purged["launch_permissions"][region] == {"added": ["777788889999"], "removed": ["444455556666"]}


def test_check_mode_plans_and_copies_nothing(playbook, source, boto3_client, aws):
    before = state(boto3_client)
    aws.control.reset_counters()
    result = distribute(
        playbook, check=True, image_id=source, app="web", regions=TARGETS,
        launch_permissions={"user_ids": ["111122223333"]},
    )
    assert result["changed"] is True
    assert sorted(result["copied"]) == sorted(TARGETS)
    assert result["images"] == {SOURCE: source, "us-west-2": None, "eu-west-1": None}
    assert result["launch_permissions"]["us-west-2"] == {"added": ["111122223333"], "removed": []}
    assert result["launch_permissions"][SOURCE] == {"added": ["111122223333"], "removed": []}
    assert writes_in(aws.control.counters()) == {}
    assert state(boto3_client) == before


def test_an_encrypted_image_without_keys_is_refused_naming_the_regions(playbook, ec2, boto3_client, aws):
    image_id = encrypted_image(ec2)
    before = state(boto3_client)
    aws.control.reset_counters()
    msg = refused(playbook, image_id=image_id, app="web", regions=TARGETS, kms_key_ids={"us-west-2": "key-west"})
    assert "kms_key_ids" in msg and "eu-west-1" in msg and "us-west-2" not in msg.split("region(s)")[-1]
    assert "nothing was changed" in msg
    assert writes_in(aws.control.counters()) == {}
    assert state(boto3_client) == before


def test_an_encrypted_image_is_copied_with_the_regions_keys(playbook, ec2, boto3_client, aws):
    image_id = encrypted_image(ec2)
    aws.control.reset_counters()
    result = distribute(playbook, image_id=image_id, app="web", regions=["us-west-2"], kms_key_ids={"us-west-2": "key-west"})
    assert result["encrypted"] is True and result["copied"] == ["us-west-2"]
    assert list(images_in(boto3_client, "us-west-2")) == [result["images"]["us-west-2"]]


def test_sharing_an_encrypted_image_needs_customer_managed_keys(playbook, ec2, boto3_client, aws):
    image_id = encrypted_image(ec2)
    before = state(boto3_client)
    aws.control.reset_counters()
    share = {"user_ids": ["111122223333"]}
    msg = refused(
        playbook, image_id=image_id, app="web", regions=["us-west-2"], launch_permissions=share,
        kms_key_ids={"us-west-2": "alias/aws/ebs", SOURCE: "key-east"},
    )
    assert "customer managed" in msg and "us-west-2" in msg
    # The sandbox does not report the source's key: without one given for it, it is unknown.
    msg = refused(
        playbook, image_id=image_id, app="web", regions=["us-west-2"], launch_permissions=share,
        kms_key_ids={"us-west-2": "key-west"},
    )
    assert "customer managed" in msg and SOURCE in msg
    assert writes_in(aws.control.counters()) == {}
    assert state(boto3_client) == before
    result = distribute(
        playbook, image_id=image_id, app="web", regions=["us-west-2"], launch_permissions=share,
        kms_key_ids={"us-west-2": "key-west", SOURCE: "key-east"},
    )
    assert result["launch_permissions"]["us-west-2"]["added"] == ["111122223333"]


def test_throttling_is_retried_through(playbook, source, boto3_client, aws):
    aws.control.reset_counters()
    # botocore's legacy mode tries 5 times; the module's own backoff must carry on.
    aws.control.add_fault(service="ec2", action="CopyImage", kind="throttle", count=6)
    aws.control.add_fault(service="ec2", action="CreateTags", kind="server_error", count=2)
    aws.control.add_fault(service="ec2", action="ModifyImageAttribute", kind="throttle", count=2)
    result = distribute(
        playbook, image_id=source, app="web", regions=["us-west-2"], launch_permissions={"user_ids": ["111122223333"]}
    )
    counters = aws.control.counters()
    assert counters["ec2:CopyImage"] == 7
    assert counters["ec2:CreateTags"] == 3
    assert counters["ec2:ModifyImageAttribute"] == 4  # two throttled, then source and copy
    assert list(images_in(boto3_client, "us-west-2")) == [result["images"]["us-west-2"]]


@pytest.mark.parametrize(
    "args, words",
    [
        ({"image_id": "ami-0123456789abcdef0"}, ["image_id", "ami-0123456789abcdef0", "does not exist"]),
        ({"image_id": "ami-xyz"}, ["image_id", "ami-xyz"]),
        ({"app": "api"}, ["image_id", "app 'api'"]),
        ({"launch_permissions": {"user_ids": ["12345"]}}, ["launch_permissions.user_ids", "12345"]),
        ({"regions": ["us-west-2", SOURCE]}, ["regions", SOURCE, "source region"]),
        ({"regions": ["Mars"]}, ["regions", "Mars"]),
    ],
    ids=["unknown-ami", "malformed-ami", "other-app", "bad-account", "source-as-target", "bad-region"],
)
def test_bad_inputs_are_refused_and_nothing_changes(playbook, source, boto3_client, aws, args, words):
    before = state(boto3_client)
    aws.control.reset_counters()
    full = {"image_id": source, "app": "web", "regions": ["us-west-2"], **args}
    msg = refused(playbook, **full)
    for word in words:
        assert word in msg
    assert "nothing was changed" in msg
    assert writes_in(aws.control.counters()) == {}
    assert state(boto3_client) == before


def test_a_name_taken_by_another_image_is_refused(playbook, source, boto3_client, aws):
    register_image(boto3_client("ec2", region_name="eu-west-1"), NAME, {"cattle:app": "api"})
    before = state(boto3_client)
    aws.control.reset_counters()
    msg = refused(playbook, image_id=source, app="web", regions=TARGETS)
    assert NAME in msg and "nothing was changed" in msg
    assert writes_in(aws.control.counters()) == {}
    assert state(boto3_client) == before
