"""cattle.immutable.fleet through real ansible-playbook runs against the sandbox."""

import time

import pytest

from fixtures.ansible import REPO_ROOT, run_playbook
from fixtures.aws import register_image
from fixtures.deploy_site import AppFront, definition, forward_to
from fixtures.fleet_runs import run_fleet

pytestmark = pytest.mark.sandbox

PROGRESS_PREFIX = "fleet: "
LEGACY_GROUP = "web-legacy"
# What a fleet run may write; reads are free to repeat.
WRITES = (
    "ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate", "ec2:CreateTags",
    "autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup",
    "autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses", "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteTags", "autoscaling:PutScalingPolicy", "autoscaling:DeletePolicy",
    "autoscaling:AttachLoadBalancerTargetGroups",
    "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyRule", "elasticloadbalancing:AddTags",
)


class App(AppFront):
    """A web app in the sandbox: network, security group, ALB, listener forwarding to a legacy group."""

    def __init__(self, boto3_client, network):
        super().__init__(boto3_client, network)
        self.legacy = self.target_group(LEGACY_GROUP)
        self.listener = self.http_listener(forward_to(self.legacy))
        self.definition = definition(network, self.security_group, instance_profile="web-instance",
                                     deregistration_delay=1, tags={"team": "web"})
        self.image = register_image(self.ec2, "web-0000000000000001", {"cattle:app": "web"})

    def set_weights(self, weights):
        groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]
        self.elbv2.modify_listener(
            ListenerArn=self.listener, DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}])

    def group(self, name):
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        return groups[0] if groups else None

    def groups(self):
        return self.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]

    def target_groups(self):
        return {group["TargetGroupName"]: group["TargetGroupArn"]
                for group in self.elbv2.describe_target_groups()["TargetGroups"]}

    def launch_templates(self):
        return [t["LaunchTemplateName"] for t in self.ec2.describe_launch_templates()["LaunchTemplates"]]

    def resources(self):
        """Everything a fleet run could leave behind, to compare before and after."""
        return (
            sorted((g["AutoScalingGroupName"], g["DesiredCapacity"], g["MinSize"], g["MaxSize"]) for g in self.groups()),
            sorted(self.target_groups()),
            sorted(self.launch_templates()),
            sorted(self.weights().items()),
        )


@pytest.fixture
def app(aws_network, boto3_client):
    # The definition's instance profile: a new fleet's references must exist.
    boto3_client("iam").create_instance_profile(InstanceProfileName="web-instance")
    return App(boto3_client, aws_network)


def fleet(playbook, web, **args):
    run = run_fleet(playbook, web.definition, **args)
    assert not run.failed, run.explain()
    return run.result("fleet")


def refused(playbook, web, **args):
    run = run_fleet(playbook, web.definition, **args)
    assert run.failed, run.explain()
    return run.result("fleet")


def writes_in(counters):
    return {call: count for call, count in counters.items() if call in WRITES}


# ---------------------------------------------------------------------------------------
# present


def test_present_creates_a_fleet_at_weight_zero_and_waits_for_every_instance(playbook, app):
    result = fleet(playbook, app, image_id=app.image)

    assert result["changed"] is True
    name = result["fleet_name"]
    assert name == "web-prod-" + result["fleet_id"] and len(result["fleet_id"]) == 12
    group = app.group(name)
    assert (group["DesiredCapacity"], group["MinSize"], group["MaxSize"]) == (2, 1, 4)
    assert (group["HealthCheckType"], group["HealthCheckGracePeriod"]) == ("ELB", 60)
    assert result["desired_source"] == "definition"
    tg_arn = app.target_groups()[name]
    assert group["TargetGroupARNs"] == [tg_arn]
    # In the forward action at weight 0: health-checked, and traffic is where it was.
    assert app.weights() == {app.legacy: 1, tg_arn: 0}
    instances = sorted(i["InstanceId"] for i in group["Instances"])
    assert sorted(result["healthy_instances"]) == instances and len(instances) == 2
    assert app.health(tg_arn) == {instance: "healthy" for instance in instances}


def test_the_launch_template_requires_imdsv2_and_encrypts_volumes(playbook, app, ec2):
    result = fleet(playbook, app, image_id=app.image)

    template = ec2.describe_launch_template_versions(LaunchTemplateName=result["fleet_name"])["LaunchTemplateVersions"][0]
    data = template["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["ImageId"] == app.image and data["InstanceType"] == "t3.micro"
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert "KeyName" not in data
    assert data["IamInstanceProfile"] == {"Name": "web-instance"}
    instance_tags = {t["Key"]: t["Value"] for spec in data["TagSpecifications"] if spec["ResourceType"] == "instance"
                     for t in spec["Tags"]}
    assert instance_tags["cattle:fleet"] == result["fleet_id"] and instance_tags["team"] == "web"


def test_a_second_present_changes_nothing(playbook, app, aws):
    first = fleet(playbook, app, image_id=app.image)
    aws.control.reset_counters()

    second = fleet(playbook, app, image_id=app.image)

    assert second["changed"] is False and second["actions"] == []
    assert second["fleet_id"] == first["fleet_id"]
    assert writes_in(aws.control.counters()) == {}


def test_check_mode_reports_the_fleet_it_would_create_and_changes_nothing(playbook, app, aws):
    before = app.resources()
    aws.control.reset_counters()

    planned = fleet(playbook, app, image_id=app.image, check=True, diff=True)

    assert planned["changed"] is True
    assert [action.split(" ")[0:2] for action in planned["actions"]] == [
        ["create", "launch"], ["create", "target"], ["add", "target"], ["create", "Auto"]]
    assert app.resources() == before and writes_in(aws.control.counters()) == {}
    created = fleet(playbook, app, image_id=app.image)
    assert created["fleet_id"] == planned["fleet_id"]


def test_progress_is_printed_while_waiting(playbook, app):
    run = run_fleet(playbook, app.definition, image_id=app.image)

    assert not run.failed, run.explain()
    name = run.result("fleet")["fleet_name"]
    assert f"{PROGRESS_PREFIX}{name}: healthy 2/2" in "\n".join(run.progress), run.progress


def test_desired_capacity_comes_from_the_live_fleet(playbook, app, ec2):
    blue = fleet(playbook, app, image_id=app.image, desired_capacity=3)
    blue_group = app.target_groups()[blue["fleet_name"]]
    app.set_weights({app.legacy: 0, blue_group: 1})
    newer = register_image(ec2, "web-0000000000000002", {"cattle:app": "web"})

    green = fleet(playbook, app, image_id=newer)

    assert (green["desired_capacity"], green["desired_source"]) == (3, "live_fleet")
    assert app.group(green["fleet_name"])["DesiredCapacity"] == 3
    assert len(green["healthy_instances"]) == 3
    # Traffic stayed with blue; green waits at weight 0.
    assert app.weights() == {app.legacy: 0, blue_group: 1, app.target_groups()[green["fleet_name"]]: 0}


def test_a_new_launch_input_makes_a_new_fleet_and_a_new_capacity_does_not(playbook, app):
    created = fleet(playbook, app, image_id=app.image)

    app.definition["instance_type"] = "t3.small"
    bigger = fleet(playbook, app, image_id=app.image, check=True)
    app.definition["instance_type"] = "t3.micro"
    app.definition["capacity"] = {"min": 1, "max": 6, "desired": 2}
    resized = fleet(playbook, app, image_id=app.image, check=True)

    assert bigger["fleet_id"] != created["fleet_id"] and bigger["previous"] == {"exists": False}
    assert bigger["actions"][0].startswith("create launch template web-prod-" + bigger["fleet_id"])
    # Capacity is a setting of the fleet, changed in place.
    assert resized["fleet_id"] == created["fleet_id"]
    assert resized["actions"] == [f"update {created['fleet_name']}: MaxSize 6"]


def test_failed_launches_fail_at_once_with_the_scaling_activities_reason(playbook, app, aws):
    name = fleet(playbook, app, image_id=app.image, check=True)["fleet_name"]
    reason = "The image id '[ami-0123456789abcdef0]' does not exist. Launching EC2 instance failed."
    aws.control.fail_asg_launches(name, reason=reason)

    result = refused(playbook, app, image_id=app.image, wait_timeout=600)

    assert result["failure"] == "launch"
    assert reason in result["msg"] and name in result["msg"]
    assert "Traffic unchanged" in result["msg"]
    assert app.weights()[app.legacy] == 1


def test_unhealthy_instances_time_out_with_the_reason_and_traffic_unchanged(playbook, app, aws):
    name = fleet(playbook, app, image_id=app.image, check=True)["fleet_name"]
    aws.control.set_target_health(name, state="unhealthy")

    result = refused(playbook, app, image_id=app.image, wait_timeout=3)

    assert result["failure"] == "timeout"
    assert "0/2 instances healthy after" in result["msg"] and "wait_timeout 3" in result["msg"]
    assert "unhealthy (Target.FailedHealthChecks: Health checks failed)" in result["msg"]
    green = app.target_groups()[name]
    # The failure says which fleet it left, for a playbook to clean up without another lookup.
    assert (result["fleet_name"], result["target_group"]["arn"]) == (name, green)
    assert result["fleet_id"] == name.rsplit("-", 1)[1] and result["previous"] == {"exists": False}
    assert app.weights() == {app.legacy: 1, green: 0}
    # No write ever gave the unhealthy fleet traffic.
    assert [write["weights"].get(green) for write in aws.control.listener_writes()] == [None, 0]


def test_the_deployment_tag_names_the_run_that_created_the_fleet(playbook, app):
    created = fleet(playbook, app, image_id=app.image, deployment_id="run-1")

    again = fleet(playbook, app, image_id=app.image, deployment_id="run-2")

    assert again["changed"] is False, again["actions"]
    tags = {t["Key"]: t["Value"] for t in app.group(created["fleet_name"])["Tags"]}
    assert tags["cattle:deployment"] == "run-1"


# ---------------------------------------------------------------------------------------
# disabled


def test_disabled_pins_capacity_suspends_scaling_and_records_the_rollback_window(playbook, app):
    created = fleet(playbook, app, image_id=app.image, desired_capacity=3)
    name, fleet_id = created["fleet_name"], created["fleet_id"]

    disabled = fleet(playbook, app, fleet_id=fleet_id, state="disabled", rollback_window=1800, diff=True)

    group = app.group(name)
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (3, 3, 3)
    assert sorted(p["ProcessName"] for p in group["SuspendedProcesses"]) == ["AlarmNotification", "ScheduledActions"]
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["cattle:fleet-state"] == "disabled"
    assert tags["cattle:rollback-until"] > tags["cattle:disabled-at"]
    # Still in the forward action at weight 0, targets registered and health-checked.
    tg_arn = app.target_groups()[name]
    assert app.weights()[tg_arn] == 0
    assert set(app.health(tg_arn).values()) == {"healthy"}
    assert disabled["previous"]["capacity"] == {"min": 1, "max": 4, "desired": 3}
    assert (disabled["diff"]["before"]["fleet_state"], disabled["diff"]["after"]["fleet_state"]) == ("active", "disabled")
    assert disabled["diff"]["after"]["capacity"] == {"min": 3, "max": 3, "desired": 3}
    assert fleet(playbook, app, fleet_id=fleet_id, state="disabled")["changed"] is False


def test_present_enables_a_disabled_fleet_again(playbook, app):
    created = fleet(playbook, app, image_id=app.image)
    fleet(playbook, app, fleet_id=created["fleet_id"], state="disabled")

    enabled = fleet(playbook, app, fleet_id=created["fleet_id"])

    group = app.group(created["fleet_name"])
    assert enabled["changed"] is True and enabled["previous"]["state"] == "disabled"
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 4, 2)
    assert group["SuspendedProcesses"] == []
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["cattle:fleet-state"] == "active" and "cattle:rollback-until" not in tags


def test_disabling_a_fleet_that_serves_traffic_is_refused(playbook, app):
    created = fleet(playbook, app, image_id=app.image)
    app.set_weights({app.legacy: 1, app.target_groups()[created["fleet_name"]]: 1})
    before = app.resources()

    result = refused(playbook, app, fleet_id=created["fleet_id"], state="disabled")

    assert "serves traffic (weight 1" in result["msg"] and "nothing was changed" in result["msg"]
    assert app.resources() == before


# ---------------------------------------------------------------------------------------
# absent


def test_absent_drains_before_leaving_the_listener_then_deletes_everything(playbook, app, aws, autoscaling):
    created = fleet(playbook, app, image_id=app.image)
    name, tg_arn = created["fleet_name"], app.target_groups()[created["fleet_name"]]
    app.elbv2.modify_target_group_attributes(
        TargetGroupArn=tg_arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
    aws.control.clear_target_health()
    writes_before = len(aws.control.listener_writes())

    run = run_fleet(playbook, app.definition, fleet_id=created["fleet_id"], state="absent")

    assert not run.failed, run.explain()
    result = run.result("fleet")
    assert [action.split(" ")[0] for action in result["actions"]] == ["scale", "remove", "delete", "delete", "delete"]
    assert app.group(name) is None and name not in app.target_groups() and name not in app.launch_templates()
    assert app.weights() == {app.legacy: 1}
    # The listener let go of the group only after its targets had drained (2 s after the scale-in).
    [removal] = aws.control.listener_writes()[writes_before:]
    terminations = [a for a in autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
                    if a["Description"].startswith("Terminating")]
    scaled_in = max(a["StartTime"] for a in terminations).timestamp()
    assert removal["time"] - scaled_in >= 2, (removal["time"], scaled_in)
    assert any("draining" in line for line in run.progress), run.progress
    assert fleet(playbook, app, fleet_id=created["fleet_id"], state="absent")["changed"] is False


def test_absent_in_check_mode_lists_the_steps_and_changes_nothing(playbook, app, aws):
    created = fleet(playbook, app, image_id=app.image)
    before = app.resources()
    aws.control.reset_counters()

    planned = fleet(playbook, app, fleet_id=created["fleet_id"], state="absent", check=True)

    name = created["fleet_name"]
    assert planned["changed"] is True and planned["actions"] == [
        f"scale {name} to 0 (still in the listener at weight 0 while it drains)",
        f"remove target group {name} from the default action of listener {app.listener}",
        f"delete Auto Scaling group {name}",
        f"delete target group {name}",
        f"delete launch template {name}",
    ]
    assert app.resources() == before and writes_in(aws.control.counters()) == {}


def test_absent_waits_until_aws_has_deleted_the_group_then_deletes_its_target_group_and_template(playbook, app, aws):
    created = fleet(playbook, app, image_id=app.image)
    name = created["fleet_name"]
    aws.control.set_fidelity(asg_delete_min_seconds=1.5, asg_delete_max_seconds=1.5)
    aws.control.reset_counters()

    run = run_fleet(playbook, app.definition, fleet_id=created["fleet_id"], state="absent")

    assert not run.failed, run.explain()
    counters = aws.control.counters()
    deletion = run.result("fleet")["deletion"]
    assert deletion["auto_scaling_group"] == "deleted" and deletion["waited_seconds"] >= 1.5, deletion
    assert (deletion["target_group"], deletion["launch_template"]) == ("deleted", "deleted")
    assert any(f"{name}: Delete in progress" in line for line in run.progress), run.progress
    assert app.group(name) is None and name not in app.target_groups() and name not in app.launch_templates()
    assert counters["autoscaling:DeleteAutoScalingGroup"] == 1
    # The stage's groups read once, then the deletion looked at 0.5, 1.25 and 2.4 s after the call.
    assert counters["autoscaling:DescribeAutoScalingGroups"] <= 4, counters


def test_a_group_already_delete_in_progress_is_waited_for_and_not_deleted_again(playbook, app, aws, autoscaling):
    created = fleet(playbook, app, image_id=app.image)
    name = created["fleet_name"]
    aws.control.set_fidelity(asg_delete_min_seconds=60, asg_delete_max_seconds=60)
    asked = time.monotonic()
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    # Gone 12 s from now: long enough for the run to start and find it being deleted.
    until_gone = time.monotonic() - asked + 12
    aws.control.set_fidelity(asg_delete_min_seconds=until_gone, asg_delete_max_seconds=until_gone)
    aws.control.reset_counters()

    finished = fleet(playbook, app, fleet_id=created["fleet_id"], state="absent")

    counters = aws.control.counters()
    assert finished["deletion"]["auto_scaling_group"] == "was being deleted", finished["deletion"]
    assert finished["deletion"]["waited_seconds"] > 0
    assert finished["actions"][1:] == [f"wait for Auto Scaling group {name}, already being deleted",
                                       f"delete target group {name}", f"delete launch template {name}"], finished["actions"]
    assert "autoscaling:DeleteAutoScalingGroup" not in counters and "autoscaling:UpdateAutoScalingGroup" not in counters
    assert app.group(name) is None and name not in app.target_groups() and name not in app.launch_templates()


def test_absent_cut_short_by_its_timeout_keeps_target_group_and_template_for_the_next_run(playbook, app, aws):
    created = fleet(playbook, app, image_id=app.image)
    name = created["fleet_name"]
    aws.control.set_fidelity(asg_delete_min_seconds=60, asg_delete_max_seconds=60)

    cut_short = run_fleet(playbook, app.definition, fleet_id=created["fleet_id"], state="absent", wait_timeout=2)

    assert cut_short.failed
    message = cut_short.result("fleet")["msg"]
    assert f"Auto Scaling group {name} still exists after" in message and "Delete in progress" in message, message
    assert "target group and launch template were kept" in message and cut_short.result("fleet")["failure"] == "timeout"
    assert app.group(name)["Status"] == "Delete in progress"
    assert name in app.target_groups() and name in app.launch_templates()
    aws.control.set_fidelity(asg_delete_min_seconds=0, asg_delete_max_seconds=0)  # AWS finished meanwhile

    finished = fleet(playbook, app, fleet_id=created["fleet_id"], state="absent")

    assert finished["deletion"] == {"auto_scaling_group": None, "waited_seconds": None,
                                    "target_group": "deleted", "launch_template": "deleted"}
    assert app.group(name) is None and name not in app.target_groups() and name not in app.launch_templates()


def test_a_fleet_being_deleted_is_refused_by_present_naming_why(playbook, app, autoscaling, aws):
    created = fleet(playbook, app, image_id=app.image)
    aws.control.set_fidelity(asg_delete_min_seconds=30, asg_delete_max_seconds=30)
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=created["fleet_name"], ForceDelete=True)
    before = app.resources()

    result = refused(playbook, app, image_id=app.image)

    assert "is being deleted" in result["msg"] and "nothing was changed" in result["msg"], result["msg"]
    assert app.resources() == before


def test_absent_refuses_to_remove_a_serving_fleet(playbook, app):
    created = fleet(playbook, app, image_id=app.image)
    app.set_weights({app.legacy: 0, app.target_groups()[created["fleet_name"]]: 5})
    before = app.resources()

    result = refused(playbook, app, image_id=app.image, state="absent")

    assert "refusing to remove a serving fleet" in result["msg"] and "nothing was changed" in result["msg"]
    assert app.resources() == before


# ---------------------------------------------------------------------------------------
# Lost answers, throttling, adoption


def test_absent_with_standbys_retires_expired_standbys_only_in_one_stage_read(playbook, app, aws):
    image_2 = register_image(app.ec2, "web-0000000000000002", {"cattle:app": "web"})
    image_3 = register_image(app.ec2, "web-0000000000000003", {"cattle:app": "web"})
    # One look for the group's deletion per retired fleet: deleted before the first look, 0.5 s after the call.
    aws.control.set_fidelity(asg_delete_min_seconds=0.2, asg_delete_max_seconds=0.2)
    expired = fleet(playbook, app, image_id=app.image, desired_capacity=1)
    waiting = fleet(playbook, app, image_id=image_2, desired_capacity=1)
    live = fleet(playbook, app, image_id=image_3, desired_capacity=1)
    fleet(playbook, app, fleet_id=expired["fleet_id"], state="disabled", rollback_window=0)
    fleet(playbook, app, fleet_id=waiting["fleet_id"], state="disabled", rollback_window=3600)
    live_arn = app.target_groups()[live["fleet_name"]]
    app.set_weights(dict(app.weights(), **{app.legacy: 0, live_arn: 1}))
    aws.control.reset_counters()

    result = fleet(playbook, app, state="absent", standbys="expired")

    counters = aws.control.counters()
    standbys = result["standbys"]
    assert [f["name"] for f in standbys["retired"]] == [expired["fleet_name"]]
    assert [f["name"] for f in standbys["kept"]] == [waiting["fleet_name"]]
    assert [(f["name"], f["weight"]) for f in standbys["live"]] == [(live["fleet_name"], 1)]
    names = [group["AutoScalingGroupName"] for group in app.groups()]
    assert sorted(names) == sorted([waiting["fleet_name"], live["fleet_name"]])
    assert expired["fleet_name"] not in app.target_groups() and expired["fleet_name"] not in app.launch_templates()
    # The stage's fleets and the listener are read once for every fleet chosen (the second look is the deletion's).
    assert counters["autoscaling:DescribeAutoScalingGroups"] == 2, counters
    assert standbys["retired"][0]["deletion"]["auto_scaling_group"] == "deleted"
    assert counters["elasticloadbalancing:DescribeListeners"] == 1, counters
    assert fleet(playbook, app, state="absent", standbys="expired")["changed"] is False

    everything = fleet(playbook, app, state="absent", standbys="all")

    assert [f["name"] for f in everything["standbys"]["retired"]] == [waiting["fleet_name"]]
    assert [group["AutoScalingGroupName"] for group in app.groups()] == [live["fleet_name"]]


def test_standbys_is_refused_with_a_fleet_named_or_another_state(playbook, app):
    assert "mutually exclusive" in refused(playbook, app, state="absent", standbys="all", fleet_id="0" * 12)["msg"]
    message = refused(playbook, app, state="disabled", standbys="all")["msg"]
    assert "standbys works with state=absent only" in message and "nothing was changed" in message


@pytest.mark.parametrize(
    "service, action",
    [("autoscaling", "CreateAutoScalingGroup"), ("ec2", "CreateLaunchTemplate"),
     ("elasticloadbalancing", "CreateTargetGroup")],
)
def test_a_lost_create_answer_is_adopted_without_twins(playbook, app, aws, service, action):
    aws.control.add_fault(service=service, action=action, kind="lose_response", count=1)

    result = fleet(playbook, app, image_id=app.image)

    assert [f["fired"] for f in aws.control.faults()] == [1]
    name = result["fleet_name"]
    assert [g["AutoScalingGroupName"] for g in app.groups()] == [name]
    assert sorted(app.target_groups()) == sorted([LEGACY_GROUP, name])
    assert app.launch_templates() == [name]
    assert len(result["healthy_instances"]) == 2
    assert fleet(playbook, app, image_id=app.image)["changed"] is False


def test_twenty_percent_throttling_everywhere_still_converges(playbook, app, aws):
    aws.control.add_fault(service=None, action=None, kind="throttle", probability=0.2, seed=5)

    created = fleet(playbook, app, image_id=app.image)
    removed = fleet(playbook, app, image_id=app.image, state="absent")

    throttled = aws.control.faults()[0]["fired"]
    aws.control.clear_faults()
    assert throttled > 0
    assert len(created["healthy_instances"]) == 2 and removed["changed"] is True
    assert app.groups() == [] and sorted(app.target_groups()) == [LEGACY_GROUP] and app.launch_templates() == []


def test_an_existing_group_is_adopted_as_the_first_blue(playbook, app, ec2, autoscaling, aws_network):
    ec2.create_launch_template(LaunchTemplateName="web-handmade",
                               LaunchTemplateData={"ImageId": app.image, "InstanceType": "t3.micro"})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web-production", MinSize=1, MaxSize=3, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateName": "web-handmade"}, VPCZoneIdentifier=",".join(aws_network.subnet_ids),
        TargetGroupARNs=[app.legacy])

    adopted = fleet(playbook, app, adopt_asg="web-production")

    assert adopted["changed"] is True and adopted["adopted"] is True
    assert adopted["fleet_name"] == "web-production" and adopted["target_group"]["name"] == LEGACY_GROUP
    tags = {t["Key"]: t["Value"] for t in app.group("web-production")["Tags"]}
    assert (tags["cattle:app"], tags["cattle:stage"], tags["cattle:fleet"], tags["cattle:adopted"]) == (
        "web", "prod", adopted["fleet_id"], "true")
    legacy_tags = {t["Key"]: t["Value"] for t in app.elbv2.describe_tags(ResourceArns=[app.legacy])[
        "TagDescriptions"][0]["Tags"]}
    assert legacy_tags["cattle:fleet"] == adopted["fleet_id"]
    assert app.weights() == {app.legacy: 1}
    assert fleet(playbook, app, adopt_asg="web-production")["changed"] is False
    # From now on it is a fleet like any other: the live one, so it cannot be removed.
    result = refused(playbook, app, fleet_id=adopted["fleet_id"], state="absent")
    assert "serving fleet" in result["msg"]


# ---------------------------------------------------------------------------------------
# Bad inputs: refused, naming the input, nothing changed


def revoked_image(ec2):
    return register_image(ec2, "web-0000000000000009", {"cattle:app": "web", "cattle:revoked": "2026-11-26 bad"})


def image_serving_elsewhere(ec2):
    """An image whose build recorded what its app serves: not what the test definition checks."""
    return register_image(ec2, "web-0000000000000010", {
        "cattle:app": "web", "cattle:app-unit": "app", "cattle:app-port": "8080", "cattle:health-path": "/health"})


BAD_INPUTS = {
    "desired_zero": ({"desired_capacity": 0}, "desired_capacity must be at least 1"),
    "desired_above_max": ({"desired_capacity": 5}, "desired_capacity 5 is above the app's capacity.max 4"),
    "negative_timeout": ({"wait_timeout": -1}, "wait_timeout must not be negative"),
    "unknown_ami": ({"image_id": "ami-0123456789abcdef0"}, "image_id ami-0123456789abcdef0: no such AMI"),
    "revoked_ami": ({"image_id": revoked_image}, "it was revoked (cattle:revoked: 2026-11-26 bad)"),
    "bad_field": ({"definition_change": {"capacity": {"min": 3, "max": 2}}}, "apps.web.capacity.max: must be >= min"),
    "missing_listener": ({"definition_change": {"load_balancer": {"name": "web-alb", "listener_port": 8443}}},
                         "apps.web.load_balancer.listener_port: load balancer web-alb has no listener on port 8443"),
    "unknown_stage": ({"stage": "qa"}, "apps.web.stages: has no stage 'qa'"),
    "image_serves_elsewhere": (
        {"image_id": image_serving_elsewhere},
        "the health check goes to port 80, the image's app listens on 8080; the health check asks /healthz, "
        "the image's app answers health at /health (cattle:app-port and cattle:health-path tags); its instances "
        "would never turn healthy. Fix apps.web.health_check, or pass accept_image_mismatch=true"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_are_refused_naming_the_input_with_nothing_changed(playbook, app, aws, ec2, case):
    args, expected = BAD_INPUTS[case]
    args = dict(args)
    args.setdefault("image_id", app.image)
    if callable(args["image_id"]):
        args["image_id"] = args["image_id"](ec2)
    app.definition.update(args.pop("definition_change", {}))
    before = app.resources()
    aws.control.reset_counters()

    result = refused(playbook, app, **args)

    assert expected in result["msg"], result["msg"]
    assert "nothing was changed" in result["msg"]
    assert app.resources() == before
    assert writes_in(aws.control.counters()) == {}


def test_an_unknown_field_of_the_definition_is_refused_by_its_argument_spec_with_nothing_changed(playbook, app, aws):
    # definition declares its fields (user_data is no_log), so Ansible refuses a typo itself.
    app.definition["instance_typ"] = "t3.micro"
    before = app.resources()
    aws.control.reset_counters()

    result = refused(playbook, app, image_id=app.image)

    calls = aws.control.counters()
    assert result["msg"].startswith("Unsupported parameters for (cattle.immutable.fleet) module: "
                                    "definition.instance_typ. Supported parameters include: "), result["msg"]
    assert calls == {}
    assert app.resources() == before


# ---------------------------------------------------------------------------------------
# Settings, rules, the example definition


def test_settings_change_in_place_and_policies_follow_the_definition(playbook, app, autoscaling):
    app.definition["scaling_policies"] = [
        {"name": "cpu", "metric": "cpu", "target": 50},
        {"name": "requests", "metric": "request_count", "target": 1000},
    ]
    created = fleet(playbook, app, image_id=app.image)
    name = created["fleet_name"]
    policies = {p["PolicyName"]: p for p in autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]}
    label = policies["requests"]["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]["ResourceLabel"]
    assert label.startswith("app/web-alb/") and f"/targetgroup/{name}/" in label
    assert fleet(playbook, app, image_id=app.image)["changed"] is False

    app.definition["scaling_policies"] = [{"name": "cpu", "metric": "cpu", "target": 60}]
    app.definition["capacity"] = {"min": 1, "max": 8, "desired": 2}
    app.definition["grace_period"] = 30
    changed = fleet(playbook, app, image_id=app.image)

    assert changed["fleet_id"] == created["fleet_id"]
    group = app.group(name)
    assert (group["MaxSize"], group["HealthCheckGracePeriod"]) == (8, 30)
    described = autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    assert [(p["PolicyName"], p["TargetTrackingConfiguration"]["TargetValue"]) for p in described] == [("cpu", 60.0)]
    assert [g["AutoScalingGroupName"] for g in app.groups()] == [name]


def test_a_fleet_joins_a_listener_rule_when_the_definition_names_one(playbook, app):
    rule = app.elbv2.create_rule(
        ListenerArn=app.listener, Priority=10, Conditions=[{"Field": "path-pattern", "Values": ["/shop/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": app.legacy}])["Rules"][0]["RuleArn"]
    app.definition["load_balancer"]["rule_priority"] = 10

    result = fleet(playbook, app, image_id=app.image)

    tg_arn = app.target_groups()[result["fleet_name"]]
    actions = app.elbv2.describe_rules(RuleArns=[rule])["Rules"][0]["Actions"]
    groups = {g["TargetGroupArn"]: g["Weight"] for g in actions[0]["ForwardConfig"]["TargetGroups"]}
    assert groups == {app.legacy: 1, tg_arn: 0}
    assert result["listener"]["rule_arn"] == rule
    # The listener's default action is not the app's: it stays as it was.
    assert app.weights() == {app.legacy: 1}


def test_the_sandbox_example_definition_brings_up_a_fleet(aws_env):
    example = REPO_ROOT / "sandbox" / "demo" / "fleet.yml"
    run = run_playbook(example, aws_env, extra_vars={"stage": "prod"})

    assert not run.failed, run.explain()
    result = run.result("Bring up the fleet and wait until every instance is healthy")
    assert result["fleet_name"].startswith("web-prod-") and len(result["healthy_instances"]) == 2
    assert result["listener"]["weight"] == 0


def test_a_definition_the_image_does_not_serve_is_created_only_when_accepted(playbook, app, ec2):
    image_id = image_serving_elsewhere(ec2)

    run = run_fleet(playbook, app.definition, image_id=image_id, accept_image_mismatch=True)

    assert not run.failed, run.explain()
    result = run.result("fleet")
    assert result["image_mismatch"] == [
        "the health check goes to port 80, the image's app listens on 8080",
        "the health check asks /healthz, the image's app answers health at /health",
    ]
    assert any("accept_image_mismatch: the health check asks /healthz" in warning
               for warning in result.get("warnings", []))
    agreeing = dict(app.definition, port=8080, health_check=dict(app.definition["health_check"], path="/health"))
    assert run_fleet(playbook, agreeing, image_id=image_id, check=True).result("fleet")["image_mismatch"] == []
