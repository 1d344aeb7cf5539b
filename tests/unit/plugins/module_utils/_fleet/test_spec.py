"""Fleet identity, names, tags and request bodies; the health gate's and drain's decisions."""

import base64
import copy
from datetime import datetime, timezone

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import wait as fleet_wait

IMAGE = {
    "ImageId": "ami-0123456789abcdef0",
    "RootDeviceName": "/dev/xvda",
    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
}
WEB = {
    "region": "eu-west-1",
    "subnets": ["subnet-0fedcba9876543210", "subnet-0123456789abcdef0"],
    "security_groups": ["sg-0123456789abcdef0"],
    "instance_type": "t3.small",
    "instance_profile": "web-instance",
    "user_data": "#!/bin/sh\necho hi\n",
    "capacity": {"min": 2, "max": 6, "desired": 3},
    "load_balancer": {"name": "web-alb", "listener_port": 443},
    "tags": {"team": "web"},
}


def stage_def(stage="prod", **changes):
    definition = copy.deepcopy(WEB)
    definition.update(changes)
    return app_definition.stage_definition(app_definition.validate_definition(definition, "web"), stage)


# ---------------------------------------------------------------------------------------
# identity


def test_the_fleet_id_is_stable_and_twelve_hex_digits():
    fleet = fleet_spec.fleet_id(stage_def(), IMAGE["ImageId"])
    assert fleet == fleet_spec.fleet_id(stage_def(), IMAGE["ImageId"])
    assert len(fleet) == 12 and set(fleet) <= set("0123456789abcdef")


def test_list_order_does_not_change_the_identity():
    reordered = stage_def(subnets=list(reversed(WEB["subnets"])))
    assert fleet_spec.fleet_id(reordered, "ami-0123456789abcdef0") == fleet_spec.fleet_id(stage_def(), "ami-0123456789abcdef0")


@pytest.mark.parametrize(
    "changes",
    [
        {"instance_type": "t3.large"},
        {"instance_profile": "other"},
        {"user_data": "#!/bin/sh\n"},
        {"security_groups": ["sg-0fedcba9876543210"]},
        {"subnets": ["subnet-0123456789abcdef0"]},
        {"root_volume": {"size": 20}},
        {"port": 8080},
        {"health_check": {"path": "/healthz"}},
    ],
)
def test_every_launch_input_changes_the_identity(changes):
    assert fleet_spec.fleet_id(stage_def(**changes), IMAGE["ImageId"]) != fleet_spec.fleet_id(stage_def(), IMAGE["ImageId"])


@pytest.mark.parametrize(
    "changes",
    [
        {"capacity": {"min": 1, "max": 10, "desired": 5}},
        {"scaling_policies": [{"name": "cpu", "metric": "cpu", "target": 40}]},
        {"grace_period": 30},
        {"deregistration_delay": 10},
        {"tags": {"team": "other"}},
    ],
)
def test_settings_do_not_change_the_identity(changes):
    assert fleet_spec.fleet_id(stage_def(**changes), IMAGE["ImageId"]) == fleet_spec.fleet_id(stage_def(), IMAGE["ImageId"])


def test_the_image_changes_the_identity():
    assert fleet_spec.fleet_id(stage_def(), "ami-0123456789abcdef1") != fleet_spec.fleet_id(stage_def(), IMAGE["ImageId"])


def test_stages_with_the_same_inputs_share_an_id_but_not_names():
    dev, prod = stage_def("dev"), stage_def("prod")
    fleet = fleet_spec.fleet_id(dev, IMAGE["ImageId"])
    assert fleet == fleet_spec.fleet_id(prod, IMAGE["ImageId"])
    assert fleet_spec.names("web", "dev", fleet)["asg"] != fleet_spec.names("web", "prod", fleet)["asg"]


def test_names_fit_aws_limits():
    fleet = "0123456789ab"
    names = fleet_spec.names("a" * 20, "staging", fleet)
    assert names["asg"] == names["launch_template"] == "a" * 20 + "-staging-" + fleet
    assert len(names["target_group"]) == 32
    assert fleet_spec.names("web", "prod", fleet)["target_group"] == "web-prod-" + fleet


def test_adopted_ids_are_stable_per_group():
    assert fleet_spec.adopted_fleet_id("web-production") == fleet_spec.adopted_fleet_id("web-production")
    assert fleet_spec.adopted_fleet_id("web-production") != fleet_spec.adopted_fleet_id("web-staging")


# ---------------------------------------------------------------------------------------
# request bodies


def test_launch_template_data_is_hardened_and_tagged():
    definition = stage_def()
    tags = fleet_spec.resource_tags(definition, "0123456789ab", IMAGE["ImageId"])
    tags[fleet_spec.TAG_FLEET_STATE] = "active"
    data = fleet_spec.launch_template_data(definition, IMAGE, tags)

    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert "KeyName" not in data
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {
        "Encrypted": True, "DeleteOnTermination": True, "VolumeType": "gp3", "VolumeSize": 8}}]
    assert data["IamInstanceProfile"] == {"Name": "web-instance"}
    assert base64.b64decode(data["UserData"]).decode() == "#!/bin/sh\necho hi\n"
    instance_tags = {t["Key"]: t["Value"] for t in data["TagSpecifications"][0]["Tags"]}
    assert instance_tags == {
        "team": "web", "cattle:managed-by": "cattle.immutable", "cattle:app": "web", "cattle:stage": "prod",
        "cattle:fleet": "0123456789ab", "cattle:image-id": IMAGE["ImageId"],
    }


def test_launch_template_takes_profile_arns_and_kms_keys():
    arn = "arn:aws:iam::123456789012:instance-profile/web"
    definition = stage_def(instance_profile=arn, user_data=None,
                           root_volume={"size": 30, "kms_key_id": "alias/ebs"})
    data = fleet_spec.launch_template_data(definition, IMAGE, {})
    assert data["IamInstanceProfile"] == {"Arn": arn}
    assert "UserData" not in data
    assert data["BlockDeviceMappings"][0]["Ebs"]["KmsKeyId"] == "alias/ebs"
    assert data["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 30


def test_group_request_uses_elb_health_and_keeps_lifecycle_tags_off_instances():
    definition = stage_def()
    tags = {"cattle:app": "web", fleet_spec.TAG_FLEET_STATE: "active"}
    request = fleet_spec.asg_request(definition, "web-prod-x", {"LaunchTemplateId": "lt-1", "Version": "1"},
                                     "arn:tg", {"min": 2, "max": 6, "desired": 4}, tags)
    assert (request["HealthCheckType"], request["HealthCheckGracePeriod"]) == ("ELB", 300)
    assert request["VPCZoneIdentifier"] == "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
    assert request["TargetGroupARNs"] == ["arn:tg"]
    propagated = {tag["Key"]: tag["PropagateAtLaunch"] for tag in request["Tags"]}
    assert propagated == {"cattle:app": True, fleet_spec.TAG_FLEET_STATE: False}


def test_target_group_request_carries_the_health_check():
    definition = stage_def(port=8080, health_check={"path": "/healthz", "interval": 10, "matcher": "200-299"})
    request = fleet_spec.target_group_request(definition, "web-prod-x", "vpc-0123456789abcdef0", {"a": "b"})
    assert (request["Port"], request["HealthCheckPath"], request["HealthCheckIntervalSeconds"]) == (8080, "/healthz", 10)
    assert request["Matcher"] == {"HttpCode": "200-299"} and request["Tags"] == [{"Key": "a", "Value": "b"}]


def test_request_count_policies_name_the_load_balancer_and_target_group():
    lb = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web-alb/50dc6c495c0c9188"
    tg = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-prod-x/943f017f100becff"
    label = fleet_spec.request_count_label(lb, tg)
    assert label == "app/web-alb/50dc6c495c0c9188/targetgroup/web-prod-x/943f017f100becff"
    policy = {"name": "rps", "metric": "request_count", "target": 100.0, "disable_scale_in": False, "warmup": None}
    request = fleet_spec.scaling_policy_request("web-prod-x", policy, label)
    metric = request["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]
    assert metric == {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}
    described = dict(request, TargetTrackingConfiguration=dict(request["TargetTrackingConfiguration"]))
    assert fleet_spec.policy_matches(described, request)
    described["TargetTrackingConfiguration"]["TargetValue"] = 50.0
    assert not fleet_spec.policy_matches(described, request)


def test_capacity_is_pinned_or_within_the_definition():
    definition = stage_def()
    assert fleet_spec.capacity_for(definition, 4) == {"min": 2, "max": 6, "desired": 4}
    assert fleet_spec.capacity_for(definition, 4, pinned=True) == {"min": 4, "max": 4, "desired": 4}
    assert [fleet_spec.clamp_desired(definition, n) for n in (0, 1, 4, 9)] == [2, 2, 4, 6]


# ---------------------------------------------------------------------------------------
# health gate and drain decisions


def group_with(*states):
    return {"Instances": [{"InstanceId": "i-{0}".format(n), "LifecycleState": s} for n, s in enumerate(states)]}


def test_a_fleet_is_ready_only_when_desired_in_service_instances_are_healthy_targets():
    group = group_with("InService", "InService", "Pending")
    targets = [{"id": "i-0", "state": "healthy"}, {"id": "i-1", "state": "initial", "reason": "Elb.InitialHealthChecking"},
               {"id": "i-2", "state": "healthy"}]
    snapshot = fleet_wait.health_snapshot(group, targets, 2)
    assert snapshot["healthy"] == ["i-0"] and not snapshot["ready"]
    assert fleet_wait.not_healthy_reasons(snapshot) == ["i-1: initial (Elb.InitialHealthChecking)", "i-2: healthy"]
    targets[1]["state"] = "healthy"
    assert fleet_wait.health_snapshot(group, targets, 2)["ready"]


def test_a_healthy_target_that_is_not_in_the_group_does_not_count():
    snapshot = fleet_wait.health_snapshot(group_with("InService"), [{"id": "i-9", "state": "healthy"}], 1)
    assert not snapshot["ready"]
    assert fleet_wait.not_healthy_reasons(snapshot) == ["i-0: not registered in the target group yet"]


def activity(status, message, when=None):
    return {"Description": "Launching a new EC2 instance", "StatusCode": status, "StatusMessage": message,
            "StartTime": when or datetime.now(timezone.utc)}


def test_launch_failures_count_only_while_the_newest_launch_failed():
    assert fleet_wait.launch_failures([activity("Failed", "no capacity"), activity("Failed", "no capacity"),
                                       activity("Failed", "bad image")]) == ["no capacity", "bad image"]
    assert fleet_wait.launch_failures([activity("Successful", None), activity("Failed", "bad image")]) == []
    assert fleet_wait.launch_failures([]) == []


def test_waiting_backs_off_and_times_out_with_the_reasons(clock):
    poller = fleet_wait.fleet_waiter(10, sleep=clock.sleep, clock=clock)
    calls = {
        "group": lambda: group_with("InService"),
        "targets": lambda: [{"id": "i-0", "state": "unhealthy", "reason": "Target.FailedHealthChecks"}],
        "activities": lambda: [],
    }
    with pytest.raises(fleet_wait.WaitTimeout) as raised:
        fleet_wait.wait_healthy(calls, "web-prod-x", 1, 10, fleet_wait.Progress(None, "x", clock), poller)
    assert "0/1 instances healthy after 10 s (wait_timeout 10); i-0: unhealthy (Target.FailedHealthChecks)" in str(raised.value)
    # Backoff from 0.25 s to at most 5 s: few rounds within ELB's describe budget.
    assert poller.rounds < 12 and poller.delay == fleet_wait.MAX_DELAY


def test_failed_launches_stop_the_wait_at_once(clock):
    calls = {
        "group": group_with,
        "targets": lambda: [],
        "activities": lambda: [activity("Failed", "The image id does not exist")],
    }
    with pytest.raises(fleet_wait.LaunchFailed) as raised:
        fleet_wait.wait_healthy(calls, "web-prod-x", 2, 600, fleet_wait.Progress(None, "x", clock),
                                fleet_wait.fleet_waiter(600, sleep=clock.sleep, clock=clock))
    assert str(raised.value) == "fleet web-prod-x: launches failed (0 of 2 instances running): The image id does not exist"
    assert clock.now == 0


def test_the_drain_waits_for_targets_then_instances(tmp_path, clock):
    rounds = iter([
        ([{"id": "i-0", "state": "draining"}], None),
        ([], group_with("Terminating")),
        ([], group_with()),
    ])
    state = {}

    def targets():
        state["targets"], state["group"] = next(rounds)
        return state["targets"]

    progress_file = tmp_path / "progress"
    fleet_wait.wait_drained({"targets": targets, "group": lambda: state["group"]}, "web-prod-x", 30, 60,
                            fleet_wait.Progress(str(progress_file), "web-prod-x", clock),
                            fleet_wait.fleet_waiter(60, sleep=clock.sleep, clock=clock))
    lines = progress_file.read_text().splitlines()
    assert lines[0].startswith("web-prod-x: draining 1 target(s) (deregistration delay 30 s)")
    assert lines[1].startswith("web-prod-x: waiting for 1 instance(s) to terminate")
    assert lines[-1].startswith("web-prod-x: drained")


def test_progress_repeats_a_line_only_as_a_heartbeat(tmp_path, clock):
    path = tmp_path / "progress"
    progress = fleet_wait.Progress(str(path), "f", clock)
    progress.say("healthy 0/2")
    progress.say("healthy 0/2")
    clock.now = fleet_wait.HEARTBEAT_SECONDS
    progress.say("healthy 0/2")
    progress.say("healthy 1/2")
    assert path.read_text().splitlines() == ["f: healthy 0/2", "f: healthy 0/2", "f: healthy 1/2"]


def replacement(instance_id):
    return {"Description": f"Terminating EC2 instance: {instance_id}", "StatusCode": "Successful",
            "Cause": "At 2026-12-07T02:00:00Z an instance was taken out of service in response to an ELB system "
                     "health check failure.", "StartTime": datetime.now(timezone.utc)}


def test_instances_replaced_for_failing_the_health_check_end_the_wait_with_the_count(clock):
    rounds = iter([["i-1", "i-2"], ["i-2", "i-3"], ["i-3", "i-4"]])
    activity_calls = []

    def group():
        ids = next(rounds, ["i-3", "i-4"])
        return {"Instances": [{"InstanceId": iid, "LifecycleState": "InService"} for iid in ids]}

    def activities():
        activity_calls.append(clock.now)
        return [replacement(iid) for iid in ("i-2", "i-1")][-len(activity_calls):]

    calls = {"group": group, "activities": activities,
             "targets": lambda: [{"id": "i-3", "state": "unhealthy", "reason": "Target.ResponseCodeMismatch"},
                                 {"id": "i-4", "state": "healthy"}]}
    with pytest.raises(fleet_wait.HealthReplaced) as raised:
        fleet_wait.wait_healthy(calls, "web-prod-x", 2, 600, fleet_wait.Progress(None, "x", clock),
                                fleet_wait.fleet_waiter(600, sleep=clock.sleep, clock=clock))
    assert str(raised.value) == (
        "fleet web-prod-x: instances replaced 2 times after failing the load balancer's health check "
        "(HealthCheckType ELB); i-3: unhealthy (Target.ResponseCodeMismatch)")
    assert len(activity_calls) == 2  # read only when an instance had left the group


def test_a_wait_whose_instances_stay_makes_no_activity_call(clock):
    healthy_after = iter([[], [], [{"id": "i-0", "state": "healthy"}]])
    calls = {"group": lambda: group_with("InService"), "targets": lambda: next(healthy_after),
             "activities": lambda: pytest.fail("no instance left the group: no reason to read activities")}
    snapshot = fleet_wait.wait_healthy(calls, "web-prod-x", 1, 600, fleet_wait.Progress(None, "x", clock),
                                       fleet_wait.fleet_waiter(600, sleep=clock.sleep, clock=clock))
    assert snapshot["ready"]


def test_what_the_image_serves_must_agree_with_the_health_check():
    from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import image_serves_conflicts

    image = {"Tags": [{"Key": "cattle:app-port", "Value": "8080"}, {"Key": "cattle:health-path", "Value": "/health"}]}

    def stage(port, check_port, path):
        return {"port": port, "health_check": {"port": check_port, "path": path}}

    assert image_serves_conflicts(image, stage(8080, "traffic-port", "/health")) == []
    assert image_serves_conflicts(image, stage(80, "8080", "/health")) == []
    assert image_serves_conflicts(image, stage(80, "traffic-port", "/healthz")) == [
        "the health check goes to port 80, the image's app listens on 8080",
        "the health check asks /healthz, the image's app answers health at /health"]
    assert image_serves_conflicts({"Tags": []}, stage(80, "traffic-port", "/x")) == []
