"""A create retried with the same ClientToken completes once, as AWS documents
(RunInstances, CreateLaunchTemplate, CopyImage); moto would act again."""

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = pytest.mark.sandbox

RETRYING = Config(retries={"mode": "standard", "total_max_attempts": 3})


class Creates:
    """Each create the product makes with a token: how to call it and what it made."""

    def __init__(self, ec2, aws_network):
        self.ec2 = ec2
        self.subnet = aws_network.subnet_ids[0]
        self.image = ec2.register_image(Name="token-base")["ImageId"]

    def run_instances(self, token, instance_type="t3.micro", image=None, subnet=None):
        answer = self.ec2.run_instances(ImageId=image or self.image, MinCount=1, MaxCount=1, ClientToken=token,
                                        InstanceType=instance_type, SubnetId=subnet or self.subnet)
        return answer["Instances"][0]["InstanceId"]

    def create_launch_template(self, token, instance_type="t3.micro", image=None):
        answer = self.ec2.create_launch_template(
            LaunchTemplateName="web-token", ClientToken=token,
            LaunchTemplateData={"ImageId": image or self.image, "InstanceType": instance_type})
        return answer["LaunchTemplate"]["LaunchTemplateId"]

    def copy_image(self, token, instance_type="t3.micro", image=None):
        # The instance type stands for "other parameters": here it changes the description.
        answer = self.ec2.copy_image(SourceRegion=self.ec2.meta.region_name, SourceImageId=image or self.image,
                                     Name="web-copy", Description=instance_type, ClientToken=token)
        return answer["ImageId"]

    def made(self, kind):
        if kind == "run_instances":
            reservations = self.ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [self.image]}])
            return sorted(i["InstanceId"] for r in reservations["Reservations"] for i in r["Instances"])
        if kind == "create_launch_template":
            return sorted(t["LaunchTemplateId"] for t in self.ec2.describe_launch_templates()["LaunchTemplates"])
        return sorted(i["ImageId"] for i in self.ec2.describe_images(Owners=["self"])["Images"]
                      if i["Name"] == "web-copy")


KINDS = ["run_instances", "create_launch_template", "copy_image"]
ACTIONS = {"run_instances": "RunInstances", "create_launch_template": "CreateLaunchTemplate",
           "copy_image": "CopyImage"}


@pytest.fixture
def creates(ec2, aws_network):
    return Creates(ec2, aws_network)


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_token_and_parameters_answer_the_first_result_and_act_once(creates, kind):
    create = getattr(creates, kind)

    first = create("token-1")
    again = create("token-1")

    assert again == first
    assert creates.made(kind) == [first]


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_token_with_other_parameters_is_refused_and_acts_not(creates, kind):
    create = getattr(creates, kind)
    first = create("token-1")

    with pytest.raises(ClientError) as raised:
        create("token-1", instance_type="t3.small")

    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    assert creates.made(kind) == [first]


@pytest.mark.parametrize("kind", KINDS)
def test_a_lost_answer_retried_by_botocore_makes_one_resource(creates, aws, boto3_client, kind):
    ec2 = boto3_client("ec2", config=RETRYING)
    creates.ec2 = ec2
    aws.control.reset_counters()
    aws.control.add_fault(service="ec2", action=ACTIONS[kind], kind="lose_response", count=1)

    made = getattr(creates, kind)("token-lost")

    assert aws.control.counters()[f"ec2:{ACTIONS[kind]}"] == 2
    assert creates.made(kind) == [made]


def test_a_failed_request_leaves_its_token_free(creates):
    with pytest.raises(ClientError):
        creates.run_instances("token-1", subnet="subnet-00000000")

    launched = creates.run_instances("token-1")

    assert creates.made("run_instances") == [launched]


def test_a_token_longer_than_64_characters_is_refused(creates):
    with pytest.raises(ClientError) as raised:
        creates.run_instances("t" * 65)

    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert creates.made("run_instances") == []
