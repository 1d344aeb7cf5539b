"""Turning launch templates, groups, instances and pointers into references per AMI (no AWS)."""

from ansible_collections.cattle.immutable.plugins.module_utils._images import usage

TEMPLATE = {"LaunchTemplateName": "web-lt", "LaunchTemplateId": "lt-1", "DefaultVersionNumber": 1, "LatestVersionNumber": 3}


def test_ssm_references_resolve_through_known_parameters():
    values = {"/cattle/web/prod": "ami-00000001", "/cattle/web/prod:2": "ami-00000002"}
    assert usage.resolve_image_reference("resolve:ssm:/cattle/web/prod", values) == "ami-00000001"
    assert usage.resolve_image_reference("resolve:ssm:/cattle/web/prod:2", values) == "ami-00000002"
    assert usage.resolve_image_reference("resolve:ssm:/elsewhere", values) is None
    assert usage.resolve_image_reference("ami-00000003", values) == "ami-00000003"


def test_only_unknown_ssm_references_are_read():
    entries = [
        {"image_reference": "resolve:ssm:/cattle/web/prod"},
        {"image_reference": "resolve:ssm:/other/param"},
        {"image_reference": "ami-00000001"},
        {"image_reference": None},
    ]
    assert usage.unresolved_selectors(entries, {"/cattle/web/prod": "ami-1"}) == ["/other/param"]


def test_every_template_version_becomes_an_entry():
    versions = [
        {"VersionNumber": 1, "LaunchTemplateData": {"ImageId": "ami-00000001"}},
        {"VersionNumber": 2, "LaunchTemplateData": {}},
    ]
    entries = usage.template_version_entries(TEMPLATE, versions)
    assert entries == [
        {"name": "web-lt", "id": "lt-1", "version": 1, "image_reference": "ami-00000001"},
        {"name": "web-lt", "id": "lt-1", "version": 2, "image_reference": None},
    ]


def test_group_versions_resolve_default_latest_and_numbers():
    images = {("lt-1", 1): "ami-default", ("lt-1", 3): "ami-latest", ("lt-1", 2): "ami-two"}

    def group(spec):
        return usage.group_image({"LaunchTemplate": spec}, [TEMPLATE], images, {})

    assert group({"LaunchTemplateName": "web-lt", "Version": "$Latest"}) == ("ami-latest", "launch template web-lt v3")
    assert group({"LaunchTemplateId": "lt-1", "Version": "$Default"})[0] == "ami-default"
    assert group({"LaunchTemplateId": "lt-1"})[0] == "ami-default"
    assert group({"LaunchTemplateId": "lt-1", "Version": "2"})[0] == "ami-two"
    assert group({"LaunchTemplateId": "lt-gone", "Version": "2"}) == (None, None)


def test_groups_with_mixed_instances_or_launch_configurations():
    mixed = {"MixedInstancesPolicy": {"LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"}}}}
    assert usage.group_image(mixed, [TEMPLATE], {("lt-1", 1): "ami-1"}, {})[0] == "ami-1"
    configured = {"LaunchConfigurationName": "web-lc"}
    assert usage.group_image(configured, [], {}, {"web-lc": "ami-2"}) == ("ami-2", "launch configuration web-lc")


def test_usage_collects_each_kind_and_says_in_use():
    found = usage.usage_by_image(
        ["ami-1", "ami-2"],
        [{"name": "web-lt", "id": "lt-1", "version": 2, "image_id": "ami-1"}],
        [({"AutoScalingGroupName": "web-prod"}, "ami-1", "launch template web-lt v2"), ({"AutoScalingGroupName": "x"}, None, None)],
        [{"InstanceId": "i-1", "ImageId": "ami-1", "State": {"Name": "running"}}],
        {"/cattle/web/prod": "ami-1", "/cattle/web/dev": "ami-9"},
    )
    assert found["ami-1"] == {
        "launch_templates": [{"name": "web-lt", "id": "lt-1", "version": 2}],
        "auto_scaling_groups": [{"name": "web-prod", "via": "launch template web-lt v2"}],
        "instances": [{"id": "i-1", "state": "running"}],
        "stage_pointers": ["/cattle/web/prod"],
        "in_use": True,
    }
    assert found["ami-2"]["in_use"] is False


def test_only_ami_valued_parameters_are_pointers():
    parameters = [{"Name": "/cattle/web/prod", "Value": "ami-0123456789abcdef0"}, {"Name": "/cattle/web/lock", "Value": "{}"}]
    assert usage.pointers_by_name(parameters) == {"/cattle/web/prod": "ami-0123456789abcdef0"}


def test_chunks_split_long_lists():
    assert usage.chunks(range(5), 2) == [[0, 1], [2, 3], [4]]
