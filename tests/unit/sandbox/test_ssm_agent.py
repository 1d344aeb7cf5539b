"""The pure parts of the SSM agent the sandbox plays (ssm_agent.py): what the instance profile
must allow, AWS-RunShellScript's parameters, the agent probe, output limits and the statuses."""

from datetime import datetime, timedelta, timezone

import pytest

from cattle_sandbox import ssm_agent
from cattle_sandbox.ssm_agent import FAILED, IN_PROGRESS, PENDING, SUCCESS, TIMED_OUT, Invocation

CORE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ssm:DescribeAssociation", "ssm:UpdateInstanceInformation"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                                   "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage",
                                   "ec2messages:FailMessage", "ec2messages:GetEndpoint", "ec2messages:GetMessages",
                                   "ec2messages:SendReply"], "Resource": "*"},
]}
START = datetime(2026, 12, 7, 1, 2, 3, tzinfo=timezone.utc)


def statement(effect, action, **extra):
    return {"Version": "2012-10-17", "Statement": {"Effect": effect, "Action": action, "Resource": "*", **extra}}


def test_the_core_policy_lets_the_agent_work():
    assert ssm_agent.agent_allowed([CORE])


def test_registering_and_one_message_channel_are_enough_in_any_spelling():
    assert ssm_agent.agent_allowed([statement("Allow", "SSM:updateinstanceinformation"),
                                    '{"Statement": [{"Effect": "Allow", "Action": "ec2messages:*", "Resource": "*"}]}'])
    assert ssm_agent.agent_allowed([statement("Allow", ["ssm:Update*", "ssmmessages:*"])])
    assert ssm_agent.agent_allowed([statement("Allow", "*")])


def test_url_encoded_documents_are_read():
    encoded = "%7B%22Statement%22%3A%20%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22%2A%22%7D%7D"
    assert ssm_agent.agent_allowed([encoded])


def test_a_policy_without_registering_or_without_a_channel_is_not_enough():
    assert not ssm_agent.agent_allowed([])
    assert not ssm_agent.agent_allowed([statement("Allow", "ec2messages:*")])
    assert not ssm_agent.agent_allowed([statement("Allow", "ssm:UpdateInstanceInformation")])
    partial = ["ssm:UpdateInstanceInformation", "ec2messages:GetMessages", "ssmmessages:OpenControlChannel"]
    assert not ssm_agent.agent_allowed([statement("Allow", partial)])


def test_an_explicit_deny_wins_and_a_conditional_allow_does_not_count():
    assert not ssm_agent.agent_allowed([CORE, statement("Deny", "ssm:UpdateInstanceInformation")])
    assert not ssm_agent.agent_allowed([CORE, statement("Deny", "*")])
    conditional = statement("Allow", "*", Condition={"Bool": {"aws:SecureTransport": "true"}})
    assert not ssm_agent.agent_allowed([conditional])


def test_not_action_allows_everything_else():
    assert ssm_agent.agent_allowed([{"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}])
    assert not ssm_agent.agent_allowed([{"Statement": [{"Effect": "Allow", "NotAction": "ssm:*", "Resource": "*"}]}])


def test_iam_wildcards_match_as_iam_matches_them():
    assert ssm_agent.action_matches("ssm:Update?nstanceInformation", "ssm:UpdateInstanceInformation")
    assert not ssm_agent.action_matches("ssm:Update", "ssm:UpdateInstanceInformation")
    assert not ssm_agent.action_matches("ssm:[U]pdate*", "ssm:UpdateInstanceInformation")


def test_run_shell_script_parameters_with_their_defaults():
    script = ssm_agent.shell_script({"commands": ["cd /srv", "make test"]})

    assert script == ssm_agent.ShellScript("cd /srv\nmake test", "", 3600)
    assert ssm_agent.shell_script({"commands": ["true"], "workingDirectory": ["/tmp"],
                                   "executionTimeout": ["172800"]}) == ssm_agent.ShellScript("true", "/tmp", 172800)


@pytest.mark.parametrize("parameters, complaint", [
    ({}, "needs commands"),
    ({"commands": []}, "needs commands"),
    ({"commands": ["true"], "timeout": ["5"]}, "no parameter timeout"),
    ({"commands": ["true"], "executionTimeout": ["0"]}, "from 1 to 172800"),
    ({"commands": ["true"], "executionTimeout": ["172801"]}, "from 1 to 172800"),
    ({"commands": ["true"], "executionTimeout": ["1h"]}, "from 1 to 172800"),
    ({"commands": ["true"], "workingDirectory": ["/a", "/b"]}, "takes one value"),
    ({"commands": ["true"], "workingDirectory": ["/" * 4097]}, "longer than 4096"),
])
def test_run_shell_script_refuses_what_the_document_does_not_take(parameters, complaint):
    with pytest.raises(ssm_agent.InvalidParameters, match=complaint):
        ssm_agent.shell_script(parameters)


def test_the_probe_reads_when_the_agent_started_its_version_and_the_os():
    probe = ssm_agent.parse_probe("ActiveState=active\nActiveEnterTimestampMonotonic=12500000\n"
                                  "AgentVersion=3.3.1142.0-1\nPlatformName=Debian GNU/Linux\nPlatformVersion=12\n")

    assert probe == ssm_agent.AgentProbe(12.5, "3.3.1142.0", "Debian GNU/Linux", "12")
    assert not probe.registered(3.0, now=15.4)
    assert probe.registered(3.0, now=15.5)


def test_an_inactive_or_unknown_unit_is_no_running_agent_and_odd_versions_are_left_out():
    stopped = ssm_agent.parse_probe("ActiveState=inactive\nActiveEnterTimestampMonotonic=12500000\nAgentVersion=\n")
    missing = ssm_agent.parse_probe("ActiveState=inactive\nActiveEnterTimestampMonotonic=0\nAgentVersion=1.0\n")

    assert stopped.active_since is None and not stopped.registered(0.0, now=1e9)
    assert (missing.active_since, missing.version) == (None, None)


def test_output_keeps_the_first_characters_not_bytes():
    assert ssm_agent.first_characters(("é" * 30000).encode(), ssm_agent.STDOUT_LIMIT) == "é" * 24000
    assert ssm_agent.first_characters(b"short", ssm_agent.STDERR_LIMIT) == "short"
    assert ssm_agent.first_characters(b"\xff ok", 10) == "\ufffd ok"


def invocation():
    return Invocation("c-1", "i-1", "AWS-RunShellScript", START, visible_from=10.0)


def test_an_invocation_goes_pending_in_progress_success_with_its_exit_code_and_output():
    item = invocation()
    assert (item.view()["Status"], item.view()["ResponseCode"]) == (PENDING, -1)

    item.begin(START)
    running = item.view()
    item.finish(0, b"o" * 30000, b"e" * 9000, START + timedelta(seconds=2.5))
    done = item.view()

    assert running["Status"] == IN_PROGRESS
    assert running["StandardOutputContent"] == running["ExecutionEndDateTime"] == ""
    assert (done["Status"], done["StatusDetails"], done["ResponseCode"]) == (SUCCESS, "Success", 0)
    assert (len(done["StandardOutputContent"]), len(done["StandardErrorContent"])) == (24000, 8000)
    assert done["ExecutionStartDateTime"] == "2026-12-07T01:02:03.000Z"
    assert (done["ExecutionEndDateTime"], done["ExecutionElapsedTime"]) == ("2026-12-07T01:02:05.500Z", "PT2.500S")


def test_an_exit_code_other_than_zero_fails_and_a_signal_or_a_timeout_has_none():
    failed, killed, timed_out = invocation(), invocation(), invocation()
    for item in (failed, killed, timed_out):
        item.begin(START)

    failed.finish(3, b"", b"oops", START)
    killed.finish(-9, b"", b"", START)
    timed_out.time_out(b"started\n", b"", START)

    assert (failed.view()["Status"], failed.view()["ResponseCode"]) == (FAILED, 3)
    assert (killed.view()["Status"], killed.view()["ResponseCode"]) == (FAILED, -1)
    assert (timed_out.view()["Status"], timed_out.view()["StatusDetails"], timed_out.view()["ResponseCode"]) == (
        TIMED_OUT, "ExecutionTimedOut", -1)
    assert timed_out.view()["StandardOutputContent"] == "started\n"


def test_statuses_move_only_forward():
    item = invocation()
    with pytest.raises(ValueError, match="is Pending, not InProgress"):
        item.finish(0, b"", b"", START)
    item.begin(START)
    with pytest.raises(ValueError):
        item.begin(START)
    item.finish(0, b"", b"", START)
    with pytest.raises(ValueError):
        item.time_out(b"", b"", START)


def test_an_undeliverable_invocation_fails_without_running():
    item = invocation()
    item.undeliverable("the instance could not be reached", START)
    assert (item.view()["Status"], item.view()["StatusDetails"], item.view()["ResponseCode"]) == (
        FAILED, "Undeliverable", -1)


def test_an_invocation_is_found_only_from_its_visible_time():
    assert not invocation().visible(9.99)
    assert invocation().visible(10.0)


@pytest.mark.parametrize("statuses, expected", [
    ([PENDING, PENDING], PENDING),
    ([PENDING, IN_PROGRESS], IN_PROGRESS),
    ([SUCCESS, PENDING], IN_PROGRESS),
    ([SUCCESS, SUCCESS], SUCCESS),
    ([SUCCESS, TIMED_OUT], TIMED_OUT),
    ([TIMED_OUT, FAILED], FAILED),
    ([], SUCCESS),
])
def test_a_command_status_sums_up_its_invocations(statuses, expected):
    assert ssm_agent.command_status(statuses) == expected


def test_without_a_working_directory_the_command_runs_in_the_agents_directory_for_it():
    item = invocation()
    argv = ssm_agent.shell_argv(item, ssm_agent.ShellScript("pwd", "", 60))
    given = ssm_agent.shell_argv(item, ssm_agent.ShellScript("pwd", "/srv", 60))

    assert argv[3:] == ["run-command", "/var/lib/amazon/ssm/i-1/document/orchestration/c-1/awsrunShellScript/"
                        "0.awsrunShellScript", "pwd"]
    assert argv[2].startswith("mkdir -p") and not given[2].startswith("mkdir")
    assert given[3:] == ["run-command", "/srv", "pwd"]
