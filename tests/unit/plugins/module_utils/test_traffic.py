"""The traffic module's request checks, refusal messages and result shape (no AWS involved)."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import traffic
from ansible_collections.cattle.immutable.plugins.module_utils._traffic.listeners import ListenerError

PREFIX = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
BLUE = PREFIX + "targetgroup/web-blue/0000000000000001"
GREEN = PREFIX + "targetgroup/web-green/0000000000000002"
TARGET = {"listener_arn": PREFIX + "listener/app/web/a/b", "rule_arn": None, "load_balancer_arn": "lb", "actions": []}


def entries(*pairs):
    return [{"target_group": group, "weight": weight} for group, weight in pairs]


def test_requested_weights_keep_the_given_order():
    assert traffic.requested_weights(entries(("web-green", 10), ("web-blue", 90))) == [("web-green", 10), ("web-blue", 90)]


@pytest.mark.parametrize(
    "pairs, message",
    [
        ((), "target_groups: at least one target group is required"),
        ((("web-blue", 1), ("web-blue", 0)), "target_groups: web-blue listed more than once"),
        ((("web-blue", 1000),), "target_groups: the weight of web-blue is 1000"),
    ],
)
def test_bad_requests_are_refused_naming_target_groups(pairs, message):
    with pytest.raises(ListenerError) as refused:
        traffic.requested_weights(entries(*pairs))

    assert str(refused.value).startswith(message)
    assert str(refused.value).endswith("nothing was changed")


def test_the_refusal_names_the_group_its_counts_and_how_to_fix_unused_targets():
    health = {GREEN: [{"id": "i-1", "state": "unused"}, {"id": "i-2", "state": "unused"}]}

    message = traffic.health_refusal([(GREEN, 0, 2, 2)], health, {BLUE: 0, GREEN: 1}, "all")

    assert message.startswith(
        "target group web-green has 0 healthy of 2 registered targets (2 unused), 2 required (min_healthy=all)"
    )
    assert "add it at weight 0 first" in message
    assert message.endswith("refusing to give it weight 1; nothing was changed")


def test_configuration_gives_weights_by_arn_and_name_with_shares():
    assert traffic.configuration({BLUE: 3, GREEN: 1}) == {
        "weights": {BLUE: 3, GREEN: 1},
        "weights_by_name": {"web-blue": 3, "web-green": 1},
        "target_groups": [
            {"arn": BLUE, "name": "web-blue", "weight": 3, "percent": 75.0},
            {"arn": GREEN, "name": "web-green", "weight": 1, "percent": 25.0},
        ],
    }


def test_the_result_says_what_changed_in_one_line_and_as_a_diff():
    result = traffic.result(TARGET, {BLUE: 1}, {BLUE: 0, GREEN: 1}, True, {GREEN: (2, 2, 2)})

    assert result["msg"] == "the default action of listener {0}: web-blue=1 -> web-blue=0, web-green=1".format(
        TARGET["listener_arn"]
    )
    assert (result["diff"]["before"], result["diff"]["after"]) == ({"web-blue": 1}, {"web-blue": 0, "web-green": 1})
    assert result["health"] == [{"arn": GREEN, "name": "web-green", "healthy": 2, "registered": 2, "required": 2}]
