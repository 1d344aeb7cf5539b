"""SSM Run Command against an instance that runs (sandbox/docs/aws.md, "Run Command"): it is a
managed node only with the agent's unit active and an instance profile that lets the agent work,
and only some seconds after the agent started; commands really run in it, as root, and come back
as GetCommandInvocation reports them on AWS (status, exit code, output cut to AWS's lengths).

One instance serves the whole module (booting costs seconds and memory): every test leaves it
as it found it, a managed node with AmazonSSMManagedInstanceCore and its agent running.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cattle_sandbox.standin import StandIn
from cattle_sandbox.standin.attach import run_in

from fixtures.aws import eventually, register_image
from fixtures.live import capture_content_ami

pytestmark = [pytest.mark.sandbox, pytest.mark.standin, pytest.mark.xdist_group("run_command")]

AGENT_UNIT = "amazon-ssm-agent.service"
CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
# Longer than the defaults (3 and 1 s), so a loaded machine's slow calls still land inside.
REGISTRATION_SECONDS = 6.0
HIDDEN_SECONDS = 3.0
FINAL = ("Success", "Failed", "TimedOut")
STATUS_ORDER = ("Pending", "InProgress", "Success")
# The image's SSM agent, as far as the sandbox cares: a unit of that name that runs.
AGENT_USER_DATA = f"""#!/bin/sh
cat > /etc/systemd/system/{AGENT_UNIT} <<'EOF'
[Unit]
Description=Stands for the SSM agent (the sandbox plays its part)
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload
systemctl enable --now --no-block {AGENT_UNIT}
"""
EC2_TRUST = """{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"""
# The least a custom policy needs: registering, and one of the agent's two message channels.
MINIMAL_AGENT_POLICY = """{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"},
  {"Effect": "Allow", "Action": "ec2messages:*", "Resource": "*"}]}"""


@dataclass
class Site:
    aws: Any
    ec2: Any
    ssm: Any
    iam: Any
    instance_id: str
    name: str  # the stand-in's, for run_in
    profile: str
    role: str


@pytest.fixture(scope="module")
def site(sandbox_aws, standin_base):
    sandbox_aws.reset()
    ec2, ssm, iam = sandbox_aws.client("ec2"), sandbox_aws.client("ssm"), sandbox_aws.client("iam")
    with StandIn(standin_base) as source:
        image_id = capture_content_ami(sandbox_aws.control, ec2, source)
    profile = agent_profile(iam, "node")
    reservation = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                    UserData=AGENT_USER_DATA, IamInstanceProfile={"Name": profile})
    instance_id = reservation["Instances"][0]["InstanceId"]
    [live] = sandbox_aws.control.wait_for_live_instances([instance_id])
    assert live["state"] == "running", live
    yield Site(sandbox_aws, ec2, ssm, iam, instance_id, live["name"], profile, role=profile)
    sandbox_aws.reset()


@pytest.fixture
def node(site):
    """The module's instance, Online."""
    wait_online(site)
    return site


def agent_profile(iam, name):
    """An instance profile whose role has AmazonSSMManagedInstanceCore (role and profile: `name`)."""
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST)
    iam.attach_role_policy(RoleName=name, PolicyArn=CORE_POLICY)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name


def ping_status(site, instance_id=None):
    listed = site.ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id or site.instance_id]}])["InstanceInformationList"]
    return listed[0]["PingStatus"] if listed else None


def wait_online(site, timeout=30):
    eventually(lambda: ping_status(site) == "Online", timeout=timeout, interval=0.2)


def send(site, commands, instance_id=None, **parameters):
    """SendCommand of AWS-RunShellScript -> the command id."""
    values = {"commands": commands, **{key: [value] for key, value in parameters.items()}}
    return site.ssm.send_command(InstanceIds=[instance_id or site.instance_id], DocumentName="AWS-RunShellScript",
                                 Parameters=values)["Command"]["CommandId"]


def refusal(call):
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]


def send_refusal(site, instance_id=None):
    return refusal(lambda: send(site, ["true"], instance_id))


def invocation(site, command_id):
    """GetCommandInvocation, None while it answers InvocationDoesNotExist."""
    try:
        return site.ssm.get_command_invocation(CommandId=command_id, InstanceId=site.instance_id)
    except site.ssm.exceptions.InvocationDoesNotExist:
        return None


def finished(site, command_id, timeout=30):
    """The invocation once it has a final status, retrying as a client on AWS must."""
    def final():
        found = invocation(site, command_id)
        return found if found and found["Status"] in FINAL else None
    return eventually(final, timeout=timeout, interval=0.2)


def statuses_until_final(site, command_id, timeout=30):
    """Every status GetCommandInvocation shows, in order, polling until a final one."""
    seen = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] not in FINAL:
        assert time.monotonic() < deadline, f"statuses {seen} after {timeout} s"
        status = (invocation(site, command_id) or {}).get("Status")
        if status and (not seen or seen[-1] != status):
            seen.append(status)
        time.sleep(0.05)
    return seen


@contextmanager
def fidelity(site, **settings):
    """The sandbox's fidelity settings changed for a block, then back."""
    before = site.aws.control.fidelity()
    site.aws.control.set_fidelity(**settings)
    try:
        yield
    finally:
        site.aws.control.set_fidelity(**{name: before[name] for name in settings})


def command_status(site, command_id):
    return site.ssm.list_commands(CommandId=command_id)["Commands"][0]["Status"]


def test_a_node_is_online_only_once_its_agent_has_run_for_the_registration_delay(node):
    with fidelity(node, ssm_registration_seconds=REGISTRATION_SECONDS):
        assert run_in(node.name, ["systemctl", "restart", AGENT_UNIT]).returncode == 0
        restarted = time.monotonic()

        assert ping_status(node) == "ConnectionLost"
        assert send_refusal(node)["Code"] == "InvalidInstanceId"
        wait_online(node)

    assert time.monotonic() - restarted >= REGISTRATION_SECONDS
    [information] = node.ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["Online"]}])["InstanceInformationList"]
    assert information["InstanceId"] == node.instance_id
    assert (information["PlatformType"], information["PlatformName"], information["PlatformVersion"]) == (
        "Linux", "Debian GNU/Linux", "12")
    assert (information["ResourceType"], information["SourceType"]) == ("EC2Instance", "AWS::EC2::Instance")


def test_an_instance_whose_agent_does_not_run_is_no_managed_node(node):
    assert run_in(node.name, ["systemctl", "stop", AGENT_UNIT]).returncode == 0
    try:
        error = send_refusal(node)
        status = ping_status(node)
    finally:
        run_in(node.name, ["systemctl", "start", AGENT_UNIT])

    assert error == {"Code": "InvalidInstanceId",
                     "Message": f"Instances [[{node.instance_id}]] not in a valid state for account 123456789012"}
    assert status == "ConnectionLost"


def test_the_instance_profile_must_let_the_agent_work(node):
    node.iam.detach_role_policy(RoleName=node.role, PolicyArn=CORE_POLICY)
    try:
        without_policy = send_refusal(node)["Code"]
        node.iam.put_role_policy(RoleName=node.role, PolicyName="agent", PolicyDocument=MINIMAL_AGENT_POLICY)
        wait_online(node)
        with_minimal_policy = finished(node, send(node, ["echo managed"]))
    finally:
        node.iam.delete_role_policy(RoleName=node.role, PolicyName="agent")
        node.iam.attach_role_policy(RoleName=node.role, PolicyArn=CORE_POLICY)

    assert without_policy == "InvalidInstanceId"
    assert (with_minimal_policy["Status"], with_minimal_policy["StandardOutputContent"]) == ("Success", "managed\n")


def test_a_virtual_instance_an_unknown_and_a_terminated_one_are_no_managed_nodes(node):
    virtual = node.ec2.run_instances(ImageId=register_image(node.ec2, "no-content"), MinCount=1, MaxCount=1,
                                     IamInstanceProfile={"Name": node.profile})["Instances"][0]["InstanceId"]

    assert send_refusal(node, virtual)["Code"] == "InvalidInstanceId"
    assert send_refusal(node, "i-0123456789abcdef0")["Code"] == "InvalidInstanceId"
    assert ping_status(node, virtual) is None
    node.ec2.terminate_instances(InstanceIds=[virtual])
    assert send_refusal(node, virtual)["Code"] == "InvalidInstanceId"


def test_an_invocation_does_not_exist_right_after_send_command(node):
    with fidelity(node, ssm_invocation_hidden_seconds=HIDDEN_SECONDS):
        command_id = send(node, ["echo soon"])

        early = refusal(lambda: node.ssm.get_command_invocation(CommandId=command_id, InstanceId=node.instance_id))
        listed_early = node.ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"]
        status_early = command_status(node, command_id)

    assert early["Code"] == "InvocationDoesNotExist"
    assert listed_early == [] and status_early == "Pending"
    assert finished(node, command_id)["StandardOutputContent"] == "soon\n"


def test_a_command_runs_inside_the_instance_as_root_and_succeeds_with_its_output(node):
    command_id = send(node, ["sleep 1", "id -un", "pwd", "echo ran > /var/tmp/run-command"], workingDirectory="/tmp")
    without_directory = send(node, ["pwd"])

    seen = statuses_until_final(node, command_id)
    result = finished(node, command_id)
    listed = node.ssm.list_commands(CommandId=command_id)["Commands"][0]

    assert "InProgress" in seen and seen == [status for status in STATUS_ORDER if status in seen]
    assert (result["Status"], result["StatusDetails"], result["ResponseCode"]) == ("Success", "Success", 0)
    assert result["StandardOutputContent"] == "root\n/tmp\n" and result["StandardErrorContent"] == ""
    assert result["PluginName"] == "aws:runShellScript" and result["ExecutionEndDateTime"]
    assert run_in(node.name, ["cat", "/var/tmp/run-command"]).stdout == "ran\n"
    counts = (listed["CompletedCount"], listed["ErrorCount"], listed["TargetCount"])
    assert listed["Status"] == "Success" and counts == (1, 0, 1)
    agent_directory = (f"/var/lib/amazon/ssm/{node.instance_id}/document/orchestration/{without_directory}"
                       "/awsrunShellScript/0.awsrunShellScript\n")
    assert finished(node, without_directory)["StandardOutputContent"] == agent_directory


def test_a_failing_command_is_failed_with_its_exit_code(node):
    command_id = send(node, ["echo before", "echo oops >&2", "exit 3"])

    result = finished(node, command_id)

    assert (result["Status"], result["StatusDetails"], result["ResponseCode"]) == ("Failed", "Failed", 3)
    assert (result["StandardOutputContent"], result["StandardErrorContent"]) == ("before\n", "oops\n")
    listed = node.ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert (listed["Status"], listed["ErrorCount"]) == ("Failed", 1)


def test_a_command_past_its_execution_timeout_is_timed_out_and_stopped(node):
    command_id = send(node, ["echo started", "sleep 97"], executionTimeout="1")

    result = finished(node, command_id)

    assert (result["Status"], result["StatusDetails"], result["ResponseCode"]) == ("TimedOut", "ExecutionTimedOut", -1)
    assert result["StandardOutputContent"] == "started\n"
    assert run_in(node.name, ["pgrep", "-f", "sleep 97"]).returncode == 1  # nothing left running


def test_output_is_cut_to_the_first_24000_and_8000_characters(node):
    command_id = send(node, ["head -c 30000 /dev/zero | tr '\\0' o", "head -c 9000 /dev/zero | tr '\\0' e >&2"])

    result = finished(node, command_id)
    [listed] = node.ssm.list_command_invocations(CommandId=command_id, Details=True)["CommandInvocations"]

    assert result["StandardOutputContent"] == "o" * 24000
    assert result["StandardErrorContent"] == "e" * 8000
    assert listed["CommandPlugins"][0]["Output"] == "o" * 2500
    assert listed["Status"] == "Success"


def test_send_command_refuses_what_aws_run_shell_script_does_not_take(node):
    def send_document(document, parameters):
        return node.ssm.send_command(InstanceIds=[node.instance_id], DocumentName=document, Parameters=parameters)

    missing = refusal(lambda: send_document("AWS-RunShellScript", {"workingDirectory": ["/tmp"]}))
    too_long = refusal(lambda: send(node, ["true"], executionTimeout="172801"))
    other_document = refusal(lambda: send_document("AWS-RunPowerShellScript", {"commands": ["dir"]}))

    assert missing["Code"] == too_long["Code"] == "InvalidParameters"
    assert other_document["Code"] == "InvalidDocument"
