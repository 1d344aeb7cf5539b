"""The naming convention: what is a valid app, stage and AMI id, and names within AWS limits."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._common import naming


@pytest.mark.parametrize("app", ["web", "a", "api-gateway", "w3b", "x" * 20])
def test_valid_app_names_are_accepted(app):
    assert naming.validate_app(app) == app


@pytest.mark.parametrize(
    "app, reason",
    [
        ("Web", "not a valid app name"),
        ("web_app", "not a valid app name"),
        ("-web", "not a valid app name"),
        ("web-", "not a valid app name"),
        ("web--api", "not a valid app name"),
        ("9web", "not a valid app name"),
        ("x" * 21, "longer than 20"),
        ("", "non-empty"),
    ],
)
def test_invalid_app_names_are_refused_naming_the_input(app, reason):
    with pytest.raises(naming.NamingError) as error:
        naming.validate_app(app)
    assert reason in str(error.value)
    assert str(error.value).startswith("app")


@pytest.mark.parametrize("stage", ["dev", "staging", "prod", "qa2"])
def test_valid_stages(stage):
    assert naming.validate_stage(stage) == stage


@pytest.mark.parametrize("stage", ["Prod", "pre-prod", "2dev", "x" * 13, ""])
def test_invalid_stages_are_refused(stage):
    with pytest.raises(naming.NamingError, match="stage"):
        naming.validate_stage(stage)


@pytest.mark.parametrize("image_id", ["ami-12345678", "ami-0123456789abcdef0"])
def test_ami_ids_of_both_lengths_are_valid(image_id):
    assert naming.validate_image_id(image_id) == image_id


@pytest.mark.parametrize("image_id", ["ami-123", "AMI-12345678", "snap-12345678", "ami-0123456789abcdef", "web"])
def test_malformed_ami_ids_are_refused_naming_the_option(image_id):
    with pytest.raises(naming.NamingError, match=f"image_ids: '{image_id}'"):
        naming.validate_image_id(image_id)


def test_stage_parameter_path():
    assert naming.stage_parameter_name("web", "prod") == "/cattle/web/prod"
    assert naming.stage_parameter_name("web", "prod", prefix="/teams/a/") == "/teams/a/web/prod"


def test_stage_parameter_refuses_bad_prefix():
    with pytest.raises(naming.NamingError, match="prefix 'a b'"):
        naming.stage_parameter_name("web", "prod", prefix="a b")


def test_target_group_names_fit_32_characters_and_stay_unique():
    longest_app = "a" * naming.APP_MAX_LENGTH
    first = naming.target_group_name(longest_app, "staging", "20261126t101500")
    second = naming.target_group_name(longest_app, "staging", "20261126t101501")
    assert len(first) <= 32 and len(second) <= 32
    assert first != second
    assert not first.endswith("-") and "--" not in first


def test_short_target_group_names_are_kept_readable():
    assert naming.target_group_name("web", "prod", "b7") == "web-prod-b7"


def test_image_name_is_deterministic_per_fingerprint():
    fingerprint = "3f2a9c0d1e4b5a6f7788"
    assert naming.image_name("web", fingerprint) == naming.image_name("web", fingerprint) == "web-3f2a9c0d1e4b5a6f"
    assert len(naming.image_name("x" * 20, "f" * 64)) <= naming.AMI_NAME_MAX


def test_image_name_refuses_a_non_hex_fingerprint():
    with pytest.raises(naming.NamingError, match="fingerprint"):
        naming.image_name("web", "not-hex")
