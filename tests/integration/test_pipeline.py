"""playbooks/pipeline.yml and cleanup.yml against the sandbox: the whole flow of one app in
one command, each stage with its own load balancer; a staging deploy that fails at each of
its phases inside one pipeline run (its rescue, and the summary of the run); check mode."""

import os

import pytest

from fixtures.ansible import REPO_ROOT, VENV_BIN, run_playbook
from fixtures.aws import register_image
from fixtures.deploy_site import PLAYBOOKS, fleet_name, published, writes_in

pytestmark = pytest.mark.sandbox

STAGES = ("dev", "staging", "prod")


@pytest.fixture
def site(site):
    """The app with a load balancer per stage, and its images validated as the golden build tags them."""
    site.stage_balancers(STAGES)
    for image in site.images:
        site.ec2.create_tags(Resources=[image], Tags=[{"Key": "cattle:validation", "Value": "passed"},
                                                      {"Key": "cattle:lynis-score", "Value": "80"}])
    site.mark_tested()
    return site


def pipeline(site, env, check=False, **variables):
    variables.setdefault("app", site.app)
    variables.setdefault("cattle_apps", {site.app: site.definition})
    variables.setdefault("wait_timeout", 60)
    variables.setdefault("lock_owner", "tester@ci")
    return run_playbook(PLAYBOOKS / "pipeline.yml", env, extra_vars=variables, check=check, timeout=600)


def summary(run):
    return [task["hosts"]["localhost"]["msg"] for task in run.tasks()
            if task["task"]["name"] == "Say what the pipeline did"][-1]


def pointer(site, stage):
    try:
        return site.ssm.get_parameter(Name=f"/cattle/{site.app}/{stage}")["Parameter"]["Value"]
    except site.ssm.exceptions.ParameterNotFound:
        return None


def live_fleet(site, stage):
    """The fleet of a stage with weight > 0 in its listener (by name)."""
    return sorted(name for name, weight in site.stage_weights(stage).items() if weight > 0 and "-placeholder" not in name)


def test_the_pipeline_builds_tests_then_promotes_and_deploys_every_stage_and_summarises_the_run(
        site, aws, aws_env, tmp_path, standin):
    base = register_image(site.ec2, "debian-12-amd64-20260101")
    # The build instance Packer launches is a stand-in: the image has content, its instances run.
    standin.bind_to(aws.control)
    site.serve_test_app()
    env = dict(aws_env, XDG_CACHE_HOME=str(tmp_path / "cache"), PATH=f"{VENV_BIN}{os.pathsep}{aws_env['PATH']}")

    run = pipeline(site, env, build_template=str(REPO_ROOT / "packer" / "sandbox-smoke"),
                   build_only=["amazon-ebs.none"], build_vars={"source_ami": base})

    assert not run.failed, run.explain()
    image = published(run, "cattle_build")["image_id"]
    for stage in STAGES:
        assert pointer(site, stage) == image
        assert live_fleet(site, stage) == [fleet_name(site, image, stage)]
    assert site.lock() is None
    lines = summary(run)
    assert [line[:16].strip() for line in lines[:-1]] == [
        "build", "test image", "promote dev", "deploy dev", "promote staging", "deploy staging", "promote prod",
        "deploy prod", "cleanup"]
    assert lines[-1].startswith("pipeline web: done in ") and lines[-1].endswith("(9 steps)")
    assert site.ec2.describe_images(ImageIds=[image])["Images"][0]["Tags"] and published(
        run, "cattle_image_test")["result"] == "passed"
    # Each stage's instance runs the image: the live fleets' stand-ins, and the test's, now gone.
    live = [item for item in aws.control.live_instances() if item["state"] == "running"]
    assert sorted(item["image_id"] for item in live) == [image] * 3
    prod = fleet_name(site, image, "prod")
    assert next(line for line in lines if line.startswith("deploy prod")).endswith(
        f"deployed: {prod} ({image}); web-prod-placeholder 1, {prod} 0 -> web-prod-placeholder 0, {prod} 100")
    record = published(run, "cattle_pipeline")
    assert record["result"] == "done" and [step["step"] for step in record["steps"]][-1] == "cleanup"
    assert all(step["seconds"] >= 0 for step in record["steps"])
    # The last deploy's own result, as a workflow's next node would get it.
    assert published(run, "cattle_deployment")["stage"] == "prod"


def test_stop_after_a_stage_from_an_existing_image_leaves_later_stages_alone(site, aws_env):
    run = pipeline(site, aws_env, image_id=site.images[0], stop_after="staging")
    assert not run.failed, run.explain()
    assert (pointer(site, "staging"), pointer(site, "prod")) == (site.images[0], None)
    assert live_fleet(site, "prod") == [] and live_fleet(site, "staging") == [fleet_name(site, site.images[0], "staging")]
    assert "build" not in [entry["step"] for entry in published(run, "cattle_pipeline")["steps"]]


def test_a_per_step_input_for_the_whole_run_is_refused(site, aws_env):
    run = pipeline(site, aws_env, image_id=site.images[0], stage="prod")
    assert run.failed and "stage: pipeline.yml sets it for each step" in run.result("Refuse a bad pipeline request")["msg"]
    assert pointer(site, "dev") is None


def test_the_pipeline_in_check_mode_writes_nothing_and_plans_each_deploy(site, aws_env, aws):
    site.deploy(aws_env, image_id=site.images[0], stage="dev")
    aws.control.reset_counters()

    run = pipeline(site, aws_env, check=True, image_id=site.images[1])

    assert not run.failed, run.explain()
    assert writes_in(aws.control.counters()) == {}
    plans = [task["hosts"]["localhost"]["msg"] for task in run.tasks()
             if task["task"]["name"] == "Say what the deploy would do (check mode)"]
    assert len(plans) == 3 and f"would disable (rollback window): {fleet_name(site, site.images[0], 'dev')}" in plans[0]
    assert pointer(site, "dev") is None and live_fleet(site, "dev") == [fleet_name(site, site.images[0], "dev")]


# -- a staging deploy that fails at each of its phases ---------------------------------------


def fail_lock(site, aws, blue):
    aws.control.add_fault(service="dynamodb", action="PutItem", kind="client_error", code="AccessDeniedException",
                          match="deploy staging", count=1)


def fail_green(site, aws, blue):
    site.aws.control.fail_asg_launches(fleet_name(site, site.images[1], "staging"),
                                       reason="We currently do not have sufficient t3.micro capacity")


def fail_switch(site, aws, blue):
    aws.control.add_fault(service="elbv2", action="ModifyListener", kind="client_error", code="AccessDenied",
                          match=site.stage_listeners["staging"], after=1, count=1)


def fail_retire(site, aws, blue):
    aws.control.add_fault(service="autoscaling", action="UpdateAutoScalingGroup", kind="client_error",
                          code="AccessDenied", match=blue, count=1)


def fail_unlock(site, aws, blue):
    aws.control.add_fault(service="dynamodb", action="DeleteItem", kind="client_error", code="AccessDeniedException",
                          after=1, count=1)


# phase -> (arm the fault, what serves staging afterwards: blue (a fleet deployed before the
# pipeline), placeholder (what served before any fleet) or green, what the rescue did)
PHASES = {
    "lock": (fail_lock, "placeholder", "nothing was changed"),
    "green": (fail_green, "placeholder", "traffic unchanged"),
    "switch": (fail_switch, "placeholder", "traffic restored"),
    "retire": (fail_retire, "blue", "traffic restored"),
    "unlock": (fail_unlock, "green", "lock released"),
}


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_a_staging_deploy_failing_at_each_phase_is_rescued_and_the_run_says_so(site, aws_env, aws, phase):
    arm, serving, undone = PHASES[phase]
    blue, green = fleet_name(site, site.images[0], "staging"), fleet_name(site, site.images[1], "staging")
    if serving == "blue":
        site.deploy(aws_env, image_id=site.images[0], stage="staging")
    arm(site, aws, blue)

    run = pipeline(site, aws_env, image_id=site.images[1])

    assert run.failed, run.explain()
    lines = summary(run)
    assert [line.split(" ", 2)[:2] for line in lines[:-1]] == [
        ["test", "image"], ["promote", "dev"], ["deploy", "dev"], ["promote", "staging"], ["deploy", "staging"]]
    # The image had passed its test before: it is not tested again.
    assert "already tested (passed " in lines[0]
    assert f"FAILED failed ({phase})" in lines[4] and undone in lines[4]
    assert lines[-1].startswith("pipeline web: failed")
    assert published(run, "cattle_pipeline")["result"] == "failed"
    deployment = published(run, "cattle_deployment")
    assert (deployment["stage"], deployment["phase"], deployment["result"]) == ("staging", phase, "failed")
    assert live_fleet(site, "staging") == {"blue": [blue], "green": [green], "placeholder": []}[serving]
    if serving == "placeholder":
        assert site.stage_weights("staging")["web-staging-placeholder"] > 0
    assert live_fleet(site, "dev") == [fleet_name(site, site.images[1], "dev")]
    assert pointer(site, "prod") is None and live_fleet(site, "prod") == []
    assert site.lock() is None


# -- cleanup -------------------------------------------------------------------------------


def test_cleanup_retires_expired_standbys_in_every_stage_then_prunes_unused_images(site, aws_env, aws):
    for stage in ("dev", "staging"):
        site.deploy(aws_env, image_id=site.images[0], stage=stage)
        site.deploy(aws_env, image_id=site.images[1], stage=stage, rollback_window=0)
    standbys = [fleet_name(site, site.images[0], stage) for stage in ("dev", "staging")]
    aws.control.reset_counters()

    checked = site.run("cleanup.yml", aws_env, check=True, keep=1, keep_days=0)
    assert not checked.failed, checked.explain()
    assert writes_in(aws.control.counters()) == {}
    assert all(name in site.groups() for name in standbys)

    run = site.run("cleanup.yml", aws_env, keep=1, keep_days=0)

    assert not run.failed, run.explain()
    said = run.result("Say what was done")["msg"]
    assert said.startswith(f"cleanup web: retired {standbys[0]}, {standbys[1]}; kept for their rollback window none;")
    assert not any(name in site.groups() for name in standbys)
    # images[0] (the retired standbys') and images[2] are unused now; keep=1 keeps the newest of
    # the app's images (registered in the same second here, so either), never images[1] (live).
    pruned = published(run, "cattle_cleanup")["pruned_images"]
    assert len(pruned) >= 1 and set(pruned) <= {site.images[0], site.images[2]}
    left = {image["ImageId"] for image in site.ec2.describe_images(Owners=["self"])["Images"]}
    assert site.images[1] in left and not left & set(pruned)
    assert site.lock() is None


def test_cleanup_refuses_bad_input_naming_each_before_the_lock_or_any_aws_call(site, aws_env, aws):
    aws.control.reset_counters()

    run = site.run("cleanup.yml", aws_env, cleanup_stages="dev,qa", keep=0, lock_takeover="perhaps")

    assert run.failed
    message = run.result("Refuse a bad request")["msg"]
    assert message == ("lock_takeover: must be true or false, got perhaps; "
                       "keep: must be a whole number, 1 or more, got 0; "
                       "cleanup_stages: qa is not a stage of web (its stages: dev, staging, prod); nothing was changed")
    assert aws.control.counters() == {}
