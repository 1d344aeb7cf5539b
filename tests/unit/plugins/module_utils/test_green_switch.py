"""What green_switch checks before its first call, its step plan, and its canary pause
(module_utils/green_switch.py). The switch itself runs against the sandbox in
tests/integration (deploy.yml and the module)."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import green_switch
from fixtures.clock import FakeLeaseKeeper

PREFIX = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"
BLUE, GREEN, OLD, PLACEHOLDER = (PREFIX + name + "/0000000000000" + str(n)
                                 for n, name in enumerate(("web-blue", "web-green", "web-old", "web-placeholder")))


def request(**changes):
    params = {"steps": [100], "pause": 0, "alarms": [], "min_healthy": "all", "retire": []}
    params.update(changes)
    return params


@pytest.mark.parametrize("steps", [[], [0, 100], [10, 150], [50, 10, 100], [10, 10, 100], [10, 50]])
def test_steps_must_rise_from_1_to_100_and_end_at_100(steps):
    with pytest.raises(green_switch.SwitchRefused, match=r"^steps: .*nothing was changed"):
        green_switch.check_request(request(steps=steps))


@pytest.mark.parametrize("changes, message", [
    ({"pause": -1}, "pause: must be 0 or more seconds, got -1"),
    ({"alarms": ["a"] * 101}, "alarms: at most 100 names, got 101"),
    ({"min_healthy": "lots"}, "min_healthy"),
    ({"retire": ["web-prod-3f2a"]}, "retire: 'web-prod-3f2a' is not a fleet id"),
])
def test_each_bad_input_is_refused_naming_it(changes, message):
    with pytest.raises(green_switch.SwitchRefused, match=message) as refused:
        green_switch.check_request(request(**changes))
    assert str(refused.value).endswith("nothing was changed")


def test_a_good_request_passes():
    green_switch.check_request(request(steps=[10, 50, 100], pause=60, alarms=["web-5xx"], retire=["3f2a9c0d1e4b"]))


def test_a_canary_gives_green_each_percent_and_what_served_shares_the_rest():
    start = {PLACEHOLDER: 0, BLUE: 75, OLD: 25, GREEN: 0}
    plan = green_switch.plan_steps(start, GREEN, [10, 50, 100])
    assert plan == [
        {PLACEHOLDER: 0, BLUE: 68, OLD: 22, GREEN: 10},
        {PLACEHOLDER: 0, BLUE: 38, OLD: 12, GREEN: 50},
        {PLACEHOLDER: 0, BLUE: 0, OLD: 0, GREEN: 100},
    ]


def test_no_step_is_written_when_only_green_serves():
    assert green_switch.plan_steps({PLACEHOLDER: 0, BLUE: 0, GREEN: 100}, GREEN, [10, 50, 100]) == []


class Run:
    def __init__(self, keeper):
        self.keeper = keeper


def test_a_pause_longer_than_a_third_of_the_lease_renews_the_lock_on_time(clock):
    keeper = FakeLeaseKeeper(clock, every=300)

    green_switch.pause(Run(keeper), 700, sleep=clock.sleep, clock=clock)

    assert clock.now == 700
    assert keeper.renewals == [300, 600]


def test_a_pause_without_a_lock_sleeps_once(clock):
    green_switch.pause(Run(None), 5, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [5]
