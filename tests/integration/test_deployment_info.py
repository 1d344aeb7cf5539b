"""cattle.immutable.deployment_info through real ansible-playbook runs.

The state is built with boto3 the way cattle.immutable.fleet leaves it (docs/fleets.md):
an ALB whose listener forwards with weights, and per fleet a launch template, a target
group and an Auto Scaling group tagged cattle:app, cattle:stage, cattle:fleet, ...
"""

import pytest

from fixtures.ansible import local_play, module_play, module_task
from fixtures.aws import eventually, register_image
from fixtures.deploy_site import AppFront, bare_definition

pytestmark = pytest.mark.sandbox

WRITES = ("Create", "Modify", "Delete", "Put", "Update", "Register", "Deregister", "Attach", "Detach", "Set",
          "Suspend", "Resume", "Tags")


class Deployment(AppFront):
    """An app `web` in the sandbox with fleets made as the fleet module makes them; its listener
    comes with the first `forward`."""

    def __init__(self, boto3_client, network):
        super().__init__(boto3_client, network)
        self.definition = bare_definition(network, self.security_group)

    def image(self, number):
        return register_image(self.ec2, f"web-{number:016x}", {"cattle:app": "web"})

    def fleet(self, fleet_id, image_id, stage="prod", desired=2, state="active", created_at="2026-01-01T00:00:00Z",
              **extra_tags):
        name = f"web-{stage}-{fleet_id}"
        tags = {"cattle:managed-by": "cattle.immutable", "cattle:app": "web", "cattle:stage": stage,
                "cattle:fleet": fleet_id, "cattle:image-id": image_id}
        template = self.ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData={"ImageId": image_id, "InstanceType": "t3.micro"},
            TagSpecifications=[{"ResourceType": "launch-template",
                                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])["LaunchTemplate"]
        tg_arn = self.target_group(name)
        group_tags = dict(tags, **{"cattle:fleet-state": state, "cattle:created-at": created_at})
        group_tags.update({key.replace("__", ":").replace("_", "-"): value for key, value in extra_tags.items()})
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=desired,
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"},
            VPCZoneIdentifier=",".join(self.network.subnet_ids), TargetGroupARNs=[tg_arn],
            HealthCheckType="ELB",
            Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
                   "PropagateAtLaunch": False} for k, v in group_tags.items()])
        return {"id": fleet_id, "name": name, "tg": tg_arn, "template": template["LaunchTemplateId"], "image": image_id}

    def forward(self, weights, rule_priority=None):
        """The listener (created on first use) forwards with these weights."""
        actions = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]}}]
        if self.listener is None:
            self.listener = self.http_listener(actions)
        else:
            self.elbv2.modify_listener(ListenerArn=self.listener, DefaultActions=actions)

    def point(self, stage, image_id):
        self.ssm.put_parameter(Name=f"/cattle/web/{stage}", Value=image_id, Type="String", DataType="aws:ec2:image",
                               Overwrite=True)

    def instances(self, fleet):
        group = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[fleet["name"]])[
            "AutoScalingGroups"][0]
        return sorted(instance["InstanceId"] for instance in group["Instances"])

    def healthy(self, fleet):
        return sorted(instance for instance, state in self.health(fleet["tg"]).items() if state == "healthy")

    def wait_healthy(self, *fleets):
        for fleet in fleets:
            eventually(lambda fleet=fleet: self.instances(fleet) and self.healthy(fleet) == self.instances(fleet))


@pytest.fixture
def web(boto3_client, aws_network):
    return Deployment(boto3_client, aws_network)


@pytest.fixture
def blue_green(web):
    """blue (live, 100) on image 1; green (weight 0, active) on image 2; prod points at image 1."""
    blue_image, green_image = web.image(1), web.image(2)
    blue = web.fleet("b1b1b1b1b1b1", blue_image, created_at="2026-01-01T00:00:00Z")
    green = web.fleet("a2a2a2a2a2a2", green_image, created_at="2026-02-01T00:00:00Z")
    web.forward({blue["tg"]: 100, green["tg"]: 0})
    web.point("prod", blue_image)
    web.wait_healthy(blue, green)
    return blue, green


def info_play(**args):
    return module_play("info", "deployment_info", args)


def info(playbook, **args):
    args.setdefault("app", "web")
    run = playbook(info_play(**args))
    assert not run.failed, run.explain()
    return run.result("info")


def refused(playbook, **args):
    args.setdefault("app", "web")
    run = playbook(info_play(**args))
    assert run.failed, run.explain()
    return run.result("info")


def by_id(result):
    return {fleet["fleet_id"]: fleet for fleet in result["fleets"]}


def test_reports_listener_weights_and_every_fleet(playbook, web, blue_green):
    blue, green = blue_green
    result = info(playbook, definition=web.definition, stage="prod")
    assert result["changed"] is False

    (listener,) = result["listeners"]
    assert (listener["stage"], listener["listener_arn"], listener["rule_arn"]) == ("prod", web.listener, None)
    assert listener["weights"] == {blue["tg"]: 100, green["tg"]: 0}
    assert [(g["name"], g["weight"], g["share"], g["fleet_id"]) for g in listener["target_groups"]] == [
        (blue["name"], 100, 100.0, blue["id"]), (green["name"], 0, 0.0, green["id"])]

    fleets = by_id(result)
    assert [fleet["fleet_id"] for fleet in result["fleets"]] == [blue["id"], green["id"]]  # live first
    assert result["live"] == [blue["id"]]
    live, pending = fleets[blue["id"]], fleets[green["id"]]
    assert (live["status"], live["weight"], live["share"], live["stage"]) == ("live", 100, 100.0, "prod")
    assert (pending["status"], pending["weight"], pending["share"]) == ("pending", 0, 0.0)
    assert live["image_id"] == blue["image"] and pending["image_id"] == green["image"]
    assert live["launch_template"] == {"id": blue["template"], "name": blue["name"], "version": "1",
                                       "image_id": blue["image"]}
    assert live["target_group"] == {"arn": blue["tg"], "name": blue["name"]}
    assert live["auto_scaling_group"]["name"] == blue["name"]
    assert live["counts"] == {"min": 0, "max": 4, "desired": 2, "instances": 2, "in_service": 2, "healthy": 2,
                              "registered": 2}
    assert [row["instance_id"] for row in live["instances"]] == web.instances(blue)
    assert all(row["image_id"] == blue["image"] and row["target_state"] == "healthy" and not row["drifted"]
               for row in live["instances"])
    assert live["created_at"] == "2026-01-01T00:00:00Z" and live["age_seconds"] > 0
    assert live["age_seconds"] > pending["age_seconds"]
    assert result["pointers"] == {"prod": {"name": "/cattle/web/prod", "image_id": blue["image"], "version": 1}}
    assert result["drifted"] is False and result["drift"] == {"instances": [], "fleets": []}
    assert result["inconsistencies"] == []


def test_a_listener_given_directly_gives_the_same_state(playbook, web, blue_green):
    by_definition = info(playbook, definition=web.definition, stage="prod")
    by_name = info(playbook, load_balancer_name="web-alb", port=80, stage="prod")
    by_arn = info(playbook, listener_arn=web.listener)
    for other in (by_name, by_arn):
        assert other["listeners"][0]["weights"] == by_definition["listeners"][0]["weights"]
        assert [(f["fleet_id"], f["status"], f["counts"]) for f in other["fleets"]] == [
            (f["fleet_id"], f["status"], f["counts"]) for f in by_definition["fleets"]]
    assert by_arn["listeners"][0]["stage"] is None and by_arn["drifted"] is False


def test_weighted_canary_shares(playbook, web, blue_green):
    blue, green = blue_green
    web.forward({blue["tg"]: 90, green["tg"]: 10})
    fleets = by_id(info(playbook, definition=web.definition, stage="prod"))
    assert (fleets[blue["id"]]["share"], fleets[green["id"]]["share"]) == (90.0, 10.0)
    assert fleets[blue["id"]]["status"] == fleets[green["id"]]["status"] == "live"


def test_disabled_and_retired_fleets(playbook, web, blue_green):
    blue, green = blue_green
    old_image = web.image(3)
    disabled = web.fleet("c3c3c3c3c3c3", old_image, state="disabled", created_at="2025-12-01T00:00:00Z",
                         cattle__rollback_until="2026-01-02T00:00:00Z", cattle__disabled_at="2026-01-01T00:00:00Z")
    retired = web.fleet("d4d4d4d4d4d4", old_image, desired=0, created_at="2025-11-01T00:00:00Z")
    web.forward({blue["tg"]: 100, green["tg"]: 0, disabled["tg"]: 0, retired["tg"]: 0})
    web.wait_healthy(disabled)
    fleets = by_id(info(playbook, definition=web.definition, stage="prod"))
    off = fleets[disabled["id"]]
    assert (off["status"], off["fleet_state"], off["weight"]) == ("disabled", "disabled", 0)
    assert (off["rollback_until"], off["rollback_window_over"]) == ("2026-01-02T00:00:00Z", True)
    assert off["counts"]["healthy"] == 2
    gone = fleets[retired["id"]]
    assert gone["status"] == "retired" and gone["counts"]["desired"] == 0 and gone["instances"] == []
    assert fleets[blue["id"]]["rollback_window_over"] is None


def test_a_fleet_in_no_forward_action_is_unattached(playbook, web, blue_green):
    stray = web.fleet("e5e5e5e5e5e5", web.image(4))
    result = info(playbook, definition=web.definition, stage="prod")
    fleet = by_id(result)[stray["id"]]
    assert (fleet["status"], fleet["weight"], fleet["share"]) == ("unattached", None, None)
    assert fleet["counts"]["healthy"] == 0  # never health-checked: its group is in no action
    assert {row["target_state"] for row in fleet["instances"]} == {"unused"}


def test_instances_on_another_ami_than_their_template_are_drift(playbook, web, blue_green):
    blue, _green = blue_green
    patched = web.image(5)
    # Someone points blue's group at a new template version; its instances still run the old AMI.
    web.ec2.create_launch_template_version(LaunchTemplateId=blue["template"], SourceVersion="1",
                                           LaunchTemplateData={"ImageId": patched})
    web.autoscaling.update_auto_scaling_group(AutoScalingGroupName=blue["name"], LaunchTemplate={
        "LaunchTemplateId": blue["template"], "Version": "2"})
    result = info(playbook, definition=web.definition, stage="prod")
    live = by_id(result)[blue["id"]]
    assert live["launch_template"]["version"] == "2" and live["image_id"] == patched
    assert live["tagged_image_id"] == blue["image"]
    assert result["drifted"] is True
    assert sorted(item["instance_id"] for item in result["drift"]["instances"]) == web.instances(blue)
    assert {(item["fleet_id"], item["image_id"], item["expected_image_id"]) for item in result["drift"]["instances"]} == {
        (blue["id"], blue["image"], patched)}
    assert all(row["drifted"] for row in live["instances"])
    # The live fleet is no longer (only) on what prod points to either.
    assert [(item["fleet_id"], item["pointer_image_id"]) for item in result["drift"]["fleets"]] == [
        (blue["id"], blue["image"])]


def test_a_live_fleet_not_on_its_stage_pointer_is_drift(playbook, web, blue_green):
    blue, green = blue_green
    web.point("prod", green["image"])  # promoted, not deployed yet
    result = info(playbook, definition=web.definition, stage="prod")
    assert result["drifted"] is True and result["drift"]["instances"] == []
    assert result["drift"]["fleets"] == [{
        "fleet_id": blue["id"], "stage": "prod", "image_id": blue["image"], "target_stage": "prod",
        "pointer": "/cattle/web/prod", "pointer_image_id": green["image"]}]
    # After the switch, the live fleet matches the pointer again.
    web.forward({blue["tg"]: 0, green["tg"]: 100})
    after = info(playbook, definition=web.definition, stage="prod")
    assert after["live"] == [green["id"]] and after["drifted"] is False


def test_target_stage_compares_against_another_stages_pointer(playbook, web, blue_green):
    blue, green = blue_green
    web.point("staging", green["image"])
    result = info(playbook, definition=web.definition, stage="prod", target_stage="staging")
    assert [(item["fleet_id"], item["target_stage"], item["pointer"]) for item in result["drift"]["fleets"]] == [
        (blue["id"], "staging", "/cattle/web/staging")]
    assert set(result["pointers"]) == {"staging"}


def test_an_unset_pointer_is_no_drift(playbook, web, blue_green):
    web.ssm.delete_parameter(Name="/cattle/web/prod")
    result = info(playbook, definition=web.definition, stage="prod")
    assert result["pointers"]["prod"]["image_id"] is None and result["drifted"] is False


def test_every_stage_of_the_definition_is_read(playbook, web, blue_green):
    blue, _green = blue_green
    dev_alb = web.elbv2.create_load_balancer(Name="web-dev-alb", Subnets=web.network.subnet_ids)["LoadBalancers"][0]
    dev = web.fleet("f6f6f6f6f6f6", blue["image"], stage="dev", desired=1)
    web.elbv2.create_listener(LoadBalancerArn=dev_alb["LoadBalancerArn"], Protocol="HTTP", Port=8080,
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": dev["tg"]}])
    web.point("dev", blue["image"])
    definition = dict(web.definition, stages={
        "dev": {"load_balancer": {"name": "web-dev-alb", "listener_port": 8080}}, "prod": {}})
    result = info(playbook, definition=definition)
    assert [listener["stage"] for listener in result["listeners"]] == ["dev", "prod"]
    assert [(fleet["stage"], fleet["status"]) for fleet in result["fleets"]] == [
        ("dev", "live"), ("prod", "live"), ("prod", "pending")]
    assert by_id(result)[dev["id"]]["share"] == 100.0
    assert set(result["pointers"]) == {"dev", "prod"} and result["drifted"] is False


def test_a_rule_by_priority(playbook, web, blue_green):
    blue, green = blue_green
    rule = web.elbv2.create_rule(
        ListenerArn=web.listener, Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": blue["tg"], "Weight": 1}, {"TargetGroupArn": green["tg"], "Weight": 3}]}}])["Rules"][0]
    result = info(playbook, load_balancer_name="web-alb", port=80, rule_priority=10, stage="prod")
    assert result["listeners"][0]["rule_arn"] == rule["RuleArn"]
    fleets = by_id(result)
    assert (fleets[blue["id"]]["share"], fleets[green["id"]]["share"]) == (25.0, 75.0)


def test_traffic_to_a_target_group_of_no_fleet_is_a_warning(playbook, web, blue_green):
    blue, _green = blue_green
    legacy = web.target_group("web-legacy")
    web.forward({blue["tg"]: 50, legacy: 50})
    result = info(playbook, definition=web.definition, stage="prod")
    groups = {group["name"]: group for group in result["listeners"][0]["target_groups"]}
    assert groups["web-legacy"]["fleet_id"] is None
    assert any("web-legacy gets 50.0% of the traffic of stage prod but belongs to no fleet" in w
               for w in result["inconsistencies"])


def test_reads_only(playbook, aws, web, blue_green):
    aws.control.reset_counters()
    info(playbook, definition=web.definition, stage="prod")
    calls = aws.control.counters()
    assert not [call for call in calls if call.split(":")[1].startswith(WRITES)], calls
    # One read per listener, fleet and pointer; not one per instance.
    assert calls["ec2:DescribeInstances"] == 1
    assert calls["elasticloadbalancing:DescribeTargetHealth"] == 2
    assert calls["ssm:GetParameter"] == 1


def test_throttling_is_retried(playbook, aws, web, blue_green):
    aws.control.add_fault(service="*", action="*", kind="throttle", probability=0.2, seed=3)
    result = info(playbook, definition=web.definition, stage="prod")
    assert result["live"] == [blue_green[0]["id"]]


REFUSALS = {
    "bad definition field": ({"definition": {"region": "us-east-1"}}, "apps.web"),
    "unknown stage": ({"definition": "DEFINITION", "stage": "qa"}, "has no stage 'qa'"),
    "bad stage": ({"definition": "DEFINITION", "stage": "Prod"}, "stage 'Prod' is not a valid stage name"),
    "missing load balancer": ({"load_balancer_name": "nope-alb", "port": 80}, "there is no load balancer nope-alb"),
    "missing listener port": ({"load_balancer_name": "web-alb", "port": 8443}, "has no listener on port 8443"),
    "missing rule": ({"load_balancer_name": "web-alb", "port": 80, "rule_priority": 99}, "no rule with priority 99"),
    "port without listener": ({"load_balancer_name": "web-alb"}, "load_balancer_name needs port"),
    "bad port": ({"load_balancer_name": "web-alb", "port": 70000}, "port must be between 1 and 65535"),
    "no source": ({}, "one of the following is required"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_input_is_refused_naming_it(playbook, web, blue_green, case):
    args, message = REFUSALS[case]
    args = {key: (web.definition if value == "DEFINITION" else value) for key, value in args.items()}
    result = refused(playbook, **args)
    assert message in result["msg"]


def test_reads_a_fleet_the_fleet_module_made(playbook, web):
    """The contract with cattle.immutable.fleet: what it creates, this module finds and reads."""
    legacy = web.target_group("web-legacy")
    web.forward({legacy: 1})
    image = web.image(7)
    definition = web.definition
    run = playbook(local_play(
        module_task("fleet", "fleet", {"app": "web", "definition": definition, "stage": "prod", "image_id": image,
                                       "wait_timeout": 60}),
        module_task("info", "deployment_info", {"app": "web", "definition": definition, "stage": "prod"})))
    assert not run.failed, run.explain()
    made, result = run.result("fleet"), run.result("info")
    (fleet,) = result["fleets"]
    assert (fleet["fleet_id"], fleet["name"], fleet["stage"]) == (made["fleet_id"], made["fleet_name"], "prod")
    assert (fleet["status"], fleet["weight"], fleet["fleet_state"]) == ("pending", 0, "active")
    assert fleet["image_id"] == fleet["tagged_image_id"] == image
    assert fleet["target_group"]["arn"] == made["target_group"]["arn"]
    assert fleet["counts"]["healthy"] == fleet["counts"]["desired"] == 2
    assert fleet["created_at"] and fleet["age_seconds"] >= 0
    assert any("web-legacy gets 100.0% of the traffic" in text for text in result["inconsistencies"])
