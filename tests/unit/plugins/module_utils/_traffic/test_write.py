"""The guarded listener write's refusal messages and result shape (no AWS involved)."""

from ansible_collections.cattle.immutable.plugins.module_utils._traffic import write
from fixtures.arns import BLUE, GREEN, LISTENER, LOAD_BALANCER

TARGET = {"listener_arn": LISTENER, "rule_arn": None, "load_balancer_arn": LOAD_BALANCER, "actions": []}


def test_the_refusal_names_the_group_its_counts_and_how_to_fix_unused_targets():
    health = {GREEN: [{"id": "i-1", "state": "unused"}, {"id": "i-2", "state": "unused"}]}

    message = write.health_refusal([(GREEN, 0, 2, 2)], health, {BLUE: 0, GREEN: 1}, "all")

    assert message.startswith(
        "target group web-green has 0 healthy of 2 registered targets (2 unused), 2 required (min_healthy=all)"
    )
    assert "add it at weight 0 first" in message
    assert message.endswith("refusing to give it weight 1; nothing was changed")


def test_configuration_gives_weights_by_arn_and_name_with_shares():
    assert write.configuration({BLUE: 3, GREEN: 1}) == {
        "weights": {BLUE: 3, GREEN: 1},
        "weights_by_name": {"web-blue": 3, "web-green": 1},
        "target_groups": [
            {"arn": BLUE, "name": "web-blue", "weight": 3, "percent": 75.0},
            {"arn": GREEN, "name": "web-green", "weight": 1, "percent": 25.0},
        ],
    }


def test_the_result_says_what_changed_in_one_line_and_as_a_diff():
    result = write.result(TARGET, {BLUE: 1}, {BLUE: 0, GREEN: 1}, True, {GREEN: (2, 2, 2)})

    assert result["msg"] == "the default action of listener {0}: web-blue=1 -> web-blue=0, web-green=1".format(
        TARGET["listener_arn"]
    )
    assert (result["diff"]["before"], result["diff"]["after"]) == ({"web-blue": 1}, {"web-blue": 0, "web-green": 1})
    assert result["health"] == [{"arn": GREEN, "name": "web-green", "healthy": 2, "registered": 2, "required": 2}]
