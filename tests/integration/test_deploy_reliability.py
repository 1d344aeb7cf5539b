"""deploy.yml under contention, faults, crashes and bad input (ansible-playbook against the sandbox)."""

import re
import threading

import pytest

from fixtures.deploy_site import Background, Site, fleet_name

pytestmark = pytest.mark.sandbox


def failure(run):
    assert run.failed, run.explain()
    return run.result("Fail with the reason")["msg"] if any(
        t["task"]["name"] == "Fail with the reason" for t in run.tasks()) else run.explain()


def unguarded(site):
    return [w for w in site.aws.control.unguarded_listener_writes() if w["operation"] != "CreateListener"]


def test_a_second_deploy_of_the_same_app_fails_on_the_lock_naming_holder_and_age(site, aws_env):
    site.plant_lock(run_id="4702", owner="alice@ci", reason="deploy prod ami-1", acquired_ago=300, renewed_ago=20)
    before = site.resources()

    run = site.run("deploy.yml", aws_env, image_id=site.images[0])

    message = failure(run)
    assert "held by alice@ci (run 4702" in message and "last renewed 2" in message, message
    assert re.search(r"acquired 5 min( \d+ s)? ago", message), message
    assert site.resources() == before
    assert site.lock()["run_id"]["S"] == "4702"


def test_two_apps_deploy_in_parallel(site, aws, boto3_client, aws_network, aws_env):
    other = Site(aws, boto3_client, aws_network, app="api")
    site.ensure_lock_table()
    runs = {}

    def deploy(target):
        runs[target.app] = target.run("deploy.yml", aws_env, image_id=target.images[0])

    threads = [threading.Thread(target=deploy, args=(target,)) for target in (site, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    for target in (site, other):
        assert not runs[target.app].failed, runs[target.app].explain()
        assert target.live() == [fleet_name(target, target.images[0])]
        assert target.lock() is None
    assert unguarded(site) == []


def test_a_deploy_succeeds_with_20_percent_throttling_on_every_service(site, aws_env, aws):
    site.ensure_lock_table()
    aws.control.add_fault(service="*", action="*", kind="throttle", probability=0.2, seed=11)

    run = site.run("deploy.yml", aws_env, image_id=site.images[0])

    fired = sum(rule["fired"] for rule in aws.control.faults())
    aws.control.clear_faults()
    assert not run.failed, run.explain()
    assert fired > 0
    green = fleet_name(site, site.images[0])
    assert list(site.groups()) == [green] and list(site.launch_templates()) == [green]
    assert sorted(site.target_groups()) == sorted(["web-placeholder", green])
    assert len(site.groups()[green]["Instances"]) == 2
    assert site.live() == [green] and site.lock() is None
    assert unguarded(site) == []


# Where a crash may stop a deploy (a line of the default callback's output), from lock to unlock.
# Inside green_switch's one module run the boundaries are its progress lines, which the action
# plugin prints up to half a second late: a canary pause, or a call the sandbox delays, holds the
# module at the boundary until the kill lands. A delayed write lands after the kill, as a request
# already sent by a crashed controller would: the suspend before the rerun retires blue, the
# lock's delete after the rerun took the lock over (so its condition fails) - 30 s, since on a
# busy machine the rerun's start alone took more than 8.
BOUNDARIES = {
    # The green fleet's run takes the lock first: killed once the lock is held, its next write delayed.
    "lock_held": ("TASK [Bring up the green fleet", {}, ("ec2", "CreateLaunchTemplate", 4)),
    "green_healthy": ("TASK [Switch traffic to green", {}, None),
    "mid_canary": ("step 2 of 3", {"canary_pause": 5}, None),
    "switched": ("disabling fleet", {}, ("autoscaling", "SuspendProcesses", 4)),
    "blue_disabled": ("releasing the deploy lock", {}, ("dynamodb", "DeleteItem", 30)),
}


@pytest.mark.parametrize("boundary", sorted(BOUNDARIES))
def test_a_deploy_killed_at_a_phase_boundary_converges_when_run_again(site, aws_env, aws, boundary):
    site.deploy(aws_env, image_id=site.images[0])
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    text, settings, delayed = BOUNDARIES[boundary]
    variables = site.extra_vars(image_id=site.images[1], strategy="canary", canary_steps=[10, 50, 100], **settings)
    if delayed:
        service, action, seconds = delayed
        aws.control.add_fault(service=service, action=action, kind="delay", delay=seconds, count=1)

    killed = Background("deploy.yml", aws_env, variables)
    assert killed.kill_at(text, ready=lambda: site.lock() is not None), killed.output()
    held = site.lock()
    assert held is not None and held["owner"]["S"] == "tester@ci", killed.output()

    # The crashed run's lease runs out (its fenced writes need a lease longer than their worst case,
    # so it is not short: its last renewal is moved back instead of waiting).
    site.expire_lock()
    rerun = site.run("deploy.yml", aws_env, image_id=site.images[1], strategy="canary", canary_steps=[10, 50, 100])

    assert not rerun.failed, rerun.explain()
    assert "took over the deploy lock" in rerun.result("Say whose lock was taken over")["msg"]
    assert site.live() == [green]
    assert site.weights_by_name() == {"web-placeholder": 0, blue: 0, green: 100}
    assert sorted(site.groups()) == sorted([blue, green]) and site.launch_templates() == sorted([blue, green])
    group = site.groups()[green]
    assert site.health(site.arn_of(green)) == {i["InstanceId"]: "healthy" for i in group["Instances"]}
    assert len(group["Instances"]) == 2
    assert site.group_tags(blue)["cattle:fleet-state"] == "disabled"
    assert site.lock() is None
    assert unguarded(site) == []


BAD_INPUTS = {
    "unknown AMI": ({"image_id": "ami-0123456789abcdef0"}, "image_id ami-0123456789abcdef0: no such AMI"),
    "revoked AMI": ({"image_id": "revoked"}, "it was revoked"),
    "missing listener": ({"definition": {"load_balancer": {"name": "web-alb", "listener_port": 8443}}}, "8443"),
    "weight out of range": ({"strategy": "canary", "canary_steps": [10, 150]}, "canary_steps: each step must be from 1 to 100"),
    "desired capacity 0": ({"desired_capacity": 0}, "desired_capacity must be at least 1"),
    "desired capacity above max": ({"desired_capacity": 9}, "desired_capacity 9 is above the app's capacity.max 4"),
    "negative wait_timeout": ({"wait_timeout": -1}, "wait_timeout: must be a whole number of seconds, 0 or more, got -1"),
    "negative canary_pause": ({"canary_pause": -5}, "canary_pause: must be a whole number of seconds, 0 or more, got -5"),
    "unknown app": ({"app": "api"}, "app: unknown app 'api' (defined apps: web)"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_naming_it_and_nothing_changes(site, aws_env, case):
    variables, expected = BAD_INPUTS[case]
    variables = dict(variables)
    variables.setdefault("image_id", site.images[0])
    if variables["image_id"] == "revoked":
        variables["image_id"] = site.image(9, **{"cattle:revoked": "2026-11-01T00:00:00Z bad build"})
    if "definition" in variables:
        variables["cattle_apps"] = {"web": dict(site.definition, **variables.pop("definition"))}
    before = site.resources()
    writes = len(site.listener_writes())

    run = site.run("deploy.yml", aws_env, **variables)

    message = failure(run)
    assert expected in message
    assert "nothing was changed" in message or "traffic unchanged" in message
    assert site.resources() == before
    assert len(site.listener_writes()) == writes
    assert site.lock() is None
