"""SSM Run Command with AWS's semantics (moto answers every SendCommand with an instant Success).

ssm_agent.py plays the agent; these patches are the service's side:

- Managed nodes. An instance is one only when it runs as a stand-in (an AMI with content),
  its instance profile's role lets the agent work (ssm_agent.agent_allowed: the
  AmazonSSMManagedInstanceCore policy attached, or statements allowing what it grants the
  agent), and its unit amazon-ssm-agent.service has been active for the fidelity setting
  ssm_registration_seconds: the agent has to start and reach the service before the node
  appears (Systems Manager User Guide, "Troubleshooting managed node availability": a
  node is missing when its agent isn't installed or running, or its instance profile lacks
  the permissions; AWS gives no figure for the delay). Virtual instances never are.
- DescribeInstanceInformation lists registered nodes: PingStatus Online, or ConnectionLost
  for one registered before whose agent or permissions are gone since. Stopped and
  terminated instances are not listed (API Reference, DescribeInstanceInformation).
- SendCommand to an instance that is no managed node fails with InvalidInstanceId (API
  Reference, SendCommand: the error's causes include an agent that isn't running or
  registered and an instance in an invalid state), message "Instances [[i-...]] not in a
  valid state for account N" as AWS words it (that text is not documented). Only
  AWS-RunShellScript runs; other documents are refused with InvalidDocument, bad
  parameters with InvalidParameters.
- GetCommandInvocation finds an invocation only ssm_invocation_hidden_seconds after
  SendCommand, InvocationDoesNotExist before (API Reference, GetCommandInvocation: Run
  Command is eventually consistent, so a call right after another may not see its result
  yet); ListCommandInvocations leaves it out meanwhile.
- Status, ResponseCode and output come from the real run (ssm_agent.run_invocation);
  ListCommands and ListCommandInvocations report the same state.
"""

import logging
import time
from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidInstanceIdError
from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends
from moto.ssm.exceptions import SSMException
from moto.ssm.models import Command, SimpleSystemManagerBackend
from moto.ssm.responses import SimpleSystemManagerResponse
from moto.utilities.utils import get_partition

from .. import ssm_agent
from ..ssm_agent import AgentProbe, Invocation, ShellScript
from .fidelity import Fidelity
from .patching import add_method, bound_arguments, patch

INVOCATIONS = "sandbox_invocations"  # attribute of moto's Command: instance id -> Invocation
REGISTERED = "sandbox_registered_nodes"  # attribute of moto's SSM backend: instance id -> first seen Online
LAUNCH_TEMPLATE_TAG = "aws:ec2launchtemplate:id"
LAUNCH_TEMPLATE_VERSION_TAG = "aws:ec2launchtemplate:version"
DESCRIBE_PAGE = (5, 50, 10)  # MaxResults: least, most, default
LIST_PAGE = (1, 50, 50)
ONLINE, CONNECTION_LOST = "Online", "ConnectionLost"
EC2_SOURCE_TYPE = "AWS::EC2::Instance"

log = logging.getLogger("cattle_sandbox.ssm")


class RunCommandError(SSMException):
    def __init__(self, code: str, message: str):
        super().__init__(code, message)


# -- managed nodes -----------------------------------------------------------------------


class Node:
    """An instance as Systems Manager sees it, at one moment."""

    def __init__(self, instance: Any, standin: Any, profile_allows: bool, probe: AgentProbe | None, online: bool):
        self.instance = instance
        self.standin = standin
        self.profile_allows = profile_allows
        self.probe = probe
        self.online = online

    def why_not_online(self) -> str:
        if self.standin is None:
            return "it is not a running live instance (virtual, booting, stopped or gone)"
        if not self.profile_allows:
            return "its instance profile does not let the SSM agent work (AmazonSSMManagedInstanceCore)"
        if self.probe is None or self.probe.active_since is None:
            return f"{ssm_agent.AGENT_UNIT} is not active in it"
        return "its agent has not registered yet (ssm_registration_seconds)"


def node(fidelity: Fidelity, backend: SimpleSystemManagerBackend, instance: Any) -> Node:
    standin = fidelity.live_instances.standin_of(instance.id) if instance.state == "running" else None
    allows = standin is not None and profile_allows_agent(backend, instance)
    probe = ssm_agent.probe_agent(standin) if allows else None
    online = probe is not None and probe.registered(fidelity.settings.ssm_registration_seconds, time.monotonic())
    if online:
        registered_nodes(backend).setdefault(instance.id, utc_now())
    return Node(instance, standin, allows, probe, online)


def registered_nodes(backend: SimpleSystemManagerBackend) -> dict[str, datetime]:
    """Kept on moto's backend, so a moto reset forgets it with everything else."""
    return backend.__dict__.setdefault(REGISTERED, {})


def region_instance(backend: SimpleSystemManagerBackend, instance_id: str) -> Any:
    try:
        return ec2_backends[backend.account_id][backend.region_name].get_instance(instance_id)
    except InvalidInstanceIdError:
        return None


def live_instances(fidelity: Fidelity, backend: SimpleSystemManagerBackend) -> list[Any]:
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    return [instance for instance in ec2.all_instances()
            if instance.state == "running" and fidelity.live_instances.knows(instance.id)]


def profile_allows_agent(backend: SimpleSystemManagerBackend, instance: Any) -> bool:
    profile = instance_profile(backend, instance)
    if profile is None:
        return False
    documents = [document for role in profile.roles for document in role_policy_documents(role)]
    return ssm_agent.agent_allowed(documents)


def instance_profile(backend: SimpleSystemManagerBackend, instance: Any) -> Any:
    """The instance's profile: associated at launch (RunInstances), or named by the launch template
    it was launched from (moto associates only the former)."""
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    association = ec2.iam_instance_profile_associations.get(instance.id)
    if association is not None:
        return association.iam_instance_profile
    wanted = launch_template_profile(ec2, instance)
    if not wanted:
        return None
    iam = iam_backends[backend.account_id][get_partition(backend.region_name)]
    for profile in iam.get_instance_profiles():
        if profile.arn == wanted.get("Arn") or profile.name == wanted.get("Name"):
            return profile
    return None


def launch_template_profile(ec2: Any, instance: Any) -> dict[str, str] | None:
    tags = {tag["key"]: tag["value"] for tag in instance.get_tags()}
    template_id = tags.get(LAUNCH_TEMPLATE_TAG)
    if not template_id:
        return None
    version = ec2.get_launch_template(template_id).get_version(tags.get(LAUNCH_TEMPLATE_VERSION_TAG, "$Default"))
    return version.data.get("IamInstanceProfile")


def role_policy_documents(role: Any) -> list[str]:
    """The role's inline policies and the default versions of its attached managed policies."""
    documents = list(role.policies.values())
    for policy in role.managed_policies.values():
        documents += [version.document for version in policy.versions if version.is_default]
    return documents


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# -- SendCommand -------------------------------------------------------------------------


@patch(SimpleSystemManagerBackend, "send_command")
def send_command(fidelity: Fidelity, original: Any, backend: SimpleSystemManagerBackend, *args: Any,
                 **kwargs: Any) -> Command:
    arguments = bound_arguments(original, (backend, *args), kwargs)
    arguments.pop("self", None)
    script = checked_script(arguments["document_name"], arguments["parameters"])
    nodes = named_managed_nodes(fidelity, backend, list(arguments["instance_ids"] or []))
    targets = arguments["targets"] or []
    command = original(backend, **{**arguments, "targets": [resolvable_target(target) for target in targets]})
    command.targets = targets  # as given; moto resolved our translation
    for instance_id in set(command.instance_ids) - set(nodes):  # matched by Targets: only managed nodes count
        found = named_node(fidelity, backend, instance_id)
        if found is not None and found.online:
            nodes[instance_id] = found
    command.instance_ids = [instance_id for instance_id in command.instance_ids if instance_id in nodes]
    start_invocations(fidelity, command, nodes, script)
    return command


def named_managed_nodes(fidelity: Fidelity, backend: SimpleSystemManagerBackend,
                        instance_ids: list[str]) -> dict[str, Node]:
    """The nodes of InstanceIds; InvalidInstanceId when one of them is no managed node."""
    nodes = {instance_id: named_node(fidelity, backend, instance_id) for instance_id in instance_ids}
    refuse_unmanaged(backend, {instance_id: found.why_not_online() if found else "no such instance in the region"
                               for instance_id, found in nodes.items() if not (found and found.online)})
    return {instance_id: found for instance_id, found in nodes.items() if found is not None}


def checked_script(document_name: str | None, parameters: Any) -> ShellScript:
    if document_name != ssm_agent.RUN_SHELL_SCRIPT:
        raise RunCommandError("InvalidDocument", f"The sandbox runs only {ssm_agent.RUN_SHELL_SCRIPT}; "
                                                 f"document {document_name} is not emulated.")
    try:
        return ssm_agent.shell_script(parameters)
    except ssm_agent.InvalidParameters as error:
        raise RunCommandError("InvalidParameters", str(error)) from None


def named_node(fidelity: Fidelity, backend: SimpleSystemManagerBackend, instance_id: str) -> Node | None:
    instance = region_instance(backend, instance_id)
    return node(fidelity, backend, instance) if instance is not None else None


def refuse_unmanaged(backend: SimpleSystemManagerBackend, reasons: dict[str, str]) -> None:
    """InvalidInstanceId, worded as AWS words it; why each is no managed node goes to the log only."""
    if reasons:
        for instance_id, reason in reasons.items():
            log.info("SendCommand refused: %s is no managed node: %s", instance_id, reason)
        raise RunCommandError("InvalidInstanceId", f"Instances [[{', '.join(reasons)}]] not in a valid state "
                                                   f"for account {backend.account_id}")


def resolvable_target(target: dict[str, Any]) -> dict[str, Any]:
    """moto resolves Targets as EC2 filters: the InstanceIds key is EC2's instance-id filter."""
    if target.get("Key") == "InstanceIds":
        return {"Key": "instance-id", "Values": target.get("Values", [])}
    return target


def start_invocations(fidelity: Fidelity, command: Command, nodes: dict[str, Node], script: ShellScript) -> None:
    visible_from = time.monotonic() + fidelity.settings.ssm_invocation_hidden_seconds
    invocations = {}
    for instance_id, found in nodes.items():
        invocation = Invocation(command.command_id, instance_id, command.document_name or "",
                                command.requested_date_time.replace(tzinfo=timezone.utc), visible_from)
        invocations[instance_id] = invocation
        ssm_agent.start_run(invocation, found.standin, script)
    setattr(command, INVOCATIONS, invocations)


def invocations_of(command: Command) -> dict[str, Invocation]:
    return getattr(command, INVOCATIONS, {})


@patch(Command, "response_object")
def command_response(fidelity: Fidelity, original: Any, command: Command) -> dict[str, Any]:
    """The command's status and counts as its invocations have them (ListCommands, SendCommand)."""
    response = original(command)
    statuses = [invocation.view()["Status"] for invocation in invocations_of(command).values()]
    status = ssm_agent.command_status(statuses)
    done = [value for value in statuses if value in ssm_agent.TERMINAL]
    response.update(Status=status, StatusDetails=ssm_agent.STATUS_DETAILS[status], TargetCount=len(statuses),
                    CompletedCount=len(done), ErrorCount=len([value for value in done if value != ssm_agent.SUCCESS]))
    return response


# -- GetCommandInvocation, ListCommandInvocations --------------------------------------


@patch(SimpleSystemManagerBackend, "get_command_invocation")
def get_command_invocation(fidelity: Fidelity, original: Any, backend: SimpleSystemManagerBackend, command_id: str,
                           instance_id: str, plugin_name: str | None) -> dict[str, Any]:
    command = backend.get_command_by_id(command_id)  # InvalidCommandId
    invocation = invocations_of(command).get(instance_id)
    if invocation is None or not invocation.visible(time.monotonic()):
        raise RunCommandError("InvocationDoesNotExist", "An error occurred (InvocationDoesNotExist) when calling "
                                                        "the GetCommandInvocation operation")
    if plugin_name and plugin_name != ssm_agent.PLUGIN_NAME:
        raise RunCommandError("InvalidPluginName", f"The plugin name {plugin_name} is not valid.")
    view = invocation.view()
    return {
        "CommandId": command.command_id, "InstanceId": instance_id, "Comment": command.comment,
        "DocumentName": command.document_name, "PluginName": ssm_agent.PLUGIN_NAME,
        **{key: view[key] for key in ("ResponseCode", "ExecutionStartDateTime", "ExecutionElapsedTime",
                                      "ExecutionEndDateTime", "Status", "StatusDetails", "StandardOutputContent",
                                      "StandardErrorContent")},
        "StandardOutputUrl": "", "StandardErrorUrl": "",
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
    }


@add_method(SimpleSystemManagerResponse, "list_command_invocations")
def list_command_invocations(fidelity: Fidelity, response: SimpleSystemManagerResponse) -> ActionResult:
    backend = response.ssm_backend
    command_id, instance_id = response._get_param("CommandId"), response._get_param("InstanceId")
    commands = [backend.get_command_by_id(command_id)] if command_id else list(backend._commands)
    now = time.monotonic()
    found = [
        (command, invocation) for command in commands for invocation in invocations_of(command).values()
        if invocation.visible(now) and instance_id in (None, invocation.instance_id)
    ]
    found = [item for item in found if invocation_passes(item[1], response._get_param("Filters") or [])]
    details = bool(response._get_param("Details"))
    page, next_token = paged(found, response, LIST_PAGE)
    result = {"CommandInvocations": [invocation_summary(command, invocation, details) for command, invocation in page]}
    if next_token:
        result["NextToken"] = next_token
    return ActionResult(result)


INVOCATION_FILTERS = {
    "Status": lambda invocation, value: invocation.view()["Status"] == value,
    "DocumentName": lambda invocation, value: invocation.document_name == value,
    "InvokedAfter": lambda invocation, value: invocation.requested_at >= parsed_time(value),
    "InvokedBefore": lambda invocation, value: invocation.requested_at <= parsed_time(value),
    "ExecutionStage": lambda invocation, value: (
        ("Complete" if invocation.view()["Status"] in ssm_agent.TERMINAL else "Executing") == value),
}


def invocation_passes(invocation: Invocation, filters: list[dict[str, str]]) -> bool:
    for item in filters:
        check = INVOCATION_FILTERS.get(item.get("key", ""))
        if check is None:
            raise RunCommandError("InvalidFilterKey", f"The filter key {item.get('key')} is not valid; "
                                                      f"valid keys: {', '.join(INVOCATION_FILTERS)}.")
        if not check(invocation, item.get("value", "")):
            return False
    return True


def parsed_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def invocation_summary(command: Command, invocation: Invocation, details: bool) -> dict[str, Any]:
    view = invocation.view()
    summary = {
        "CommandId": command.command_id, "InstanceId": invocation.instance_id, "InstanceName": "",
        "Comment": command.comment, "DocumentName": command.document_name,
        "RequestedDateTime": invocation.requested_at, "Status": view["Status"], "StatusDetails": view["StatusDetails"],
        "TraceOutput": "", "StandardOutputUrl": "", "StandardErrorUrl": "", "ServiceRole": command.service_role_arn,
        "NotificationConfig": command.notification_config,
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        "CommandPlugins": [],
    }
    if details:
        summary["CommandPlugins"] = [plugin_summary(view)]
    return summary


def plugin_summary(view: dict[str, Any]) -> dict[str, Any]:
    plugin = {
        "Name": ssm_agent.PLUGIN_NAME, "Status": view["Status"], "StatusDetails": view["StatusDetails"],
        "ResponseCode": view["ResponseCode"], "Output": view["StandardOutputContent"][:ssm_agent.PLUGIN_OUTPUT_LIMIT],
        "StandardOutputUrl": "", "StandardErrorUrl": "", "OutputS3BucketName": "", "OutputS3KeyPrefix": "",
    }
    for key, moment in (("ResponseStartDateTime", view["StartedAt"]), ("ResponseFinishDateTime", view["EndedAt"])):
        if moment is not None:
            plugin[key] = moment
    return plugin


def paged(items: list[Any], response: SimpleSystemManagerResponse,
          bounds: tuple[int, int, int]) -> tuple[list[Any], str]:
    """A page of items by MaxResults and NextToken (an offset here)."""
    least, most, default = bounds
    size = response._get_int_param("MaxResults") or default
    if not least <= size <= most:
        raise RunCommandError("ValidationException", f"1 validation error detected: Value '{size}' at 'maxResults' "
                                                     f"failed to satisfy constraint: Member must have value between "
                                                     f"{least} and {most}")
    token = response._get_param("NextToken") or "0"
    if not token.isdigit():
        raise RunCommandError("InvalidNextToken", "The specified token isn't valid.")
    start = int(token)
    end = start + size
    return items[start:end], str(end) if end < len(items) else ""


# -- DescribeInstanceInformation ------------------------------------------------------


@add_method(SimpleSystemManagerResponse, "describe_instance_information")
def describe_instance_information(fidelity: Fidelity, response: SimpleSystemManagerResponse) -> ActionResult:
    backend = response.ssm_backend
    legacy, filters = response._get_param("InstanceInformationFilterList"), response._get_param("Filters")
    if legacy and filters:
        raise RunCommandError("ValidationException", "InstanceInformationFilterList and Filters can't be combined.")
    wanted = [(item.get("key"), item.get("valueSet", [])) for item in legacy or []]
    wanted += [(item.get("Key"), item.get("Values", [])) for item in filters or []]
    listed = [information for information in node_informations(fidelity, backend)
              if information_passes(information, wanted)]
    page, next_token = paged(listed, response, DESCRIBE_PAGE)
    result: dict[str, Any] = {"InstanceInformationList": [information for information, _tags in page]}
    if next_token:
        result["NextToken"] = next_token
    return ActionResult(result)


def node_informations(fidelity: Fidelity, backend: SimpleSystemManagerBackend) -> list[tuple[dict[str, Any], dict]]:
    """(InstanceInformation, tags) of every registered node that runs, Online or ConnectionLost."""
    listed = []
    for instance in live_instances(fidelity, backend):
        found = node(fidelity, backend, instance)
        if found.online or instance.id in registered_nodes(backend):
            tags = {tag["key"]: tag["value"] for tag in instance.get_tags()}
            listed.append((instance_information(found), tags))
    return listed


def instance_information(found: Node) -> dict[str, Any]:
    instance, probe = found.instance, found.probe
    information = {
        "InstanceId": instance.id, "PingStatus": ONLINE if found.online else CONNECTION_LOST,
        "LastPingDateTime": utc_now(), "PlatformType": "Linux", "ResourceType": "EC2Instance",
        "ComputerName": instance.private_dns_name, "SourceId": instance.id, "SourceType": EC2_SOURCE_TYPE,
    }
    if instance.private_ip:
        information["IPAddress"] = instance.private_ip
    if probe is not None:
        information.update(PlatformName=probe.platform_name, PlatformVersion=probe.platform_version)
        if probe.version:
            information["AgentVersion"] = probe.version
    return information


INFORMATION_FILTERS = {
    "InstanceIds": "InstanceId", "PingStatus": "PingStatus", "PlatformTypes": "PlatformType",
    "ResourceType": "ResourceType", "AgentVersion": "AgentVersion", "SourceIds": "SourceId",
    "SourceTypes": "SourceType", "ActivationIds": "ActivationId", "IamRole": "IamRole",
    "AssociationStatus": "AssociationStatus",
}


def information_passes(information: tuple[dict[str, Any], dict], wanted: list[tuple[str, list[str]]]) -> bool:
    fields, tags = information
    for key, values in wanted:
        if key == "tag-key":
            value = next((tag for tag in tags if tag in values), None)
        elif key and key.startswith("tag:"):
            value = tags.get(key[len("tag:"):])
        elif key in INFORMATION_FILTERS:
            value = fields.get(INFORMATION_FILTERS[key])
        else:
            raise RunCommandError("InvalidFilterKey", f"The filter key {key} is not valid.")
        if value is None or (key != "tag-key" and value not in values):
            return False
    return True
