"""Auto Scaling in the sandbox: unique names, scaling activities, launches made to fail."""

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.sandbox

BAD_IMAGE = "The image id '[ami-0123456789abcdef0]' does not exist. Launching EC2 instance failed."


@pytest.fixture
def launch_template(ec2):
    image_id = ec2.register_image(Name="asg-base")["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": image_id, "InstanceType": "t3.micro"}
    )
    return {"LaunchTemplateName": "web-lt"}


def create_group(autoscaling, aws_network, launch_template, name, desired, **extra):
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=desired,
        LaunchTemplate=launch_template,
        VPCZoneIdentifier=aws_network.subnet_ids[0],
        **extra,
    )


def instances(autoscaling, name):
    [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return [instance["InstanceId"] for instance in group["Instances"]]


def activities(autoscaling, name):
    return autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]


def test_creating_a_group_with_a_name_in_use_fails_and_leaves_the_group_alone(
    autoscaling, aws_network, launch_template
):
    create_group(autoscaling, aws_network, launch_template, "web-blue", desired=2)
    before = instances(autoscaling, "web-blue")

    with pytest.raises(ClientError) as raised:
        create_group(autoscaling, aws_network, launch_template, "web-blue", desired=1)

    assert raised.value.response["Error"]["Code"] == "AlreadyExists"
    assert "AutoScalingGroup by this name already exists" in raised.value.response["Error"]["Message"]
    assert instances(autoscaling, "web-blue") == before


def test_launches_and_terminations_show_as_scaling_activities(autoscaling, aws_network, launch_template):
    create_group(autoscaling, aws_network, launch_template, "web-blue", desired=2)
    launched = instances(autoscaling, "web-blue")

    autoscaling.set_desired_capacity(AutoScalingGroupName="web-blue", DesiredCapacity=1)

    described = [(a["Description"], a["StatusCode"]) for a in activities(autoscaling, "web-blue")]
    [removed] = set(launched) - set(instances(autoscaling, "web-blue"))
    assert described[0] == (f"Terminating EC2 instance: {removed}", "Successful")
    assert sorted(described[1:]) == sorted((f"Launching a new EC2 instance: {i}", "Successful") for i in launched)


def test_a_group_whose_launches_fail_gets_no_instances_and_a_failed_activity(
    aws, autoscaling, aws_network, launch_template
):
    aws.control.fail_asg_launches("web-green", reason=BAD_IMAGE)

    create_group(autoscaling, aws_network, launch_template, "web-green", desired=2)

    assert instances(autoscaling, "web-green") == []
    latest = activities(autoscaling, "web-green")[0]
    assert latest["StatusCode"] == "Failed"
    assert latest["StatusMessage"] == BAD_IMAGE
    assert "increasing the capacity from 0 to 2" in latest["Cause"]


def test_once_launches_work_again_the_group_reaches_its_desired_capacity(
    aws, autoscaling, aws_network, launch_template
):
    aws.control.fail_asg_launches("web-green", reason=BAD_IMAGE)
    create_group(autoscaling, aws_network, launch_template, "web-green", desired=2)

    assert aws.control.clear_asg_launch_failures("web-green") == ["web-green"]

    assert len(instances(autoscaling, "web-green")) == 2
    assert activities(autoscaling, "web-green")[0]["StatusCode"] == "Successful"
    assert aws.control.asg_launch_failures() == []


def test_failing_a_running_group_removes_its_instances_from_its_target_group(
    aws, boto3_client, autoscaling, aws_network, launch_template
):
    elbv2 = boto3_client("elbv2")
    group = elbv2.create_target_group(Name="web-green", Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    create_group(autoscaling, aws_network, launch_template, "web-green", desired=2, TargetGroupARNs=[group])
    running = instances(autoscaling, "web-green")

    removed = aws.control.fail_asg_launches("web-green", reason=BAD_IMAGE)

    assert sorted(removed) == sorted(running)
    assert instances(autoscaling, "web-green") == []
    described = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert {d["TargetHealth"]["State"] for d in described} == {"draining"}
    assert activities(autoscaling, "web-green")[0]["StatusMessage"] == BAD_IMAGE


def test_keeping_running_instances_only_fails_new_launches(aws, autoscaling, aws_network, launch_template):
    create_group(autoscaling, aws_network, launch_template, "web-blue", desired=1)
    running = instances(autoscaling, "web-blue")
    assert aws.control.fail_asg_launches("web-blue", reason=BAD_IMAGE, remove_running=False) == []

    autoscaling.set_desired_capacity(AutoScalingGroupName="web-blue", DesiredCapacity=3)

    assert instances(autoscaling, "web-blue") == running
    assert activities(autoscaling, "web-blue")[0]["StatusCode"] == "Failed"
    assert aws.control.clear_asg_launch_failures() == ["web-blue"]
    assert len(instances(autoscaling, "web-blue")) == 3
