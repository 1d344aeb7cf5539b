"""rollback_switch's choice of the standby, its refusals and its weights (no AWS involved)."""

from types import SimpleNamespace

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import rollback_switch

PREFIX = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"
BLUE_ID, GREEN_ID, OLD_ID = "b1b1b1b1b1b1", "a2a2a2a2a2a2", "c3c3c3c3c3c3"
BLUE, GREEN, OLD = (PREFIX + "web-prod-" + fleet + "/1111" for fleet in (BLUE_ID, GREEN_ID, OLD_ID))
PLACEHOLDER = PREFIX + "web-placeholder/2222"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/1/2"


def group(fleet, arn, state="active", created="2026-06-30T10:00:00Z", image="ami-0123456789abcdef0", desired=2):
    tags = {"cattle:app": "web", "cattle:stage": "prod", "cattle:fleet": fleet, "cattle:fleet-state": state,
            "cattle:created-at": created, "cattle:image-id": image}
    return {"AutoScalingGroupName": "web-prod-" + fleet, "TargetGroupARNs": [arn], "DesiredCapacity": desired,
            "Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}


def context(weights):
    return SimpleNamespace(app="web", stage="prod", weights=weights,
                           target={"listener_arn": LISTENER, "rule_arn": None})


def fleets(ctx, *groups):
    return [rollback_switch.fleet_of(ctx, one) for one in groups]


def test_fleets_are_read_from_their_group_tags_and_the_listener_weights():
    ctx = context({PLACEHOLDER: 0, BLUE: 0, GREEN: 100})
    blue, green = fleets(ctx, group(BLUE_ID, BLUE, state="disabled"), group(GREEN_ID, GREEN))
    assert (blue["status"], blue["weight"], blue["target_group"]["name"]) == ("disabled", 0, "web-prod-" + BLUE_ID)
    assert (green["status"], green["image_id"], green["created_at"]) == ("live", "ami-0123456789abcdef0",
                                                                         "2026-06-30T10:00:00Z")


def test_the_newest_disabled_fleet_is_the_standby_and_the_live_ones_are_what_served():
    ctx = context({OLD: 0, BLUE: 0, GREEN: 100})
    found = fleets(ctx, group(OLD_ID, OLD, state="disabled", created="2026-06-29T10:00:00Z"),
                   group(BLUE_ID, BLUE, state="disabled"), group(GREEN_ID, GREEN))
    standby, serving = rollback_switch.choose(ctx, found, None)
    assert standby["fleet_id"] == BLUE_ID and [fleet["fleet_id"] for fleet in serving] == [GREEN_ID]
    standby, _serving = rollback_switch.choose(ctx, found, OLD_ID)
    assert standby["fleet_id"] == OLD_ID


def test_without_a_standby_it_refuses_saying_nothing_was_changed():
    ctx = context({GREEN: 100})
    with pytest.raises(rollback_switch.RollbackRefused, match=r"web/prod has no standby fleet .*; nothing was changed$"):
        rollback_switch.choose(ctx, fleets(ctx, group(GREEN_ID, GREEN)), None)


def test_a_standby_outside_the_forward_action_is_refused():
    ctx = context({GREEN: 100})
    found = fleets(ctx, group(BLUE_ID, BLUE, state="disabled"), group(GREEN_ID, GREEN))
    with pytest.raises(rollback_switch.RollbackRefused, match="is not in the forward action of the default action"):
        rollback_switch.choose(ctx, found, None)


def test_a_revoked_standby_is_refused_naming_the_revocation_unless_allowed():
    standby = {"name": "web-prod-" + BLUE_ID, "image_id": "ami-0123456789abcdef0"}
    with pytest.raises(rollback_switch.RollbackRefused) as refused:
        rollback_switch.refuse_revoked(context({}), standby, "2026-12-01T10:00:00Z CVE-2026-1234", allowed=False)
    assert "the standby web-prod-{0} runs ami-0123456789abcdef0, which was revoked".format(BLUE_ID) in str(refused.value)
    assert "allow_revoked=true" in str(refused.value) and str(refused.value).endswith("nothing was changed")
    rollback_switch.refuse_revoked(context({}), standby, "2026-12-01T10:00:00Z CVE-2026-1234", allowed=True)
    rollback_switch.refuse_revoked(context({}), standby, "", allowed=False)


def test_the_standby_gets_all_the_traffic_and_every_other_group_stays_at_weight_zero():
    ctx = context({PLACEHOLDER: 0, BLUE: 0, GREEN: 90, OLD: 10})
    [blue] = fleets(ctx, group(BLUE_ID, BLUE, state="disabled"))
    assert rollback_switch.rollback_weights(ctx, blue) == {PLACEHOLDER: 0, BLUE: 100, GREEN: 0, OLD: 0}


def test_the_lock_option_becomes_deploy_locks_acquire_request_and_is_checked_before_any_call():
    lock = {"run_id": "run-1", "owner": "ops@ci", "reason": "rollback prod", "lease_seconds": 900, "force": False,
            "table": "cattle-deploy-locks", "create_table": True, "wait_timeout": 120}
    request = rollback_switch.lock_request({"app": "web", "lock": lock})
    assert (request["app"], request["state"], request["run_id"]) == ("web", "acquired", "run-1")
    assert rollback_switch.lock_request({"app": "web", "lock": None}) is None
    with pytest.raises(rollback_switch.locking.LockError, match="lease_seconds"):
        rollback_switch.lock_request({"app": "web", "lock": dict(lock, lease_seconds=0)})
