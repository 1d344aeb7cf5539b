"""The release workflow of awx/ (vars/workflow.yml) run the way AWX runs it.

Every node is a job through ansible-runner (tests/fixtures/awx.py) with the extra vars AWX
would compose for it, against the sandbox. The app has a load balancer per stage. Its build
uses the sandbox's small Packer template, set as the build template's extra_vars, as an
AWX admin would set them for their own template.
"""

import threading

import pytest
from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec

from fixtures.ansible import collections_root
from fixtures.awx import (JobContext, NodeResult, Workflow, WorkflowRunner, WorkflowState, by_schedule, by_user,
                          by_webhook, job_extra_vars, load_job_templates, load_workflow, meta_vars, part_of)
from fixtures.aws import listener_weights, register_image, target_group_name
from fixtures.deploy_site import Site, definition, fleet_name

COLLECTION = collections_root() / "ansible_collections" / "cattle" / "immutable"
STAGES = ("dev", "staging", "prod")
# What a successful release runs, in order.
RELEASE = ["build", "test-image", "promote-dev", "deploy-dev", "promote-staging", "deploy-staging", "approve-prod",
           "promote-prod", "deploy-prod"]
PUBLISHES = {"cattle build": {"cattle_build"}, "cattle validate": {"cattle_image_test"}, "cattle promote": {"cattle_promotion"},
             "cattle deploy": {"cattle_deployment"}, "cattle status": {"cattle_status"},
             "cattle rollback": {"cattle_rollback"}}


# -- the sandbox site: one load balancer per stage ---------------------------------------------


class Release:
    """The Site's app `web`, with its own load balancer per stage (dev: the Site's)."""

    def __init__(self, site):
        self.site = site
        self.listeners = {"dev": site.listener}
        for stage in ("staging", "prod"):
            self.listeners[stage] = self._stage_listener(stage)
        site.definition = definition(site.network, site.security_group, load_balancer="web-alb", stages={
            "dev": {}, "staging": {"load_balancer": {"name": "web-staging-alb"}},
            "prod": {"load_balancer": {"name": "web-prod-alb"}}})
        self.base_image = register_image(site.ec2, "debian-12-amd64-20260101")

    def _stage_listener(self, stage):
        """A load balancer whose listener forwards to a placeholder group with one healthy instance."""
        site = self.site
        balancer = site.elbv2.create_load_balancer(Name=f"web-{stage}-alb", Subnets=site.network.subnet_ids)[
            "LoadBalancers"][0]["LoadBalancerArn"]
        placeholder = site.elbv2.create_target_group(
            Name=f"web-{stage}-placeholder", Protocol="HTTP", Port=80, VpcId=site.network.vpc_id)[
            "TargetGroups"][0]["TargetGroupArn"]
        instance = site.ec2.run_instances(ImageId=site.images[0], MinCount=1, MaxCount=1,
                                          SubnetId=site.network.subnet_ids[0])["Instances"][0]["InstanceId"]
        site.elbv2.register_targets(TargetGroupArn=placeholder, Targets=[{"Id": instance}])
        return site.elbv2.create_listener(
            LoadBalancerArn=balancer, Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": placeholder}])["Listeners"][0]["ListenerArn"]

    def weights(self, stage):
        """{target group name: weight} of the stage's listener (a fleet's group has its name)."""
        weights = listener_weights(self.site.elbv2, self.listeners[stage])
        return {target_group_name(arn): weight for arn, weight in weights.items()}

    def live(self, stage):
        return sorted(name for name, weight in self.weights(stage).items() if weight > 0)

    def standbys(self, stage):
        return sorted(name for name, group in self.site.groups().items()
                      if f"web-{stage}-" in name and self.site.group_tags(name).get("cattle:fleet-state") == "disabled")

    def pointer(self, stage):
        return self.site.ssm.get_parameter(Name=f"/cattle/web/{stage}")["Parameter"]["Value"]

    def writes(self, stage):
        """The sandbox's record of the stage listener's writes: [{target group name: weight}]."""
        return [{target_group_name(arn): weight for arn, weight in write["weights"].items()}
                for write in self.site.aws.control.listener_writes() if write["listener_arn"] == self.listeners[stage]]

    def fleet(self, image_id, stage):
        return fleet_name(self.site, image_id, stage)

    def fleet_id(self, image_id, stage):
        normalised = app_definition.validate_definition(self.site.definition, "web")
        return fleet_spec.fleet_id(app_definition.stage_definition(normalised, stage), image_id)

    def deploy(self, env, stage, image_id):
        """A deploy before the workflow, with ansible-playbook."""
        return self.site.deploy(env, stage=stage, image_id=image_id)


@pytest.fixture
def release(aws, boto3_client, aws_network, standin):
    """The build's instance is a stand-in, so the built image has content: the test-image node and
    the fleets of the built image run it for real (one instance per stage)."""
    aws.control.set_fidelity(target_healthy_after=0)
    release = Release(Site(aws, boto3_client, aws_network))
    release.site.serve_test_app()
    # After the site's own instances: the next instance launched, the build's, is the stand-in.
    standin.bind_to(aws.control)
    return release


def template_vars(release, **deploy):
    """The job templates' extra_vars an AWX admin would set for this site."""
    return {
        "cattle build": {"build_template": str(COLLECTION / "packer" / "sandbox-smoke"),
                         "build_only": ["amazon-ebs.none"], "build_vars": {"source_ami": release.base_image}},
        "cattle deploy": {"wait_timeout": 60, "canary_pause": 0, **deploy},
        "cattle rollback": {"wait_timeout": 60},
    }


@pytest.fixture
def runner(release, aws_env, tmp_path):
    def make(**options):
        options.setdefault("template_vars", template_vars(release))
        return WorkflowRunner(tmp_path / "awx", aws_env, {"cattle_apps": {"web": release.site.definition}}, **options)

    return make


def expected_handed(result, identifier, workflow=None):
    """The artifacts of a node's ancestors, merged the way AWX merges them (chains here)."""
    workflow = workflow or load_workflow()
    merged, chain, current = {}, [], identifier
    while workflow.parent_nodes(current):
        current = workflow.parent_nodes(current)[0].identifier
        chain.insert(0, current)
    for ancestor in chain:
        merged.update(result[ancestor].artifacts)
    return merged


def assert_handed_on(result, workflow=None):
    for identifier, node in result.nodes.items():
        if node.job_template:
            assert node.handed == expected_handed(result, identifier, workflow), identifier
            assert set(node.artifacts) == PUBLISHES[node.job_template], node.explain()


# -- the harness itself (no sandbox) -----------------------------------------------------------


def test_a_jobs_extra_vars_follow_awx_precedence():
    templates = load_job_templates()
    deploy = templates["cattle deploy"]
    deploy = type(deploy)(**{**deploy.__dict__, "extra_vars": {"stage": "prod", "wait_timeout": 60, "app": "api"},
                             "ask_variables_on_launch": False})

    got = job_extra_vars(deploy, {"stage": "dev", "unasked": 1, "strategy": "blue"},
                         {"cattle_build": {"image_id": "ami-1"}, "wait_timeout": 5},
                         {"app": "web"}, {"awx_job_id": 7, "app": "awx-wins"})

    # Node data the survey names and accepts beats the template's; the rest is dropped
    # (unasked: no question; strategy: not a choice). Artifacts beat node data, workflow
    # variables beat artifacts, AWX's own variables beat everything.
    assert got == {"stage": "dev", "wait_timeout": 5, "app": "awx-wins", "cattle_build": {"image_id": "ami-1"},
                   "awx_job_id": 7}


def finish(state, identifier, status):
    """A node's job ended with `status`, publishing {identifier: status}."""
    node = state.workflow.node(identifier)
    state.ancestor_artifacts(node)
    state.record(node, NodeResult(identifier, node.job_template, status, artifacts={identifier: status}))


def test_a_failed_deploy_leads_to_status_and_only_a_failed_status_to_rollback():
    workflow = load_workflow()
    state = WorkflowState(workflow, {"app": "web"}, by_user(), 1)
    for identifier, status in (("build", "successful"), ("test-image", "successful"), ("promote-dev", "successful"),
                               ("deploy-dev", "failed")):
        assert state.next_node().identifier == identifier
        finish(state, identifier, status)
    assert state.next_node().identifier == "status-dev"
    assert state.ancestor_artifacts(workflow.node("status-dev")) == {
        "build": "successful", "test-image": "successful", "promote-dev": "successful", "deploy-dev": "failed"}
    finish(state, "status-dev", "successful")

    assert state.next_node() is None
    assert "rollback-dev" in state.not_run and "promote-staging" in state.not_run
    # AWX counts a failure its failure edge handled as handled: the workflow succeeds.
    assert state.status() == "successful"


def test_a_denied_approval_stops_before_prod_and_fails_the_workflow():
    state = WorkflowState(load_workflow(), {"app": "web"}, by_user(), 1)
    for identifier in RELEASE[:6]:
        assert state.next_node().identifier == identifier
        finish(state, identifier, "successful")
    assert state.next_node().identifier == "approve-prod"
    finish(state, "approve-prod", "failed")

    assert state.next_node() is None and "promote-prod" in state.not_run
    assert state.status() == "failed"


def test_awx_variables_name_who_launched_the_workflow():
    template = load_job_templates()["cattle promote"]
    context = JobContext(job_id=12, template=template, template_id=2, workflow_job_id=10,
                         workflow_name="cattle release", project_revision="abc")
    person = meta_vars(context, by_user("alice"))
    hook = meta_vars(context, by_webhook(ref="f" * 40))

    assert (person["awx_user_name"], person["awx_workflow_job_id"], person["awx_job_id"]) == ("alice", 10, 12)
    assert person["awx_project_revision"] == "abc" and person["tower_user_name"] == "alice"
    assert "awx_user_name" not in hook and hook["awx_workflow_job_launch_type"] == "webhook"
    # A job of a scheduled workflow: AWX names the workflow's schedule as the parent's.
    scheduled = meta_vars(context, by_schedule("nightly"))
    assert scheduled["awx_parent_job_schedule_name"] == "nightly" and "awx_schedule_name" not in scheduled


# -- against the sandbox -------------------------------------------------------------------------


@pytest.mark.sandbox
def test_the_build_hands_its_image_to_its_test_and_to_promote_as_awx_would(release, runner):
    workflow = part_of(load_workflow(), ["build", "test-image", "promote-dev"])

    result = runner(workflow=workflow).run({"app": "web"}, by_user("alice"))

    assert result.ran == ["build", "test-image", "promote-dev"] and result.status == "successful", result.explain()
    build, test, promote = result["build"], result["test-image"], result["promote-dev"]
    built = build.artifacts["cattle_build"]
    tested = test.artifacts["cattle_image_test"]
    assert test.handed == {"cattle_build": built} and "image_id" not in test.extra_vars
    assert (tested["image_id"], tested["result"]) == (built["image_id"], "passed")
    assert built["app"] == "web" and built["image_id"].startswith("ami-")
    assert built["vcs_revision"] == promote.extra_vars["awx_project_revision"]
    assert str(result.workflow_job_id) in built["run_id"] and built["by"] == "alice"
    # The node's `to` (a survey question) and the workflow's `app` reach promote, and so does
    # the build's artifact; nothing else of the build does.
    assert (promote.extra_vars["to"], promote.extra_vars["app"]) == ("dev", "web")
    assert promote.handed == {"cattle_build": built, "cattle_image_test": tested}
    assert "!unsafe 'to': !unsafe 'dev'" in (promote.private_data_dir / "env" / "extravars").read_text()
    assert promote.artifacts["cattle_promotion"]["image_id"] == built["image_id"]
    assert release.pointer("dev") == built["image_id"]


@pytest.mark.sandbox
def test_the_release_takes_a_build_through_every_stage(release, runner, aws_env):
    old = release.site.images[0]
    release.deploy(aws_env, "prod", old)

    result = runner().run({"app": "web"}, by_user("alice"))

    assert result.ran == RELEASE and result.status == "successful", result.explain()
    built = result["build"].artifacts["cattle_build"]["image_id"]
    assert_handed_on(result)
    for node in (node for node in load_workflow().nodes if node.identifier in RELEASE and node.job_template):
        got = result[node.identifier].extra_vars
        assert {key: got[key] for key in node.extra_data} == node.extra_data and got["app"] == "web", node.identifier
        assert got["awx_user_name"] == "alice" and got["awx_workflow_job_id"] == result.workflow_job_id
        # The app definitions reach the collection's playbooks from the inventory, not as extra vars.
        assert "cattle_apps" not in got
    for stage in STAGES:
        promotion = result[f"promote-{stage}"].artifacts["cattle_promotion"]
        deployment = result[f"deploy-{stage}"].artifacts["cattle_deployment"]
        assert (promotion["stage"], promotion["image_id"], promotion["changed"]) == (stage, built, True)
        assert (deployment["stage"], deployment["image_id"], deployment["result"]) == (stage, built, "deployed")
        assert deployment["needs_rollback"] is False
        assert release.pointer(stage) == built
        assert release.live(stage) == [release.fleet(built, stage)]
    assert release.standbys("dev") == release.standbys("staging") == []
    assert release.standbys("prod") == [release.fleet(old, "prod")]
    assert release.site.lock() is None


def fail_deploys_after_the_switch(release):
    """Deploys go canary, and stop after their first step: the alarm is in ALARM."""
    release.site.alarm("web-5xx", state="ALARM")
    return template_vars(release, strategy="canary", canary_steps=[50, 100], canary_pause=5,
                         canary_alarms=["web-5xx"])


class BlueFailsAfterTheFirstStep:
    """Makes blue unhealthy once a canary step gave the new fleet traffic: no way back."""

    def __init__(self, release, stage, blue):
        self.release, self.stage, self.blue = release, stage, blue
        self.known = set(release.weights(stage))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self):
        while not self.stop.wait(0.05):
            if any(weight for name, weight in self.release.weights(self.stage).items() if name not in self.known):
                self.release.site.aws.control.set_target_health(self.blue, state="unhealthy")
                return

    def start(self):
        self.thread.start()

    def recover(self):
        """Blue is healthy again (before the rollback job)."""
        self.stop.set()
        self.thread.join(10)
        self.release.site.aws.control.clear_target_health(self.blue)
        self.writes_before_rollback = len(self.release.writes(self.stage))


@pytest.mark.sandbox
def test_a_deploy_that_cannot_restore_traffic_is_rolled_back_to_blue(release, runner, aws_env):
    older, blue_image = release.site.images[1], release.site.images[0]
    release.deploy(aws_env, "dev", older)
    release.deploy(aws_env, "dev", blue_image)
    blue, decoy = release.fleet(blue_image, "dev"), release.fleet(older, "dev")
    watcher = BlueFailsAfterTheFirstStep(release, "dev", blue)
    first_write = len(release.writes("dev"))

    result = runner(template_vars=fail_deploys_after_the_switch(release),
                    before_job={"deploy-dev": watcher.start, "rollback-dev": watcher.recover}).run({"app": "web"})

    assert result.ran == ["build", "test-image", "promote-dev", "deploy-dev", "status-dev", "rollback-dev"], \
        result.explain()
    assert [result[node].status for node in result.ran] == [
        "successful", "successful", "successful", "failed", "failed", "successful"], result.explain()
    built = result["build"].artifacts["cattle_build"]["image_id"]
    green = release.fleet(built, "dev")
    deployment = result["deploy-dev"].artifacts["cattle_deployment"]
    assert (deployment["result"], deployment["switch_began"], deployment["traffic_restored"]) == ("failed", True, False)
    assert deployment["needs_rollback"] is True
    assert deployment["blue_fleet_ids"][0] == release.fleet_id(blue_image, "dev")
    assert_handed_on(result)
    assert result["rollback-dev"].handed["cattle_deployment"] == deployment
    assert result["rollback-dev"].extra_vars["stage"] == "dev"
    # The rollback moves all traffic to blue at its first write: none to the failed green, none
    # to the older standby (the newest standby before this deploy), then and ever after.
    writes = release.writes("dev")[first_write:]
    by_rollback = release.writes("dev")[watcher.writes_before_rollback:]
    assert by_rollback and by_rollback[0] == {**{name: 0 for name in by_rollback[0]}, blue: 100}, writes
    assert all(write[blue] == 100 for write in by_rollback), writes
    assert all(write.get(decoy, 0) == 0 for write in writes), writes
    assert not any(write.get(green, 0) == 100 for write in writes), writes
    assert release.live("dev") == [blue]
    assert release.site.lock() is None
    assert result.status == "successful"


@pytest.mark.sandbox
def test_a_deploy_that_restored_traffic_itself_stops_at_status(release, runner, aws_env):
    blue_image = release.site.images[0]
    release.deploy(aws_env, "dev", blue_image)
    blue = release.fleet(blue_image, "dev")
    push = by_webhook(ref="c0ffee" + "0" * 34)

    result = runner(template_vars=fail_deploys_after_the_switch(release), workflow_app="web").run({}, push)

    assert result.ran == ["build", "test-image", "promote-dev", "deploy-dev", "status-dev"], result.explain()
    assert [result[node].status for node in result.ran] == [
        "successful", "successful", "successful", "failed", "successful"]
    deployment = result["deploy-dev"].artifacts["cattle_deployment"]
    assert (deployment["result"], deployment["traffic_restored"], deployment["needs_rollback"]) == ("failed", True, False)
    assert result["status-dev"].artifacts["cattle_status"]["needs_rollback"] is False
    assert_handed_on(result)
    assert release.live("dev") == [blue]
    # A push: the webhook's variables reach every job, and no person is named.
    for node in result.nodes.values():
        if node.job_template:
            assert node.extra_vars["awx_webhook_event_ref"] == "c0ffee" + "0" * 34
            assert "awx_user_name" not in node.extra_vars
    assert "c0ffee" in result["promote-dev"].artifacts["cattle_promotion"]["promoted_by"]
    assert release.site.lock() is None


def test_part_of_keeps_only_the_edges_between_the_kept_nodes():
    part = part_of(load_workflow(), ["deploy-dev", "status-dev"])

    assert isinstance(part, Workflow)
    assert [(node.identifier, node.success, node.failure) for node in part.nodes] == [
        ("deploy-dev", (), ("status-dev",)), ("status-dev", (), ())]
