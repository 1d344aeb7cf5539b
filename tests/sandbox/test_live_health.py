"""Targets that are live instances are health-checked for real: the app's own answer decides,
with AWS's states and reason codes, and Auto Scaling replaces an instance the load balancer
finds unhealthy (HealthCheckType ELB) once its grace period is over. The app (fixtures.live):
/health answers 200, /sleep/30 never in time, anything else 404."""

import base64

import pytest

from cattle_sandbox.standin.attach import run_in
from fixtures.aws import eventually
from fixtures.live import TEST_APP

pytestmark = [pytest.mark.sandbox, pytest.mark.standin]

FAST = {"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2}


@pytest.fixture
def site(elbv2, ec2, aws_network):
    """An ALB whose listener forwards to the target groups a test makes (so they are in use)."""
    balancer = elbv2.create_load_balancer(Name="health-alb", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]

    def target_group(name, path, **settings):
        group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=aws_network.vpc_id,
                                          HealthCheckPath=path, **dict(FAST, **settings))["TargetGroups"][0]
        return group["TargetGroupArn"]

    def forward_to(*arns):
        action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": arn, "Weight": 1}
                                                                        for arn in arns]}}
        elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                              DefaultActions=[action])

    return target_group, forward_to


def health(elbv2, arn, target_id):
    [description] = elbv2.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": target_id}])[
        "TargetHealthDescriptions"]
    state = description["TargetHealth"]
    return state["State"], state.get("Reason"), state.get("Description")


def launch_app(aws, ec2, image_id):
    [instance] = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, UserData=TEST_APP)["Instances"]
    [live] = aws.control.wait_for_live_instances([instance["InstanceId"]])
    return instance["InstanceId"], live["name"]


def test_the_apps_answer_decides_health_and_its_reason(aws, ec2, elbv2, content_ami, site):
    target_group, forward_to = site
    instance_id, name = launch_app(aws, ec2, content_ami)
    good, missing, slow = (target_group("good", "/health"), target_group("missing", "/nothing"),
                           target_group("slow", "/sleep/30"))
    for arn in (good, missing, slow):
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    assert health(elbv2, good, instance_id)[0] == "unused"  # nothing forwards to it yet: never checked

    forward_to(good, missing, slow)

    assert health(elbv2, good, instance_id)[:2] == ("initial", "Elb.InitialHealthChecking")
    assert eventually(lambda: health(elbv2, good, instance_id)[0] == "healthy", timeout=30, interval=0.5)
    assert eventually(lambda: health(elbv2, missing, instance_id) == (
        "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]"),
        timeout=30, interval=0.5)
    assert eventually(lambda: health(elbv2, slow, instance_id)[:2] == ("unhealthy", "Target.Timeout"),
                      timeout=30, interval=0.5)

    run_in(name, ["systemctl", "stop", "app"])

    assert eventually(lambda: health(elbv2, good, instance_id) == (
        "unhealthy", "Target.FailedHealthChecks", "Health checks failed"), timeout=30, interval=0.5)


def test_auto_scaling_replaces_an_instance_the_load_balancer_finds_unhealthy(
    aws, ec2, elbv2, autoscaling, aws_network, content_ami, site
):
    target_group, forward_to = site
    broken = target_group("broken", "/nothing")
    forward_to(broken)
    ec2.create_launch_template(LaunchTemplateName="broken", LaunchTemplateData={
        "ImageId": content_ami, "UserData": base64.b64encode(TEST_APP.encode()).decode()})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="broken", MinSize=1, MaxSize=1, DesiredCapacity=1, HealthCheckType="ELB",
        HealthCheckGracePeriod=30, TargetGroupARNs=[broken], VPCZoneIdentifier=",".join(aws_network.subnet_ids),
        LaunchTemplate={"LaunchTemplateName": "broken", "Version": "$Latest"})
    [first] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["broken"])["AutoScalingGroups"][0][
        "Instances"]

    def replacement():
        activities = autoscaling.describe_scaling_activities(AutoScalingGroupName="broken")["Activities"]
        return [activity for activity in activities
                if activity["Description"] == f"Terminating EC2 instance: {first['InstanceId']}"]

    [terminated] = eventually(replacement, timeout=120, interval=1)
    assert "ELB system health check failure" in terminated["Cause"]
    assert "Target.ResponseCodeMismatch" in terminated["StatusMessage"]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["broken"])["AutoScalingGroups"][0]
    assert [instance["InstanceId"] for instance in group["Instances"]] != [first["InstanceId"]]
    assert len(group["Instances"]) == 1
    states = {item["instance_id"]: item["state"] for item in aws.control.live_instances()}
    assert eventually(lambda: {item["instance_id"]: item["state"] for item in aws.control.live_instances()}.get(
        first["InstanceId"]) == "stopped", timeout=30)
    assert states  # the replacement is a live instance too
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="broken", ForceDelete=True)
