"""image_build's imds_support: which images get ModifyImageAttribute, and what the result says."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._build.imds import ensure_imds_support


class RecordingEC2:
    def __init__(self):
        self.calls = []

    def modify_image_attribute(self, **request):
        self.calls.append(request)


IMAGE = {"image_id": "ami-0123456789abcdef0", "name": "web-0123456789abcdef"}


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check-mode"])
def test_an_image_without_imds_support_gets_v2(check_mode):
    ec2 = RecordingEC2()
    outcome = ensure_imds_support(ec2, dict(IMAGE), "us-east-1", "v2.0", check_mode)
    assert outcome == {"image_id": IMAGE["image_id"], "region": "us-east-1", "before": None, "after": "v2.0",
                       "changed": True}
    expected = [] if check_mode else [{"ImageId": IMAGE["image_id"], "ImdsSupport": {"Value": "v2.0"}}]
    assert ec2.calls == expected


def test_an_image_that_has_it_is_left_alone():
    ec2 = RecordingEC2()
    outcome = ensure_imds_support(ec2, dict(IMAGE, imds_support="v2.0"), "eu-west-1", "v2.0", False)
    assert outcome["changed"] is False and outcome["before"] == outcome["after"] == "v2.0"
    assert ec2.calls == []


def test_as_built_never_calls_aws():
    ec2 = RecordingEC2()
    outcome = ensure_imds_support(ec2, dict(IMAGE), "us-east-1", "as-built", False)
    assert outcome["changed"] is False and outcome["after"] is None
    assert ec2.calls == []
