"""Auto Scaling group deletion in the sandbox is asynchronous, as on AWS: "Delete in progress", then gone."""

import time

import pytest
from botocore.exceptions import ClientError

from fixtures.aws import eventually

pytestmark = pytest.mark.sandbox

NOT_FOUND = "AutoScalingGroup name not found - AutoScalingGroup 'web-blue' not found"


@pytest.fixture
def group(ec2, elbv2, autoscaling, aws_network):
    """Auto Scaling group web-blue, 2 instances, attached to target group web-blue."""
    image_id = ec2.register_image(Name="delete-base")["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="web-lt",
                               LaunchTemplateData={"ImageId": image_id, "InstanceType": "t3.micro"})
    target_group = elbv2.create_target_group(Name="web-blue", Protocol="HTTP", Port=80,
                                             VpcId=aws_network.vpc_id)["TargetGroups"][0]["TargetGroupArn"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web-blue", MinSize=2, MaxSize=2, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateName": "web-lt"}, VPCZoneIdentifier=aws_network.subnet_ids[0],
        TargetGroupARNs=[target_group])
    return target_group


def described(autoscaling):
    return autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web-blue"])["AutoScalingGroups"]


def error_of(call, **arguments):
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_a_deleted_group_stays_delete_in_progress_refusing_changes_then_is_gone(aws, autoscaling, group):
    aws.control.set_fidelity(asg_delete_min_seconds=1.5, asg_delete_max_seconds=1.5)
    started = time.monotonic()

    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="web-blue", ForceDelete=True)

    [deleting] = described(autoscaling)
    assert deleting["Status"] == "Delete in progress" and deleting["DesiredCapacity"] == 0
    assert deleting["Instances"] == []
    assert error_of(autoscaling.delete_auto_scaling_group, AutoScalingGroupName="web-blue", ForceDelete=True) == (
        "ScalingActivityInProgress",
        "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.")
    assert error_of(autoscaling.update_auto_scaling_group, AutoScalingGroupName="web-blue", MaxSize=3) == (
        "ValidationError", "The AutoScaling group may not be modified while it is pending delete")
    assert error_of(autoscaling.suspend_processes, AutoScalingGroupName="web-blue")[0] == "ValidationError"
    eventually(lambda: described(autoscaling) == [], timeout=3)
    assert time.monotonic() - started >= 1.5
    assert error_of(autoscaling.delete_auto_scaling_group, AutoScalingGroupName="web-blue") == (
        "ValidationError", NOT_FOUND)


def test_the_deletion_time_is_seeded_and_bounded(aws, autoscaling, group):
    aws.control.set_fidelity(asg_delete_min_seconds=0.3, asg_delete_max_seconds=0.6, asg_delete_seed=7)
    started = time.monotonic()

    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="web-blue", ForceDelete=True)

    assert described(autoscaling)[0]["Status"] == "Delete in progress"
    eventually(lambda: described(autoscaling) == [], timeout=2, interval=0.02)
    assert 0.3 <= time.monotonic() - started < 0.8


def test_a_target_group_used_by_a_listener_cannot_be_deleted_one_attached_to_a_deleting_group_can(
    aws, elbv2, autoscaling, aws_network, group
):
    # AWS, DeleteTargetGroup: "You can delete a target group if it is not referenced by any actions."
    balancer = elbv2.create_load_balancer(Name="web", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]
    listener = elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
    assert error_of(elbv2.delete_target_group, TargetGroupArn=group)[0] == "ResourceInUse"
    elbv2.delete_listener(ListenerArn=listener["Listeners"][0]["ListenerArn"])
    aws.control.set_fidelity(asg_delete_min_seconds=5, asg_delete_max_seconds=5)
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="web-blue", ForceDelete=True)

    elbv2.delete_target_group(TargetGroupArn=group)

    assert described(autoscaling)[0]["Status"] == "Delete in progress"


def test_with_no_deletion_time_the_group_is_gone_at_once(aws, autoscaling, group):
    aws.control.set_fidelity(asg_delete_min_seconds=0, asg_delete_max_seconds=0)

    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="web-blue", ForceDelete=True)

    assert described(autoscaling) == []
