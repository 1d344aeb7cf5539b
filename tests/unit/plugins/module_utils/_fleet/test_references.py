"""The checks of a new fleet's references (subnets, security groups, zones, profile, key) on what AWS described."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._fleet import references as fleet_references

REGION = "us-east-1"
PATHS = {"subnets": "apps.web.subnets", "vpc_id": "apps.web.vpc_id"}
SUBNET_A = "subnet-0000000000000000a"
SUBNET_B = "subnet-0000000000000000b"
SG = "sg-0000000000000000a"


def subnet(subnet_id, vpc="vpc-1", zone="us-east-1a"):
    return {"SubnetId": subnet_id, "VpcId": vpc, "AvailabilityZone": zone}


def test_subnets_that_exist_in_the_definitions_vpc_have_no_problem():
    subnets = [subnet(SUBNET_A), subnet(SUBNET_B, zone="us-east-1b")]

    assert fleet_references.subnet_problems([SUBNET_A, SUBNET_B], subnets, "vpc-1", REGION, PATHS) == []
    assert fleet_references.shared_vpc(subnets) == "vpc-1"


def test_every_missing_subnet_is_named_with_the_region():
    problems = fleet_references.subnet_problems([SUBNET_A, SUBNET_B], [], None, REGION, PATHS)

    assert problems == ["apps.web.subnets: {0}, {1} do not exist in us-east-1".format(SUBNET_A, SUBNET_B)]


def test_subnets_in_several_vpcs_are_refused_naming_each_vpc():
    subnets = [subnet(SUBNET_A, "vpc-1"), subnet(SUBNET_B, "vpc-2")]

    problems = fleet_references.subnet_problems([SUBNET_A, SUBNET_B], subnets, None, REGION, PATHS)

    assert problems == ["apps.web.subnets: the subnets are in several VPCs ({0} in vpc-1; {1} in vpc-2); a fleet's "
                        "subnets share one".format(SUBNET_A, SUBNET_B)]
    assert fleet_references.shared_vpc(subnets) is None


def test_subnets_outside_the_definitions_vpc_id_are_refused_naming_both_fields():
    problems = fleet_references.subnet_problems([SUBNET_A], [subnet(SUBNET_A, "vpc-2")], "vpc-1", REGION, PATHS)

    assert problems == ["apps.web.subnets: the subnets are in vpc-2, not in apps.web.vpc_id vpc-1"]


def test_security_groups_missing_or_in_another_vpc_are_named():
    path = "apps.web.stages.prod.security_groups"
    groups = [{"GroupId": SG, "VpcId": "vpc-2"}]

    problems = fleet_references.security_group_problems([SG, "sg-0000000000000000b"], groups, "vpc-1", REGION, path)

    assert problems == [
        path + ": sg-0000000000000000b does not exist in us-east-1",
        path + ": {0} is in vpc-2, the subnets are in vpc-1".format(SG),
    ]


def test_a_security_group_is_not_compared_with_subnets_in_no_one_vpc():
    groups = [{"GroupId": SG, "VpcId": "vpc-2"}]

    assert fleet_references.security_group_problems([SG], groups, None, REGION, "apps.web.security_groups") == []


def test_zones_that_do_not_offer_the_instance_type_are_named_with_their_subnets():
    subnets = [subnet(SUBNET_A, zone="us-east-1a"), subnet(SUBNET_B, zone="us-east-1e")]

    problems = fleet_references.zone_problems("t3.micro", subnets, {"us-east-1a"}, "apps.web.instance_type")

    assert problems == ["apps.web.instance_type: t3.micro is not offered in us-east-1e (subnet {0})".format(SUBNET_B)]
    assert fleet_references.zone_problems("t3.micro", subnets, {"us-east-1a", "us-east-1e"}, "x") == []


@pytest.mark.parametrize(
    "profile, name",
    [("web", "web"), ("arn:aws:iam::123456789012:instance-profile/web", "web"),
     ("arn:aws:iam::123456789012:instance-profile/team/web", "web")],
)
def test_an_instance_profile_is_looked_up_by_its_name(profile, name):
    assert fleet_references.profile_name(profile) == name


def test_an_instance_profile_arn_must_be_the_one_that_exists():
    found = {"InstanceProfileName": "web", "Arn": "arn:aws:iam::123456789012:instance-profile/web"}
    other_account = "arn:aws:iam::210987654321:instance-profile/web"
    path = "apps.web.instance_profile"

    assert fleet_references.profile_problems(found["Arn"], found, path) == []
    assert fleet_references.profile_problems("web", found, path) == []
    assert fleet_references.profile_problems("web", None, path) == [path + ": instance profile web does not exist"]
    assert fleet_references.profile_problems(other_account, found, path) == [
        path + ": {0} does not exist (this account's instance profile web is {1})".format(other_account, found["Arn"])]


def test_a_kms_key_must_exist_and_be_enabled():
    path = "apps.web.root_volume.kms_key_id"
    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    assert fleet_references.key_problems("alias/web", {"KeyState": "Enabled", "Arn": arn}, REGION, path) == []
    assert fleet_references.key_problems("alias/web", None, REGION, path) == [
        path + ": KMS key alias/web does not exist in us-east-1"]
    assert fleet_references.key_problems("alias/web", {"KeyState": "PendingDeletion", "Arn": arn}, REGION, path) == [
        path + ": KMS key alias/web ({0}) is PendingDeletion, not Enabled: EBS cannot encrypt with it".format(arn)]


@pytest.mark.parametrize(
    "key, region",
    [("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "eu-west-1"),
     ("arn:aws:kms:us-east-1:123456789012:alias/web", "us-east-1"),
     ("alias/web", None), ("1234abcd-12ab-34cd-56ef-1234567890ab", None)],
)
def test_the_region_of_a_kms_key_comes_from_its_arn(key, region):
    assert fleet_references.arn_region(key) == region
