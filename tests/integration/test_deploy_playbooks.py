"""playbooks/deploy.yml, rollback.yml and terminate.yml run with ansible-playbook against the sandbox.

Before the first fleet, the site's listener forwards to a placeholder target group with one
healthy instance (what served before). Health and deregistration delays are 0. Every test
checks the listener writes the sandbox recorded: none may give traffic to a group that is
not fully healthy.
"""

import pytest

from fixtures.deploy_site import SWITCH_TASK, fleet_name, published, writes_in

pytestmark = pytest.mark.sandbox

GREEN_TASK = "Bring up the green fleet at weight 0 and wait until every instance is healthy"


def stats(run, key="cattle_deployment"):
    """What the run published with set_stats (for AWX)."""
    return published(run, key)


def summary(run):
    return run.result("Say what was done")["msg"]


def failure(run):
    assert run.failed, run.explain()
    return run.result("Fail with the reason")["msg"]


def changed_tasks(run):
    return [task["task"]["name"] for task in run.tasks()
            if any(host.get("changed") for host in task["hosts"].values())]


def assert_guarded(site):
    # The test's own CreateListener to the placeholder (before its instance) is not the playbooks' doing.
    assert [w for w in site.aws.control.unguarded_listener_writes() if w["operation"] != "CreateListener"] == []


# ---------------------------------------------------------------------------------------
# Deploys that succeed


def test_deploys_then_redeploys_with_blue_disabled_and_same_inputs_changing_nothing(site, aws_env, aws):
    first = site.deploy(aws_env, image_id=site.images[0])

    blue = fleet_name(site, site.images[0])
    assert site.weights_by_name() == {"web-placeholder": 0, blue: 100}
    group = site.groups()[blue]
    assert group["DesiredCapacity"] == 2 and len(group["Instances"]) == 2
    assert site.lock() is None
    deployment = stats(first)
    assert (deployment["result"], deployment["green_fleet"], deployment["image_id"]) == ("deployed", blue, site.images[0])
    assert deployment["previous_target_groups"] == ["web-placeholder"]
    for part in ("web/prod", "deployed", site.images[0], blue, "web-placeholder", "all_at_once"):
        assert part in summary(first)
    assert any(line.startswith(f"fleet: {blue}: healthy 2/2") for line in first.progress), first.progress

    second = site.deploy(aws_env, image_id=site.images[1], rollback_window=1800)

    green = fleet_name(site, site.images[1])
    assert site.weights_by_name() == {"web-placeholder": 0, blue: 0, green: 100}
    assert site.live() == [green]
    blue_group = site.groups()[blue]
    assert (blue_group["MinSize"], blue_group["MaxSize"], blue_group["DesiredCapacity"]) == (2, 2, 2)
    assert {p["ProcessName"] for p in blue_group["SuspendedProcesses"]} >= {"AlarmNotification", "ScheduledActions"}
    tags = site.group_tags(blue)
    assert tags["cattle:fleet-state"] == "disabled" and tags["cattle:rollback-until"] > tags["cattle:disabled-at"]
    deployment = stats(second)
    assert deployment["blue_fleets"] == [blue] and deployment["rollback_until"] == [tags["cattle:rollback-until"]]
    assert f"blue {blue} disabled until {tags['cattle:rollback-until']}" in summary(second)

    before = site.resources()
    aws.control.reset_counters()
    again = site.deploy(aws_env, image_id=site.images[1])

    assert changed_tasks(again) == [], again.result(GREEN_TASK)
    assert site.resources() == before
    written = writes_in(aws.control.counters())
    assert {call for call in written if not call.startswith("dynamodb:")} == set(), written
    assert stats(again)["result"] == "unchanged" and "unchanged" in summary(again)
    assert_guarded(site)


def test_first_deploy_takes_over_an_existing_group_as_blue(site, aws_env):
    legacy = site.legacy_group(desired=3)

    run = site.deploy(aws_env, image_id=site.images[1], adopt_asg=legacy, adopt_target_group="web-placeholder")

    green = fleet_name(site, site.images[1])
    assert site.weights_by_name() == {"web-placeholder": 0, green: 100}
    # Green starts at the capacity blue had, not the definition's 2.
    assert site.groups()[green]["DesiredCapacity"] == 3
    tags = site.group_tags(legacy)
    assert tags["cattle:fleet-state"] == "disabled" and tags["cattle:adopted"] == "true"
    assert stats(run)["blue_fleets"] == [legacy]
    assert_guarded(site)


def test_canary_from_the_stage_pointer_moves_traffic_in_steps_checking_alarms(site, aws_env, aws):
    site.point("prod", site.images[2])
    green = fleet_name(site, site.images[2])
    aws.control.reset_counters()

    run = site.deploy(aws_env, strategy="canary", canary_steps=[10, 50, 100], canary_pause=1,
                      canary_alarms=[site.alarm("web-5xx")])

    writes = [write["weights"] for write in site.listener_writes()[1:]]
    shares = [(w[site.placeholder], w[site.arn_of(green)]) for w in writes if w.get(site.arn_of(green))]
    assert shares == [(90, 10), (50, 50), (0, 100)]
    expected = [f"deploy web/prod: step {n} of 3: {p}% to {green}" for n, p in ((1, 10), (2, 50), (3, 100))]
    assert [step["msg"] for step in run.result(SWITCH_TASK)["steps"]] == expected
    # The action plugin prints each step as it begins, at default verbosity.
    assert [line for line in run.progress if ": step " in line] == expected, run.progress
    assert site.live() == [green]
    assert stats(run)["image_id"] == site.images[2] and "canary 10/50/100%" in summary(run)
    # Once before the deploy (the alarms exist), then between steps.
    assert aws.control.counters()["monitoring:DescribeAlarms"] == 3
    assert_guarded(site)


# ---------------------------------------------------------------------------------------
# Deploys that fail


def test_an_alarm_during_the_canary_restores_blue_in_one_write_and_disables_green(site, aws_env):
    site.deploy(aws_env, image_id=site.images[0])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    site.alarm("web-5xx", state="ALARM")
    first = len(site.listener_writes())

    run = site.run("deploy.yml", aws_env, image_id=site.images[1], strategy="canary", canary_steps=[10, 50, 100],
                   canary_alarms=["web-5xx"])

    message = failure(run)
    assert "alarm web-5xx in ALARM at step 1 of 3 (10% to " + green in message
    assert "traffic restored" in message and f"green {green} disabled for inspection" in message
    writes = site.listener_writes()[first:]
    # green joins at 0, gets 10%, and one write puts everything back.
    assert [(w["weights"][site.arn_of(blue)], w["weights"][site.arn_of(green)]) for w in writes] == [
        (100, 0), (90, 10), (100, 0)]
    assert site.live() == [blue]
    assert site.group_tags(green)["cattle:fleet-state"] == "disabled"
    assert site.group_tags(blue)["cattle:fleet-state"] == "active"
    assert site.lock() is None
    assert stats(run)["result"] == "failed" and stats(run)["phase"] == "switch"
    assert_guarded(site)


def test_an_unhealthy_green_leaves_traffic_alone_and_is_removed(site, aws_env):
    green = fleet_name(site, site.images[0])
    site.aws.control.set_target_health(green, state="unhealthy", reason="Target.ResponseCodeMismatch",
                                       description="Health checks failed with these codes: [500]")
    before = site.weights()

    run = site.run("deploy.yml", aws_env, image_id=site.images[0], wait_timeout=3)

    message = failure(run)
    assert f"failed at '{GREEN_TASK}'" in message
    assert "Target.ResponseCodeMismatch" in message and "traffic unchanged" in message
    assert f"green {green} removed" in message and "lock released" in message.lower()
    assert site.weights() == before
    assert site.groups() == {} and site.target_groups() == {"web-placeholder": site.placeholder}
    assert site.launch_templates() == [] and site.lock() is None
    assert_guarded(site)


def test_failed_launches_name_the_cause_and_nothing_is_switched(site, aws_env):
    green = fleet_name(site, site.images[0])
    site.aws.control.fail_asg_launches(green, reason="We currently do not have sufficient t3.micro capacity")
    before = site.weights()

    run = site.run("deploy.yml", aws_env, image_id=site.images[0], wait_timeout=60)

    message = failure(run)
    assert "sufficient t3.micro capacity" in message and f"green {green} removed" in message
    assert site.weights() == before and site.groups() == {}
    # Only the placeholder ever had traffic.
    assert [w for w in site.listener_writes() if any(weight for arn, weight in w["weights"].items()
                                                     if arn != site.placeholder)] == []
    assert_guarded(site)


# ---------------------------------------------------------------------------------------
# Rollback and terminate


def test_rollback_restores_the_standby_in_one_listener_write_taking_over_a_dead_deploys_lock(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])

    refused = site.run("rollback.yml", aws_env)
    assert "web/prod has no standby fleet to roll back to" in failure(refused)
    assert site.live() == [blue] and site.lock() is None

    site.deploy(aws_env, image_id=site.images[1])
    site.plant_lock(run_id="dead-deploy", owner="ci@runner-7", renewed_ago=1200, lease=900)
    first = len(site.listener_writes())
    aws.control.reset_counters()

    run = site.run("rollback.yml", aws_env, rollback_window=600)

    assert not run.failed, run.explain()
    took_over = run.result("Say whose lock was taken over")["msg"]
    assert "took over" in took_over and "ci@runner-7" in took_over and "dead-deploy" in took_over
    writes = site.listener_writes()[first:]
    assert len(writes) == 1 and aws.control.counters()["elasticloadbalancing:ModifyListener"] == 1
    assert writes[0]["weights"][site.arn_of(blue)] == 100 and writes[0]["weights"][site.arn_of(green)] == 0
    assert site.live() == [blue]
    assert site.group_tags(green)["cattle:fleet-state"] == "disabled"
    assert site.group_tags(blue)["cattle:fleet-state"] == "active"
    assert stats(run, "cattle_rollback")["standby_fleet"] == blue and stats(run, "cattle_rollback")["disabled_fleets"] == [green]
    assert site.lock() is None
    assert_guarded(site)


def test_rollback_writes_first_reading_only_what_the_write_needs(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    site.deploy(aws_env, image_id=site.images[1], rollback_window=600)
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    # The restoring write is refused (as a missing permission would): every call before it is what it needed.
    aws.control.add_fault(service="elbv2", action="ModifyListener", kind="client_error", code="AccessDenied",
                          match=site.listener, count=1)
    aws.control.reset_counters()

    run = site.run("rollback.yml", aws_env)

    message = failure(run)
    assert "AccessDenied" in message and "Traffic was not moved. Lock released." in message
    assert aws.control.counters() == {
        "dynamodb:PutItem": 1, "autoscaling:DescribeAutoScalingGroups": 1, "elasticloadbalancing:DescribeListeners": 1,
        "ec2:DescribeImages": 1, "elasticloadbalancing:DescribeTargetHealth": 1,
        # The write is fenced: the lock renewed (with this acquisition) right before it.
        "dynamodb:UpdateItem": 1, "elasticloadbalancing:ModifyListener": 1, "dynamodb:DeleteItem": 1}
    assert site.live() == [green] and site.group_tags(blue)["cattle:fleet-state"] == "disabled"
    assert site.group_tags(green)["cattle:fleet-state"] == "active" and site.lock() is None


def test_rollback_refuses_a_live_lock_naming_its_holder_and_lock_takeover_takes_it(site, aws_env):
    site.deploy(aws_env, image_id=site.images[0])
    site.deploy(aws_env, image_id=site.images[1], rollback_window=600)
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    site.plant_lock(run_id="stuck-run", owner="bob@laptop", renewed_ago=5)
    writes = len(site.listener_writes())

    refused = site.run("rollback.yml", aws_env)

    message = failure(refused)
    assert "bob@laptop" in message and "nothing was changed" in message and "Lock released" not in message
    assert site.lock()["run_id"]["S"] == "stuck-run" and len(site.listener_writes()) == writes and site.live() == [green]
    run = site.run("rollback.yml", aws_env, lock_takeover=True)
    assert not run.failed, run.explain()
    assert "bob@laptop" in run.result("Say whose lock was taken over")["msg"] and site.live() == [blue]
    assert stats(run, "cattle_rollback")["took_over_lock_from"]["owner"] == "bob@laptop" and site.lock() is None


def test_terminate_retires_standbys_whose_window_passed_and_never_the_live_fleet(site, aws_env):
    site.deploy(aws_env, image_id=site.images[0])
    site.deploy(aws_env, image_id=site.images[1], rollback_window=0)
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    live_before = site.groups()[green]

    run = site.run("terminate.yml", aws_env)

    assert not run.failed, run.explain()
    assert sorted(site.groups()) == [green]
    assert sorted(site.target_groups()) == sorted(["web-placeholder", green])
    assert site.launch_templates() == [green]
    assert site.weights_by_name() == {"web-placeholder": 0, green: 100}
    assert site.groups()[green]["Instances"] == live_before["Instances"]
    assert stats(run, "cattle_terminate")["retired_fleets"] == [blue]
    assert f"retired {blue}" in summary(run) and f"live {green}" in summary(run)

    again = site.run("terminate.yml", aws_env)
    assert not again.failed and changed_tasks(again) == []
    assert stats(again, "cattle_terminate")["result"] == "unchanged"
    assert site.lock() is None
    assert_guarded(site)


def test_terminate_refuses_a_live_lock_and_gives_its_own_back_after_a_failure(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    site.deploy(aws_env, image_id=site.images[1], rollback_window=0)
    blue = fleet_name(site, site.images[0])
    site.plant_lock(run_id="stuck-run", owner="bob@laptop", renewed_ago=5)

    refused = site.run("terminate.yml", aws_env)

    message = failure(refused)
    assert "bob@laptop" in message and "nothing was changed" in message and "lock was released" not in message
    assert site.lock()["run_id"]["S"] == "stuck-run" and blue in site.groups()
    site.plant_lock(run_id="stuck-run", owner="bob@laptop", renewed_ago=1200, lease=900)
    # Deleting the drained group is refused (as a missing permission would): the lock taken is given back.
    aws.control.add_fault(service="autoscaling", action="DeleteAutoScalingGroup", kind="client_error",
                          code="AccessDenied", count=1)

    failed = site.run("terminate.yml", aws_env)

    message = failure(failed)
    assert "AccessDenied" in message and message.endswith("the deploy lock was released"), message
    assert published(failed, "cattle_terminate")["result"] == "failed" and site.lock() is None
    retried = site.run("terminate.yml", aws_env)
    assert not retried.failed, retried.explain()
    assert stats(retried, "cattle_terminate")["retired_fleets"] == [blue] and blue not in site.groups()
    assert stats(retried, "cattle_terminate")["took_over_lock_from"] is None and site.lock() is None


def test_terminate_cut_short_while_aws_deletes_a_group_leaves_nothing_behind_after_the_next_terminate(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    site.deploy(aws_env, image_id=site.images[1], rollback_window=0)
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    # AWS takes minutes to delete a group; here longer than the first run may wait.
    aws.control.set_fidelity(asg_delete_min_seconds=60, asg_delete_max_seconds=60)

    cut_short = site.run("terminate.yml", aws_env, wait_timeout=3)

    message = failure(cut_short)
    assert f"Auto Scaling group {blue} still exists" in message and "Delete in progress" in message, message
    assert site.groups()[blue]["Status"] == "Delete in progress" and site.lock() is None
    assert blue in site.target_groups() and blue in site.launch_templates()
    # AWS finishes the deletion before the next run: the group is gone, its target group and template are not.
    aws.control.set_fidelity(asg_delete_min_seconds=0, asg_delete_max_seconds=0)

    finished = site.run("terminate.yml", aws_env)

    assert not finished.failed, finished.explain()
    assert stats(finished, "cattle_terminate")["retired_fleets"] == [blue]
    assert sorted(site.groups()) == [green] and site.launch_templates() == [green]
    assert blue not in site.target_groups() and site.lock() is None


def test_terminate_keeps_a_standby_inside_its_window(site, aws_env):
    site.deploy(aws_env, image_id=site.images[0])
    site.deploy(aws_env, image_id=site.images[1], rollback_window=3600)
    blue = fleet_name(site, site.images[0])

    run = site.run("terminate.yml", aws_env)

    assert not run.failed, run.explain()
    assert blue in site.groups() and stats(run, "cattle_terminate")["kept_fleets"] == [blue]
    assert f"kept for their rollback window {blue} until" in summary(run)
