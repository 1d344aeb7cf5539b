"""`make demo`: the whole flow of cattle.immutable on the local sandbox, in a few minutes.

    scripts/demo.sh          # enters a private network namespace and runs this file

Starts the emulated AWS (cattle_sandbox.aws) in this process, then runs the collection's
own playbooks against it, as a user would, and prints what each one says:

  the app's network and one load balancer per stage (sandbox/demo/network.yml) ->
  web 1.0.0: one run of playbooks/pipeline.yml (build with real Packer, the golden
  template's Packer 1.6.6 copy, playbooks/image.yml with every role inside a booted
  stand-in that plays the build instance -> promote and deploy dev, staging, prod ->
  cleanup) -> the same build again with playbooks/build.yml (reused) and an instance
  booted from the AMI -> web 2.0.0: the pipeline again (new fingerprint, Packer again,
  blue-green in every stage, cleanup retires the 1.0.0 fleets) while a load generator hits
  prod's load balancer by its DNS name (the fleets' instances run the image, the load
  balancer carries the requests: the summary says how many failed) -> an instance of the
  new AMI and the state of every stage (sandbox/demo/state.yml)

and stops everything, also when a step fails or the run is interrupted. This file only
narrates and checks: the flow is the playbooks'. Each playbook's full output goes to a log
in the work directory, which is kept (and named) on failure.
"""

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "sandbox"))

from cattle_sandbox.aws import SandboxAWS  # noqa: E402
from cattle_sandbox.load import LoadGenerator, timeline_text  # noqa: E402
from cattle_sandbox.netns import NotInPrivateNamespace, require_private_netns  # noqa: E402
from cattle_sandbox.packer_compat import legacy_copy  # noqa: E402
from cattle_sandbox.standin import NotPrepared, StandIn, StandInError, find_prepared  # noqa: E402
from cattle_sandbox.standin.instance import port_answers  # noqa: E402


def _load_collection_module(relative_path, name):
    """One of the collection's standard-library-only files, without installing the collection."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_packer = _load_collection_module("plugins/module_utils/_build/packer.py", "cattle_build_packer")
progress = _load_collection_module("plugins/plugin_utils/progress.py", "cattle_progress")

APP = "web"
STAGES = ["dev", "staging", "prod"]
VERSIONS = ["1.0.0", "2.0.0"]
BASE_IMAGE_NAME = "debian-12-amd64-20260101"
APP_PORT = 8080  # roles/app's default
# Seconds until a new target turns healthy: short, so the demo's health gates pass quickly.
TARGET_HEALTHY_AFTER = 2.0
# The pipelines' deploy and cleanup inputs. 1.0.0: the placeholders go at once. 2.0.0: canary
# (half the traffic, a pause, then all) and the 1.0.0 fleets kept as standbys for a rollback.
PIPELINE_VARS = {
    "1.0.0": {"rollback_window": 0, "wait_timeout": 120},
    "2.0.0": {"rollback_window": 600, "wait_timeout": 120, "strategy": "canary", "canary_steps": [50, 100],
              "canary_pause": 5},
}
DEPLOY_VARS = {"app": "web", "stage": "prod", "wait_timeout": 120}
# The broken version: its app listens on 127.0.0.1 only. The build's own validation asks it on
# the instance and passes; the load balancer's health checks come from outside and never reach it.
BROKEN_VERSION = "2.1.0"
BROKEN_APP_VARS = {"app_listen_address": "127.0.0.1"}
# The load on prod from 2.0.0's pipeline to the end: bounded in rate, count and time.
LOAD = {"rate": 40, "workers": 4, "max_requests": 40000, "max_seconds": 900}
LOAD_STAGE = "prod"
LOAD_BUCKET_SECONDS = 10
PLAYBOOK_TIMEOUT = 900
VENV_BIN = REPO / ".venv" / "bin"
DEMO_DIR = REPO / "sandbox" / "demo"
PLAYBOOKS = REPO / "playbooks"
# The playbooks' tasks whose results the demo checks.
BUILD_TASK = "Build the image of " + APP
GREEN_TASK = "Bring up the green fleet at weight 0 and wait until every instance is healthy"
SWITCH_TASK = "Switch traffic to green, keep the old fleets for the rollback window, release the deploy lock"
CLEANUP_TASK = "Retire the standby fleets whose window has passed (drain, then delete)"
# terminate.yml's one task for one stage (it also takes and gives back the lock); cleanup.yml's loops over the stages.
TERMINATE_TASK = "Retire the standby fleets whose window has passed (drain, then delete), under the deploy lock"
TEST_TASK = "Test the image on one instance behind the load balancer"
SUMMARY_TASK = "Say what the pipeline did"
STATE_TASK = "Read the deployment"
# The jsonl callback's events that carry a task's result.
RESULT_EVENTS = ("v2_runner_on_ok", "v2_runner_on_failed", "v2_runner_on_skipped", "v2_runner_on_unreachable")
# image_build's own progress lines (every 15 s) are left out: PackerFollower says more, less often.
PROGRESS_PREFIXES = ("fleet:",)
PROGRESS_WIDTH = 110
# What Packer 1.6.6's amazon-ebs builder and ansible provisioner say at each milestone -> our words.
PACKER_MILESTONES = (
    ("Launching a source AWS instance", "Packer launches the build instance (the stand-in plays it)"),
    ("Connected to SSH!", "SSH to the build instance: connected"),
    ("Provisioning with Ansible", "ansible provisioner: playbooks/image.yml"),
    ("Creating AMI ", "creating the AMI from the build instance"),
    ("Copying/Encrypting AMI", "copying the AMI encrypted (encrypt_boot), the first one is deregistered"),
    ("Terminating the source AWS instance", "terminating the build instance"),
)
ROLE_TASK = re.compile(r"TASK \[cattle\.immutable\.([a-z_]+) : ")
RECAP = re.compile(r"(ok=\d+)\s+(changed=\d+)\s+unreachable=\d+\s+(failed=\d+)")
# build.yml names its Packer log; the work directory goes at the end of a good run.
LOG_NOTE = re.compile(r", log \S+$")


class StepFailed(Exception):
    """A step did not do what it should; the message says what and where the log is."""


class Interrupted(Exception):
    """SIGINT or SIGTERM: stop what runs, clean up, exit."""


def say(text="", indent=2):
    print(" " * indent + text if text else "", flush=True)


class Playbooks:
    """Runs ansible-playbook against the sandbox with the jsonl callback, one event a line:
    prints what the playbooks' debug tasks say and the fleet module's progress lines (and,
    for a build, Packer's milestones) as they come, and returns the per-task results."""

    def __init__(self, work, env):
        self.work = work
        self.env = env
        self.count = 0
        self.child = None
        self.last_tasks = []

    def run_expecting_failure(self, label, playbook, extra_vars=None, *, var_files=()):
        """A run that must fail (a refusal the demo shows): its results, or StepFailed if it passed."""
        try:
            self.run(label, playbook, extra_vars, var_files=var_files)
        except StepFailed:
            return PlaybookResult(self.last_tasks)
        raise StepFailed("{0} passed, but it should have refused".format(Path(playbook).name))

    def run(self, label, playbook, extra_vars=None, *, var_files=(), packer_log=None):
        self.count += 1
        log = self.work / "logs" / "{0:02d}-{1}.log".format(self.count, label)
        command = [str(VENV_BIN / "ansible-playbook"), str(playbook)]
        for path in var_files:
            command += ["-e", "@" + str(path)]
        command += ["-e", json.dumps(extra_vars or {})]
        with open(log, "w", encoding="utf-8") as out:
            out.write("$ " + " ".join(command) + "\n")
            out.flush()
            with PackerFollower(packer_log) if packer_log else contextlib.nullcontext() as follower:
                tasks, returncode = self._stream(command, out, follower)
        self.last_tasks = tasks
        if returncode != 0:
            raise StepFailed("{0} failed (exit {1}): {2} (log {3})".format(
                Path(playbook).name, returncode, self._why(tasks, log).rstrip("."), log.name))
        return PlaybookResult(tasks)

    def _stream(self, command, out, follower):
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            command, env=self.env, cwd=str(self.work), stdout=subprocess.PIPE, stderr=out, text=True,
            start_new_session=True)  # its own process group: an abort stops Packer and its children too
        self.child = process
        timer = threading.Timer(PLAYBOOK_TIMEOUT, self.stop_child)
        timer.start()
        tasks = []
        try:
            for line in process.stdout:
                out.write(line)
                self._take(line, tasks, follower)
            returncode = process.wait()
        finally:
            timer.cancel()
            self.stop_child()
        return tasks, returncode

    @staticmethod
    def _take(line, tasks, follower):
        """One line of output: a task's result (kept; a debug task's message said), or a progress line."""
        event = task_event(line)
        if event is not None:
            if follower:
                follower.tick()  # Packer's last milestones before what the build task says
            tasks.append(event)
            for text in debug_lines(event):
                say(text)
        elif line.startswith(PROGRESS_PREFIXES) and "packer log:" not in line:
            say("| " + shorten(line.strip(), PROGRESS_WIDTH), indent=4)

    def stop_child(self):
        """Ends the running playbook's whole process group (ansible-playbook, Packer, ...)."""
        process, self.child = self.child, None
        if process is None:
            return
        if process.poll() is None:
            for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Packer's children may outlive ansible-playbook: nothing of the group may stay.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @staticmethod
    def _why(tasks, log):
        """The message of the last failed task (the playbooks end a failure with one that says why)."""
        reason = None
        for task in tasks:
            for result in task["hosts"].values():
                if result.get("failed"):
                    reason = "{0}: {1}".format(task["task"]["name"], shorten(one_line(result.get("msg") or "failed"), 1000))
        if reason:
            return reason
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        return one_line(lines[-1]) if lines else "no output"


def task_event(line):
    """A jsonl callback event that carries a task's result, else None."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if event.get("_event") in RESULT_EVENTS else None


def debug_lines(event):
    """What a debug task said, one line each. A list message gives several, spaced as they
    are (the pipeline's summary is a table); a folded one is put on one line."""
    result = event["hosts"].get("localhost", {})
    if result.get("action") not in ("ansible.builtin.debug", "debug") or result.get("skipped") or result.get("failed"):
        return []
    message = result.get("msg")
    if isinstance(message, list):
        return [LOG_NOTE.sub("", str(line).replace("\n", " ").rstrip()) for line in message]
    return [LOG_NOTE.sub("", one_line(message))]


class PackerFollower(progress.ProgressThread):
    """Follows a Packer log (machine-readable, as image_build writes it) from a thread and
    prints one line per milestone: the build instance, each role of playbooks/image.yml as
    it starts, the ansible recap, the AMI. Seconds count from Packer's first line."""

    def __init__(self, log_path):
        super().__init__("packer-follower")
        self.new_lines = progress.NewLines(log_path)
        self.lock = threading.Lock()  # ticks come from its thread and from the playbook's output
        self.started = None
        self.roles = set()
        self.said = set()
        self.recap_next = False

    def tick(self):
        with self.lock:
            for line in build_packer.readable_lines(self.new_lines.read()):
                self.started = self.started or time.monotonic()
                self.milestone(line)

    def milestone(self, line):
        text = None
        role = ROLE_TASK.search(line)
        recap = RECAP.search(line)
        if role and role.group(1) not in self.roles:
            self.roles.add(role.group(1))
            text = "role " + role.group(1)
        elif recap and self.recap_next:
            text = "ansible done: " + " ".join(recap.groups())
        else:
            for needle, words in PACKER_MILESTONES:
                if needle in line and needle not in self.said:
                    self.said.add(needle)
                    text = words
        self.recap_next = self.recap_next or "PLAY RECAP" in line
        if text:
            say("| Packer {0:3.0f} s  {1}".format(time.monotonic() - self.started, text), indent=4)


class PlaybookResult:
    def __init__(self, tasks):
        self.tasks = tasks

    def _matching(self, name):
        return [task for task in self.tasks if task["task"]["name"] == name and "localhost" in task["hosts"]]

    def result(self, name):
        for task in self._matching(name):
            return task["hosts"]["localhost"]
        raise StepFailed("the task {0!r} did not run".format(name))

    def results(self, name):
        """Every result of the tasks of that name that ran (a run of several plays has one each)."""
        return [task["hosts"]["localhost"] for task in self._matching(name)
                if not task["hosts"]["localhost"].get("skipped")]

    def loop_items(self, name):
        """The loop items of every run of the task of that name, in order."""
        return [item for result in self.results(name) for item in result.get("results", [])
                if not item.get("skipped")]

    def seconds(self, name):
        """How long the first task of that name took (the callback's timestamps)."""
        duration = self._matching(name)[0]["task"]["duration"]
        return (parse_time(duration["end"]) - parse_time(duration["start"])).total_seconds()


def parse_time(text):
    return datetime.fromisoformat(text.rstrip("Z"))


def one_line(text):
    return " ".join(str(text).split())


def shorten(text, width):
    return text if len(text) <= width else text[: width - 3] + "..."


class Demo:
    def __init__(self, work):
        self.work = work
        self.started = time.monotonic()
        self.aws = None
        self.standins = []
        self.build_standins = 0
        self.playbooks = None
        self.prepared = None
        self.template = None
        self.base_image = None
        self.apps_file = work / "apps.yml"
        self.images = {}  # version -> {"image_id", "fingerprint", "seconds"}
        self.build_inputs = {}  # version -> build.yml's variables
        self.greens = {}  # version -> the fleets its pipeline deployed, in stage order
        self.retired = []
        self.pipeline_lines = {}  # version -> the pipeline's summary
        self.timings = []
        self.step_number = 0
        self.step_label = None
        self.last_state = None
        self.load = None  # the load generator's summary, from 2.0.0's pipeline to the broken version
        self.routed_since = 0  # the sandbox's request log, from where the load began
        self.broken = {}
        self.memory = []  # memory.current of each running instance at the end, MiB
        self.aws_instances = 0

    # -- steps -------------------------------------------------------------------------

    def run(self):
        self.step("sandbox", "Start the sandbox: emulated AWS on 127.0.0.1, nothing leaves this machine",
                  self.start_sandbox)
        self.step("network", "Create the app's network and one load balancer per stage (sandbox/demo/network.yml)",
                  self.network)
        self.step("pipeline 1.0.0", "web 1.0.0 through the pipeline (playbooks/pipeline.yml): build with Packer, "
                  "promote and deploy dev, staging, prod, clean up", lambda: self.pipeline(VERSIONS[0]))
        self.step("build again", "The same build again (playbooks/build.yml alone), then an instance of the AMI",
                  self.build_again)
        with self.load_on_prod():
            self.step("pipeline 2.0.0", "web 2.0.0 through the pipeline, under load on prod: a new fingerprint, so "
                      "Packer again; its test; a canary in every stage (50%, then 100%); the 1.0.0 fleets kept as "
                      "standbys", lambda: self.pipeline(VERSIONS[1]))
            self.step("rollback", "Roll prod back to its 1.0.0 standby (playbooks/rollback.yml), under load",
                      self.rollback_prod)
            self.step("forward", "Deploy 2.0.0 to prod again (all at once), then retire its 1.0.0 standby "
                      "(playbooks/deploy.yml, terminate.yml), under load", self.forward_prod)
            self.step("broken " + BROKEN_VERSION, "web {0}, whose app listens on 127.0.0.1 only: built (its in-image "
                      "validation passes), refused by its test (playbooks/validate.yml), and when deployed to prod "
                      "anyway refused by the health gate, traffic unchanged".format(BROKEN_VERSION), self.broken_version)
        self.step("check 2.0.0", "An instance of the 2.0.0 AMI, and the state of every stage (sandbox/demo/state.yml)",
                  self.check_latest)

    def step(self, label, title, action):
        self.step_number += 1
        self.step_label = label
        say("[{0}] {1}".format(self.step_number, title), indent=0)
        started = time.monotonic()
        action()
        seconds = time.monotonic() - started
        self.timings.append((label, seconds))
        say("done in {0:.0f} s".format(seconds))

    def start_sandbox(self):
        require_private_netns()
        self.aws = SandboxAWS(target_healthy_after=TARGET_HEALTHY_AFTER).start()
        say("AWS: moto on {0}, region us-east-1, an empty account with dummy credentials".format(self.aws.endpoint))
        self.playbooks = Playbooks(self.work, self.playbook_env())
        ec2 = self.aws.client("ec2")
        self.base_image = ec2.register_image(
            Name=BASE_IMAGE_NAME, Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
        )["ImageId"]
        say("base image: {0} ({1}), the AMI Packer starts from".format(self.base_image, BASE_IMAGE_NAME))
        self.template = self.work / "golden-packer-1.6"
        removed = legacy_copy(REPO / "packer" / "golden", self.template)
        say("template: packer/golden, copied for Debian's Packer 1.6.6 without {0}".format(
            ", ".join(sorted({removal.name for removal in removed}))))
        try:
            self.prepared = find_prepared()
        except NotPrepared as error:
            raise StepFailed(str(error)) from error

    def network(self):
        self.playbooks.run("network", DEMO_DIR / "network.yml", {"demo_apps_file": str(self.apps_file)})

    def pipeline(self, version):
        """One run of playbooks/pipeline.yml, with a booted stand-in playing Packer's build instance."""
        standin = self.boot_build_instance()
        say("playbooks/pipeline.yml -e app={0}: build (Packer, about a minute), then each stage, then cleanup".format(APP))
        self.build_inputs[version] = self.build_vars(standin, version)
        extra_vars = dict(self.build_inputs[version], **PIPELINE_VARS[version])
        result = self.playbooks.run("pipeline-" + version, PLAYBOOKS / "pipeline.yml", extra_vars,
                                    var_files=[self.apps_file], packer_log=extra_vars["build_log_path"])
        self.remove(standin)
        self.check_build(result, version)
        self.check_deploys(result, version)
        self.check_cleanup(result, expect_retired=PIPELINE_VARS[version]["rollback_window"] == 0)
        self.pipeline_lines[version] = result.result(SUMMARY_TASK)["msg"]
        if not self.pipeline_lines[version][-1].startswith("pipeline {0}: done".format(APP)):
            raise StepFailed("the pipeline's summary ends with {0!r}".format(self.pipeline_lines[version][-1]))
        self.describe_image(self.images[version]["image_id"])

    @contextlib.contextmanager
    def load_on_prod(self):
        """Requests to the load-tested stage's load balancer by its DNS name while the block runs."""
        elbv2 = self.aws.client("elbv2")
        name = "{0}-{1}-alb".format(APP, LOAD_STAGE)
        dns_name = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]["DNSName"]
        say("load: GET http://{0}/health, {1[rate]} a second over {1[workers]} kept-alive connections, until the "
            "broken version is refused".format(dns_name, LOAD), indent=0)
        routed = self.aws.control.routed_requests()
        self.routed_since = routed[-1]["sequence"] if routed else 0
        load = LoadGenerator("http://{0}/health".format(dns_name), **LOAD).start()
        try:
            yield
        finally:
            load.stop()
            self.load = load.summary(bucket_seconds=LOAD_BUCKET_SECONDS)
        self.say_load(name)

    def say_load(self, name):
        load = self.load
        say("load on {0}: {1} requests, {2} failed ({3} non-2xx, {4} connection errors), p50 {5} ms, "
            "p99 {6} ms; who answered, every {7} s:".format(
                name, load["requests"], load["failed"], load["non_2xx"], load["connection_errors"],
                load["p50_ms"], load["p99_ms"], LOAD_BUCKET_SECONDS))
        for line in timeline_text(load):
            say(line, indent=4)
        if load["failed"]:
            raise StepFailed("{0} of {1} requests failed during the blue-green deploys: {2}".format(
                load["failed"], load["requests"], load["failures"][:5]))

    def build_again(self):
        version = VERSIONS[0]
        image_id = self.images[version]["image_id"]
        say("playbooks/build.yml with the same inputs, so the same fingerprint:")
        # The build instance is gone: a build that did not reuse would fail to reach it.
        result = self.playbooks.run("build-" + version + "-again", PLAYBOOKS / "build.yml",
                                    self.build_inputs[version], var_files=[self.apps_file])
        reused = result.result(BUILD_TASK)
        if reused["outcome"] != "reused" or reused["image_id"] != image_id:
            raise StepFailed("the second build of {0} {1} was {2} ({3}), not a reuse of {4}".format(
                APP, version, reused["outcome"], reused["image_id"], image_id))
        self.launch_from(image_id, version)

    def rollback_prod(self):
        """Traffic back to the 1.0.0 fleet, the standby 2.0.0's canary left, in one listener write."""
        self.playbooks.run("rollback-prod", PLAYBOOKS / "rollback.yml", {"app": APP, "stage": LOAD_STAGE},
                           var_files=[self.apps_file])
        self.expect_prod_serving(self.fleet_of(VERSIONS[0], LOAD_STAGE), "after the rollback")

    def forward_prod(self):
        """2.0.0 again (its fleet was kept), the 1.0.0 fleet's window closed at once, then retired."""
        self.playbooks.run("deploy-prod-" + VERSIONS[1], PLAYBOOKS / "deploy.yml",
                           dict(DEPLOY_VARS, image_id=self.images[VERSIONS[1]]["image_id"], rollback_window=0),
                           var_files=[self.apps_file])
        self.expect_prod_serving(self.fleet_of(VERSIONS[1], LOAD_STAGE), "after deploying it again")
        result = self.playbooks.run("terminate-prod", PLAYBOOKS / "terminate.yml", {"app": APP, "stage": LOAD_STAGE},
                                    var_files=[self.apps_file])
        retired = [fleet["name"] for fleet in result.result(TERMINATE_TASK)["standbys"]["retired"]]
        if retired != [self.fleet_of(VERSIONS[0], LOAD_STAGE)]:
            raise StepFailed("terminate.yml retired {0}, expected {1}".format(
                ", ".join(retired) or "nothing", self.fleet_of(VERSIONS[0], LOAD_STAGE)))
        self.retired += retired

    def broken_version(self):
        """Built, refused by its test, and refused by the health gate: prod's traffic never moves."""
        standin = self.boot_build_instance()
        inputs = self.build_vars(standin, BROKEN_VERSION)
        inputs["build_vars"]["ansible_extra_arguments"] = ["--extra-vars", json.dumps(BROKEN_APP_VARS)]
        result = self.playbooks.run("build-" + BROKEN_VERSION, PLAYBOOKS / "build.yml", inputs,
                                    var_files=[self.apps_file], packer_log=inputs["build_log_path"])
        self.remove(standin)
        image_id = result.result(BUILD_TASK)["image_id"]
        self.broken = {"image_id": image_id}
        test = self.playbooks.run_expecting_failure("validate-" + BROKEN_VERSION, PLAYBOOKS / "validate.yml",
                                                    {"app": APP, "image_id": image_id}, var_files=[self.apps_file])
        self.broken["test"] = test.result(TEST_TASK)["failure"]
        say("refused by its test: " + self.broken["test"])
        serving = self.prod_weights()
        deploy = self.playbooks.run_expecting_failure(
            "deploy-prod-" + BROKEN_VERSION, PLAYBOOKS / "deploy.yml", dict(DEPLOY_VARS, image_id=image_id),
            var_files=[self.apps_file])
        self.broken["gate"] = one_line(deploy.result(GREEN_TASK).get("msg", ""))
        say("refused by the health gate: " + shorten(self.broken["gate"], PROGRESS_WIDTH))
        if self.prod_weights() != serving:
            raise StepFailed("prod's traffic moved while the broken version was refused: {0} -> {1}".format(
                serving, self.prod_weights()))
        self.broken["requests"] = self.requests_to_image(image_id)
        if self.broken["requests"]:
            raise StepFailed("{0} client requests reached an instance of the broken image".format(
                self.broken["requests"]))

    def fleet_of(self, version, stage):
        return self.greens[version][STAGES.index(stage)]

    def prod_weights(self):
        """{target group name (the fleet's): weight} of prod's listener."""
        elbv2 = self.aws.client("elbv2")
        balancer = elbv2.describe_load_balancers(Names=["{0}-{1}-alb".format(APP, LOAD_STAGE)])["LoadBalancers"][0]
        [listener] = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
        action = listener["DefaultActions"][0]
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or [
            {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        return {group["TargetGroupArn"].split(":targetgroup/")[1].split("/")[0]: group.get("Weight", 1)
                for group in groups if group.get("Weight", 1)}

    def expect_prod_serving(self, fleet, when):
        weights = self.prod_weights()
        if list(weights) != [fleet]:
            raise StepFailed("prod's listener sends traffic to {0} {1}, expected all to {2}".format(weights, when, fleet))
        say("prod: all traffic to {0}".format(fleet))

    def requests_to_image(self, image_id):
        """Client requests the load balancer sent to instances of this AMI, by the sandbox's own records."""
        instances = {item["instance_id"] for item in self.aws.control.live_instances() if item["image_id"] == image_id}
        return sum(1 for request in self.aws.control.routed_requests(self.routed_since)
                   if request["target_id"] in instances)

    def check_latest(self):
        version = VERSIONS[-1]
        image_id = self.images[version]["image_id"]
        self.launch_from(image_id, version)
        say("state now (cattle.immutable.deployment_info, image_info):")
        result = self.playbooks.run("state", DEMO_DIR / "state.yml", {"app": APP}, var_files=[self.apps_file])
        self.last_state = result.result(STATE_TASK)
        fleets = sorted((fleet["stage"], fleet["status"] == "live", fleet["image_id"]) for fleet in self.last_state["fleets"])
        # Prod's 1.0.0 standby was retired; dev's and staging's wait out their rollback window.
        older = self.images[VERSIONS[0]]["image_id"]
        expected = sorted([(stage, True, image_id) for stage in STAGES] +
                          [(stage, False, older) for stage in STAGES if stage != LOAD_STAGE])
        if fleets != expected:
            raise StepFailed("expected a live fleet on {0} in each stage and 1.0.0 standbys in dev and staging, found "
                             "{1}".format(image_id, ", ".join("{0} {1} {2}".format(
                                 fleet["name"], fleet["status"], fleet["image_id"]) for fleet in self.last_state["fleets"])))
        self.memory = sorted(item["memory_current_bytes"] / 2**20 for item in self.aws.control.live_instances()
                             if item["state"] == "running" and item.get("memory_current_bytes"))

    # -- checks of a pipeline run --------------------------------------------------------

    def check_build(self, result, version):
        built = result.result(BUILD_TASK)
        if built["outcome"] not in ("built", "adopted"):
            raise StepFailed("expected a new image for {0} {1}, got {2}".format(APP, version, built["outcome"]))
        self.images[version] = {"image_id": built["image_id"], "fingerprint": built["fingerprint"],
                                "seconds": result.seconds(BUILD_TASK)}
        self.say_build_ssh()

    def say_build_ssh(self):
        """What Packer's temporary security group let in: read back from the sandbox, which kept
        it when Packer deleted it after the build (sandbox.pkrvars.hcl's ssh_source_cidrs)."""
        groups = self.aws.control.deleted_security_groups()
        if not groups:
            raise StepFailed("the build deleted no security group: Packer made no temporary one")
        group = groups[-1]
        rules = ", ".join("{0}/{1} from {2}".format(rule["protocol"], rule["from_port"], rule["cidr_ipv4"])
                          for rule in group["ingress"])
        say("build instance's SSH: Packer's temporary security group {0} let in {1} only, and is deleted".format(
            group["group_id"], rules or "nothing"))

    def check_deploys(self, result, version):
        """Every stage got a new green fleet on the new AMI; the fleets of the version before are now blue."""
        image_id = self.images[version]["image_id"]
        greens = result.results(GREEN_TASK)
        names = [green.get("fleet_name") for green in greens]
        if len(greens) != len(STAGES) or any(green.get("image_id") != image_id for green in greens):
            raise StepFailed("expected a green fleet on {0} in each of {1}, got {2}".format(
                image_id, ", ".join(STAGES), ", ".join("{0} ({1})".format(green.get("fleet_name"), green.get("image_id"))
                                                       for green in greens) or "none"))
        blues = sorted(fleet["fleet_name"] for fleet in self.retired_by_deploys(result))
        if blues != sorted(self.previous_greens(version)) or set(blues) & set(names):
            raise StepFailed("the deploys disabled {0}, expected {1}".format(
                ", ".join(blues) or "nothing", ", ".join(self.previous_greens(version)) or "nothing"))
        self.greens[version] = names

    def check_cleanup(self, result, expect_retired):
        """With a rollback window of 0, cleanup retires every fleet the deploys disabled; else none."""
        blues = sorted(fleet["fleet_name"] for fleet in self.retired_by_deploys(result)) if expect_retired else []
        retired = [fleet["name"] for item in result.loop_items(CLEANUP_TASK) for fleet in item["standbys"]["retired"]]
        if sorted(retired) != blues:
            raise StepFailed("cleanup retired {0}, expected {1}".format(
                ", ".join(retired) or "nothing", ", ".join(blues) or "nothing"))
        self.retired += retired

    @staticmethod
    def retired_by_deploys(result):
        """The fleets the run's deploys disabled for their rollback window."""
        return [fleet for switched in result.results(SWITCH_TASK) for fleet in switched.get("retired", [])]

    def previous_greens(self, version):
        index = VERSIONS.index(version)
        return self.greens.get(VERSIONS[index - 1], []) if index else []

    # -- the image ------------------------------------------------------------------------

    def boot_build_instance(self):
        standin = self.boot(StandIn(self.prepared))
        self.build_standins += 1
        standin.bind_to(self.aws.control)  # it plays the instance Packer launches
        say("build instance: stand-in {0} (Debian 12, systemd-nspawn) at {1}, booted in {2:.1f} s".format(
            standin.name, standin.address, standin.boot_seconds))
        return standin

    def build_vars(self, standin, version):
        """build.yml's inputs: Packer connects to the stand-in, never to an address the sandbox hands out."""
        variables = dict(standin.packer_vars())
        variables.update({
            "source_ami": self.base_image,
            "app_version": version,
            "ansible_env_vars": standin.packer_ansible_env_vars(),
            "ansible_playbook_command": str(VENV_BIN / "ansible-playbook"),
            # The copy lives in the work directory, so its default (relative to the template) would miss it.
            "playbook_file": str(PLAYBOOKS / "image.yml"),
        })
        return {
            "app": APP,
            "build_template": str(self.template),
            "build_var_files": [str(self.template / "sandbox.pkrvars.hcl")],
            "build_vars": variables,
            "build_vcs_revision": "demo",
            "build_log_path": str(self.work / "logs" / "packer-{0}.log".format(version)),
        }

    def describe_image(self, image_id):
        image = self.aws.client("ec2").describe_images(ImageIds=[image_id])["Images"][0]
        tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
        say("{0} ({1}): IMDSv2 {2}, validation {3}, Lynis hardening index {4}, built by Packer {5}".format(
            image_id, image["Name"], "required" if image.get("ImdsSupport") == "v2.0" else "NOT required",
            tags.get("cattle:validation", "?"), tags.get("cattle:lynis-score", "?"),
            tags.get("cattle:packer-version", "?")))

    def launch_from(self, image_id, version):
        """Boots a stand-in from the AMI's content, as an instance launched from it, and asks the app."""
        booted = self.boot(StandIn.from_image(self.prepared, image_id, control=self.aws.control, personalize=False))
        try:
            health = wait_for(lambda: app_health(booted.address), 60)
            if not health or health.get("version") != version:
                raise StepFailed("an instance of {0} answers {1} on :{2}/health, expected version {3}".format(
                    image_id, health, APP_PORT, version))
            ssh = "OPEN" if port_answers(booted.address, 22, timeout=3) else "refused"
            say("an instance of {0} ({1:.1f} s to boot): GET :{2}/health -> {3} {4} {5}; SSH {6}".format(
                image_id, booted.boot_seconds, APP_PORT, health.get("status"), health.get("name", APP),
                health["version"], ssh))
        finally:
            self.remove(booted)

    # -- helpers -----------------------------------------------------------------------

    def boot(self, standin):
        self.standins.append(standin)
        try:
            standin.start()
        except StandInError as error:
            raise StepFailed("a stand-in did not boot: {0}".format(error)) from error
        return standin

    @staticmethod
    def remove(standin):
        try:
            standin.stop()
        except StandInError as error:
            raise StepFailed(str(error)) from error

    def playbook_env(self):
        collections = self.work / "collections" / "ansible_collections" / "cattle"
        collections.mkdir(parents=True)
        (self.work / "tmp").mkdir()
        (collections / "immutable").symlink_to(REPO)
        env = self.aws.subprocess_env()
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(self.work / "collections"),
            # One event a line, as it happens: the pipeline's steps are said while it runs.
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.jsonl",
            "ANSIBLE_JSON_INDENT": "0",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_NOCOLOR": "1",
            # image_build's logs, manifests and Packer's own cache, and every temporary file
            # (also of a build killed half-way): in the work directory.
            "XDG_CACHE_HOME": str(self.work / "cache"),
            "TMPDIR": str(self.work / "tmp"),
            "PATH": "{0}{1}{2}".format(VENV_BIN, os.pathsep, env.get("PATH", "")),
        })
        return env

    def count_instances(self):
        """How many instances ran as stand-ins (before stop() forgets them)."""
        try:
            self.aws_instances = len(self.aws.control.live_instances()) if self.aws is not None and self.aws.running else 0
        except Exception:  # a number for the summary is not worth a failed cleanup
            self.aws_instances = 0

    def api_calls(self):
        try:
            return sum(self.aws.control.counters().values()) if self.aws is not None and self.aws.running else 0
        except Exception:  # a number for the summary is not worth a failed cleanup
            return 0

    def stop(self):
        """Everything this run started: the running playbook, stand-ins, the sandbox."""
        problems = []
        if self.playbooks is not None:
            self.playbooks.stop_child()
        for standin in self.standins:
            try:
                standin.stop()
            except Exception as error:  # every stand-in gets its turn, whatever failed before
                problems.append(str(error))
        # Only once all are stopped: a running stand-in may hold the namespace ids of one
        # stopped before it (the kernel reuses them), and would look like its leftovers.
        for standin in self.standins:
            left = standin.leftovers()
            if left:
                problems.append("{0}: {1}".format(standin.name, ", ".join(left)))
        if self.aws is not None:
            self.aws.stop()
        return problems

    def summary(self, api_calls):
        total = time.monotonic() - self.started
        say("Summary: the whole flow in {0:.0f} s ({1:.1f} min), {2} AWS API calls to the sandbox, "
            "no AWS account".format(total, total / 60, api_calls), indent=0)
        for version in VERSIONS:
            image = self.images[version]
            say("AMI {0}: {1} {2}, fingerprint {3}, Packer build {4:.0f} s; {5}".format(
                image["image_id"], APP, version, image["fingerprint"][:16], image["seconds"],
                self.pipeline_lines[version][-1]))
        for fleet in sorted(self.last_state["fleets"], key=lambda fleet: STAGES.index(fleet["stage"])):
            say("fleet {0}: {1}, {2}, {3}/{4} healthy".format(
                fleet["name"], fleet["status"], fleet["image_id"], fleet["counts"]["healthy"], fleet["counts"]["desired"]))
        say("fleet {0}: retired (drained and deleted)".format(", ".join(self.retired)))
        say("instances: {0} launched (fleets and image tests), each a stand-in running its AMI; memory of the {1} "
            "running at the end: median {2}, max {3}".format(
                self.aws_instances, len(self.memory), mib(median(self.memory)), mib(max(self.memory, default=None))))
        say("load on {0} from 2.0.0's pipeline to the broken version (canary, rollback, deploy, retirement, refusal): "
            "{1} requests, {2} failed, p50 {3} ms, p99 {4} ms".format(
                LOAD_STAGE, self.load["requests"], self.load["failed"], self.load["p50_ms"], self.load["p99_ms"]))
        say("broken {0} ({1}): refused by its test ({2}) and by the health gate; {3} client requests reached it".format(
            BROKEN_VERSION, self.broken["image_id"], self.broken["test"], self.broken["requests"]))
        say("time: " + ", ".join("{0} {1:.0f} s".format(label, seconds) for label, seconds in self.timings))


def median(values):
    return statistics.median(values) if values else None


def mib(value):
    return "n/a" if value is None else "{0:.0f} MiB".format(value)


def app_health(address):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open("http://{0}:{1}/health".format(address, APP_PORT), timeout=3) as response:
            return json.loads(response.read().decode())
    except (OSError, ValueError):
        return None


def wait_for(check, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def keep_only_logs(work):
    for path in work.iterdir():
        if path.name == "logs":
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def interrupt(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def main():
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    work = Path(tempfile.mkdtemp(prefix="cattle-demo-"))
    (work / "logs").mkdir()
    say("cattle.immutable demo: app 'web' through playbooks/pipeline.yml twice (build, promote and deploy "
        "dev, staging, prod; the second time blue-green) on the local sandbox", indent=0)
    demo = Demo(work)
    failure = None
    try:
        demo.run()
    except StepFailed as error:
        failure = "step {0} ({1}) failed: {2}".format(demo.step_number, demo.step_label, error)
    except Interrupted as error:
        failure = "interrupted ({0}) in step {1} ({2})".format(error, demo.step_number, demo.step_label)
    except NotInPrivateNamespace as error:
        failure = str(error)
    finally:
        if failure:
            say("FAILED: " + failure)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        api_calls = demo.api_calls()
        demo.count_instances()
        problems = demo.stop()
    say("Stopped: the sandbox AWS and {0} stand-in(s) ({1} build instance(s), {2} launched from new AMIs){3}".format(
        len(demo.standins), demo.build_standins, len(demo.standins) - demo.build_standins,
        "; LEFT BEHIND: " + "; ".join(problems) if problems else ", nothing left running"), indent=0)
    if failure or problems:
        keep_only_logs(work)
        say("demo FAILED in step {0} ({1}); logs: {2}".format(
            demo.step_number, "see above" if failure else "cleanup incomplete", work / "logs"), indent=0)
        return 1
    demo.summary(api_calls)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
