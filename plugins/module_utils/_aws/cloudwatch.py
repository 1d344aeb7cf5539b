# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""CloudWatch calls: one function per call (all pages), retried (common.RETRY), failing as
AnsibleAWSError "Failed to <what it does>"."""

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

ErrorHandler = common.error_handler()
# Without AlarmTypes, DescribeAlarms answers metric alarms only.
ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]


@ErrorHandler.common_error_handler("describe the alarms")
@common.RETRY
def describe_alarms(cloudwatch, alarm_names):
    """The alarms among `alarm_names` that exist, metric and composite, as AWS describes
    them (AlarmName, StateValue, ...), every page."""
    paginator = cloudwatch.get_paginator("describe_alarms")
    answer = paginator.paginate(AlarmNames=list(alarm_names), AlarmTypes=ALARM_TYPES).build_full_result()
    return answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", [])
