"""Keeps a booted stand-in alive between molecule's create and destroy steps.

    standin_holder.py start --dir DIR [--hold SECONDS]   # boot, print the stand-in's JSON
    standin_holder.py stop --dir DIR                     # tear it down, check nothing is left
    standin_holder.py exec --dir DIR -- COMMAND...       # run COMMAND as root inside it (nsenter)

`start` runs `python -m cattle_sandbox.standin boot --hold SECONDS` detached (a session
of its own, so molecule's steps come and go while it holds the stand-in) and returns once
it printed how to reach the stand-in. DIR keeps the holder's pid, output and exit status.
Run it inside the same `scripts/in-netns` as everything that talks to the stand-in: the
stand-in's veth pair ends in the namespace the holder was started in.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX_DIR = REPO_ROOT / "sandbox"
BOOT_TIMEOUT = 180  # seconds for the holder to print its JSON (a boot takes about 2 s)
STOP_TIMEOUT = 60  # seconds for the holder to power off and remove the stand-in (about 1 s)
# The holder's parent shell records the exit status, which tells whether teardown was clean.
HOLDER_SHELL = '"$0" -m cattle_sandbox.standin boot --hold "$1" >"$2" 2>"$3" & echo $! >"$4"; wait $!; echo $? >"$5"'


class HolderFiles:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.json = self.dir / "standin.json"
        self.log = self.dir / "holder.log"
        self.pid = self.dir / "holder.pid"
        self.rc = self.dir / "holder.rc"

    def read_pid(self):
        try:
            return int(self.pid.read_text().strip())
        except (OSError, ValueError):
            return None

    def read_rc(self):
        try:
            return int(self.rc.read_text().strip())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start(args):
    files = HolderFiles(args.dir)
    if holder_alive(files):
        return fail(f"a stand-in holder (pid {files.read_pid()}) already runs for {files.dir}; stop it first")
    files.dir.mkdir(parents=True, exist_ok=True)
    for path in (files.json, files.log, files.pid, files.rc):
        path.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(SANDBOX_DIR))
    argv = ["sh", "-c", HOLDER_SHELL, sys.executable, str(args.hold),
            str(files.json), str(files.log), str(files.pid), str(files.rc)]
    subprocess.Popen(argv, env=env, start_new_session=True, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(REPO_ROOT))
    described = wait_for_json(files)
    if described is None:
        return fail(f"the stand-in did not boot (holder exit status {files.read_rc()}):\n{files.log_tail()}")
    described["holder_pid"] = files.read_pid()
    described["exec"] = [sys.executable, str(Path(__file__).resolve()), "exec", "--dir", str(files.dir), "--"]
    files.json.write_text(json.dumps(described, indent=2) + "\n")
    print(json.dumps(described))
    return 0


def wait_for_json(files):
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            return json.loads(files.json.read_text())
        except (OSError, ValueError):
            pass  # not written yet, or only half of it
        if files.read_rc() is not None:
            return None
        time.sleep(0.2)
    stop_holder(files)
    return None


def stop(args):
    files = HolderFiles(args.dir)
    if files.read_pid() is None:
        print(json.dumps({"changed": False, "msg": f"no stand-in holder in {files.dir}"}))
        return 0
    described = read_described(files)
    rc = stop_holder(files)
    if rc != 0:
        return fail(f"the stand-in holder ended with status {rc}:\n{files.log_tail()}")
    left = leftovers(described)
    if left:
        return fail("stand-in not fully removed: " + "; ".join(left))
    for path in (files.json, files.pid, files.rc):
        path.unlink(missing_ok=True)
    print(json.dumps({"changed": True, "msg": files.log_tail(1)}))
    return 0


def stop_holder(files):
    """SIGTERM to the holder (an orderly poweroff and teardown); its exit status, or None."""
    pid = files.read_pid()
    if holder_alive(files):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while files.read_rc() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if files.read_rc() is None and holder_alive(files):
        os.kill(pid, signal.SIGKILL)  # its atexit cannot run: `python -m cattle_sandbox.standin cleanup` removes it
        return 137
    return files.read_rc()


def holder_alive(files):
    """The recorded pid is still our `standin boot` (pids are reused)."""
    pid = files.read_pid()
    if pid is None:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"cattle_sandbox.standin" in argv and b"boot" in argv


def read_described(files):
    try:
        return json.loads(files.json.read_text())
    except (OSError, ValueError):
        return {}


def leftovers(described):
    """What an outside observer can still see of the stand-in: its namespace and directory."""
    found = []
    name = described.get("name")
    if name:
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        if any(line.split()[0] == name for line in namespaces.splitlines() if line.strip()):
            found.append(f"network namespace {name}")
    inventory = described.get("inventory")
    if inventory and Path(inventory).parent.exists():
        found.append(f"directory {Path(inventory).parent}")
    return found


def run_exec(args):
    described = read_described(HolderFiles(args.dir))
    if not described.get("name"):
        return fail(f"no stand-in described in {args.dir} (has create run?)")
    env = dict(os.environ, PYTHONPATH=str(SANDBOX_DIR))
    argv = [sys.executable, "-m", "cattle_sandbox.standin", "exec", described["name"], "--", *args.argv]
    return subprocess.run(argv, env=env, check=False).returncode


def fail(message):
    print(f"standin_holder: {message}", file=sys.stderr)
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "stop", "exec"):
        command = commands.add_parser(name)
        command.add_argument("--dir", required=True, help="the holder's state directory")
        if name == "start":
            command.add_argument("--hold", type=float, default=3600,
                                 help="seconds after which the stand-in goes even without stop (a safety net)")
        if name == "exec":
            command.add_argument("argv", nargs="+", metavar="-- COMMAND")
    args = parser.parse_args(argv)
    return {"start": start, "stop": stop, "exec": run_exec}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
