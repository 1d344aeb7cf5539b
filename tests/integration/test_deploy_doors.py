"""deploy.yml, rollback.yml and terminate.yml as a new user meets them: check mode that
writes nothing and says what it would do, an explicit lock takeover, a rollback that refuses
a revoked image, who holds the lock in AWX, and what a failed deploy publishes."""

import re

import pytest

from fixtures.ansible import module_play, run_playbook
from fixtures.deploy_site import SWITCH_TASK, fleet_name, published, writes_in

pytestmark = pytest.mark.sandbox

GREEN_TASK = "Bring up the green fleet at weight 0 and wait until every instance is healthy"


def failure(run):
    assert run.failed, run.explain()
    return run.result("Fail with the reason")["msg"]


def check_run(site, aws, env, playbook, **variables):
    """A --check run; asserts it made no mutating call and changed nothing a user sees."""
    before = site.resources()
    aws.control.reset_counters()
    run = site.run(playbook, env, check=True, **variables)
    assert writes_in(aws.control.counters()) == {}, aws.control.counters()
    assert site.resources() == before
    return run


# ---------------------------------------------------------------------------------------
# Check mode


def test_deploy_check_on_a_deployed_app_plans_the_switch_and_writes_nothing(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])

    run = check_run(site, aws, aws_env, "deploy.yml", image_id=site.images[1])

    assert not run.failed, run.explain()
    plan = run.result("Say what the deploy would do (check mode)")["msg"]
    assert plan[0] == (f"green {green} (would be created): AMI {site.images[1]}, 2 instance(s), "
                       "joins the forward action at weight 0")
    assert plan[1] == (f"all_at_once step 1 of 1: (new target group {green}) 0, web-placeholder 0, {blue} 100 -> "
                       f"(new target group {green}) 100, web-placeholder 0, {blue} 0")
    assert plan[2] == f"would disable (rollback window): {blue}"
    summary = run.result("Say what was done")["msg"]
    assert summary.startswith("deploy web/prod: would be deployed (check mode, nothing changed)")
    deployment = published(run, "cattle_deployment")
    assert (deployment["check_mode"], deployment["switch_began"], deployment["blue_fleet_ids"]) == (
        True, False, [blue.rsplit("-", 1)[-1]])
    assert run.result(SWITCH_TASK).get("skipped")


def test_deploy_check_plans_each_canary_step(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    run = check_run(site, aws, aws_env, "deploy.yml", image_id=site.images[1], strategy="canary",
                    canary_steps=[10, 50, 100])
    plan = run.result("Say what the deploy would do (check mode)")["msg"]
    assert [line.split(":", 1)[0] for line in plan[1:4]] == ["canary step 1 of 3", "canary step 2 of 3", "canary step 3 of 3"]
    assert plan[1].endswith("10, web-placeholder 0, " + fleet_name(site, site.images[0]) + " 90")


def refusal_of_both(site, aws, env, **variables):
    """The same request for real and in check mode: both fail, with the same reason, writing nothing."""
    before = site.resources()
    aws.control.reset_counters()
    checked = site.run("deploy.yml", env, check=True, **variables)
    assert writes_in(aws.control.counters()) == {}
    real = site.run("deploy.yml", env, **variables)
    assert site.resources() == before
    # Ages and times move between the two runs; everything else is the same.
    reasons = [re.sub(r"[0-9]+", "N", failure(run).split("': ", 1)[1].split(". Afterwards", 1)[0])
               for run in (checked, real)]
    assert reasons[0] == reasons[1], reasons
    return failure(real)


def test_deploy_check_fails_with_the_real_runs_message_when_the_lock_is_held(site, aws_env, aws):
    site.plant_lock(run_id="other-run", owner="alice@ci")
    reason = refusal_of_both(site, aws, aws_env, image_id=site.images[0])
    assert "alice@ci" in reason and "other-run" in reason and "-e lock_takeover=true" in reason


def test_deploy_check_fails_with_the_real_runs_message_for_a_revoked_image(site, aws_env, aws):
    revoked = site.image(9, **{"cattle:revoked": "2026-01-01T00:00:00Z broken"})
    reason = refusal_of_both(site, aws, aws_env, image_id=revoked)
    assert "was revoked" in reason


def test_deploy_check_fails_with_the_real_runs_message_for_a_missing_subnet(site, aws_env, aws):
    site.definition["subnets"] = [site.network.subnet_ids[0], "subnet-0123456789abcdef0"]
    reason = refusal_of_both(site, aws, aws_env, image_id=site.images[0])
    assert "subnet-0123456789abcdef0" in reason


def test_deploy_check_fails_with_the_real_runs_message_when_the_forward_action_is_full(site, aws_env, aws):
    site.elbv2.modify_listener(ListenerArn=site.listener, DefaultActions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": site.placeholder, "Weight": 1}] + [
            {"TargetGroupArn": site.elbv2.create_target_group(
                Name=f"web-extra-{n}", Protocol="HTTP", Port=80, VpcId=site.network.vpc_id)["TargetGroups"][0][
                "TargetGroupArn"], "Weight": 0} for n in range(4)]}}])
    reason = refusal_of_both(site, aws, aws_env, image_id=site.images[0])
    assert "5" in reason and "target group" in reason


def test_rollback_and_terminate_check_say_what_they_would_do_and_write_nothing(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    site.deploy(aws_env, image_id=site.images[1], rollback_window=0)
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])

    rollback = check_run(site, aws, aws_env, "rollback.yml")
    assert not rollback.failed, rollback.explain()
    assert rollback.result("Say what was done")["msg"] == (
        f"rollback web/prod: would roll back (check mode, nothing changed); traffic would go {blue} "
        f"({site.images[0]}); would disable {green}")

    terminate = check_run(site, aws, aws_env, "terminate.yml")
    assert not terminate.failed, terminate.explain()
    assert terminate.result("Say what was done")["msg"].startswith(f"terminate web/prod: would retire {blue};")
    assert published(terminate, "cattle_terminate")["retired_fleets"] == [blue]


# ---------------------------------------------------------------------------------------
# The lock: an explicit takeover, and who holds it in AWX


def test_a_live_lock_is_refused_and_lock_takeover_takes_it_over_saying_so(site, aws_env):
    site.plant_lock(run_id="stuck-run", owner="bob@laptop", renewed_ago=5)
    refused = site.run("deploy.yml", aws_env, image_id=site.images[0])
    assert "bob@laptop" in failure(refused) and site.lock()["run_id"]["S"] == "stuck-run"

    run = site.deploy(aws_env, image_id=site.images[0], lock_takeover=True)

    said = run.result("Say whose lock was taken over")["msg"]
    assert "bob@laptop" in said and "stuck-run" in said and "lock_takeover=true" in said
    deployment = published(run, "cattle_deployment")
    assert deployment["lock_taken_over_from"]["owner"] == "bob@laptop" and deployment["result"] == "deployed"
    assert "took over the lock of bob@laptop (run stuck-run, forced)" in run.result("Say what was done")["msg"]
    assert site.lock() is None


def test_in_awx_the_person_who_launched_the_workflow_holds_the_lock_for_the_workflow_run(site, aws_env):
    run = site.deploy(aws_env, image_id=site.images[0], lock_owner=None, awx_user_name="alice",
                      awx_job_id=42, awx_workflow_job_id=40)
    deployment = published(run, "cattle_deployment")
    assert (deployment["owner"], deployment["run_id"]) == ("alice", "awx-workflow-40")
    assert site.group_tags(fleet_name(site, site.images[0]))["cattle:deployment"] == "awx-workflow-40"


# ---------------------------------------------------------------------------------------
# Rollback and revoked images


def test_rollback_refuses_a_standby_whose_image_was_revoked_unless_allowed(site, aws_env):
    site.deploy(aws_env, image_id=site.images[0])
    site.deploy(aws_env, image_id=site.images[1])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    site.ec2.create_tags(Resources=[site.images[0]], Tags=[{"Key": "cattle:revoked",
                                                            "Value": "2026-12-01T10:00:00Z CVE-2026-1234"}])
    writes = len(site.listener_writes())

    refused = site.run("rollback.yml", aws_env)

    message = failure(refused)
    assert f"the standby {blue} runs {site.images[0]}, which was revoked" in message
    assert "CVE-2026-1234" in message and "allow_revoked=true" in message and "Traffic was not moved" in message
    assert len(site.listener_writes()) == writes and site.live() == [green] and site.lock() is None

    allowed = site.run("rollback.yml", aws_env, allow_revoked=True)
    assert not allowed.failed, allowed.explain()
    assert site.live() == [blue]
    assert published(allowed, "cattle_rollback")["revoked_image_allowed"] is True
    assert "revoked: 2026-12-01T10:00:00Z CVE-2026-1234" in allowed.result("Say what was done")["msg"]


# ---------------------------------------------------------------------------------------
# What a failed deploy says and publishes


def test_a_green_failure_names_what_still_serves_and_publishes_it(site, aws_env):
    site.deploy(aws_env, image_id=site.images[0])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    site.aws.control.fail_asg_launches(green, reason="We currently do not have sufficient t3.micro capacity")

    run = site.run("deploy.yml", aws_env, image_id=site.images[1])

    assert f"failed at '{GREEN_TASK}'" in failure(run)
    said = run.result("Say what was done")["msg"]
    assert f"blue {blue}" in said and "blue none" not in said
    deployment = published(run, "cattle_deployment")
    assert (deployment["phase"], deployment["blue_fleets"], deployment["switch_began"]) == ("green", [blue], False)
    assert (deployment["traffic_restored"], deployment["needs_rollback"]) == (False, False)


def test_a_failed_switch_that_restored_traffic_says_so_and_needs_no_rollback(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    blue = fleet_name(site, site.images[0])
    # The join at weight 0 goes through, the switch is refused (as a missing permission would).
    aws.control.add_fault(service="elbv2", action="ModifyListener", kind="client_error", code="AccessDenied",
                          match=site.listener, after=1, count=1)

    run = site.run("deploy.yml", aws_env, image_id=site.images[1])

    assert "AccessDenied" in failure(run)
    deployment = published(run, "cattle_deployment")
    assert (deployment["switch_began"], deployment["traffic_restored"], deployment["needs_rollback"]) == (
        True, True, False)
    assert site.live() == [blue]


def test_a_failed_switch_that_could_not_restore_traffic_asks_for_a_rollback_to_blue(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    # The switch goes through; the alarm stops the canary; the restoring write is refused.
    site.alarm("web-5xx", state="ALARM")
    aws.control.add_fault(service="elbv2", action="ModifyListener", kind="client_error", code="AccessDenied",
                          match=site.listener, after=2, count=1)

    run = site.run("deploy.yml", aws_env, image_id=site.images[1], strategy="canary", canary_steps=[10, 100],
                   canary_alarms=["web-5xx"])

    assert "restoring traffic failed" in failure(run)
    deployment = published(run, "cattle_deployment")
    assert (deployment["traffic_restored"], deployment["needs_rollback"]) == (False, True)
    assert deployment["blue_fleet_ids"] == [blue.rsplit("-", 1)[1]] and deployment["green_fleet"] == green

    status = site.run("status.yml", aws_env, cattle_deployment=deployment)
    assert status.failed and "could not restore traffic" in status.result(
        "Stop when the failed deploy could not restore traffic")["msg"]
    rollback = site.run("rollback.yml", aws_env, cattle_deployment=deployment)
    assert not rollback.failed, rollback.explain()
    assert site.live() == [blue] and published(rollback, "cattle_rollback")["after_failed_deploy"] is True


def test_a_switch_that_fails_retiring_blue_says_so_and_restores_blue(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    aws.control.add_fault(service="autoscaling", action="SuspendProcesses", kind="client_error", code="AccessDenied",
                          count=1)

    run = site.run("deploy.yml", aws_env, image_id=site.images[1])

    message = failure(run)
    assert "AccessDenied" in message and "(phase retire)" in message
    deployment = published(run, "cattle_deployment")
    assert (deployment["phase"], deployment["traffic_restored"], deployment["needs_rollback"]) == ("retire", True, False)
    assert f"green {green} disabled for inspection" in message
    assert site.live() == [blue] and site.lock() is None


def switch_play(tmp_path, args):
    path = tmp_path / "switch.yml"
    path.write_text(module_play("Switch", "green_switch", args))
    return path


def test_green_switch_run_again_or_in_check_mode_writes_nothing(site, aws_env, aws, tmp_path):
    site.deploy(aws_env, image_id=site.images[0])
    run = site.deploy(aws_env, image_id=site.images[1])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    first = run.result(SWITCH_TASK)
    assert [fleet["fleet_name"] for fleet in first["retired"]] == [blue] and first["changed"]
    args = {"app": site.app, "definition": site.definition, "stage": "prod", "listener_arn": site.listener,
            "green_target_group": site.arn_of(green), "steps": [10, 100], "retire": [blue.rsplit("-", 1)[1]]}
    playbook = switch_play(tmp_path, args)
    aws.control.reset_counters()

    again = run_playbook(playbook, aws_env)
    checked = run_playbook(playbook, aws_env, check=True)

    assert writes_in(aws.control.counters()) == {}, aws.control.counters()
    for result in (again.result("Switch"), checked.result("Switch")):
        assert not result["changed"] and result["steps"] == [] and result["retired"][0]["fleet_name"] == blue
        assert result["msg"] == f"web/prod: no switch: nothing but {green} serves; disabled for the rollback window: {blue}"
    assert site.weights_by_name()[green] == 100


def test_green_switch_refuses_a_green_outside_the_forward_action_before_any_write(site, aws_env, aws, tmp_path):
    site.deploy(aws_env, image_id=site.images[0])
    stray = site.elbv2.create_target_group(Name="web-stray", Protocol="HTTP", Port=8080,
                                           VpcId=site.network.vpc_id)["TargetGroups"][0]["TargetGroupArn"]
    args = {"app": site.app, "definition": site.definition, "stage": "prod", "listener_arn": site.listener,
            "green_target_group": stray}
    aws.control.reset_counters()

    run = run_playbook(switch_play(tmp_path, args), aws_env)

    assert run.failed
    assert run.result("Switch")["msg"] == (
        f"green_target_group: web-stray is not in the forward action of the default action of listener "
        f"{site.listener}; nothing was changed")
    assert writes_in(aws.control.counters()) == {}
