"""The checks image_distribute makes before any AWS call or any copy, and the tags a copy carries."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import image_distribute as distribution
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming

SOURCE = "eu-west-1"
CMK = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def params(**given):
    base = {"image_id": "ami-0123456789abcdef0", "app": "web", "regions": [], "launch_permissions": None,
            "kms_key_ids": None, "wait_timeout": 600}
    base.update(given)
    return base


def test_target_regions_keep_their_order_without_repeats():
    assert distribution.validate_inputs(params(regions=["us-east-1", "eu-central-1", "us-east-1"]), SOURCE) == [
        "us-east-1", "eu-central-1"]


@pytest.mark.parametrize("given, source, names", [
    (dict(regions=["Ireland"]), SOURCE, "regions: 'Ireland' is not a region name"),
    (dict(regions=[SOURCE]), SOURCE, "is the source region"),
    (dict(), None, "region: the source region is not known"),
    (dict(launch_permissions={"user_ids": ["12345"]}), SOURCE, "launch_permissions.user_ids: '12345'"),
    (dict(kms_key_ids={"us-east-1": ""}), SOURCE, "kms_key_ids: region 'us-east-1' has an empty key"),
    (dict(regions=["us-east-1"], kms_key_ids={"us-west-2": CMK}), SOURCE,
     r"kms_key_ids: region 'us-west-2' is neither the source region \(eu-west-1\) nor one of regions \(us-east-1\)"),
    (dict(wait_timeout=0), SOURCE, "wait_timeout: 0 must be at least 1 second"),
])
def test_bad_inputs_are_refused_naming_the_input(given, source, names):
    with pytest.raises(distribution.DistributionError, match=names):
        distribution.validate_inputs(params(**given), source)


def test_a_bad_image_id_is_a_naming_error():
    with pytest.raises(naming.NamingError):
        distribution.validate_inputs(params(image_id="image-1"), SOURCE)


def test_an_unencrypted_image_needs_no_key():
    distribution.check_encryption(params(), SOURCE, ["us-east-1"], False, [])


def test_an_encrypted_image_needs_a_key_for_every_target_region():
    with pytest.raises(distribution.DistributionError, match="for region[(]s[)] us-east-1, eu-central-1"):
        distribution.check_encryption(params(kms_key_ids={}), SOURCE, ["us-east-1", "eu-central-1"], True, [CMK])


def test_sharing_an_encrypted_image_refuses_aws_managed_keys_where_they_are():
    shared = params(launch_permissions={"user_ids": ["210987654321"]},
                    kms_key_ids={"us-east-1": "alias/aws/ebs", "eu-central-1": CMK})
    with pytest.raises(distribution.DistributionError, match="AWS managed for region[(]s[)] eu-west-1, us-east-1$"):
        distribution.check_encryption(shared, SOURCE, ["us-east-1", "eu-central-1"], True, [None])


def test_sharing_an_encrypted_image_with_customer_managed_keys_passes():
    shared = params(launch_permissions={"user_ids": ["210987654321"]}, kms_key_ids={"us-east-1": CMK})
    distribution.check_encryption(shared, SOURCE, ["us-east-1"], True, [CMK])


def test_a_copy_carries_user_tags_and_its_origin_but_no_stage_or_aws_tags():
    source = {"image_id": "ami-0123456789abcdef0",
              "tags": {naming.TAG_APP: "web", "team": "a", naming.TAG_STAGE_PREFIX + "prod": "2026-12-01T00:00:00Z",
                       "aws:cloudformation:stack-name": "s"}}
    assert distribution.copy_tags(source, SOURCE) == {
        naming.TAG_APP: "web", "team": "a", distribution.TAG_COPIED_FROM: "eu-west-1:ami-0123456789abcdef0"}


@pytest.mark.parametrize("purge, expected", [(False, (["333333333333"], [])),
                                             (True, (["333333333333"], ["111111111111"]))])
def test_launch_permissions_add_what_is_missing_and_remove_others_only_with_purge(purge, expected):
    current = ["111111111111", "222222222222"]
    assert distribution.permission_change(current, ["333333333333", "222222222222"], purge) == expected
