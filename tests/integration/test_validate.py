"""playbooks/validate.yml against the sandbox with an instance that runs: a good image passes
and says so on the AMI, a broken one fails with its evidence tagged and never gets a request,
the app's live traffic is untouched, and the test's instance, rule and target group are gone
on every path out (a pass, a failure, an AWS error half-way); refusals change nothing."""

import hashlib
import json

import pytest

from fixtures.ansible import run_playbook
from fixtures.deploy_site import PLAYBOOKS, published
from fixtures.live import TEST_APP

pytestmark = [pytest.mark.sandbox, pytest.mark.standin]

HEALTH = {"path": "/health", "interval": 5, "timeout": 2, "healthy_threshold": 2, "unhealthy_threshold": 2}


@pytest.fixture
def app_site(ec2, elbv2, aws_network, boto3_client, content_ami):
    """The app `web` behind web-alb (its listener forwards to the live group), and its content AMI."""
    security_group = ec2.create_security_group(GroupName="web", Description="web", VpcId=aws_network.vpc_id)
    balancer = elbv2.create_load_balancer(Name="web-alb", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]
    live = elbv2.create_target_group(Name="web-live", Protocol="HTTP", Port=8080, VpcId=aws_network.vpc_id)[
        "TargetGroups"][0]["TargetGroupArn"]
    listener = elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": live}])["Listeners"][0]
    ec2.create_tags(Resources=[content_ami], Tags=[{"Key": "cattle:app", "Value": "web"}])
    definition = {
        "region": "us-east-1", "vpc_id": aws_network.vpc_id, "subnets": aws_network.subnet_ids,
        "security_groups": [security_group["GroupId"]], "instance_type": "t3.micro",
        "capacity": {"min": 1, "max": 2, "desired": 1}, "port": 8080, "health_check": dict(HEALTH),
        # Covers the test app's start on a busy machine (it answered late there more than once).
        "grace_period": 60, "user_data": TEST_APP,
        "load_balancer": {"name": "web-alb", "listener_port": 80}, "stages": ["dev", "prod"],
        "image_tests": {"http_checks": [{"path": "/", "status": 200, "body": "^i-[0-9a-f]+$"},
                                        {"path": "/missing", "status": 404}]},
    }
    return {"definition": definition, "image_id": content_ami, "listener": listener, "ec2": ec2, "elbv2": elbv2}


def validate(app_site, aws_env, check=False, **variables):
    variables.setdefault("app", "web")
    variables.setdefault("cattle_apps", {"web": app_site["definition"]})
    variables.setdefault("image_id", app_site["image_id"])
    variables.setdefault("wait_timeout", 120)
    return run_playbook(PLAYBOOKS / "validate.yml", aws_env, extra_vars=variables, check=check, timeout=300)


def image_tags(app_site):
    image = app_site["ec2"].describe_images(ImageIds=[app_site["image_id"]])["Images"][0]
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags") or []}


def leftovers(app_site):
    """The test's own resources still in the sandbox: instances not terminated, groups, rules."""
    ec2, elbv2 = app_site["ec2"], app_site["elbv2"]
    reservations = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["cattle:image-test"]}])["Reservations"]
    instances = [instance["InstanceId"] for reservation in reservations for instance in reservation["Instances"]
                 if instance["State"]["Name"] not in ("shutting-down", "terminated")]
    groups = [group["TargetGroupName"] for group in elbv2.describe_target_groups()["TargetGroups"]
              if group["TargetGroupName"] != "web-live"]
    rules = [rule["Priority"] for rule in elbv2.describe_rules(ListenerArn=app_site["listener"]["ListenerArn"])["Rules"]
             if not rule["IsDefault"]]
    return instances + groups + rules


def default_action(app_site):
    return app_site["elbv2"].describe_listeners(ListenerArns=[app_site["listener"]["ListenerArn"]])["Listeners"][0][
        "DefaultActions"]


def test_a_good_image_passes_on_an_instance_behind_its_own_rule_and_the_result_is_tagged(app_site, aws, aws_env):
    live_traffic = default_action(app_site)

    run = validate(app_site, aws_env)

    assert not run.failed, run.explain()
    record = published(run, "cattle_image_test")
    evidence = record["evidence"]
    assert record["result"] == "passed" and evidence["health"]["State"] == "healthy"
    assert [(check["path"], check["status"], check["passed"]) for check in evidence["http_checks"]] == [
        ("/health", 200, True), ("/", 200, True), ("/missing", 404, True)]
    # The instance answered with its own id: the request went through the test rule to it.
    assert evidence["http_checks"][1]["body"] == evidence["resources"]["instance_id"]
    tags = image_tags(app_site)
    assert tags["cattle:tested"].startswith("passed ") and len(tags["cattle:tested"]) <= 256
    canonical = json.dumps(evidence, sort_keys=True, separators=(",", ":"))
    assert tags["cattle:tested-digest"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert leftovers(app_site) == []
    assert default_action(app_site) == live_traffic
    # Only the test's host header reached the test instance, and nothing of the live group.
    routed = aws.control.routed_requests()
    assert {request["target_id"] for request in routed} == {evidence["resources"]["instance_id"]}

    again = validate(app_site, aws_env)

    assert not again.failed, again.explain()
    repeated = again.result("Test the image on one instance behind the load balancer")
    assert repeated["changed"] is False and repeated["already_passed"] is True
    assert published(again, "cattle_image_test")["skipped"] is True
    assert again.result("Say what happened")["msg"].endswith("not tested again")


def test_a_broken_image_fails_with_its_evidence_tagged_and_never_gets_a_request(app_site, aws, aws_env):
    app_site["definition"]["user_data"] = "#!/bin/sh\necho the app never starts\n"
    app_site["definition"]["grace_period"] = 10  # no app will ever answer: no need to wait longer

    run = validate(app_site, aws_env)

    assert run.failed
    record = published(run, "cattle_image_test")
    assert record["result"] == "failed"
    assert "its target is unhealthy (Target." in record["failure"]
    assert record["evidence"]["http_checks"] == []
    tags = image_tags(app_site)
    assert tags["cattle:tested"].startswith("failed ") and "unhealthy" in tags["cattle:tested"]
    assert tags["cattle:tested-digest"].startswith("sha256:")
    assert leftovers(app_site) == []
    assert aws.control.routed_requests() == []


def test_a_check_the_app_does_not_pass_fails_the_test_naming_it(app_site, aws_env):
    app_site["definition"]["image_tests"]["http_checks"] = [{"path": "/", "body": "^version 2"}]

    run = validate(app_site, aws_env)

    assert run.failed
    assert "GET / its body does not match '^version 2'" in published(run, "cattle_image_test")["failure"]
    assert leftovers(app_site) == []


def test_an_aws_error_half_way_removes_everything_and_tags_nothing(app_site, aws, aws_env):
    aws.control.add_fault("elasticloadbalancing", "RegisterTargets", "client_error", code="ValidationError",
                          message="injected")

    run = validate(app_site, aws_env)

    assert run.failed and "injected" in run.result("Test the image on one instance behind the load balancer")["msg"]
    assert leftovers(app_site) == []
    assert "cattle:tested" not in image_tags(app_site)


def test_a_lost_launch_answer_retried_past_botocore_still_launches_one_instance(app_site, aws, aws_env):
    # The answer is lost, then botocore's own attempts (5) are throttled away, so the module's
    # retry sends RunInstances again: with the same ClientToken, AWS answers the first launch.
    aws.control.add_fault("ec2", "RunInstances", "throttle", count=4, after=1)
    aws.control.add_fault("ec2", "RunInstances", "lose_response", count=1)
    aws.control.add_fault("elasticloadbalancing", "RegisterTargets", "client_error", code="ValidationError",
                          message="injected")

    run = validate(app_site, aws_env)

    assert run.failed and "injected" in run.result("Test the image on one instance behind the load balancer")["msg"]
    assert [rule["fired"] for rule in aws.control.faults()] == [4, 1, 1]
    reservations = app_site["ec2"].describe_instances(
        Filters=[{"Name": "tag-key", "Values": ["cattle:image-test"]}])["Reservations"]
    assert len([instance for reservation in reservations for instance in reservation["Instances"]]) == 1
    assert leftovers(app_site) == []


def test_a_load_balancer_without_a_free_rule_is_refused_before_anything_is_launched(app_site, aws, aws_env):
    elbv2, listener = app_site["elbv2"], app_site["listener"]
    group = elbv2.describe_target_groups(Names=["web-live"])["TargetGroups"][0]["TargetGroupArn"]
    for priority in range(1, 101):
        elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=priority,
                          Conditions=[{"Field": "path-pattern", "Values": [f"/r{priority}"]}],
                          Actions=[{"Type": "forward", "TargetGroupArn": group}])
    aws.control.reset_counters()

    run = validate(app_site, aws_env)

    assert run.failed
    message = run.result("Test the image on one instance behind the load balancer")["msg"]
    assert "web-alb has 100 rules" in message and message.endswith("nothing was changed")
    assert not [call for call in aws.control.counters() if call.startswith(("ec2:RunInstances", "elasticloadbalancing:Create", "elbv2:Create"))]


def test_check_mode_plans_the_test_and_launches_nothing(app_site, aws, aws_env):
    run = validate(app_site, aws_env, check=True)

    assert not run.failed, run.explain()
    result = run.result("Test the image on one instance behind the load balancer")
    assert result["plan"]["load_balancer"] == "web-alb" and result["plan"]["priority"] == 50000
    assert leftovers(app_site) == [] and aws.control.live_instances() == []


# The image's SSM agent, as far as the sandbox cares: a unit of that name that runs (docs/ssm-agent.md).
AGENT_UNIT = """
cat > /etc/systemd/system/amazon-ssm-agent.service <<'END_OF_UNIT'
[Service]
ExecStart=/bin/sleep infinity
END_OF_UNIT
systemctl daemon-reload
systemctl start --no-block amazon-ssm-agent.service
"""
EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def managed_node_profile(iam):
    iam.create_role(RoleName="web-instance", AssumeRolePolicyDocument=EC2_TRUST)
    iam.attach_role_policy(RoleName="web-instance",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    iam.create_instance_profile(InstanceProfileName="web-instance")
    iam.add_role_to_instance_profile(InstanceProfileName="web-instance", RoleName="web-instance")
    return "web-instance"


def test_test_commands_run_through_run_command_and_a_failing_one_fails_the_test_with_its_output(
        app_site, aws_env, boto3_client):
    definition = app_site["definition"]
    definition["instance_profile"] = managed_node_profile(boto3_client("iam"))
    definition["user_data"] = TEST_APP + AGENT_UNIT
    definition["image_tests"] = {"http_checks": [], "commands": [
        "systemctl is-active app", "echo checked; echo 'no such file' >&2; exit 3"]}

    run = validate(app_site, aws_env, command_timeout=60)

    assert run.failed
    record = published(run, "cattle_image_test")
    first, second = record["evidence"]["commands"]
    assert (first["status"], first["exit_code"], first["stdout"].strip(), first["passed"]) == ("Success", 0, "active", True)
    assert (second["status"], second["exit_code"], second["passed"]) == ("Failed", 3, False)
    assert second["stdout"].strip() == "checked" and second["stderr"].strip() == "no such file"
    assert "ended Failed (exit 3)" in record["failure"] and "ended Failed (exit 3)" in image_tags(app_site)["cattle:tested"]
    assert leftovers(app_site) == []


def test_test_commands_without_an_instance_profile_are_refused_before_anything_is_launched(app_site, aws, aws_env):
    app_site["definition"]["image_tests"]["commands"] = ["true"]

    run = validate(app_site, aws_env)

    assert run.failed
    message = run.result("Test the image on one instance behind the load balancer")["msg"]
    assert message.startswith("apps.web.image_tests.commands: test commands run through SSM Run Command")
    assert aws.control.live_instances() == [] and leftovers(app_site) == []
