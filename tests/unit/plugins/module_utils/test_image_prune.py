"""The prune plan: what goes, what stays and why (no AWS involved)."""

from datetime import datetime, timezone

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import image_prune as pruning
from ansible_collections.cattle.immutable.plugins.module_utils._images import catalog as image_utils
from ansible_collections.cattle.immutable.plugins.module_utils._images import usage as usage_utils

NOW = datetime(2026, 6, 30, 12, 0, 0, tzinfo=timezone.utc)


def image(number, day, state="available", tags=None, snapshots=None):
    return {
        "image_id": "ami-{0:08x}".format(number),
        "name": "web-{0:016x}".format(number),
        "state": state,
        "creation_date": "2026-06-{0:02d}T12:00:00.000Z".format(day),
        "tags": dict({"cattle:app": "web"}, **(tags or {})),
        "block_device_mappings": [
            {"device_name": "/dev/xvd" + chr(97 + index), "ebs": {"snapshot_id": snapshot}}
            for index, snapshot in enumerate(snapshots or ["snap-{0:08x}".format(number)])
        ],
    }


def params(**overrides):
    return dict({"app": "web", "prefix": "cattle", "keep": 3, "keep_days": 14, "wait_timeout": 300}, **overrides)


def ids(items):
    return [item["image_id"] for item in items]


def test_keeps_the_newest_and_deletes_the_old_ones():
    images = [image(n, n) for n in range(1, 6)]  # days 1..5, all older than 14 days
    to_delete, kept = pruning.plan(images, {}, keep=3, keep_days=14, now=NOW)
    assert ids(kept) == ["ami-00000005", "ami-00000004", "ami-00000003"]
    assert all(item["reason"] == "newest 3" for item in kept)
    assert ids(to_delete) == ["ami-00000002", "ami-00000001"]
    assert to_delete[0]["reason"] == "not among the newest 3, older than 14 days, not in use"
    assert to_delete[0]["snapshots"] == ["snap-00000002"]


def test_keeps_images_younger_than_keep_days():
    images = [image(1, 1), image(2, 20), image(3, 25)]
    to_delete, kept = pruning.plan(images, {}, keep=1, keep_days=14, now=NOW)
    assert ids(to_delete) == ["ami-00000001"]
    assert [item["reason"] for item in kept] == ["newest 1; younger than 14 days", "younger than 14 days"]


def test_keep_days_zero_keeps_nothing_for_its_age():
    images = [image(1, 29), image(2, 30)]
    to_delete, kept = pruning.plan(images, {}, keep=1, keep_days=0, now=NOW)
    assert ids(kept) == ["ami-00000002"] and ids(to_delete) == ["ami-00000001"]
    assert to_delete[0]["reason"] == "not among the newest 1, not in use"


def test_an_image_exactly_keep_days_old_goes():
    assert not pruning.is_younger_than(image(1, 16), 14, NOW)
    assert pruning.is_younger_than({"creation_date": "2026-06-16T12:00:01.000Z"}, 14, NOW)


def test_in_use_images_are_kept_whatever_their_age_with_every_reason():
    images = [image(1, 1), image(2, 2), image(3, 3)]
    usage = usage_utils.usage_by_image(
        ids(images),
        [{"name": "web-lt", "id": "lt-1", "version": 3, "image_id": "ami-00000001"}],
        [({"AutoScalingGroupName": "web-prod"}, "ami-00000001", "launch template web-lt v3")],
        [{"InstanceId": "i-1", "ImageId": "ami-00000002", "State": {"Name": "stopped"}}],
        {"/cattle/web/prod": "ami-00000001"},
    )
    to_delete, kept = pruning.plan(images, usage, keep=1, keep_days=0, now=NOW)
    assert ids(to_delete) == []
    reasons = {item["image_id"]: item["reason"] for item in kept}
    assert reasons["ami-00000001"] == (
        "stage pointer /cattle/web/prod; in use: launch template web-lt v3; "
        "in use: auto scaling group web-prod (launch template web-lt v3)"
    )
    assert reasons["ami-00000002"] == "in use: instance i-1 (stopped)"
    assert reasons["ami-00000003"] == "newest 1"


def test_revoked_and_failed_images_do_not_count_among_the_newest():
    images = [image(1, 1), image(2, 2, tags={"cattle:revoked": "2026-06-03 bad"}), image(3, 3, state="failed")]
    to_delete, kept = pruning.plan(images, {}, keep=1, keep_days=0, now=NOW)
    assert ids(kept) == ["ami-00000001"]
    assert [item["reason"] for item in to_delete] == ["state failed, not in use", "revoked, not in use"]


def test_pending_images_are_never_deleted():
    to_delete, kept = pruning.plan([image(1, 1), image(2, 2, state="pending")], {}, keep=1, keep_days=0, now=NOW)
    assert ids(to_delete) == [] and kept[0]["reason"] == "still pending"


def test_every_snapshot_of_an_image_is_listed_once():
    candidate = image(1, 1, snapshots=["snap-a", "snap-b", "snap-a"])
    candidate["block_device_mappings"].append({"device_name": "/dev/xvdz", "virtual_name": "ephemeral0"})
    assert image_utils.image_snapshot_ids(candidate) == ["snap-a", "snap-b"]


def test_a_snapshot_a_kept_image_shares_is_not_deleted():
    images = [image(1, 1, snapshots=["snap-shared", "snap-own"]), image(2, 2, snapshots=["snap-shared"])]
    to_delete, kept = pruning.plan(images, {}, keep=1, keep_days=0, now=NOW)
    pruning.without_shared_snapshots(to_delete, pruning.shared_snapshots(images, kept))
    assert to_delete[0]["snapshots"] == ["snap-own"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"keep": 0}, "keep must be at least 1 (got 0)"),
        ({"keep": -2}, "keep must be at least 1 (got -2)"),
        ({"keep_days": -1}, "keep_days must be 0 or more (got -1)"),
        ({"wait_timeout": -1}, "wait_timeout must be 0 or more"),
        ({"app": "Web"}, "app 'Web' is not a valid app name"),
        ({"prefix": "bad prefix"}, "prefix 'bad prefix' is not a valid parameter prefix"),
    ],
)
def test_bad_options_are_refused_naming_the_option(overrides, message):
    with pytest.raises(pruning.PruneInputError) as error:
        pruning.validate_options(params(**overrides))
    assert message in str(error.value)


def test_summary_reads_as_a_sentence():
    to_delete = [{"image_id": "ami-00000001", "snapshots": ["snap-1", "snap-2"]}]
    assert pruning.summary("web", to_delete, [{}], check_mode=True) == (
        "web: would delete 1 image(s) and 2 snapshot(s): ami-00000001; kept 1"
    )
    assert pruning.summary("web", [], [{}, {}], check_mode=False) == "web: nothing to prune, kept 2 image(s)"


class FakeEC2:
    """Lists images for `listed_for` polls, then none."""

    def __init__(self, listed_for):
        self.listed_for = listed_for
        self.polls = 0

    def describe_images(self, Filters, IncludeDeprecated):
        self.polls += 1
        still = Filters[0]["Values"] if self.polls <= self.listed_for else []
        return {"Images": [{"ImageId": image_id} for image_id in still]}


def test_waits_until_deregistered_images_are_gone(clock):
    ec2 = FakeEC2(listed_for=2)
    pruning.wait_until_deregistered(ec2, ["ami-00000001"], timeout=10, sleep=clock.sleep, clock=clock)
    assert ec2.polls == 3 and clock.now == 2 * pruning.WAIT_POLL_SECONDS


def test_the_wait_is_bounded(clock):
    ec2 = FakeEC2(listed_for=1000)
    with pytest.raises(pruning.PruneError) as error:
        pruning.wait_until_deregistered(ec2, ["ami-00000001"], timeout=5, sleep=clock.sleep, clock=clock)
    assert "ami-00000001 still listed 5 s after deregistration" in str(error.value)
    assert clock.now <= 5 + pruning.WAIT_POLL_SECONDS
