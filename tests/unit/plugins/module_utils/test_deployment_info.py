"""deployment_info's reading of fleets: statuses, counts and drift (no AWS involved)."""

from datetime import datetime, timezone

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import deployment_info as deployment
from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition

NOW = datetime(2026, 6, 30, 12, 0, 0, tzinfo=timezone.utc)
TG_BLUE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-prod-b1b1b1b1b1b1/1111"
TG_GREEN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-prod-a2a2a2a2a2a2/2222"


@pytest.mark.parametrize(
    "weight, desired, state, status",
    [
        (100, 2, "active", "live"),
        (1, 2, "disabled", "live"),  # traffic wins over a tag; reported as an inconsistency
        (0, 2, "disabled", "disabled"),
        (None, 2, "disabled", "disabled"),
        (0, 0, "active", "retired"),
        (None, 0, None, "retired"),
        (0, 2, "active", "pending"),
        (None, 2, "active", "unattached"),
    ],
)
def test_fleet_status(weight, desired, state, status):
    assert deployment.fleet_status(weight, desired, state) == status


def test_traffic_share():
    weights = {TG_BLUE: 90, TG_GREEN: 10}
    assert deployment.traffic_share(weights, TG_GREEN) == 10.0
    assert deployment.traffic_share({TG_BLUE: 0}, TG_BLUE) == 0.0
    assert deployment.traffic_share(weights, "arn:other") is None


def test_the_fleets_target_group_is_the_one_in_the_listener_or_of_its_name():
    group = {"TargetGroupARNs": [TG_GREEN, TG_BLUE]}
    assert deployment.fleet_target_group(group, {TG_BLUE: 1}, {}) == TG_BLUE
    assert deployment.fleet_target_group(group, {}, {"target_group": "web-prod-a2a2a2a2a2a2"}) == TG_GREEN
    assert deployment.fleet_target_group({"TargetGroupARNs": [TG_BLUE]}, {}, {}) == TG_BLUE
    assert deployment.fleet_target_group({}, {}, {}) is None


def test_template_reference_reads_a_mixed_instances_policy_too():
    spec = {"LaunchTemplateId": "lt-1", "Version": "3"}
    assert deployment.template_reference({"LaunchTemplate": spec}) == spec
    mixed = {"MixedInstancesPolicy": {"LaunchTemplate": {"LaunchTemplateSpecification": spec}}}
    assert deployment.template_reference(mixed) == spec
    assert deployment.template_reference({}) == {}


def group(*instances, desired=2):
    return {
        "MinSize": 1, "MaxSize": 4, "DesiredCapacity": desired,
        "Instances": [{"InstanceId": i, "LifecycleState": state, "HealthStatus": "Healthy"} for i, state in instances],
    }


def test_instance_rows_and_counts():
    fleet_group = group(("i-2", "InService"), ("i-1", "Pending"))
    health = [
        {"id": "i-1", "state": "initial", "reason": "Elb.InitialHealthChecking"},
        {"id": "i-2", "state": "healthy", "reason": None},
        {"id": "i-9", "state": "draining", "reason": "Target.DeregistrationInProgress"},
    ]
    rows = deployment.instance_rows(fleet_group, {"i-1": "ami-new", "i-2": "ami-old"}, health, "ami-new")
    assert [(r["instance_id"], r["image_id"], r["target_state"], r["drifted"]) for r in rows] == [
        ("i-1", "ami-new", "initial", False), ("i-2", "ami-old", "healthy", True)]
    assert deployment.counts(fleet_group, rows, health) == {
        "min": 1, "max": 4, "desired": 2, "instances": 2, "in_service": 1, "healthy": 1, "registered": 2}


def test_an_instance_of_unknown_image_is_not_drift():
    rows = deployment.instance_rows(group(("i-1", "InService")), {}, [], "ami-new")
    assert rows[0]["drifted"] is False and rows[0]["target_state"] is None


def test_healthy_counts_only_the_fleets_own_instances():
    fleet_group = group(("i-1", "InService"))
    health = [{"id": "i-1", "state": "healthy"}, {"id": "i-other", "state": "healthy"}]
    rows = deployment.instance_rows(fleet_group, {}, health, None)
    assert deployment.counts(fleet_group, rows, health)["healthy"] == 1


def fleet(fleet_id, status, image, instance_images=(), stage="prod", **extra):
    facts = {
        "fleet_id": fleet_id, "name": f"web-{stage}-{fleet_id}", "stage": stage, "status": status, "image_id": image,
        "fleet_state": "active", "weight": 100 if status == "live" else 0,
        "counts": {"desired": len(instance_images), "healthy": len(instance_images)},
        "instances": [{"instance_id": f"i-{n}", "image_id": ami, "drifted": ami != image}
                      for n, ami in enumerate(instance_images)],
    }
    facts.update(extra)
    return facts


def test_instance_drift_lists_each_instance_with_what_it_should_run():
    fleets = [fleet("b1", "live", "ami-b", ["ami-b", "ami-x"]), fleet("g2", "pending", "ami-g", ["ami-g"])]
    assert deployment.instance_drift(fleets) == [
        {"instance_id": "i-1", "fleet_id": "b1", "stage": "prod", "image_id": "ami-x", "expected_image_id": "ami-b"}]


def test_pointer_drift_concerns_live_fleets_only():
    pointers = {"prod": {"name": "/cattle/web/prod", "image_id": "ami-g"}}
    fleets = [fleet("b1", "live", "ami-b", ["ami-b"]), fleet("g2", "pending", "ami-g", ["ami-g"]),
              fleet("d3", "disabled", "ami-old", ["ami-old"])]
    assert deployment.pointer_drift(fleets, pointers) == [{
        "fleet_id": "b1", "stage": "prod", "image_id": "ami-b", "target_stage": "prod",
        "pointer": "/cattle/web/prod", "pointer_image_id": "ami-g"}]


def test_a_live_fleet_on_its_pointer_is_not_drift_unless_an_instance_runs_something_else():
    pointers = {"prod": {"name": "/cattle/web/prod", "image_id": "ami-b"}}
    assert deployment.pointer_drift([fleet("b1", "live", "ami-b", ["ami-b", "ami-b"])], pointers) == []
    assert len(deployment.pointer_drift([fleet("b1", "live", "ami-b", ["ami-b", "ami-x"])], pointers)) == 1


def test_pointer_drift_against_a_target_stage_and_unset_pointers():
    fleets = [fleet("b1", "live", "ami-b", ["ami-b"])]
    pointers = {"staging": {"name": "/cattle/web/staging", "image_id": "ami-s"}, "prod": {"image_id": None}}
    assert deployment.pointer_drift(fleets, pointers) == []  # prod unset: nothing to compare with
    (drift,) = deployment.pointer_drift(fleets, pointers, target_stage="staging")
    assert (drift["target_stage"], drift["pointer_image_id"]) == ("staging", "ami-s")


def test_inconsistencies():
    fleets = [fleet("b1", "live", "ami-b", ["ami-b"], fleet_state="disabled"),
              fleet("g2", "live", "ami-g", ["ami-g"], counts={"desired": 3, "healthy": 1})]
    views = [{"stage": "prod", "target_groups": [{"name": "legacy", "fleet_id": None, "weight": 5, "share": 50.0},
                                                 {"name": "idle", "fleet_id": None, "weight": 0, "share": 0.0}]}]
    found = deployment.inconsistencies(fleets, views)
    assert found == [
        "fleet web-prod-b1 is tagged disabled but has weight 100 in the listener",
        "live fleet web-prod-g2 has 1 of 3 desired instances healthy",
        "target group legacy gets 50.0% of the traffic of stage prod but belongs to no fleet of the app",
    ]


def test_rollback_window():
    assert deployment.rollback_facts({"cattle:rollback-until": "2026-06-30T11:00:00Z"}, NOW) == {
        "rollback_until": "2026-06-30T11:00:00Z", "rollback_window_over": True}
    assert deployment.rollback_facts({"cattle:rollback-until": "2026-07-01T00:00:00Z"}, NOW)["rollback_window_over"] is False
    assert deployment.rollback_facts({}, NOW) == {"rollback_until": None, "rollback_window_over": None}


def test_created_at_prefers_the_tag_and_falls_back_to_the_group():
    created = datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert deployment.created_at({"CreatedTime": created}, {"cattle:created-at": "2026-05-01T00:00:00Z"}) == datetime(
        2026, 5, 1, tzinfo=timezone.utc)
    assert deployment.created_at({"CreatedTime": created}, {}) == created
    assert deployment.created_at({}, {}) is None


def params(**overrides):
    base = {"app": "web", "prefix": "cattle", "stage": None, "target_stage": None, "definition": None,
            "listener_arn": None, "load_balancer_name": None, "port": None, "rule_arn": None, "rule_priority": None}
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"app": ""}, "app must be a non-empty string"),
        ({"stage": "Prod"}, "stage 'Prod' is not a valid stage name"),
        ({"target_stage": "q-a"}, "target_stage 'q-a' is not a valid stage name"),
        ({"load_balancer_name": "web-alb"}, "load_balancer_name needs port"),
        ({"load_balancer_name": "web-alb", "port": 0}, "port must be between 1 and 65535, got 0"),
        ({"listener_arn": "arn:x", "rule_priority": 0}, "rule_priority must be between 1 and 50000"),
        ({"definition": {}, "port": 80}, "port comes from the app definition"),
        ({"rule_arn": "arn:r", "rule_priority": 5}, "rule_priority and rule_arn both name a rule"),
    ],
)
def test_bad_params(overrides, message):
    with pytest.raises(deployment.InfoError, match=message):
        deployment.validate_params(params(**overrides))


DEFINITION = {
    "region": "eu-west-1",
    "subnets": ["subnet-0123456789abcdef0"],
    "security_groups": ["sg-0123456789abcdef0"],
    "instance_type": "t3.micro",
    "capacity": {"min": 1, "max": 2},
    "load_balancer": {"name": "web-alb", "listener_port": 443},
    "stages": {"dev": {"load_balancer": {"name": "web-dev-alb"}, "region": "eu-central-1"}, "prod": {}},
}


def test_views_follow_the_stages_of_the_definition():
    definition = app_definition.requested_definition(params(definition=DEFINITION))
    found = deployment.views(params(), definition)
    assert [(v["stage"], v["region"], v["coordinates"]["load_balancer_name"], v["coordinates"]["port"])
            for v in found] == [("dev", "eu-central-1", "web-dev-alb", 443), ("prod", "eu-west-1", "web-alb", 443)]
    assert [v["stage"] for v in deployment.views(params(stage="prod"), definition)] == ["prod"]


def test_a_listener_given_directly_is_one_view_in_the_modules_region():
    (view,) = deployment.views(params(load_balancer_name="web-alb", port=80, stage="prod"), None)
    assert (view["stage"], view["region"]) == ("prod", None)
    assert view["coordinates"]["load_balancer_name"] == "web-alb" and view["coordinates"]["port"] == 80
