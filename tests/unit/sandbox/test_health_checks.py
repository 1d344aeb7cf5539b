"""The load balancer health check rules the sandbox applies to live targets (health_checks.py)."""

import pytest

from cattle_sandbox.health_checks import FAILED, INITIAL, CheckResult, CheckSettings, WatchedTarget, matches

SETTINGS = CheckSettings("HTTP", 8080, "/health", "200", 5.0, 2.0, healthy_threshold=3, unhealthy_threshold=2)
PASS = CheckResult(True)
FAIL = CheckResult(False, *FAILED)


def target_after(*results):
    watched = WatchedTarget(settings=lambda: SETTINGS, address=lambda: None, active=lambda: True)
    for result in results:
        watched.record(result, SETTINGS)
    return watched


def test_a_new_target_is_initial_until_one_check_passes():
    assert (target_after().state, target_after().reason) == ("initial", INITIAL[0])
    assert target_after(FAIL).state == "initial"
    assert target_after(FAIL, PASS).state == "healthy"


def test_a_new_target_failing_the_unhealthy_threshold_is_unhealthy_with_the_reason():
    watched = target_after(FAIL, FAIL)
    assert (watched.state, watched.reason, watched.description) == ("unhealthy", *FAILED)


def test_healthy_turns_unhealthy_only_after_the_unhealthy_threshold():
    assert target_after(PASS, FAIL).state == "healthy"
    assert target_after(PASS, FAIL, PASS, FAIL).state == "healthy"
    assert target_after(PASS, FAIL, FAIL).state == "unhealthy"


def test_unhealthy_turns_healthy_only_after_the_healthy_threshold():
    assert target_after(PASS, FAIL, FAIL, PASS, PASS).state == "unhealthy"
    assert target_after(PASS, FAIL, FAIL, PASS, PASS, PASS).state == "healthy"
    assert target_after(PASS, FAIL, FAIL, PASS, PASS, PASS).reason is None


@pytest.mark.parametrize("status, matcher, expected", [
    (200, "200", True), (204, "200", False), (302, "200,302", True), (250, "200-299", True), (300, "200-299", False),
])
def test_the_matcher_takes_codes_lists_and_ranges(status, matcher, expected):
    assert matches(status, matcher) is expected
