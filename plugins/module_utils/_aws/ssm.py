# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""SSM calls, Parameter Store and Run Command: one function per call.

Each is retried (common.RETRY) and fails as AnsibleAWSError "Failed to <what it does>".
Where the caller's words say better what a call was for (which parameter, which
command), it passes them as `purpose`, and the failure reads "Failed to <purpose>".

"Not there" is, for a parameter asked for by name alone, ParameterNotFound; by
`name:version` or `name:label`, ParameterVersionNotFound too; for a command's
invocation, InvocationDoesNotExist (which AWS also answers for a moment after
SendCommand, before it has made the invocation).
"""

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

PARAMETER_NAME_MISSING = ("ParameterNotFound",)
PARAMETER_MISSING = PARAMETER_NAME_MISSING + ("ParameterVersionNotFound",)
INVOCATION_MISSING = ("InvocationDoesNotExist",)
STRING_PARAMETER = "String"
# AWS's data type for a String parameter that says nothing more about its value.
TEXT_DATA_TYPE = "text"

ParameterErrorHandler = common.error_handler(PARAMETER_MISSING)
ParameterNameErrorHandler = common.error_handler(PARAMETER_NAME_MISSING)
RunCommandErrorHandler = common.error_handler(INVOCATION_MISSING)


# ---------------------------------------------------------------------------------------
# Parameter Store


@ParameterErrorHandler.list_error_handler("read an SSM parameter", None)
@common.RETRY
def get_parameter(ssm, name):
    """The parameter (`name`, `name:version` or `name:label`), or None when there is none."""
    return ssm.get_parameter(Name=name)["Parameter"]


def put_parameter(ssm, name, value, description, data_type=TEXT_DATA_TYPE, purpose="write the SSM parameter"):
    """The new version of the String parameter `name` once its value is `value`.

    Creates the parameter, or overwrites it: each write is a new version in its history.
    """
    handled = ParameterNameErrorHandler.common_error_handler(purpose)(_put_parameter)
    return handled(ssm, name, value, description, data_type)


@common.RETRY
def _put_parameter(ssm, name, value, description, data_type):
    answer = ssm.put_parameter(
        Name=name,
        Value=value,
        Type=STRING_PARAMETER,
        DataType=data_type,
        Description=description,
        Overwrite=True,
    )
    return answer["Version"]


def get_parameter_history(ssm, name, purpose="read the SSM parameter's history"):
    """Every version of the parameter `name`, from every page, in AWS's order; [] when
    there is no such parameter."""
    handled = ParameterNameErrorHandler.list_error_handler(purpose, [])(_get_parameter_history)
    return handled(ssm, name)


@common.RETRY
def _get_parameter_history(ssm, name):
    paginator = ssm.get_paginator("get_parameter_history")
    return paginator.paginate(Name=name).build_full_result()["Parameters"]


def get_parameters_by_path(ssm, path, recursive=False, empty_when_not_found=True,
                           purpose="list the SSM parameters under a path"):
    """The parameters under `path`, from every page: its children, or with `recursive`
    everything below it.

    empty_when_not_found: ParameterNotFound is answered as [] rather than raised.
    """
    if empty_when_not_found:
        handler = ParameterNameErrorHandler.list_error_handler(purpose, [])
    else:
        handler = ParameterNameErrorHandler.common_error_handler(purpose)
    return handler(_get_parameters_by_path)(ssm, path, recursive)


@common.RETRY
def _get_parameters_by_path(ssm, path, recursive):
    paginator = ssm.get_paginator("get_parameters_by_path")
    return paginator.paginate(Path=path, Recursive=recursive).build_full_result()["Parameters"]


# ---------------------------------------------------------------------------------------
# Run Command


@RunCommandErrorHandler.common_error_handler("describe the managed node")
@common.RETRY
def describe_instance_information(ssm, instance_id):
    """What Systems Manager knows of the instance as a managed node (PingStatus, ...), or
    None while it does not know the instance."""
    found = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    nodes = found.get("InstanceInformationList") or []
    return nodes[0] if nodes else None


def send_command(ssm, instance_id, document_name, parameters, comment, purpose="send the command"):
    """The id of the command that runs the document `document_name` with `parameters` on
    the instance."""
    handled = RunCommandErrorHandler.common_error_handler(purpose)(_send_command)
    return handled(ssm, instance_id, document_name, parameters, comment)


@common.RETRY
def _send_command(ssm, instance_id, document_name, parameters, comment):
    answer = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName=document_name,
        Parameters=parameters,
        Comment=comment,
    )
    return answer["Command"]["CommandId"]


def get_command_invocation(ssm, command_id, instance_id, purpose="read the command's result"):
    """The command's invocation on the instance (Status, ResponseCode, output), or None
    while AWS has not made it yet."""
    handled = RunCommandErrorHandler.list_error_handler(purpose, None)(_get_command_invocation)
    return handled(ssm, command_id, instance_id)


@common.RETRY
def _get_command_invocation(ssm, command_id, instance_id):
    return ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
