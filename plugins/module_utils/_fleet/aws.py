# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The AWS calls of cattle.immutable.fleet: one call each (pages aside), retried.

Throttling and 5xx are retried by the collection's policy (_aws/common.py) on top of
botocore's own retries, which also resend a request whose answer was lost. A create
whose answer was lost therefore meets "already exists" on the retry: `create_*` return
None then, and the caller adopts what exists by name.
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws.common import RETRY

LAUNCH_TEMPLATE_EXISTS = "InvalidLaunchTemplateName.AlreadyExistsException"
LAUNCH_TEMPLATE_MISSING = ("InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound",
                           "InvalidLaunchTemplateId.Malformed")


class FleetAWSError(AnsibleAWSError):
    """An AWS call that failed after retries."""


FleetErrorHandler = common.error_handler(exception=FleetAWSError)
AsgErrorHandler = common.error_handler(["ValidationError"], FleetAWSError)
TargetGroupErrorHandler = common.error_handler(["TargetGroupNotFound"], FleetAWSError)
LaunchTemplateErrorHandler = common.error_handler(LAUNCH_TEMPLATE_MISSING, FleetAWSError)
InstanceProfileErrorHandler = common.error_handler(["NoSuchEntity"], FleetAWSError)
KeyErrorHandler = common.error_handler(["NotFoundException"], FleetAWSError)


# ---------------------------------------------------------------------------------------
# EC2: the image, the subnets and security groups, instance type offerings, launch templates.


# The image (None when there is none): fleet_context and rollback_switch look it up here.
describe_image = ec2_calls.describe_image


# Subnets and security groups by filter, not by id: an unknown id is left out of the
# answer instead of failing the call, so a refusal can name every missing one.
@FleetErrorHandler.common_error_handler("describe the subnets")
@RETRY
def describe_subnets(ec2, subnet_ids):
    return ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": list(subnet_ids)}])["Subnets"]


@FleetErrorHandler.common_error_handler("describe the security groups")
@RETRY
def describe_security_groups(ec2, group_ids):
    return ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": list(group_ids)}])["SecurityGroups"]


@FleetErrorHandler.common_error_handler("describe the instance type offerings")
@RETRY
def zones_offering(ec2, instance_type, zones):
    """The Availability Zones among `zones` where `instance_type` is offered."""
    filters = [{"Name": "instance-type", "Values": [instance_type]}, {"Name": "location", "Values": sorted(zones)}]
    paginator = ec2.get_paginator("describe_instance_type_offerings")
    offerings = paginator.paginate(LocationType="availability-zone", Filters=filters).build_full_result()
    return set(offering["Location"] for offering in offerings["InstanceTypeOfferings"])


@LaunchTemplateErrorHandler.list_error_handler("describe the launch template", None)
@RETRY
def describe_launch_template(ec2, name=None, template_id=None):
    request = {"LaunchTemplateIds": [template_id]} if template_id else {"LaunchTemplateNames": [name]}
    templates = ec2.describe_launch_templates(**request)["LaunchTemplates"]
    return templates[0] if templates else None


@LaunchTemplateErrorHandler.list_error_handler("describe the launch template version", None)
@RETRY
def describe_launch_template_version(ec2, template_id, version):
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[str(version)])
    found = versions["LaunchTemplateVersions"]
    return found[0] if found else None


@FleetErrorHandler.common_error_handler("create the launch template")
@RETRY
def create_launch_template(ec2, name, data, tags):
    """The new template, or None when one of that name exists (a lost answer, or a rerun)."""
    try:
        return ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData=data,
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags}],
        )["LaunchTemplate"]
    except is_boto3_error_code(LAUNCH_TEMPLATE_EXISTS):
        return None


@LaunchTemplateErrorHandler.deletion_error_handler("delete the launch template")
@RETRY
def delete_launch_template(ec2, template_id):
    ec2.delete_launch_template(LaunchTemplateId=template_id)
    return True


# ---------------------------------------------------------------------------------------
# IAM and KMS: the instance profile and the root volume's key a new fleet names.


@InstanceProfileErrorHandler.list_error_handler("read the instance profile", None)
@RETRY
def get_instance_profile(iam, name):
    """The instance profile of that name, or None."""
    return iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]


@KeyErrorHandler.list_error_handler("describe the KMS key", None)
@RETRY
def describe_key(kms, key_id):
    """The key's metadata (key id, alias or ARN), or None when there is no such key."""
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]


# ---------------------------------------------------------------------------------------
# Auto Scaling.


@FleetErrorHandler.common_error_handler("describe the Auto Scaling groups of the app")
@RETRY
def describe_groups_tagged(autoscaling, tags):
    filters = [{"Name": "tag:" + key, "Values": [value]} for key, value in sorted(tags.items())]
    paginator = autoscaling.get_paginator("describe_auto_scaling_groups")
    return paginator.paginate(Filters=filters).build_full_result()["AutoScalingGroups"]


@FleetErrorHandler.common_error_handler("describe the Auto Scaling group")
@RETRY
def describe_group(autoscaling, name):
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return groups[0] if groups else None


@FleetErrorHandler.common_error_handler("create the Auto Scaling group")
@RETRY
def create_group(autoscaling, request):
    """True when created now; None when a group of that name exists (a lost answer, or a rerun)."""
    try:
        autoscaling.create_auto_scaling_group(**request)
        return True
    except is_boto3_error_code("AlreadyExists"):
        return None


@FleetErrorHandler.common_error_handler("update the Auto Scaling group")
@RETRY
def update_group(autoscaling, name, **settings):
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **settings)


@AsgErrorHandler.deletion_error_handler("delete the Auto Scaling group")
@RETRY
def delete_group(autoscaling, name, force=False):
    """force: instances still terminating (drained, scaled to 0) go with the group, no wait for them."""
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=force)
    return True


@FleetErrorHandler.common_error_handler("attach the target group to the Auto Scaling group")
@RETRY
def attach_target_group(autoscaling, name, tg_arn):
    autoscaling.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[tg_arn])


@FleetErrorHandler.common_error_handler("suspend scaling processes")
@RETRY
def suspend_processes(autoscaling, name, processes):
    autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=list(processes))


@FleetErrorHandler.common_error_handler("resume scaling processes")
@RETRY
def resume_processes(autoscaling, name, processes):
    autoscaling.resume_processes(AutoScalingGroupName=name, ScalingProcesses=list(processes))


@FleetErrorHandler.common_error_handler("tag the Auto Scaling group")
@RETRY
def tag_group(autoscaling, tag_list):
    autoscaling.create_or_update_tags(Tags=tag_list)


@FleetErrorHandler.common_error_handler("remove tags from the Auto Scaling group")
@RETRY
def untag_group(autoscaling, name, keys):
    autoscaling.delete_tags(
        Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": key} for key in keys]
    )


@FleetErrorHandler.common_error_handler("describe the scaling policies")
@RETRY
def describe_policies(autoscaling, name):
    paginator = autoscaling.get_paginator("describe_policies")
    return paginator.paginate(AutoScalingGroupName=name).build_full_result()["ScalingPolicies"]


@FleetErrorHandler.common_error_handler("put a scaling policy")
@RETRY
def put_policy(autoscaling, request):
    autoscaling.put_scaling_policy(**request)


@FleetErrorHandler.common_error_handler("delete a scaling policy")
@RETRY
def delete_policy(autoscaling, name, policy_name):
    autoscaling.delete_policy(AutoScalingGroupName=name, PolicyName=policy_name)


@FleetErrorHandler.common_error_handler("describe the scaling activities")
@RETRY
def recent_activities(autoscaling, name, count=20):
    answer = autoscaling.describe_scaling_activities(AutoScalingGroupName=name, MaxRecords=count)
    return answer["Activities"]


# ---------------------------------------------------------------------------------------
# ELBv2 target groups (listener writes live in listeners.py).


@TargetGroupErrorHandler.list_error_handler("describe the target group", None)
@RETRY
def describe_target_group(elbv2, name=None, arn=None):
    request = {"TargetGroupArns": [arn]} if arn else {"Names": [name]}
    groups = elbv2.describe_target_groups(**request)["TargetGroups"]
    return groups[0] if groups else None


@FleetErrorHandler.common_error_handler("create the target group")
@RETRY
def create_target_group(elbv2, request):
    """The group; None when one of that name exists with other settings, or AWS calls it a duplicate."""
    try:
        return elbv2.create_target_group(**request)["TargetGroups"][0]
    except is_boto3_error_code("DuplicateTargetGroupName"):
        return None


@FleetErrorHandler.common_error_handler("describe the target group attributes")
@RETRY
def target_group_attributes(elbv2, arn):
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    return dict((item["Key"], item["Value"]) for item in attributes)


@FleetErrorHandler.common_error_handler("set the target group's deregistration delay")
@RETRY
def set_deregistration_delay(elbv2, arn, seconds):
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(seconds)}]
    )


@FleetErrorHandler.common_error_handler("describe the target groups' tags")
@RETRY
def target_group_tags(elbv2, arns):
    """{arn: {key: value}} (at most 20 ARNs a call, as AWS allows)."""
    tags = {}
    arns = list(arns)
    for start in range(0, len(arns), 20):
        for description in elbv2.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            tags[description["ResourceArn"]] = dict((t["Key"], t["Value"]) for t in description.get("Tags") or [])
    return tags


@FleetErrorHandler.common_error_handler("tag the target group")
@RETRY
def tag_target_group(elbv2, arn, tag_list):
    elbv2.add_tags(ResourceArns=[arn], Tags=tag_list)


@TargetGroupErrorHandler.deletion_error_handler("delete the target group")
@common.RETRY_WHILE_TARGET_GROUP_IN_USE
def delete_target_group(elbv2, arn):
    elbv2.delete_target_group(TargetGroupArn=arn)
    return True
