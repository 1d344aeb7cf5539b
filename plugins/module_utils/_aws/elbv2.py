# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Elastic Load Balancing (v2) calls: one function per call (pages aside, through botocore's
paginators), retried (common.RETRY), failing as AnsibleAWSError "Failed to <what it does>".

Listeners and rules are written by their actions only (ModifyListener's DefaultActions,
ModifyRule's Actions), so AWS keeps every other setting; the answer is the read-back.
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

ErrorHandler = common.error_handler()
LoadBalancerErrorHandler = common.error_handler(["LoadBalancerNotFound"])
TargetGroupErrorHandler = common.error_handler(["TargetGroupNotFound"])
RuleErrorHandler = common.error_handler(["RuleNotFound"])


def _all_pages(elbv2, operation, key, **request):
    return elbv2.get_paginator(operation).paginate(**request).build_full_result()[key]


# ---------------------------------------------------------------------------------------
# Load balancers, listeners and rules


@LoadBalancerErrorHandler.list_error_handler("describe the load balancer", None)
@common.RETRY
def describe_load_balancer(elbv2, name):
    """The load balancer of that name, or None when there is none."""
    return elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]


@ErrorHandler.common_error_handler("describe the listeners")
@common.RETRY
def describe_listeners(elbv2, **request):
    """Every listener the request (ListenerArns or LoadBalancerArn) names, all pages."""
    return _all_pages(elbv2, "describe_listeners", "Listeners", **request)


@ErrorHandler.common_error_handler("describe the listener rules")
@common.RETRY
def describe_rules(elbv2, **request):
    """Every rule the request (RuleArns or ListenerArn) names, all pages."""
    return _all_pages(elbv2, "describe_rules", "Rules", **request)


@ErrorHandler.common_error_handler("create the listener rule")
@common.RETRY
def create_rule(elbv2, listener_arn, priority, conditions, actions, tags):
    return elbv2.create_rule(ListenerArn=listener_arn, Priority=priority, Conditions=conditions, Actions=actions,
                             Tags=ansible_dict_to_boto3_tag_list(tags))["Rules"][0]


@RuleErrorHandler.deletion_error_handler("delete the listener rule")
@common.RETRY
def delete_rule(elbv2, rule_arn):
    elbv2.delete_rule(RuleArn=rule_arn)
    return True


@ErrorHandler.common_error_handler("modify the listener")
@common.RETRY
def modify_listener_actions(elbv2, listener_arn, actions):
    """The listener's default actions as AWS answers the write."""
    return elbv2.modify_listener(ListenerArn=listener_arn, DefaultActions=actions)["Listeners"][0]["DefaultActions"]


@ErrorHandler.common_error_handler("modify the listener rule")
@common.RETRY
def modify_rule_actions(elbv2, rule_arn, actions):
    """The rule's actions as AWS answers the write."""
    return elbv2.modify_rule(RuleArn=rule_arn, Actions=actions)["Rules"][0]["Actions"]


# ---------------------------------------------------------------------------------------
# Target groups and their targets


@ErrorHandler.common_error_handler("describe the target groups")
@common.RETRY
def describe_target_groups(elbv2, **request):
    """Every target group the request (TargetGroupArns, Names or LoadBalancerArn) names, all pages."""
    return _all_pages(elbv2, "describe_target_groups", "TargetGroups", **request)


@ErrorHandler.common_error_handler("describe the target health")
@common.RETRY
def describe_target_health(elbv2, tg_arn, target_ids=None):
    """The health descriptions of the group's targets (of `target_ids` only, when given)."""
    request = {"TargetGroupArn": tg_arn}
    if target_ids is not None:
        request["Targets"] = [{"Id": target_id} for target_id in target_ids]
    return elbv2.describe_target_health(**request)["TargetHealthDescriptions"]


@ErrorHandler.common_error_handler("register the targets")
@common.RETRY
def register_targets(elbv2, tg_arn, target_ids):
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": target_id} for target_id in target_ids])


@TargetGroupErrorHandler.list_error_handler("describe the target group", None)
@common.RETRY
def describe_target_group(elbv2, name=None, arn=None):
    request = {"TargetGroupArns": [arn]} if arn else {"Names": [name]}
    groups = elbv2.describe_target_groups(**request)["TargetGroups"]
    return groups[0] if groups else None


@ErrorHandler.common_error_handler("create the target group")
@common.RETRY
def create_target_group(elbv2, request):
    """The group; None when one of that name exists with other settings, or AWS calls it a duplicate."""
    try:
        return elbv2.create_target_group(**request)["TargetGroups"][0]
    except is_boto3_error_code("DuplicateTargetGroupName"):
        return None


@ErrorHandler.common_error_handler("describe the target group attributes")
@common.RETRY
def target_group_attributes(elbv2, arn):
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    return dict((item["Key"], item["Value"]) for item in attributes)


@ErrorHandler.common_error_handler("set the target group's deregistration delay")
@common.RETRY
def set_deregistration_delay(elbv2, arn, seconds):
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(seconds)}]
    )


@ErrorHandler.common_error_handler("describe the target groups' tags")
@common.RETRY
def target_group_tags(elbv2, arns):
    """{arn: {key: value}} (at most 20 ARNs a call, as AWS allows)."""
    tags = {}
    arns = list(arns)
    for start in range(0, len(arns), 20):
        for description in elbv2.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            tags[description["ResourceArn"]] = dict((t["Key"], t["Value"]) for t in description.get("Tags") or [])
    return tags


@ErrorHandler.common_error_handler("tag the target group")
@common.RETRY
def tag_target_group(elbv2, arn, tag_list):
    elbv2.add_tags(ResourceArns=[arn], Tags=tag_list)


@TargetGroupErrorHandler.deletion_error_handler("delete the target group")
@common.RETRY_WHILE_TARGET_GROUP_IN_USE
def delete_target_group(elbv2, arn):
    elbv2.delete_target_group(TargetGroupArn=arn)
    return True
