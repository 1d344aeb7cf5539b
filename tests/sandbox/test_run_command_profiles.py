"""Which instance profile an instance has, and whether it lets the SSM agent work, as the
sandbox's Run Command reads them from moto (aws/run_command.py). No stand-in boots here: the
profile check is asked directly, in the sandbox's process."""

import pytest
from cattle_sandbox.aws import run_command
from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends

from fixtures.aws import register_image

pytestmark = [pytest.mark.sandbox]

ACCOUNT, REGION = "123456789012", "us-east-1"
CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
TRUST = """{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"""
ONLY_REGISTERING = """{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"}]}"""


@pytest.fixture
def iam(boto3_client):
    return boto3_client("iam")


def profile(iam, name, managed=(), inline=None):
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    for arn in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    if inline:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=inline)
    created = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return created["Arn"]


def launched(ec2, **arguments):
    instance_id = ec2.run_instances(MinCount=1, MaxCount=1, **arguments)["Instances"][0]["InstanceId"]
    return ec2_backends[ACCOUNT][REGION].get_instance(instance_id)


def allows(instance):
    return run_command.profile_allows_agent(ssm_backends[ACCOUNT][REGION], instance)


def test_the_profile_given_to_run_instances_is_the_instances(aws, ec2, iam):
    profile(iam, "core", managed=[CORE_POLICY])
    profile(iam, "plain")
    image_id = register_image(ec2, "profiles")

    assert allows(launched(ec2, ImageId=image_id, IamInstanceProfile={"Name": "core"}))
    assert not allows(launched(ec2, ImageId=image_id, IamInstanceProfile={"Name": "plain"}))
    assert not allows(launched(ec2, ImageId=image_id))


def test_an_instance_launched_from_a_template_has_the_templates_profile(aws, ec2, iam):
    core_arn = profile(iam, "core", managed=[CORE_POLICY])
    profile(iam, "registering-only", inline=ONLY_REGISTERING)
    image_id = register_image(ec2, "profiles")
    ec2.create_launch_template(LaunchTemplateName="by-arn", LaunchTemplateData={
        "ImageId": image_id, "IamInstanceProfile": {"Arn": core_arn}})
    ec2.create_launch_template(LaunchTemplateName="by-name", LaunchTemplateData={
        "ImageId": image_id, "IamInstanceProfile": {"Name": "registering-only"}})

    by_arn = launched(ec2, LaunchTemplate={"LaunchTemplateName": "by-arn", "Version": "$Latest"})
    by_name = launched(ec2, LaunchTemplate={"LaunchTemplateName": "by-name"})

    assert run_command.instance_profile(ssm_backends[ACCOUNT][REGION], by_arn).name == "core"
    assert allows(by_arn)
    assert run_command.instance_profile(ssm_backends[ACCOUNT][REGION], by_name).name == "registering-only"
    assert not allows(by_name)  # registering alone: no channel to take commands through


def test_aws_managed_policies_exist_in_the_sandboxs_account(aws, iam):
    policy = iam.get_policy(PolicyArn=CORE_POLICY)["Policy"]

    assert policy["PolicyName"] == "AmazonSSMManagedInstanceCore"
