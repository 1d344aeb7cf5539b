"""Fixtures shared by the tests of the sandbox's emulated AWS (the rest live in tests/fixtures/)."""

import pytest


@pytest.fixture
def instance_id(ec2, aws_network):
    """A running instance to create images from."""
    image_id = ec2.register_image(Name="instance-base")["ImageId"]
    reservation = ec2.run_instances(
        ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=aws_network.subnet_ids[0]
    )
    return reservation["Instances"][0]["InstanceId"]
