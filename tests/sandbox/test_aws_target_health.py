"""ELBv2 target health in the sandbox follows AWS's timeline, not moto's "always healthy"."""

import pytest

from fixtures.aws import eventually

pytestmark = pytest.mark.sandbox


@pytest.fixture
def image_id(ec2):
    return ec2.register_image(Name="health-base")["ImageId"]


@pytest.fixture
def alb(elbv2, aws_network):
    return elbv2.create_load_balancer(Name="web", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]["LoadBalancerArn"]


def make_target_group(elbv2, aws_network, name="web-blue", delay_seconds=1):
    arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(delay_seconds)}]
    )
    return arn


def forward_to(elbv2, alb, *weighted_groups):
    targets = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weighted_groups]
    return elbv2.create_listener(
        LoadBalancerArn=alb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": targets}}],
    )["Listeners"][0]["ListenerArn"]


def run_instances(ec2, image_id, aws_network, count):
    reservation = ec2.run_instances(
        ImageId=image_id, MinCount=count, MaxCount=count, InstanceType="t3.micro", SubnetId=aws_network.subnet_ids[0]
    )
    return [instance["InstanceId"] for instance in reservation["Instances"]]


def health(elbv2, target_group_arn):
    """{target id: (state, reason)} as DescribeTargetHealth reports it."""
    descriptions = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason")) for d in descriptions}


def states(elbv2, target_group_arn):
    return {target: state for target, (state, _reason) in health(elbv2, target_group_arn).items()}


def launch_group(ec2, autoscaling, image_id, aws_network, target_group_arn, **sizes):
    """Auto Scaling group "web-blue" from launch template "web-lt", attached to the target group."""
    ec2.create_launch_template(
        LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": image_id, "InstanceType": "t3.micro"}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web-blue",
        LaunchTemplate={"LaunchTemplateName": "web-lt"},
        VPCZoneIdentifier=aws_network.subnet_ids[0],
        TargetGroupARNs=[target_group_arn],
        **sizes,
    )


def test_a_new_target_is_initial_then_healthy(ec2, elbv2, alb, aws_network, image_id):
    group = make_target_group(elbv2, aws_network)
    forward_to(elbv2, alb, (group, 1))
    [instance] = run_instances(ec2, image_id, aws_network, 1)

    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance}])

    assert health(elbv2, group) == {instance: ("initial", "Elb.InitialHealthChecking")}
    eventually(lambda: health(elbv2, group) == {instance: ("healthy", None)})


def test_targets_of_a_group_nothing_forwards_to_are_unused_until_a_listener_uses_it(
    ec2, elbv2, alb, aws_network, image_id
):
    blue = make_target_group(elbv2, aws_network, "web-blue")
    green = make_target_group(elbv2, aws_network, "web-green")
    instance = run_instances(ec2, image_id, aws_network, 1)[0]
    elbv2.register_targets(TargetGroupArn=green, Targets=[{"Id": instance}])

    assert health(elbv2, green) == {instance: ("unused", "Target.NotInUse")}

    # Added at weight 0: no traffic yet, but AWS health-checks it from now on.
    forward_to(elbv2, alb, (blue, 1), (green, 0))
    assert states(elbv2, green) == {instance: "initial"}
    eventually(lambda: states(elbv2, green) == {instance: "healthy"})


def test_a_deregistered_target_drains_for_the_deregistration_delay_then_is_gone(ec2, elbv2, alb, aws_network, image_id):
    group = make_target_group(elbv2, aws_network, delay_seconds=1)
    forward_to(elbv2, alb, (group, 1))
    staying, leaving = run_instances(ec2, image_id, aws_network, 2)
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": staying}, {"Id": leaving}])
    eventually(lambda: set(states(elbv2, group).values()) == {"healthy"})

    elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": leaving}])

    assert health(elbv2, group) == {
        staying: ("healthy", None),
        leaving: ("draining", "Target.DeregistrationInProgress"),
    }
    eventually(lambda: states(elbv2, group) == {staying: "healthy"}, timeout=5)
    asked = elbv2.describe_target_health(TargetGroupArn=group, Targets=[{"Id": leaving}])["TargetHealthDescriptions"]
    assert asked[0]["TargetHealth"]["Reason"] == "Target.NotRegistered"


def test_test_control_marks_targets_unhealthy_and_healthy_until_cleared(aws, ec2, elbv2, alb, aws_network, image_id):
    group = make_target_group(elbv2, aws_network)
    forward_to(elbv2, alb, (group, 1))
    sick, fine = run_instances(ec2, image_id, aws_network, 2)
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": sick}, {"Id": fine}])

    aws.control.set_target_health(
        group,
        [sick],
        state="unhealthy",
        reason="Target.ResponseCodeMismatch",
        description="Health checks failed with these codes: [502]",
    )
    reported = elbv2.describe_target_health(TargetGroupArn=group, Targets=[{"Id": sick}])["TargetHealthDescriptions"]
    assert reported[0]["TargetHealth"] == {
        "State": "unhealthy",
        "Reason": "Target.ResponseCodeMismatch",
        "Description": "Health checks failed with these codes: [502]",
    }
    eventually(lambda: states(elbv2, group) == {sick: "unhealthy", fine: "healthy"})

    aws.control.set_target_health(group, [sick], state="healthy")
    assert states(elbv2, group) == {sick: "healthy", fine: "healthy"}

    aws.control.set_target_health(group, [fine], state="unhealthy")
    assert health(elbv2, group)[fine] == ("unhealthy", "Target.FailedHealthChecks")
    assert aws.control.clear_target_health(group) == 2
    assert states(elbv2, group) == {sick: "healthy", fine: "healthy"}


def test_an_override_by_group_name_applies_to_targets_registered_later(aws, ec2, elbv2, alb, aws_network, image_id):
    aws.control.set_target_health("web-green", None, state="unhealthy")
    green = make_target_group(elbv2, aws_network, "web-green")
    forward_to(elbv2, alb, (green, 1))
    instances = run_instances(ec2, image_id, aws_network, 2)

    elbv2.register_targets(TargetGroupArn=green, Targets=[{"Id": i} for i in instances])

    assert states(elbv2, green) == {i: "unhealthy" for i in instances}


def test_auto_scaling_instances_follow_the_same_timeline(ec2, elbv2, autoscaling, alb, aws_network, image_id):
    group = make_target_group(elbv2, aws_network)
    forward_to(elbv2, alb, (group, 1))
    launch_group(ec2, autoscaling, image_id, aws_network, group, MinSize=2, MaxSize=2, DesiredCapacity=2)

    assert list(states(elbv2, group).values()) == ["initial", "initial"]
    eventually(lambda: list(states(elbv2, group).values()) == ["healthy", "healthy"])


def test_instances_auto_scaling_removes_drain_out_of_its_target_groups(
    ec2, elbv2, autoscaling, alb, aws_network, image_id
):
    group = make_target_group(elbv2, aws_network, delay_seconds=1)
    forward_to(elbv2, alb, (group, 1))
    launch_group(ec2, autoscaling, image_id, aws_network, group, MinSize=0, MaxSize=3, DesiredCapacity=3)

    autoscaling.set_desired_capacity(AutoScalingGroupName="web-blue", DesiredCapacity=1)
    remaining = list(states(elbv2, group).values())
    assert remaining.count("draining") == 2
    assert len(remaining) == 3 and set(remaining) - {"draining"} <= {"initial", "healthy"}

    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="web-blue", ForceDelete=True)
    assert set(states(elbv2, group).values()) == {"draining"}
    eventually(lambda: states(elbv2, group) == {})


def test_an_instance_terminated_by_the_user_is_replaced_in_the_target_group(
    ec2, elbv2, autoscaling, alb, aws_network, image_id
):
    group = make_target_group(elbv2, aws_network, delay_seconds=1)
    forward_to(elbv2, alb, (group, 1))
    launch_group(ec2, autoscaling, image_id, aws_network, group, MinSize=1, MaxSize=1)
    [original] = states(elbv2, group)

    ec2.terminate_instances(InstanceIds=[original])

    after = states(elbv2, group)
    assert after.pop(original) == "draining"
    assert list(after.values()) == ["initial"]


def test_a_target_in_a_zone_the_load_balancer_does_not_serve_is_unused_until_the_zone_is_enabled(
    aws, ec2, elbv2, alb, aws_network, image_id
):
    group = make_target_group(elbv2, aws_network)
    forward_to(elbv2, alb, (group, 1))
    outside = ec2.create_subnet(VpcId=aws_network.vpc_id, CidrBlock="10.20.9.0/24",
                                AvailabilityZone="us-east-1c")["Subnet"]["SubnetId"]
    [served] = run_instances(ec2, image_id, aws_network, 1)
    [unserved] = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=outside)["Instances"]]

    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": served}, {"Id": unserved}])

    described = {d["Target"]["Id"]: d["TargetHealth"]
                 for d in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]}
    assert described[unserved] == {"State": "unused", "Reason": "Target.NotInUse", "Description":
                                   "Target is in an Availability Zone that is not enabled for the load balancer"}
    eventually(lambda: health(elbv2, group)[served] == ("healthy", None))
    assert health(elbv2, group)[unserved] == ("unused", "Target.NotInUse")

    elbv2.set_subnets(LoadBalancerArn=alb, Subnets=aws_network.subnet_ids + [outside])

    assert health(elbv2, group)[unserved][0] in ("initial", "healthy")
    aws.control.set_fidelity(report_targets_outside_enabled_zones=False)
    elbv2.set_subnets(LoadBalancerArn=alb, Subnets=aws_network.subnet_ids)
    assert health(elbv2, group)[unserved][0] != "unused"
