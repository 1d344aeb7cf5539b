"""`make demo`: the whole flow of cattle.immutable on the local sandbox, in a few minutes.

    scripts/demo.sh          # enters a private network namespace and runs this file

Starts the emulated AWS (cattle_sandbox.aws) in this process, then runs the collection's
own playbooks against it, as a user would, and prints what each one said:

  build web 1.0.0 (playbooks/build.yml: real Packer, the golden template's Packer 1.6.6
  copy, playbooks/image.yml with every role inside a booted stand-in that plays the build
  instance) -> the same build again (reused) -> promote dev -> staging -> prod -> the
  app's network and load balancer (sandbox/demo/network.yml) -> deploy prod from its
  stage pointer -> build web 2.0.0 (new fingerprint, Packer again) -> promote -> deploy
  prod again (blue-green) -> deployment state -> retire blue (playbooks/terminate.yml)

and stops everything, also when a step fails or the run is interrupted. Each playbook's
full output goes to a log in the work directory, which is kept (and named) on failure.
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "sandbox"))

from cattle_sandbox.aws import SandboxAWS  # noqa: E402
from cattle_sandbox.netns import NotInPrivateNamespace, require_private_netns  # noqa: E402
from cattle_sandbox.packer_compat import legacy_copy  # noqa: E402
from cattle_sandbox.standin import NotPrepared, StandIn, StandInError, find_prepared  # noqa: E402


def _load_collection_module(relative_path, name):
    """One of the collection's standard-library-only files, without installing the collection."""
    spec = importlib.util.spec_from_file_location(name, REPO / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_packer = _load_collection_module("plugins/module_utils/build_packer.py", "cattle_build_packer")
progress = _load_collection_module("plugins/plugin_utils/progress.py", "cattle_progress")

APP = "web"
STAGES = ["dev", "staging", "prod"]
DEPLOY_STAGE = "prod"
VERSIONS = ["1.0.0", "2.0.0"]
BASE_IMAGE_NAME = "debian-12-amd64-20260101"
APP_PORT = 8080  # roles/app's default
# Seconds until a new target turns healthy: short, so the demo's health gates pass quickly.
TARGET_HEALTHY_AFTER = 2.0
PLAYBOOK_TIMEOUT = 900
STEP_COUNT = 8
VENV_BIN = REPO / ".venv" / "bin"
DEMO_DIR = REPO / "sandbox" / "demo"
PLAYBOOKS = REPO / "playbooks"
DEPLOY_PLAYBOOKS = ("deploy.yml", "terminate.yml")
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
    """Runs ansible-playbook against the sandbox with the json callback: prints the fleet
    module's progress lines (and, for a build, Packer's milestones) as they come, and
    returns the per-task results."""

    def __init__(self, work, env):
        self.work = work
        self.env = env
        self.count = 0
        self.child = None

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
            if packer_log:
                with PackerFollower(packer_log):
                    report_text, returncode = self._stream(command, out)
            else:
                report_text, returncode = self._stream(command, out)
        report = self._parse(report_text)
        tasks = [task for play in report.get("plays", []) for task in play.get("tasks", [])]
        if returncode != 0:
            raise StepFailed("{0} failed (exit {1}): {2} (log {3})".format(
                Path(playbook).name, returncode, self._why(tasks, log).rstrip("."), log.name))
        return PlaybookResult(tasks)

    def _stream(self, command, out):
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            command, env=self.env, cwd=str(self.work), stdout=subprocess.PIPE, stderr=out, text=True,
            start_new_session=True)  # its own process group: an abort stops Packer and its children too
        self.child = process
        timer = threading.Timer(PLAYBOOK_TIMEOUT, self.stop_child)
        timer.start()
        report, in_report = [], False
        try:
            for line in process.stdout:
                out.write(line)
                in_report = in_report or line.rstrip("\n") == "{"
                if in_report:
                    report.append(line)
                elif line.startswith(PROGRESS_PREFIXES) and "packer log:" not in line:
                    say("| " + shorten(line.strip(), PROGRESS_WIDTH), indent=4)
            returncode = process.wait()
        finally:
            timer.cancel()
            self.stop_child()
        return "".join(report), returncode

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
    def _parse(text):
        try:
            return json.loads(text) if text else {}
        except ValueError:
            return {}

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


class PackerFollower(progress.ProgressThread):
    """Follows a Packer log (machine-readable, as image_build writes it) from a thread and
    prints one line per milestone: the build instance, each role of playbooks/image.yml as
    it starts, the ansible recap, the AMI."""

    def __init__(self, log_path):
        super().__init__("packer-follower")
        self.new_lines = progress.NewLines(log_path)
        self.started = time.monotonic()
        self.roles = set()
        self.said = set()
        self.recap_next = False

    def tick(self):
        for line in build_packer.readable_lines(self.new_lines.read()):
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
            say("| {0:3.0f} s  {1}".format(time.monotonic() - self.started, text), indent=4)


class PlaybookResult:
    def __init__(self, tasks):
        self.tasks = tasks

    def result(self, name):
        for task in self.tasks:
            if task["task"]["name"] == name:
                return task["hosts"]["localhost"]
        raise StepFailed("the task {0!r} did not run".format(name))

    def results(self, name):
        """Every result of the tasks of that name (a run of several plays has one each)."""
        return [task["hosts"]["localhost"] for task in self.tasks
                if task["task"]["name"] == name and "localhost" in task["hosts"]]

    def messages(self):
        """What the playbook's debug tasks said, in order."""
        for task in self.tasks:
            result = task["hosts"].get("localhost", {})
            if result.get("action") in ("ansible.builtin.debug", "debug") and not result.get("skipped"):
                message = result.get("msg")
                for line in message if isinstance(message, list) else [message]:
                    yield LOG_NOTE.sub("", one_line(line))


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
        self.images = {}  # version -> {"image_id", "seconds", "outcome"}
        self.timings = []
        self.step_number = 0
        self.last_state = None

    # -- steps -------------------------------------------------------------------------

    def run(self):
        self.step("sandbox", "Start the sandbox: emulated AWS on 127.0.0.1, nothing leaves this machine",
                  self.start_sandbox)
        self.step("build 1.0.0", "Build the golden image of web 1.0.0 (playbooks/build.yml -> Packer -> "
                  "playbooks/image.yml)", lambda: self.build(VERSIONS[0], again=True))
        self.step("promote 1.0.0", "Promote web 1.0.0: dev -> staging -> prod (playbooks/promote.yml)",
                  lambda: self.promote(VERSIONS[0]))
        self.step("network", "Create the app's network and load balancer (sandbox/demo/network.yml)", self.network)
        if not self.deploy_playbooks_exist():
            return
        self.step("deploy 1.0.0", "Deploy prod from its stage pointer: the first fleet (playbooks/deploy.yml)",
                  lambda: self.deploy(VERSIONS[0]))
        self.step("build 2.0.0", "Build web 2.0.0: app_version changed, so a new fingerprint and Packer runs again",
                  lambda: self.build(VERSIONS[1], again=False))
        self.step("promote+deploy 2.0.0", "Promote web 2.0.0 and deploy prod again: blue-green",
                  self.promote_and_redeploy)
        self.step("retire blue", "Retire blue (playbooks/terminate.yml; the demo's rollback window is 0 s)",
                  self.retire)

    def step(self, label, title, action):
        self.step_number += 1
        say("[{0}/{1}] {2}".format(self.step_number, STEP_COUNT, title), indent=0)
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

    def build(self, version, again):
        standin = self.boot(StandIn(self.prepared))
        self.build_standins += 1
        standin.bind_to(self.aws.control)  # it plays the instance Packer launches
        say("build instance: stand-in {0} (Debian 12, systemd-nspawn) at {1}, booted in {2:.1f} s".format(
            standin.name, standin.address, standin.boot_seconds))
        say("playbooks/build.yml: image_build computes the fingerprint, finds no image with it, runs Packer "
            "(about 80 s)")
        extra_vars = self.build_vars(standin, version)
        started = time.monotonic()
        result = self.playbooks.run("build-" + version, PLAYBOOKS / "build.yml", extra_vars,
                                    packer_log=extra_vars["build_log_path"])
        seconds = time.monotonic() - started
        built = result.result("Build the image of " + APP)
        self.print_messages(result)
        self.remove(standin)
        if built["outcome"] not in ("built", "adopted"):
            raise StepFailed("expected a new image for {0} {1}, got {2}".format(APP, version, built["outcome"]))
        image_id = built["image_id"]
        self.images[version] = {"image_id": image_id, "seconds": seconds, "fingerprint": built["fingerprint"]}
        self.describe_image(image_id)
        self.launch_from(image_id, version)
        if again:
            say("the same build again (same inputs, so the same fingerprint):")
            result = self.playbooks.run("build-" + version + "-again", PLAYBOOKS / "build.yml", extra_vars)
            self.print_messages(result)
            reused = result.result("Build the image of " + APP)
            if reused["outcome"] != "reused" or reused["image_id"] != image_id:
                raise StepFailed("the second build of {0} {1} was {2} ({3}), not a reuse of {4}".format(
                    APP, version, reused["outcome"], reused["image_id"], image_id))

    def build_vars(self, standin, version):
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
            ssh = "refused" if port_refused(booted.address, 22) else "OPEN"
            say("launched from it ({0:.1f} s): GET :{1}/health -> {2} {3} {4}; SSH {5}".format(
                booted.boot_seconds, APP_PORT, health.get("status"), health.get("name", APP), health["version"], ssh))
        finally:
            self.remove(booted)

    def promote(self, version):
        """playbooks/promote.yml for dev, staging and prod, chained in one run (promote-chain.yml)."""
        image_id = self.images[version]["image_id"]
        result = self.playbooks.run("promote-" + version, DEMO_DIR / "promote-chain.yml",
                                    {"app": APP, "first_image_id": image_id})
        self.print_messages(result)
        promoted = {entry["stage"]: entry["image_id"] for entry in result.results("Promote")}
        if promoted != {stage: image_id for stage in STAGES}:
            raise StepFailed("the stages point at {0}, expected {1} everywhere".format(promoted, image_id))

    def network(self):
        result = self.playbooks.run("network", DEMO_DIR / "network.yml", {"demo_apps_file": str(self.apps_file)})
        self.print_messages(result)

    def deploy_playbooks_exist(self):
        missing = [name for name in DEPLOY_PLAYBOOKS if not (PLAYBOOKS / name).exists()]
        if missing:
            say("playbooks/{0} not there yet: the demo stops before deploying".format(", ".join(missing)), indent=0)
        return not missing

    def deploy(self, version):
        extra = {"app": APP, "stage": DEPLOY_STAGE, "rollback_window": 0, "wait_timeout": 120}
        result = self.playbooks.run("deploy-" + version, PLAYBOOKS / "deploy.yml", extra, var_files=[self.apps_file])
        self.print_messages(result)
        deployed = result.result("Bring up the green fleet at weight 0 and wait until every instance is healthy")
        expected = self.images[version]["image_id"]
        if deployed.get("image_id") != expected:
            raise StepFailed("the new fleet runs {0}, expected {1}".format(deployed.get("image_id"), expected))
        self.images[version]["fleet"] = deployed.get("fleet_name")

    def promote_and_redeploy(self):
        self.promote(VERSIONS[1])
        self.deploy(VERSIONS[1])
        self.show_state("state now (cattle.immutable.deployment_info, image_info):")

    def retire(self):
        extra = {"app": APP, "stage": DEPLOY_STAGE}
        result = self.playbooks.run("terminate", PLAYBOOKS / "terminate.yml", extra, var_files=[self.apps_file])
        self.print_messages(result)
        self.show_state("state after:")
        if [fleet["status"] for fleet in self.last_state["fleets"]] != ["live"]:
            raise StepFailed("expected one live fleet after retiring blue, found {0}".format(
                ", ".join("{0} {1}".format(fleet["name"], fleet["status"]) for fleet in self.last_state["fleets"])))

    def show_state(self, heading):
        say(heading)
        result = self.playbooks.run("state", DEMO_DIR / "state.yml", {"app": APP, "stage": DEPLOY_STAGE},
                                    var_files=[self.apps_file])
        for line in result.messages():
            say(line, indent=4)
        self.last_state = result.result("Read the deployment")

    # -- helpers -----------------------------------------------------------------------

    def print_messages(self, result):
        for line in result.messages():
            say(line)

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
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
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
            if version in self.images:
                image = self.images[version]
                say("AMI {0}: {1} {2}, fingerprint {3}, build.yml {4:.0f} s".format(
                    image["image_id"], APP, version, image["fingerprint"][:16], image["seconds"]))
        fleets = (self.last_state or {}).get("fleets", [])
        for fleet in fleets:
            say("fleet {0}: {1}, {2}, {3}/{4} healthy".format(
                fleet["name"], fleet["status"], fleet["image_id"], fleet["counts"]["healthy"], fleet["counts"]["desired"]))
        live = {fleet["name"] for fleet in fleets}
        retired = [image["fleet"] for image in self.images.values() if image.get("fleet") and image["fleet"] not in live]
        if retired:
            say("fleet {0}: retired (drained and deleted)".format(", ".join(retired)))
        say("time: " + ", ".join("{0} {1:.0f} s".format(label, seconds) for label, seconds in self.timings))


def app_health(address):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open("http://{0}:{1}/health".format(address, APP_PORT), timeout=3) as response:
            return json.loads(response.read().decode())
    except (OSError, ValueError):
        return None


def port_refused(address, port):
    try:
        with socket.create_connection((address, port), timeout=3):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return True


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
    say("cattle.immutable demo: build, promote and deploy app 'web' twice (blue-green) on the local sandbox", indent=0)
    demo = Demo(work)
    failure = None
    try:
        demo.run()
    except StepFailed as error:
        failure = "step {0} failed: {1}".format(demo.step_number, error)
    except Interrupted as error:
        failure = "interrupted ({0}) in step {1}".format(error, demo.step_number)
    except NotInPrivateNamespace as error:
        failure = str(error)
    finally:
        if failure:
            say("FAILED: " + failure)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        api_calls = demo.api_calls()
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
