"""cattle.immutable.fleet refuses a new fleet whose references AWS would refuse, before its first write.

AWS checks what a launch template names (subnets, security groups, instance profile, the
instance type in each zone, the root volume's KMS key) only when the Auto Scaling group is
created or launches, after the launch template, target group and listener entry exist. The
module reads them first. Each refusal names the field of the definition and says nothing
was changed, and the sandbox's counters show that no write was made, in check mode too.
"""

import pytest

from fixtures.deploy_site import Site, writes_in
from fixtures.fleet_runs import run_fleet

pytestmark = pytest.mark.sandbox

MISSING_SUBNET = "subnet-0123456789abcdef0"
MISSING_GROUP = "sg-0123456789abcdef0"
# The reads a new fleet makes for its references, one call each whatever the number of ids.
REFERENCE_READS = ("ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstanceTypeOfferings",
                   "iam:GetInstanceProfile", "kms:DescribeKey")


@pytest.fixture
def site(aws, boto3_client, aws_network):
    aws.control.set_fidelity(target_healthy_after=0)
    site = Site(aws, boto3_client, aws_network)
    site.iam, site.kms = boto3_client("iam"), boto3_client("kms")
    return site


def other_vpc(site):
    """A second VPC with a subnet and a security group: what the app's definition must not mix in."""
    vpc_id = site.ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = site.ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.99.1.0/24", AvailabilityZone="us-east-1a")
    group = site.ec2.create_security_group(GroupName="other", Description="other", VpcId=vpc_id)["GroupId"]
    return vpc_id, subnet["Subnet"]["SubnetId"], group


def missing_subnet(site):
    site.definition["subnets"] = [site.network.subnet_ids[0], MISSING_SUBNET]
    return f"apps.web.subnets: {MISSING_SUBNET} does not exist in us-east-1"


def subnets_in_two_vpcs(site):
    _vpc, subnet, _group = other_vpc(site)
    site.definition["subnets"] = [site.network.subnet_ids[0], subnet]
    del site.definition["vpc_id"]
    return "apps.web.subnets: the subnets are in several VPCs ("


def subnets_outside_vpc_id(site):
    site.definition["vpc_id"] = other_vpc(site)[0]
    return f"apps.web.subnets: the subnets are in {site.network.vpc_id}, not in apps.web.vpc_id {site.definition['vpc_id']}"


def missing_security_group(site):
    site.definition["security_groups"] = [site.security_group, MISSING_GROUP]
    return f"apps.web.security_groups: {MISSING_GROUP} does not exist in us-east-1"


def security_group_of_another_vpc_in_a_stage(site):
    vpc_id, _subnet, group = other_vpc(site)
    site.definition["stages"] = {"dev": {}, "staging": {}, "prod": {"security_groups": [group]}}
    return f"apps.web.stages.prod.security_groups: {group} is in {vpc_id}, the subnets are in {site.network.vpc_id}"


def instance_type_not_offered_in_a_zone(site):
    # us-east-1e offers no t3 instances, on AWS as in the sandbox's offerings.
    subnet = site.ec2.create_subnet(VpcId=site.network.vpc_id, CidrBlock="10.20.5.0/24",
                                    AvailabilityZone="us-east-1e")["Subnet"]["SubnetId"]
    site.definition["subnets"] = site.network.subnet_ids + [subnet]
    return f"apps.web.instance_type: t3.micro is not offered in us-east-1e (subnet {subnet})"


def missing_instance_profile(site):
    site.definition["instance_profile"] = "web-instance"
    return "apps.web.instance_profile: instance profile web-instance does not exist"


def missing_kms_key(site):
    site.definition["root_volume"] = {"kms_key_id": "alias/web-ebs"}
    return "apps.web.root_volume.kms_key_id: KMS key alias/web-ebs does not exist in us-east-1"


def disabled_kms_key(site):
    key = site.kms.create_key()["KeyMetadata"]
    site.kms.disable_key(KeyId=key["KeyId"])
    site.definition["root_volume"] = {"kms_key_id": key["Arn"]}
    return f"apps.web.root_volume.kms_key_id: KMS key {key['Arn']} is Disabled, not Enabled"


def missing_load_balancer(site):
    site.definition["load_balancer"] = {"name": "web-other-alb", "listener_port": 80}
    return "apps.web.load_balancer.name: there is no load balancer web-other-alb"


def missing_listener(site):
    site.definition["load_balancer"] = {"name": "web-alb", "listener_port": 8443}
    return "apps.web.load_balancer.listener_port: load balancer web-alb has no listener on port 8443 (its listeners: 80)"


def missing_rule(site):
    site.definition["load_balancer"] = {"name": "web-alb", "listener_port": 80, "rule_priority": 10}
    return f"apps.web.load_balancer.rule_priority: listener {site.listener} has no rule with priority 10"


BAD_REFERENCES = [missing_subnet, subnets_in_two_vpcs, subnets_outside_vpc_id, missing_security_group,
                  security_group_of_another_vpc_in_a_stage, instance_type_not_offered_in_a_zone,
                  missing_instance_profile, missing_kms_key, disabled_kms_key, missing_load_balancer,
                  missing_listener, missing_rule]


def refused_without_a_write(site, playbook, check=False):
    """The fleet module's refusal; asserts that nothing was written and nothing changed."""
    before = site.resources()
    writes = len(site.listener_writes())
    site.aws.control.reset_counters()

    run = run_fleet(playbook, site.definition, check=check, image_id=site.images[0])

    assert run.failed, run.explain()
    result = run.result("fleet")
    assert writes_in(site.aws.control.counters()) == {}
    assert site.resources() == before and len(site.listener_writes()) == writes
    assert result["msg"].endswith("nothing was changed"), result["msg"]
    assert result.get("changed", False) is False
    return result["msg"]


@pytest.mark.parametrize("check", [False, True], ids=["run", "check_mode"])
@pytest.mark.parametrize("bad_reference", BAD_REFERENCES, ids=lambda case: case.__name__)
def test_a_bad_reference_is_refused_naming_it_before_any_write(site, playbook, bad_reference, check):
    expected = bad_reference(site)

    message = refused_without_a_write(site, playbook, check=check)

    assert expected in message, message


def test_every_bad_reference_is_named_in_one_refusal_after_one_read_of_each_kind(site, playbook):
    site.definition.update(subnets=[site.network.subnet_ids[0], MISSING_SUBNET],
                           security_groups=[site.security_group, MISSING_GROUP], instance_profile="web-instance")

    message = refused_without_a_write(site, playbook)

    counters = site.aws.control.counters()
    assert message == (f"apps.web.subnets: {MISSING_SUBNET} does not exist in us-east-1; "
                       f"apps.web.security_groups: {MISSING_GROUP} does not exist in us-east-1; "
                       "apps.web.instance_profile: instance profile web-instance does not exist; nothing was changed")
    assert {call: counters.get(call) for call in REFERENCE_READS} == {
        "ec2:DescribeSubnets": 1, "ec2:DescribeSecurityGroups": 1, "ec2:DescribeInstanceTypeOfferings": 1,
        "iam:GetInstanceProfile": 1, "kms:DescribeKey": None}


def with_profile_and_key(site):
    """The definition names an instance profile (by ARN) and a KMS key (by alias) that exist."""
    profile = site.iam.create_instance_profile(InstanceProfileName="web-instance")["InstanceProfile"]["Arn"]
    key = site.kms.create_key()["KeyMetadata"]["KeyId"]
    site.kms.create_alias(AliasName="alias/web-ebs", TargetKeyId=key)
    site.definition.update(instance_profile=profile, root_volume={"kms_key_id": "alias/web-ebs"})


def test_a_valid_definition_deploys_and_only_a_new_fleet_reads_its_references(site, playbook):
    with_profile_and_key(site)
    site.aws.control.reset_counters()

    created = run_fleet(playbook, site.definition, image_id=site.images[0])

    assert not created.failed, created.explain()
    assert len(created.result("fleet")["healthy_instances"]) == 2
    counters = site.aws.control.counters()
    assert {call: counters.get(call) for call in REFERENCE_READS} == dict.fromkeys(REFERENCE_READS, 1)
    # The fleet exists: it was checked when it was created, and is not read again.
    for state in ("present", "disabled", "absent"):
        site.aws.control.reset_counters()
        run = run_fleet(playbook, site.definition, image_id=site.images[0], state=state)
        assert not run.failed, run.explain()
        assert not set(REFERENCE_READS) & set(site.aws.control.counters()), (state, site.aws.control.counters())


def test_throttled_reference_reads_are_retried(site, playbook):
    with_profile_and_key(site)
    for call in REFERENCE_READS:
        service, action = call.split(":")
        site.aws.control.add_fault(service=service, action=action, kind="throttle", count=1)
    site.aws.control.reset_counters()

    created = run_fleet(playbook, site.definition, image_id=site.images[0])

    assert not created.failed, created.explain()
    assert [fault["fired"] for fault in site.aws.control.faults()] == [1] * len(REFERENCE_READS)
    counters = site.aws.control.counters()
    assert {call: counters.get(call) for call in REFERENCE_READS} == dict.fromkeys(REFERENCE_READS, 2)


def test_deploy_playbook_with_a_missing_subnet_writes_nothing_and_leaves_the_listener(site, aws_env):
    missing_subnet(site)
    before, weights, writes = site.resources(), site.weights(), len(site.listener_writes())
    site.aws.control.reset_counters()

    run = site.run("deploy.yml", aws_env, image_id=site.images[0])

    assert run.failed, run.explain()
    message = run.result("Fail with the reason")["msg"]
    assert f"apps.web.subnets: {MISSING_SUBNET} does not exist in us-east-1" in message, message
    assert "nothing was changed" in message, message
    assert site.resources() == before and site.weights() == weights and len(site.listener_writes()) == writes
    # The deploy lock (DynamoDB) is all it wrote, and it was released.
    assert {call for call in writes_in(site.aws.control.counters()) if not call.startswith("dynamodb:")} == set()
    assert site.lock() is None
