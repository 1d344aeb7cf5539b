"""The SSM agent's part, played by the sandbox for instances that run (aws/run_command.py calls it).

The real amazon-ssm-agent never runs here: it needs the Systems Manager endpoints. An instance
whose image has an active unit named amazon-ssm-agent.service stands for an instance whose
agent runs, and the sandbox does what that agent would do: it registers the instance (once
the unit has been active for a while), and it runs the AWS-RunShellScript commands sent to
it, as root, inside the stand-in, reporting status, exit code and output the way
GetCommandInvocation shows them.

The rules, each from the AWS documentation (in our words; sources named):
- What the agent needs from the instance profile (AGENT_ACTIONS, COMMAND_CHANNELS): it
  reports in through ssm:UpdateInstanceInformation, and takes commands through the
  ssmmessages endpoint when it can reach it, through ec2messages otherwise;
  AmazonSSMManagedInstanceCore grants all of them (Systems Manager User Guide, "Reference:
  ec2messages, ssmmessages, and other API operations"; AWS Managed Policy Reference,
  "AmazonSSMManagedInstanceCore").
- AWS-RunShellScript (the document's own parameter definitions): `commands` (at least one),
  `workingDirectory` (at most 4096 characters) and `executionTimeout` (seconds, default 3600,
  at most 172800).
- GetCommandInvocation (Systems Manager API Reference): StandardOutputContent holds the
  first 24,000 characters written to stdout, StandardErrorContent the first 8,000 written to
  stderr, both empty until the command has finished; a ResponseCode of -1 means the script
  has not run to an exit code.
- Statuses (User Guide, "Understanding command statuses"): Pending until the agent has the
  command, InProgress while it runs, then Success (exit code 0), Failed (another code) or
  TimedOut (still running when executionTimeout passed: the agent stops it).

Nothing here imports moto.
"""

import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from .standin import namespaces

AGENT_UNIT = "amazon-ssm-agent.service"
AGENT_PACKAGE = "amazon-ssm-agent"
RUN_SHELL_SCRIPT = "AWS-RunShellScript"
PLUGIN_NAME = "aws:runShellScript"

STDOUT_LIMIT = 24_000
STDERR_LIMIT = 8_000
# CommandPlugin.Output (ListCommandInvocations with Details): the shape's maximum length.
PLUGIN_OUTPUT_LIMIT = 2_500
DEFAULT_EXECUTION_TIMEOUT = 3600
MAX_EXECUTION_TIMEOUT = 172_800
MAX_WORKING_DIRECTORY = 4096
SHELL_SCRIPT_PARAMETERS = ("commands", "workingDirectory", "executionTimeout")
NOT_RUN = -1  # ResponseCode of a script that has no exit code (not run yet, stopped, killed)

AGENT_ACTIONS = ("ssm:UpdateInstanceInformation",)
COMMAND_CHANNELS = (
    ("ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
     "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply"),
    ("ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
     "ssmmessages:OpenDataChannel"),
)

PENDING, IN_PROGRESS, SUCCESS, FAILED, TIMED_OUT = "Pending", "InProgress", "Success", "Failed", "TimedOut"
TERMINAL = (SUCCESS, FAILED, TIMED_OUT)
STATUS_DETAILS = {PENDING: "Pending", IN_PROGRESS: "InProgress", SUCCESS: "Success", FAILED: "Failed",
                  TIMED_OUT: "ExecutionTimedOut"}

# Reads the agent's unit state, its package version and the OS inside a stand-in in one go.
PROBE_SCRIPT = (
    f"systemctl show --property=ActiveState --property=ActiveEnterTimestampMonotonic {AGENT_UNIT}; "
    f"printf 'AgentVersion=%s\\n' \"$(dpkg-query -W -f='${{Version}}' {AGENT_PACKAGE} 2>/dev/null)\"; "
    ". /etc/os-release; printf 'PlatformName=%s\\nPlatformVersion=%s\\n' \"$NAME\" \"$VERSION_ID\""
)
PROBE_TIMEOUT = 10
AGENT_VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){2,3}$")
# Runs the commands in their working directory; the agent's own directory is made first.
ENTER_AND_RUN = 'cd "$1" || exit 1; exec /bin/sh -c "$2"'
CREATE_ENTER_AND_RUN = 'mkdir -p "$1" && ' + ENTER_AND_RUN
# Seconds the output of a killed script may still take to arrive.
KILL_GRACE = 5.0

log = logging.getLogger("cattle_sandbox.ssm")


class InvalidParameters(ValueError):
    """SendCommand's InvalidParameters: the document does not take these parameters."""


# -- the instance profile ----------------------------------------------------------------


def agent_allowed(documents: list[Any]) -> bool:
    """Whether these policy documents (JSON text or parsed) let the agent register and take commands."""
    statements = [statement for document in documents for statement in policy_statements(document)]

    def allowed(action: str) -> bool:
        return (any(statement_grants(statement, action, "Allow") for statement in statements)
                and not any(statement_grants(statement, action, "Deny") for statement in statements))

    return all(allowed(action) for action in AGENT_ACTIONS) and any(
        all(allowed(action) for action in channel) for channel in COMMAND_CHANNELS)


def policy_statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            document = json.loads(unquote(document))  # IAM hands documents out URL-encoded
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def statement_grants(statement: dict[str, Any], action: str, effect: str) -> bool:
    """Whether the statement has this effect on the action. Resources are taken as matching
    (the agent's actions are granted on "*"); an Allow with a Condition is not counted, since
    the sandbox does not evaluate conditions."""
    if statement.get("Effect") != effect or (effect == "Allow" and "Condition" in statement):
        return False
    if "NotAction" in statement:
        return not action_matches(statement["NotAction"], action)
    return action_matches(statement.get("Action", []), action)


def action_matches(patterns: Any, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` any run of characters, `?` one character."""
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        expression = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
        if re.fullmatch(expression, action, re.IGNORECASE):
            return True
    return False


# -- the agent inside the stand-in ------------------------------------------------------


@dataclass(frozen=True)
class AgentProbe:
    """What the instance tells about its agent. active_since: time.monotonic() seconds at which
    the unit became active (the stand-in shares the host's monotonic clock), None when it isn't."""

    active_since: float | None
    version: str | None
    platform_name: str
    platform_version: str

    def registered(self, registration_seconds: float, now: float) -> bool:
        return self.active_since is not None and now >= self.active_since + registration_seconds


def parse_probe(text: str) -> AgentProbe:
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    since = values.get("ActiveEnterTimestampMonotonic", "0")
    active = values.get("ActiveState") == "active" and since.isdigit() and int(since) > 0
    version = values.get("AgentVersion", "").split("-", 1)[0]  # without the Debian revision
    return AgentProbe(
        active_since=int(since) / 1_000_000 if active else None,
        version=version if AGENT_VERSION.match(version) else None,
        platform_name=values.get("PlatformName", ""),
        platform_version=values.get("PlatformVersion", ""),
    )


def probe_agent(standin: Any) -> AgentProbe | None:
    """The agent's state inside a running stand-in; None when the stand-in cannot be asked."""
    try:
        result = standin.run(["/bin/sh", "-c", PROBE_SCRIPT], check=False, timeout=PROBE_TIMEOUT)
    except Exception as error:  # stopping, gone: not an agent that answers
        log.info("stand-in %s: cannot ask for its agent: %s", getattr(standin, "name", "?"), error)
        return None
    return parse_probe(result.stdout)


# -- AWS-RunShellScript --------------------------------------------------------------------


@dataclass(frozen=True)
class ShellScript:
    script: str
    working_directory: str  # "" : the agent's own directory for the command
    execution_timeout: int


def shell_script(parameters: dict[str, Any] | None) -> ShellScript:
    """AWS-RunShellScript's parameters, checked as the document defines them."""
    parameters = parameters or {}
    unknown = sorted(set(parameters) - set(SHELL_SCRIPT_PARAMETERS))
    if unknown:
        raise InvalidParameters(f"{RUN_SHELL_SCRIPT} has no parameter {', '.join(unknown)}; "
                                f"it takes {', '.join(SHELL_SCRIPT_PARAMETERS)}")
    commands = parameters.get("commands") or []
    if not commands or not all(isinstance(command, str) for command in commands):
        raise InvalidParameters(f"{RUN_SHELL_SCRIPT} needs commands: a list of at least one command")
    working_directory = single_value(parameters, "workingDirectory", "")
    if len(working_directory) > MAX_WORKING_DIRECTORY:
        raise InvalidParameters(f"workingDirectory is longer than {MAX_WORKING_DIRECTORY} characters")
    return ShellScript("\n".join(commands), working_directory, execution_timeout(parameters))


def single_value(parameters: dict[str, Any], name: str, default: str) -> str:
    values = parameters.get(name)
    if values is None or values == []:
        return default
    if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
        raise InvalidParameters(f"{name} takes one value, not {values!r}")
    return values[0]


def execution_timeout(parameters: dict[str, Any]) -> int:
    text = single_value(parameters, "executionTimeout", "").strip() or str(DEFAULT_EXECUTION_TIMEOUT)
    if not text.isdigit() or not 1 <= int(text) <= MAX_EXECUTION_TIMEOUT:
        raise InvalidParameters(f"executionTimeout must be a whole number of seconds from 1 to "
                                f"{MAX_EXECUTION_TIMEOUT}, not {text!r}")
    return int(text)


def agent_directory(instance_id: str, command_id: str) -> str:
    """Where the agent keeps a command's files, and runs it when no workingDirectory is given."""
    return (f"/var/lib/amazon/ssm/{instance_id}/document/orchestration/{command_id}"
            "/awsrunShellScript/0.awsrunShellScript")


# -- one command on one instance ---------------------------------------------------------


def first_characters(data: bytes, limit: int) -> str:
    """What GetCommandInvocation keeps of an output stream."""
    return data.decode("utf-8", "replace")[:limit]


def response_code(returncode: int) -> int:
    """A script's exit code; one ended by a signal has none (the agent reports -1)."""
    return returncode if returncode >= 0 else NOT_RUN


def iso_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Invocation:
    """One command on one instance: Pending -> InProgress -> Success | Failed | TimedOut."""

    command_id: str
    instance_id: str
    document_name: str
    requested_at: datetime
    visible_from: float  # time.monotonic() from which the API finds it
    status: str = PENDING
    code: int = NOT_RUN
    stdout: str = ""
    stderr: str = ""
    details: str | None = None  # StatusDetails when it says more than the status
    started_at: datetime | None = None
    ended_at: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def visible(self, now: float) -> bool:
        return now >= self.visible_from

    def begin(self, when: datetime) -> None:
        with self.lock:
            self._move(PENDING, IN_PROGRESS)
            self.started_at = when

    def finish(self, returncode: int, stdout: bytes, stderr: bytes, when: datetime) -> None:
        code = response_code(returncode)
        self._end(SUCCESS if code == 0 else FAILED, code, stdout, stderr, when)

    def time_out(self, stdout: bytes, stderr: bytes, when: datetime) -> None:
        self._end(TIMED_OUT, NOT_RUN, stdout, stderr, when)

    def undeliverable(self, reason: str, when: datetime) -> None:
        """The instance went away before the command could start."""
        with self.lock:
            self._move(PENDING, FAILED)
            self.details = "Undeliverable"
            self.stderr = first_characters(reason.encode(), STDERR_LIMIT)
            self.ended_at = when

    def _end(self, status: str, code: int, stdout: bytes, stderr: bytes, when: datetime) -> None:
        with self.lock:
            self._move(IN_PROGRESS, status)
            self.code = code
            self.stdout = first_characters(stdout, STDOUT_LIMIT)
            self.stderr = first_characters(stderr, STDERR_LIMIT)
            self.ended_at = when

    def _move(self, expected: str, status: str) -> None:
        if self.status != expected:
            raise ValueError(f"invocation of {self.command_id} on {self.instance_id} is {self.status}, "
                             f"not {expected}: it cannot become {status}")
        self.status = status

    def view(self) -> dict[str, Any]:
        """A consistent copy of the fields the API reports."""
        with self.lock:
            started, ended = self.started_at, self.ended_at
            elapsed = ((ended or utc_now()) - started).total_seconds() if started else 0.0
            return {
                "Status": self.status,
                "StatusDetails": self.details or STATUS_DETAILS[self.status],
                "ResponseCode": self.code,
                "ExecutionStartDateTime": iso_time(started),
                "ExecutionElapsedTime": iso_duration(elapsed),
                "ExecutionEndDateTime": iso_time(ended),
                "StandardOutputContent": self.stdout,
                "StandardErrorContent": self.stderr,
                "StartedAt": started,
                "EndedAt": ended,
            }


def command_status(statuses: list[str]) -> str:
    """A command's status from its invocations' (one failure is enough: MaxErrors is not emulated)."""
    if statuses and all(status == PENDING for status in statuses):
        return PENDING
    if any(status not in TERMINAL for status in statuses):
        return IN_PROGRESS
    if FAILED in statuses:
        return FAILED
    return TIMED_OUT if TIMED_OUT in statuses else SUCCESS


# -- running it --------------------------------------------------------------------------


class StreamHead:
    """Keeps the first `limit` bytes a pipe delivers and reads the rest away, so a chatty
    script never blocks on a full pipe and never fills memory."""

    def __init__(self, stream: Any, limit: int):
        self._stream = stream
        self._limit = limit
        self._kept = bytearray()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, name="run-command-output", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with self._stream:
            for chunk in iter(lambda: self._stream.read1(65536), b""):
                with self._lock:
                    room = self._limit - len(self._kept)
                    if room > 0:
                        self._kept += chunk[:room]

    def kept(self) -> bytes:
        with self._lock:
            return bytes(self._kept)


def run_invocation(invocation: Invocation, standin: Any, script: ShellScript) -> None:
    """Runs the script inside the stand-in as root and records the outcome (a worker thread's job).
    The agent gets the command when the service has it visible: Pending until then."""
    time.sleep(max(0.0, invocation.visible_from - time.monotonic()))
    try:
        argv = namespaces.nsenter_argv(standin.init_pid, shell_argv(invocation, script))
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)  # its own process group, killed as one
    except Exception as error:  # the stand-in is gone or no longer its own
        invocation.undeliverable(f"the instance could not be reached: {error}", utc_now())
        return
    invocation.begin(utc_now())
    # A character takes at most 4 bytes of UTF-8.
    stdout, stderr = StreamHead(process.stdout, STDOUT_LIMIT * 4), StreamHead(process.stderr, STDERR_LIMIT * 4)
    timed_out = not finished_in_time(process, [stdout, stderr], time.monotonic() + script.execution_timeout)
    if timed_out:
        kill_group(process)
        for head in (stdout, stderr):
            head.thread.join(KILL_GRACE)
        invocation.time_out(stdout.kept(), stderr.kept(), utc_now())
    else:
        invocation.finish(process.returncode, stdout.kept(), stderr.kept(), utc_now())
    log.info("command %s on %s: %s (%s)", invocation.command_id, invocation.instance_id, invocation.status,
             invocation.code)


def shell_argv(invocation: Invocation, script: ShellScript) -> list[str]:
    if script.working_directory:
        return ["/bin/sh", "-c", ENTER_AND_RUN, "run-command", script.working_directory, script.script]
    directory = agent_directory(invocation.instance_id, invocation.command_id)
    return ["/bin/sh", "-c", CREATE_ENTER_AND_RUN, "run-command", directory, script.script]


def finished_in_time(process: subprocess.Popen, heads: list[StreamHead], deadline: float) -> bool:
    """Whether the script ended and its output closed before the deadline (a background process
    that keeps the output open keeps the command running, as it keeps the agent waiting)."""
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    for head in heads:
        head.thread.join(max(0.0, deadline - time.monotonic()))
    return not any(head.thread.is_alive() for head in heads)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def start_run(invocation: Invocation, standin: Any, script: ShellScript) -> threading.Thread:
    """Runs the invocation in a thread of its own; SendCommand answers at once."""
    thread = threading.Thread(target=run_invocation, args=(invocation, standin, script),
                              name=f"run-command-{invocation.instance_id}", daemon=True)
    thread.start()
    return thread
