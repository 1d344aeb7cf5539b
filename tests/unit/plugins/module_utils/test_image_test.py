"""The pure parts of the image test from outside (module_utils/image_test.py) and of its
checks in an app definition (module_utils/_common/app_definition.py)."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import image_promote as promotion
from ansible_collections.cattle.immutable.plugins.module_utils import image_test as image_testing
from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition


def rules(*priorities):
    return [{"Priority": "default", "IsDefault": True}] + [{"Priority": str(p), "IsDefault": False} for p in priorities]


@pytest.mark.parametrize("taken, wanted, expected", [
    ((), None, 50000),
    ((50000, 49999, 1), None, 49998),
    ((10,), 11, 11),
    ((10,), 10, None),
])
def test_the_test_rule_takes_the_priority_given_else_the_highest_free_one(taken, wanted, expected):
    assert image_testing.free_priority(rules(*taken), wanted) == expected


def test_no_priority_is_free_when_every_one_is_taken():
    assert image_testing.free_priority(rules(*range(1, image_testing.PRIORITY_MAX + 1))) is None


CHECK = {"path": "/", "status": 200, "body": None, "health_path": False}


@pytest.mark.parametrize("check, status, body, failure", [
    (CHECK, 200, "ok", None),
    (CHECK, 503, "down", "answered 503, expected 200"),
    (dict(CHECK, body="^web 2\\."), 200, "web 1.0", "its body does not match '^web 2\\\\.'"),
    (dict(CHECK, body="^web 2\\."), 200, "web 2.0", None),
    (dict(CHECK, status=None), 302, "", None),
    (dict(CHECK, status=None), 404, "", "answered 404, expected matcher 200,300-399"),
    (CHECK, None, "Connection refused", "no answer: Connection refused"),
])
def test_a_check_passes_on_its_status_or_the_matcher_and_its_body_pattern(check, status, body, failure):
    assert image_testing.check_outcome(check, status, body, "200,300-399") == failure


def test_the_tested_tag_says_the_result_the_time_and_the_first_failure_within_256_characters():
    assert image_testing.tested_tag("passed", "2026-12-07T05:00:00Z") == "passed 2026-12-07T05:00:00Z"
    failed = image_testing.tested_tag("failed", "2026-12-07T05:00:00Z", "x" * 400)
    assert failed.startswith("failed 2026-12-07T05:00:00Z: xxx") and len(failed) == 256


def test_the_digest_is_of_canonical_json_so_key_order_does_not_change_it():
    assert image_testing.evidence_digest({"a": 1, "b": [1, 2]}) == image_testing.evidence_digest({"b": [1, 2], "a": 1})
    assert image_testing.evidence_digest({"a": 1}) != image_testing.evidence_digest({"a": 2})
    assert len(image_testing.evidence_digest({})) == len("sha256:") + 64


@pytest.mark.parametrize("value, passed", [
    ("passed 2026-12-07T05:00:00Z", True), ("failed 2026-12-07T05:00:00Z: GET /", False), ("", False),
    ("passedx", False)])
def test_only_a_passing_record_counts_as_tested(value, passed):
    assert bool(image_testing.already_tested({"cattle:tested": value})) is passed


def test_the_test_host_is_one_no_client_sends_and_unique_per_run():
    first = image_testing.test_host("ami-0123456789abcdef0", "2026-12-07T05:00:00Z")
    assert first.endswith(".cattle-test.invalid")
    assert first != image_testing.test_host("ami-0123456789abcdef0", "2026-12-07T05:00:01Z")


DEFINITION = {"region": "us-east-1", "subnets": ["subnet-0123456789abcdef0"], "security_groups": ["sg-01234567"],
              "instance_type": "t3.micro", "capacity": {"min": 1, "max": 2, "desired": 1},
              "load_balancer": {"name": "web-alb", "listener_port": 80}}


def test_image_tests_default_to_none_and_checks_get_their_default_status():
    plain = app_definition.validate_definition(DEFINITION, "web")
    assert plain["image_tests"] == {"http_checks": [], "commands": []}
    defined = app_definition.validate_definition(
        dict(DEFINITION, image_tests={"http_checks": [{"path": "/"}], "commands": ["true"]}), "web")
    assert defined["image_tests"] == {"http_checks": [{"path": "/", "status": 200, "body": None}], "commands": ["true"]}


@pytest.mark.parametrize("tests, message", [
    ({"http_checks": [{"path": "health"}]}, "apps.web.image_tests.http_checks[0].path: 'health' is not a path"),
    ({"http_checks": [{"path": "/", "body": "("}]}, "apps.web.image_tests.http_checks[0].body: is not a regular"),
    ({"http_checks": [{"path": "/", "status": 700}]}, "apps.web.image_tests.http_checks[0].status: must be"),
    ({"commands": ["true"] * 21}, "apps.web.image_tests.commands: must have at most 20 entries, got 21"),
    ({"command": ["true"]}, "apps.web.image_tests.command: unknown field"),
])
def test_bad_image_tests_are_refused_naming_the_field(tests, message):
    with pytest.raises(app_definition.AppDefinitionError) as error:
        app_definition.validate_definition(dict(DEFINITION, image_tests=tests), "web")
    assert str(error.value).startswith(message)


STAGES = ["dev", "staging", "prod"]


@pytest.mark.parametrize("stage, tested, require_tested, untested", [
    ("dev", None, True, False),
    ("staging", "passed 2026-12-07T05:00:00Z", True, False),
    ("staging", None, True, True),
    ("staging", "failed 2026-12-07T05:00:00Z: x", True, True),
    ("prod", None, False, False),
])
def test_the_tested_gate_applies_after_the_first_stage_unless_turned_off(stage, tested, require_tested, untested):
    tags = {"cattle:tested": tested} if tested else {}
    params = {"stage": stage, "stages": STAGES, "require_tested": require_tested}
    assert promotion.untested_past_first_stage(tags, params) is untested
    # What the history records: whether the gate would have refused, whatever require_tested says.
    assert promotion.untested_past_first_stage(tags, params, required=False) is (stage != "dev" and not tested or
                                                                                 (tested or "").startswith("failed"))


def test_a_request_nothing_answered_is_asked_again_and_an_answer_never(monkeypatch):
    answers = iter([(None, "Temporary failure in name resolution"), (None, "refused"), (503, "down")])
    monkeypatch.setattr(image_testing, "http_get", lambda url, host: next(answers))
    assert image_testing.answered_get("http://lb/health", "h.invalid", sleep=lambda _s: None) == (503, "down")
    monkeypatch.setattr(image_testing, "http_get", lambda url, host: (None, "refused"))
    assert image_testing.answered_get("http://lb/health", "h.invalid", tries=2, sleep=lambda _s: None) == (
        None, "refused")
