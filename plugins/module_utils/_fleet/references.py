# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a new fleet refers to, read and checked before its first write.

AWS takes a launch template that names a subnet, security group, instance profile or KMS
key that does not exist, or that do not fit together, and finds out only when the Auto
Scaling group is created or launches: after the launch template, the target group and the
listener entry were written. So before a fleet is created its references are read, in one
call per kind, and every problem is refused at once, naming the field of the definition:

- subnets exist, all in one VPC (the definition's vpc_id when it gives one): DescribeSubnets;
- security groups exist, in the subnets' VPC: DescribeSecurityGroups;
- the instance type is offered in each subnet's Availability Zone: DescribeInstanceTypeOfferings;
- the instance profile (name or ARN) exists: GetInstanceProfile;
- the root volume's KMS key (id, alias or ARN) exists and is enabled: DescribeKey.

The load balancer, the listener and the rule are found, or refused, by fleet_context for
every state. A fleet that exists was checked when it was created: nothing here is read again.
"""

from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import iam as iam_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import kms as kms_calls
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import refusal_or_failure


def verify(ctx):
    """Refusal naming every reference of the stage's definition that AWS would refuse; sets ctx.vpc_id."""
    subnets, problems = read_subnets(ctx)
    vpc = shared_vpc(subnets)
    problems += read_security_groups(ctx, vpc)
    problems += read_zone_offerings(ctx, subnets)
    problems += read_instance_profile(ctx)
    problems += read_kms_key(ctx)
    if problems:
        raise refusal_or_failure(ctx, "; ".join(problems))
    ctx.vpc_id = vpc


def vpc_of(ctx):
    """The fleet's VPC: as verify found it, else the definition's vpc_id, else the subnets' (one call)."""
    if ctx.vpc_id is None:
        ctx.vpc_id = ctx.stage_def.get("vpc_id")
    if ctx.vpc_id is None:
        subnets, problems = read_subnets(ctx)
        if problems:
            raise refusal_or_failure(ctx, "; ".join(problems))
        ctx.vpc_id = shared_vpc(subnets)
    return ctx.vpc_id


# ---------------------------------------------------------------------------------------
# One read each, returning the problems it found.


def read_subnets(ctx):
    """(the subnets AWS describes, the problems with them)."""
    wanted = ctx.stage_def["subnets"]
    subnets = ec2_calls.describe_subnets(ctx.ec2, wanted)
    paths = {"subnets": ctx.field_path("subnets"), "vpc_id": ctx.field_path("vpc_id")}
    return subnets, subnet_problems(wanted, subnets, ctx.stage_def.get("vpc_id"), ctx.stage_def["region"], paths)


def read_security_groups(ctx, vpc):
    wanted = ctx.stage_def["security_groups"]
    groups = ec2_calls.describe_security_groups(ctx.ec2, wanted)
    return security_group_problems(wanted, groups, vpc, ctx.stage_def["region"], ctx.field_path("security_groups"))


def read_zone_offerings(ctx, subnets):
    if not subnets:
        return []
    instance_type = ctx.stage_def["instance_type"]
    offered = ec2_calls.zones_offering(ctx.ec2, instance_type, set(subnet["AvailabilityZone"] for subnet in subnets))
    return zone_problems(instance_type, subnets, offered, ctx.field_path("instance_type"))


def read_instance_profile(ctx):
    profile = ctx.stage_def["instance_profile"]
    if not profile:
        return []
    found = iam_calls.get_instance_profile(ctx.clients["iam"], profile_name(profile))
    return profile_problems(profile, found, ctx.field_path("instance_profile"))


def read_kms_key(ctx):
    key = ctx.stage_def["root_volume"]["kms_key_id"]
    if not key:
        return []
    path, region = ctx.field_path("root_volume.kms_key_id"), ctx.stage_def["region"]
    key_region = arn_region(key)
    if key_region and key_region != region:
        return ["{0}: {1} is a key of {2}; the fleet's volumes are in {3} and need a key of that region".format(
            path, key, key_region, region)]
    return key_problems(key, kms_calls.describe_key(ctx.clients["kms"], key), region, path)


# ---------------------------------------------------------------------------------------
# Pure checks of what was read: each returns a list of problems, each naming its field.


def missing(wanted, found_ids):
    found = set(found_ids)
    return [item for item in wanted if item not in found]


def not_found(path, ids, region):
    verb = "does" if len(ids) == 1 else "do"
    return "{0}: {1} {2} not exist in {3}".format(path, ", ".join(ids), verb, region)


def by_vpc(items, id_key):
    """{VPC id: [ids of the items in it]}."""
    vpcs = {}
    for item in items:
        vpcs.setdefault(item.get("VpcId"), []).append(item[id_key])
    return vpcs


def shared_vpc(subnets):
    """The one VPC of the subnets; None when there are none or they are in several."""
    vpcs = by_vpc(subnets, "SubnetId")
    return list(vpcs)[0] if len(vpcs) == 1 else None


def subnet_problems(wanted, subnets, vpc_id, region, paths):
    """Missing subnets, subnets in several VPCs, or outside the definition's vpc_id."""
    absent = missing(wanted, [subnet["SubnetId"] for subnet in subnets])
    problems = [not_found(paths["subnets"], absent, region)] if absent else []
    vpcs = by_vpc(subnets, "SubnetId")
    if len(vpcs) > 1:
        problems.append("{0}: the subnets are in several VPCs ({1}); a fleet's subnets share one".format(
            paths["subnets"], in_vpcs(vpcs)))
    elif vpc_id and vpcs and vpc_id not in vpcs:
        problems.append("{0}: the subnets are in {1}, not in {2} {3}".format(
            paths["subnets"], list(vpcs)[0], paths["vpc_id"], vpc_id))
    return problems


def in_vpcs(vpcs):
    """'subnet-a, subnet-b in vpc-1; subnet-c in vpc-2'."""
    return "; ".join("{0} in {1}".format(", ".join(sorted(ids)), vpc) for vpc, ids in sorted(vpcs.items()))


def security_group_problems(wanted, groups, vpc, region, path):
    """Missing security groups, and groups outside the subnets' VPC (when the subnets share one)."""
    absent = missing(wanted, [group["GroupId"] for group in groups])
    problems = [not_found(path, absent, region)] if absent else []
    for group in sorted(groups, key=lambda group: group["GroupId"]):
        if vpc and group.get("VpcId") != vpc:
            problems.append("{0}: {1} is in {2}, the subnets are in {3}".format(
                path, group["GroupId"], group.get("VpcId"), vpc))
    return problems


def zone_problems(instance_type, subnets, offered_zones, path):
    """The subnets whose Availability Zone does not offer the instance type."""
    lacking = ["{0} (subnet {1})".format(subnet["AvailabilityZone"], subnet["SubnetId"])
               for subnet in sorted(subnets, key=lambda subnet: subnet["SubnetId"])
               if subnet["AvailabilityZone"] not in offered_zones]
    if not lacking:
        return []
    return ["{0}: {1} is not offered in {2}".format(path, instance_type, ", ".join(lacking))]


def profile_name(profile):
    """What GetInstanceProfile takes: the name, which is the last part of an instance profile's ARN."""
    return profile.rsplit("/", 1)[-1] if profile.startswith("arn:") else profile


def profile_problems(profile, found, path):
    if found is None:
        return ["{0}: instance profile {1} does not exist".format(path, profile_name(profile))]
    if profile.startswith("arn:") and found["Arn"] != profile:
        return ["{0}: {1} does not exist (this account's instance profile {2} is {3})".format(
            path, profile, found["InstanceProfileName"], found["Arn"])]
    return []


def arn_region(key):
    """The region of a KMS key or alias ARN (arn:aws:kms:REGION:...), None for an id or alias name."""
    parts = key.split(":")
    return parts[3] if key.startswith("arn:") and len(parts) > 3 else None


def key_problems(key, metadata, region, path):
    """A key that does not exist, or that is not enabled (disabled, pending deletion or import)."""
    if metadata is None:
        return ["{0}: KMS key {1} does not exist in {2}".format(path, key, region)]
    if metadata.get("KeyState") != "Enabled":
        named = key if key == metadata["Arn"] else "{0} ({1})".format(key, metadata["Arn"])
        return ["{0}: KMS key {1} is {2}, not Enabled: EBS cannot encrypt with it".format(
            path, named, metadata.get("KeyState"))]
    return []
