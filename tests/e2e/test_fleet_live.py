"""cattle.immutable.fleet with the golden image's instances running for real in the sandbox:
the load balancer's health check asks the image's own app, and a fleet whose health check the
app does not pass is stopped by Auto Scaling's replacements, not by the wait's timeout."""

import time

import pytest

from fixtures.aws import eventually
from fixtures.fleet_runs import run_fleet

# With the golden image's own tests on one worker: the process that builds it serves them all.
pytestmark = [pytest.mark.sandbox, pytest.mark.standin, pytest.mark.xdist_group("golden")]

WAIT_TIMEOUT = 300


@pytest.fixture
def live_app(ec2, elbv2, aws_network, boto3_client, golden_image):
    """The golden AMI, an ALB with a listener, and a definition that matches the image's app."""
    boto3_client("iam").create_instance_profile(InstanceProfileName="web-instance")
    security_group = ec2.create_security_group(GroupName="web", Description="web", VpcId=aws_network.vpc_id)
    balancer = elbv2.create_load_balancer(Name="web-alb", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]
    legacy = elbv2.create_target_group(Name="web-legacy", Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id)[
        "TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": legacy}])
    definition = {
        "region": "us-east-1", "vpc_id": aws_network.vpc_id, "subnets": aws_network.subnet_ids,
        "security_groups": [security_group["GroupId"]], "instance_type": "t3.micro",
        "instance_profile": "web-instance", "capacity": {"min": 1, "max": 2, "desired": 1},
        "port": 8080,
        "health_check": {"path": "/health", "interval": 5, "timeout": 2, "healthy_threshold": 2,
                         "unhealthy_threshold": 2},
        "grace_period": 0, "load_balancer": {"name": "web-alb", "listener_port": 80},
        "deregistration_delay": 1, "stages": ["prod"],
    }
    return definition, golden_image.image_id


def test_a_fleet_of_the_golden_image_turns_healthy_by_its_apps_own_answer(playbook, aws, live_app):
    definition, image_id = live_app
    # The first instance of a new image may take a while to boot on a busy machine (its root is
    # extracted then); with no grace Auto Scaling would rightly replace it before it answers.
    definition["grace_period"] = 60

    run = run_fleet(playbook, definition, image_id=image_id, wait_timeout=WAIT_TIMEOUT)

    assert not run.failed, run.explain()
    result = run.result("fleet")
    [live] = [item for item in aws.control.live_instances() if item["state"] == "running"]
    assert result["instances"] == [live["instance_id"]] and live["image_id"] == image_id


def test_a_health_check_the_app_does_not_pass_fails_on_the_replacements_not_the_timeout(playbook, aws, live_app):
    definition, image_id = live_app
    definition["health_check"]["path"] = "/healthz"  # the image's app serves /health
    refused = run_fleet(playbook, definition, image_id=image_id, wait_timeout=WAIT_TIMEOUT)
    assert refused.failed and "accept_image_mismatch" in refused.result("fleet")["msg"]

    started = time.monotonic()
    run = run_fleet(playbook, definition, image_id=image_id, wait_timeout=WAIT_TIMEOUT, accept_image_mismatch=True)
    seconds = time.monotonic() - started

    assert run.failed
    result = run.result("fleet")
    assert result["failure"] == "health", result["msg"]
    assert "instances replaced 1 time after failing the load balancer's health check" in result["msg"]
    assert "Traffic unchanged" in result["msg"]
    assert seconds < WAIT_TIMEOUT / 3, seconds
    # The replaced instance's stand-in is stopped in the background: wait for it to be gone.
    assert eventually(lambda: [item for item in aws.control.live_instances() if item["state"] == "stopped"],
                      timeout=60, interval=0.5)
