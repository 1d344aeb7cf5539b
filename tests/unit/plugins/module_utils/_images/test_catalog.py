"""Building the DescribeImages query and shaping its answer (no AWS involved)."""

from ansible_collections.cattle.immutable.plugins.module_utils._images import catalog as images


def test_filters_combine_every_query_part():
    filters = images.image_filters(
        image_ids=["ami-12345678"], name="web-*", tags={"team": "a"}, app="web", extra={"state": "available"}
    )
    assert filters == {
        "image-id": ["ami-12345678"],
        "name": "web-*",
        "tag:team": "a",
        "tag:cattle:app": "web",
        "state": "available",
    }


def test_owners_are_passed_as_strings():
    request = images.images_request({}, ["self", 123456789012])
    assert request["Owners"] == ["self", "123456789012"]


def test_no_owners_means_no_owner_restriction():
    assert "Owners" not in images.images_request({"name": "x"}, [])


def test_image_facts_are_snake_case_with_tags_as_dict():
    facts = images.image_facts(
        {
            "ImageId": "ami-12345678",
            "CreationDate": "2026-01-01T00:00:00.000Z",
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1"}}],
            "Tags": [{"Key": "cattle:app", "Value": "web"}, {"Key": "Name", "Value": "Web"}],
        }
    )
    assert facts["image_id"] == "ami-12345678"
    assert facts["block_device_mappings"][0]["ebs"]["snapshot_id"] == "snap-1"
    # Tag keys are data, never re-cased.
    assert facts["tags"] == {"cattle:app": "web", "Name": "Web"}


def test_images_sort_newest_first_with_stable_ties():
    found = images.newest_first(
        [
            {"image_id": "ami-00000001", "creation_date": "2026-01-01T00:00:00.000Z"},
            {"image_id": "ami-00000003", "creation_date": "2026-03-01T00:00:00.000Z"},
            {"image_id": "ami-00000002", "creation_date": "2026-03-01T00:00:00.000Z"},
        ]
    )
    assert [image["image_id"] for image in found] == ["ami-00000003", "ami-00000002", "ami-00000001"]


def test_fingerprint_filters_on_its_tag():
    assert images.image_filters(fingerprint="abc")["tag:cattle:fingerprint"] == "abc"


def test_include_deprecated_is_asked_of_aws_only_when_wanted():
    assert images.images_request({}, ["self"], include_deprecated=True)["IncludeDeprecated"] is True
    assert "IncludeDeprecated" not in images.images_request({}, ["self"])


def test_revoked_and_past_deprecated_images_are_excluded_unless_asked_for():
    from datetime import datetime, timezone

    now = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    found = [
        {"image_id": "ami-00000001", "tags": {"cattle:revoked": "2026-05-01 broken"}},
        {"image_id": "ami-00000002", "tags": {}, "deprecation_time": "2026-06-01T11:59:00.000Z"},
        {"image_id": "ami-00000003", "tags": {}, "deprecation_time": "2026-06-01T12:01:00.000Z"},
    ]
    kept, excluded = images.split_excluded(found, now)
    assert [image["image_id"] for image in kept] == ["ami-00000003"]
    assert [(item["image_id"], item["reason"]) for item in excluded] == [("ami-00000001", "revoked"), ("ami-00000002", "deprecated")]
    kept, excluded = images.split_excluded(found, now, include_revoked=True)
    assert [image["image_id"] for image in kept] == ["ami-00000001", "ami-00000003"]
    kept, excluded = images.split_excluded(found, now, include_revoked=True, include_deprecated=True)
    assert excluded == []
