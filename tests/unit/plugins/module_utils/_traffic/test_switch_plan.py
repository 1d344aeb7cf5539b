"""The traffic arithmetic of deploy.yml and rollback.yml (module_utils/_traffic/switch_plan.py)."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._traffic import switch_plan

PREFIX = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"
BLUE, GREEN, OLD, PLACEHOLDER = (PREFIX + name + "/00000000000000" + str(n).zfill(2)
                                 for n, name in enumerate(("web-blue", "web-green", "web-old", "web-placeholder")))


def fleet(name, arn, weight, state="active", desired=2, fleet_id=None):
    return {"fleet_id": fleet_id or name, "name": name, "target_group_arns": [arn], "weight": weight,
            "fleet_state": state, "desired_capacity": desired}


def green_result(weights, others, arn=GREEN, name="web-green"):
    return {"fleet_name": name, "image_id": "ami-0123456789abcdef0", "desired_capacity": 2,
            "target_group": {"arn": arn, "name": name}, "listener": {"weights": weights}, "other_fleets": others,
            "previous": {"exists": arn is not None}}


def test_serving_fleets_and_fleets_waiting_after_an_interrupted_run_are_blue_but_standbys_are_not():
    others = [fleet("web-blue", BLUE, 100), fleet("web-waiting", OLD, 0),
              fleet("web-standby", PLACEHOLDER, 0, state="disabled"), fleet("web-outside", PREFIX + "x/1", None)]
    assert [f["name"] for f in switch_plan.blue_fleets(others)] == ["web-blue", "web-waiting"]


def test_a_fleet_scaled_to_zero_at_weight_zero_is_not_blue():
    assert switch_plan.blue_fleets([fleet("web-empty", OLD, 0, desired=0)]) == []


def test_all_at_once_moves_every_serving_group_to_zero_and_keeps_the_others():
    plan = switch_plan.switch(green_result({PLACEHOLDER: 0, BLUE: 100, GREEN: 0}, [fleet("web-blue", BLUE, 100)]), [100])
    assert plan["steps"] == [[{"target_group": PLACEHOLDER, "weight": 0}, {"target_group": BLUE, "weight": 0},
                              {"target_group": GREEN, "weight": 100}]]
    assert plan["blue_fleet_ids"] == ["web-blue"] and plan["previous"] == ["web-blue"]
    assert plan["restore"] == [{"target_group": PLACEHOLDER, "weight": 0}, {"target_group": BLUE, "weight": 100},
                               {"target_group": GREEN, "weight": 0}]


def test_canary_steps_share_the_rest_in_the_old_proportions_and_keep_each_old_group_alive_until_the_end():
    plan = switch_plan.switch(green_result({BLUE: 3, OLD: 1, GREEN: 0}, []), [10, 99, 100])
    by_step = [switch_plan.by_name(step) for step in plan["steps"]]
    assert by_step[0] == {"web-blue": 68, "web-old": 22, "web-green": 10}
    assert by_step[1] == {"web-blue": 1, "web-old": 1, "web-green": 99}
    assert by_step[2] == {"web-blue": 0, "web-old": 0, "web-green": 100}


def test_groups_with_traffic_that_are_no_fleet_are_named_as_what_served_before():
    plan = switch_plan.switch(green_result({PLACEHOLDER: 1, GREEN: 0}, []), [100])
    assert plan["previous"] == ["web-placeholder"] and plan["blue_fleets"] == []


def test_nothing_to_switch_when_nothing_else_serves():
    plan = switch_plan.switch(green_result({GREEN: 100}, []), [100])
    assert plan["steps"] == [] and switch_plan.by_name(plan["final_weights"]) == {"web-green": 100}


def test_a_check_run_plans_with_a_readable_stand_in_for_the_green_group_it_did_not_create():
    green = green_result({BLUE: 100}, [fleet("web-blue", BLUE, 100)], arn=None, name="web-prod-abc")
    plan = switch_plan.switch(green, [100])
    assert plan["green_target_group"] == "(new target group web-prod-abc)"
    lines = switch_plan.plan_lines(green, plan, "all_at_once")
    assert lines[0] == ("green web-prod-abc (would be created): AMI ami-0123456789abcdef0, 2 instance(s), "
                        "joins the forward action at weight 0")
    assert lines[1] == ("all_at_once step 1 of 1: (new target group web-prod-abc) 0, web-blue 100 -> "
                        "(new target group web-prod-abc) 100, web-blue 0")
    assert lines[2] == "would disable (rollback window): web-blue"


def test_rollback_sends_everything_to_the_standby_in_one_write():
    assert switch_plan.rollback_weights({BLUE: 0, GREEN: 100}, BLUE) == [
        {"target_group": BLUE, "weight": 100}, {"target_group": GREEN, "weight": 0}]


def state_fleet(fleet_id, status, created):
    return {"fleet_id": fleet_id, "name": "web-prod-" + fleet_id, "status": status, "created_at": created}


def test_rollback_picks_the_newest_standby_and_disables_what_serves():
    fleets = [state_fleet("a", "disabled", "2026-01-01T00:00:00Z"), state_fleet("b", "disabled", "2026-01-02T00:00:00Z"),
              state_fleet("c", "live", "2026-01-03T00:00:00Z")]
    standby, serving = switch_plan.rollback_choice(fleets, label="web/prod")
    assert standby["fleet_id"] == "b" and [f["fleet_id"] for f in serving] == ["c"]


def test_rollback_takes_the_named_standby():
    fleets = [state_fleet("a", "disabled", "1"), state_fleet("b", "disabled", "2"), state_fleet("c", "live", "3")]
    assert switch_plan.rollback_choice(fleets, "a")[0]["fleet_id"] == "a"


def test_a_named_fleet_that_still_serves_beside_a_failed_green_gets_all_traffic_and_green_is_disabled():
    fleets = [state_fleet("blue", "live", "1"), state_fleet("green", "live", "2")]
    standby, serving = switch_plan.rollback_choice(fleets, "blue")
    assert standby["fleet_id"] == "blue" and [f["fleet_id"] for f in serving] == ["green"]


@pytest.mark.parametrize("fleets, standby_id, message", [
    ([state_fleet("c", "live", "3")], None, "web/prod has no standby fleet to roll back to (fleets: web-prod-c live)"),
    ([], None, "web/prod has no standby fleet to roll back to (fleets: none)"),
    ([state_fleet("c", "live", "3")], "x", "standby_fleet_id: web/prod has no fleet x"),
    ([state_fleet("c", "retired", "3")], "c", "standby_fleet_id: fleet web-prod-c is retired, not in the forward action"),
])
def test_rollback_refusals_name_the_input(fleets, standby_id, message):
    with pytest.raises(ValueError) as error:
        switch_plan.rollback_choice(fleets, standby_id, label="web/prod")
    assert str(error.value) == message
