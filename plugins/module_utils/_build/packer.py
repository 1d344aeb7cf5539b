# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Running Packer for image_build: command line, environment, log, manifest.

No AWS here, and nothing beyond the standard library: the image_build action plugin
imports it on the controller to follow the log while the module runs.

Packer runs with ``-machine-readable``; its output (and anything it writes to stderr,
its debug log too when PACKER_LOG=1 is set in the task's environment) goes to one log
file. Machine-readable lines are ``timestamp,target,type,data...`` with commas in the data
written as ``%!(PACKER_COMMA)`` and newlines as ``\\n``; ``ui`` lines carry what Packer
would have printed for a person.
"""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

TEMPLATE_PATTERNS = (".pkr.hcl", ".pkr.json")
LOG_TAIL_LINES = 20
INTERRUPT_GRACE_SECONDS = 300
_MACHINE_LINE = re.compile(r"^(\d{9,}),([^,]*),([^,]+)(?:,(.*))?$")
_VERSION = re.compile(r"Packer v?(\d+\.\d+\.\d+[^\s]*)")
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")


class PackerError(Exception):
    """A Packer step that failed; the message says what, ``details`` what to return with it."""

    def __init__(self, message, **details):
        super(PackerError, self).__init__(message)
        self.details = details


def cache_dir():
    """Where image_build keeps logs and per-build files on the controller."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cattle-immutable", "image_build")


def default_log_path(app, now=None):
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    safe_app = _UNSAFE_FILE_CHARACTERS.sub("-", str(app or "image")) or "image"
    return os.path.join(cache_dir(), "logs", "{0}-{1}-{2}.log".format(safe_app, stamp, os.getpid()))


def template_problem(template):
    """Why a template directory cannot be built, or None."""
    if not os.path.exists(template):
        return "template directory {0} does not exist".format(template)
    if not os.path.isdir(template):
        return "template {0} is not a directory (image_build builds a directory of *.pkr.hcl files)".format(template)
    if not any(name.endswith(TEMPLATE_PATTERNS) for name in os.listdir(template)):
        return "template directory {0} holds no Packer template (*.pkr.hcl or *.pkr.json)".format(template)
    return None


def packer_environment(base, connection=None, endpoint=None):
    """Packer's environment: the module's, no update check, and the AWS connection given to the task."""
    env = dict(base)
    env["CHECKPOINT_DISABLE"] = "1"
    for option, variable in (
        ("access_key", "AWS_ACCESS_KEY_ID"),
        ("secret_key", "AWS_SECRET_ACCESS_KEY"),
        ("session_token", "AWS_SESSION_TOKEN"),
        ("profile", "AWS_PROFILE"),
    ):
        if (connection or {}).get(option):
            env[variable] = connection[option]
    region = (connection or {}).get("region")
    if region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def user_plugin_dir(env, is_dir=os.path.isdir):
    """The plugins directory Packer 1.7+ reads in this environment when PACKER_CONFIG_DIR is not set.

    Its config directory is ~/.packer.d when that exists, else $XDG_CONFIG_HOME/packer
    when set, else ~/.config/packer (packer-plugin-sdk's pathing.ConfigDir; with
    PACKER_CONFIG_DIR it would be $PACKER_CONFIG_DIR/.packer.d); plugins are under
    plugins/ there, where `packer init` installs them. None without a HOME.
    """
    home = env.get("HOME")
    if not home:
        return None
    if is_dir(os.path.join(home, ".packer.d")):
        config_dir = os.path.join(home, ".packer.d")
    elif env.get("XDG_CONFIG_HOME"):
        config_dir = os.path.join(env["XDG_CONFIG_HOME"], "packer")
    else:
        config_dir = os.path.join(home, ".config", "packer")
    return os.path.join(config_dir, "plugins")


def plugin_path_kept(env, is_dir=os.path.isdir):
    """PACKER_PLUGIN_PATH so that a scratch PACKER_CONFIG_DIR hides no plugin the user installed.

    The caller's PACKER_PLUGIN_PATH or PACKER_CONFIG_DIR is left as it is; otherwise the
    user's plugins directory, when it exists (on Packer 1.7 to 1.10, setting the variable
    also stops the lookup next to the executable and in the working directory).
    """
    if env.get("PACKER_PLUGIN_PATH") or env.get("PACKER_CONFIG_DIR"):
        return env.get("PACKER_PLUGIN_PATH")
    plugins = user_plugin_dir(env, is_dir)
    return plugins if plugins and is_dir(plugins) else None


def private_packer_dirs(env, scratch):
    """PACKER_CONFIG_DIR and PACKER_CACHE_DIR in a scratch directory, unless the caller set them,
    with the user's plugins still found (see plugin_path_kept)."""
    env = dict(env)
    plugin_path = plugin_path_kept(env)
    if plugin_path:
        env["PACKER_PLUGIN_PATH"] = plugin_path
    for variable, name in (("PACKER_CONFIG_DIR", "config"), ("PACKER_CACHE_DIR", "cache")):
        if not env.get(variable):
            env[variable] = os.path.join(scratch, name)
    return env


def packer_version(run_command, packer, env, timeout=120):
    """`packer version`, through run_command (AnsibleModule.run_command), within timeout seconds."""
    try:
        exit_code, out, err = _run_within(
            run_command, timeout, [packer, "version"], environ_update=env, expand_user_and_vars=False
        )[0]
    except OSError as e:
        raise PackerError("cannot run {0} version: {1}".format(packer, e))
    match = _VERSION.search(out)
    if exit_code != 0 or not match:
        raise PackerError(
            "{0} version failed (exit {1}): {2}".format(packer, exit_code, (out + err).strip()[-500:])
        )
    return match.group(1)


def build_command(packer, var_files, generated_var_file, only):
    """``packer build`` for the template in the working directory; our variables file comes last and wins."""
    command = [packer, "build", "-machine-readable", "-color=false"]
    if only:
        command.append("-only=" + ",".join(only))
    command += ["-var-file=" + path for path in var_files]
    command += ["-var-file=" + generated_var_file, "."]
    return command


def write_variables_file(path, variables):
    with open(path, "w") as handle:
        json.dump(variables, handle, indent=2, sort_keys=True)


def prepare_log(log_path):
    directory = os.path.dirname(os.path.abspath(log_path))
    if not os.path.isdir(directory):
        os.makedirs(directory)


def _stop(process):
    """Interrupt Packer as Ctrl-C would, so it cleans up what it created; kill it if it does not stop."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(INTERRUPT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# The shell only points Packer's output at the log, where the action plugin follows it as it
# comes (run_command would hold it until Packer ends), then becomes Packer (exec).
_OUTPUT_TO_LOG = 'exec "$0" "$@" </dev/null >>"$CATTLE_PACKER_LOG" 2>&1'


def run_packer(run_command, command, template, env, log_path, timeout, append=False):
    """Run Packer through run_command (AnsibleModule.run_command) with all output to log_path,
    interrupted after timeout seconds; return (exit code, seconds, timed out)."""
    started = time.time()
    with open(log_path, "a" if append else "w") as log:
        log.write("# image_build: {0} (in {1})\n".format(" ".join(command), template))
    try:
        result, timed_out = _run_within(
            run_command, timeout, ["/bin/sh", "-c", _OUTPUT_TO_LOG] + list(command), cwd=template,
            environ_update=dict(env, CATTLE_PACKER_LOG=log_path), expand_user_and_vars=False,
        )
    except OSError as e:
        raise PackerError("cannot start {0}: {1}".format(command[0], e), log_path=log_path)
    return result[0], round(time.time() - started, 1), timed_out


def _run_within(run_command, timeout, args, **options):
    """run_command (which has no timeout) with the process interrupted after timeout seconds;
    returns (run_command's result, whether it was interrupted)."""
    interrupted = threading.Event()

    def interrupt(process):
        interrupted.set()
        _stop(process)

    watchdogs = []

    def watch(process):
        watchdogs.append(threading.Timer(timeout, interrupt, [process]))
        watchdogs[0].daemon = True
        watchdogs[0].start()

    try:
        result = run_command(args, before_communicate_callback=watch, handle_exceptions=False, **options)
    finally:
        for watchdog in watchdogs:
            watchdog.cancel()
    return result, interrupted.is_set()


def remove_scratch(path):
    shutil.rmtree(path, ignore_errors=True)


def make_scratch():
    return tempfile.mkdtemp(prefix="cattle-image-build-")


def decode_machine_line(line):
    """(target, type, data fields) of a machine-readable line, or None for any other line."""
    match = _MACHINE_LINE.match(line)
    if not match:
        return None
    data = match.group(4)
    fields = [] if data is None else [
        field.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "") for field in data.split(",")
    ]
    return match.group(2), match.group(3), fields


def readable_lines(lines):
    """What a person would have seen: ui messages as text, other machine records left out, anything else as is."""
    readable = []
    for line in lines:
        line = line.rstrip("\n")
        decoded = decode_machine_line(line)
        if decoded is None:
            if line.strip():
                readable.append(line)
            continue
        _target, kind, fields = decoded
        if kind == "ui" and len(fields) >= 2:
            text = ",".join(fields[1:])
            readable.extend(part for part in text.split("\n") if part.strip())
    return readable


def _read_lines(log_path):
    try:
        with open(log_path, "r", errors="replace") as handle:
            return handle.readlines()
    except (IOError, OSError):
        return []


def log_tail(log_path, count=LOG_TAIL_LINES):
    return readable_lines(_read_lines(log_path))[-count:]


def last_message(log_path, width=160):
    """The last line Packer said, shortened, for a progress line."""
    lines = readable_lines(_read_lines(log_path))
    if not lines:
        return ""
    message = re.sub(r"^==> ", "", lines[-1].strip())
    return message if len(message) <= width else message[: width - 3] + "..."


def read_manifest(path):
    """The manifest post-processor's JSON; PackerError when missing or unreadable."""
    try:
        with open(path, "r") as handle:
            manifest = json.load(handle)
    except (IOError, OSError) as e:
        raise PackerError("the Packer manifest {0} cannot be read: {1}".format(path, e.strerror or e))
    except ValueError as e:
        raise PackerError("the Packer manifest {0} is not valid JSON: {1}".format(path, e))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("builds"), list):
        raise PackerError("the Packer manifest {0} has no list of builds".format(path))
    return manifest


def last_run_builds(manifest):
    """The builds of the manifest's last run (a manifest file collects runs)."""
    builds = [build for build in manifest["builds"] if isinstance(build, dict)]
    last_run = manifest.get("last_run_uuid")
    if last_run:
        builds = [build for build in builds if build.get("packer_run_uuid") == last_run]
    return builds


def images_by_region(artifact_id):
    """``"us-east-1:ami-1,eu-west-1:ami-2"`` -> ``{"us-east-1": "ami-1", "eu-west-1": "ami-2"}``."""
    images = {}
    for part in (artifact_id or "").split(","):
        region, _sep, image_id = part.strip().partition(":")
        if region and image_id.startswith("ami-"):
            images[region] = image_id
    return images


def built_image(manifest_path):
    """The one AMI build of the manifest's last run: its build entry and images by region."""
    manifest = read_manifest(manifest_path)
    with_images = [(build, images_by_region(build.get("artifact_id"))) for build in last_run_builds(manifest)]
    with_images = [(build, images) for build, images in with_images if images]
    if not with_images:
        raise PackerError("the Packer manifest {0} names no AMI for the last run".format(manifest_path))
    if len(with_images) > 1:
        names = ", ".join(str(build.get("name")) for build, _images in with_images)
        raise PackerError(
            "the Packer run built {0} AMIs ({1}); image_build records one: select one build with only".format(
                len(with_images), names
            )
        )
    return with_images[0]
