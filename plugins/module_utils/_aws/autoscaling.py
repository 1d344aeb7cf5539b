# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Auto Scaling calls: one function per call (pages aside), retried (common.RETRY), failing
as AnsibleAWSError "Failed to <what it does>".

Throttling and 5xx are retried on top of botocore's own retries, which also resend a
request whose answer was lost. A create whose answer was lost therefore meets "already
exists" on the retry: create_group returns None then, and the caller adopts the group.
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

ErrorHandler = common.error_handler()

# What AWS answers about a group's deletion. AWS's ValidationError covers many refusals; a
# group that does not exist is the one whose message starts "AutoScalingGroup name not found"
# (in full: "AutoScalingGroup name not found - AutoScalingGroup 'NAME' not found").
GROUP_NOT_FOUND = "AutoScalingGroup name not found"
# AutoScalingGroup.Status while DeleteAutoScalingGroup goes on ("The current state of the
# group when the DeleteAutoScalingGroup operation is in progress", API Reference).
DELETE_IN_PROGRESS = "Delete in progress"
# A group being deleted refuses another delete with ScalingActivityInProgress, and a change
# with a ValidationError saying it "is pending delete".
PENDING_DELETE = "pending delete"
DELETE_STARTED, ALREADY_DELETING, GROUP_ABSENT = "started", "already deleting", "absent"


def describe_groups(autoscaling, filters=(), purpose="list auto scaling groups"):
    """The groups the filters match (every group without), all pages; a failure reads
    "Failed to <purpose>"."""
    return ErrorHandler.common_error_handler(purpose)(_describe_groups)(autoscaling, list(filters))


@common.RETRY
def _describe_groups(autoscaling, filters):
    paginator = autoscaling.get_paginator("describe_auto_scaling_groups")
    request = {"Filters": filters} if filters else {}
    return paginator.paginate(**request).build_full_result()["AutoScalingGroups"]


def describe_groups_tagged(autoscaling, tags):
    """The groups carrying every one of `tags` ({key: value})."""
    filters = [{"Name": "tag:" + key, "Values": [value]} for key, value in sorted(tags.items())]
    return describe_groups(autoscaling, filters, "describe the Auto Scaling groups of the app")


@ErrorHandler.common_error_handler("describe the Auto Scaling group")
@common.RETRY
def describe_group(autoscaling, name):
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return groups[0] if groups else None


@ErrorHandler.common_error_handler("create the Auto Scaling group")
@common.RETRY
def create_group(autoscaling, request):
    """True when created now; None when a group of that name exists (a lost answer, or a rerun)."""
    try:
        autoscaling.create_auto_scaling_group(**request)
        return True
    except is_boto3_error_code("AlreadyExists"):
        return None


@ErrorHandler.common_error_handler("update the Auto Scaling group")
@common.RETRY
def update_group(autoscaling, name, **settings):
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **settings)


def being_deleted(group):
    """Whether DescribeAutoScalingGroups shows the group "Delete in progress"."""
    return (group or {}).get("Status") == DELETE_IN_PROGRESS


def group_not_found(error):
    """A ClientError saying the group does not exist (and no other ValidationError)."""
    answer = error.response.get("Error", {})
    return answer.get("Code") == "ValidationError" and (answer.get("Message") or "").startswith(GROUP_NOT_FOUND)


def deletion_under_way(error):
    """A ClientError saying the group is being deleted already (a second delete, or a change)."""
    answer = error.response.get("Error", {})
    return answer.get("Code") == "ScalingActivityInProgress" or (
        answer.get("Code") == "ValidationError" and PENDING_DELETE in (answer.get("Message") or ""))


@ErrorHandler.common_error_handler("delete the Auto Scaling group")
@common.RETRY
def delete_group(autoscaling, name, force=False):
    """Asks AWS to delete the group, which goes on after the answer (the group is then "Delete in
    progress"): DELETE_STARTED; ALREADY_DELETING when a deletion is under way (another run's, or
    ours whose answer was lost and retried); GROUP_ABSENT when there is no such group. Any other
    error (another ValidationError included) is raised.

    force: instances still terminating (drained, scaled to 0) go with the group.
    """
    try:
        autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=force)
    except is_boto3_error_code(["ValidationError", "ScalingActivityInProgress"]) as error:
        if group_not_found(error):
            return GROUP_ABSENT
        if deletion_under_way(error):
            return ALREADY_DELETING
        raise
    return DELETE_STARTED


@ErrorHandler.common_error_handler("attach the target group to the Auto Scaling group")
@common.RETRY
def attach_target_group(autoscaling, name, tg_arn):
    autoscaling.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[tg_arn])


@ErrorHandler.common_error_handler("suspend scaling processes")
@common.RETRY
def suspend_processes(autoscaling, name, processes):
    autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=list(processes))


@ErrorHandler.common_error_handler("resume scaling processes")
@common.RETRY
def resume_processes(autoscaling, name, processes):
    autoscaling.resume_processes(AutoScalingGroupName=name, ScalingProcesses=list(processes))


@ErrorHandler.common_error_handler("tag the Auto Scaling group")
@common.RETRY
def tag_group(autoscaling, tag_list):
    autoscaling.create_or_update_tags(Tags=tag_list)


@ErrorHandler.common_error_handler("remove tags from the Auto Scaling group")
@common.RETRY
def untag_group(autoscaling, name, keys):
    autoscaling.delete_tags(
        Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": key} for key in keys]
    )


@ErrorHandler.common_error_handler("describe the scaling policies")
@common.RETRY
def describe_policies(autoscaling, name):
    paginator = autoscaling.get_paginator("describe_policies")
    return paginator.paginate(AutoScalingGroupName=name).build_full_result()["ScalingPolicies"]


@ErrorHandler.common_error_handler("put a scaling policy")
@common.RETRY
def put_policy(autoscaling, request):
    autoscaling.put_scaling_policy(**request)


@ErrorHandler.common_error_handler("delete a scaling policy")
@common.RETRY
def delete_policy(autoscaling, name, policy_name):
    autoscaling.delete_policy(AutoScalingGroupName=name, PolicyName=policy_name)


@ErrorHandler.common_error_handler("describe the scaling activities")
@common.RETRY
def recent_activities(autoscaling, name, count=20):
    answer = autoscaling.describe_scaling_activities(AutoScalingGroupName=name, MaxRecords=count)
    return answer["Activities"]


@ErrorHandler.common_error_handler("describe launch configurations")
@common.RETRY
def describe_launch_configurations(autoscaling, names):
    paginator = autoscaling.get_paginator("describe_launch_configurations")
    return paginator.paginate(LaunchConfigurationNames=names).build_full_result()["LaunchConfigurations"]
