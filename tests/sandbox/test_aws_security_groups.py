"""The sandbox records each deleted security group with the ingress it had, so a test can read
back a group that is gone (Packer's temporary one)."""

import pytest

pytestmark = pytest.mark.sandbox


def test_a_deleted_group_is_recorded_with_the_ingress_it_had_and_a_reset_forgets_it(aws, ec2, aws_network):
    group_id = ec2.create_security_group(GroupName="packer_temp", Description="Temporary group for Packer",
                                         VpcId=aws_network.vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "198.51.100.7/32"}, {"CidrIp": "203.0.113.0/24"}]}])
    kept = ec2.create_security_group(GroupName="kept", Description="not deleted", VpcId=aws_network.vpc_id)["GroupId"]
    assert aws.control.deleted_security_groups() == []

    ec2.delete_security_group(GroupId=group_id)

    [record] = aws.control.deleted_security_groups()
    assert (record["group_id"], record["group_name"], record["vpc_id"]) == (group_id, "packer_temp", aws_network.vpc_id)
    assert sorted((rule["protocol"], rule["from_port"], rule["to_port"], rule["cidr_ipv4"]) for rule in record["ingress"]) == [
        ("tcp", 22, 22, "198.51.100.7/32"), ("tcp", 22, 22, "203.0.113.0/24")]
    assert kept not in [group["group_id"] for group in aws.control.deleted_security_groups()]
    aws.control.reset()
    assert aws.control.deleted_security_groups() == []
