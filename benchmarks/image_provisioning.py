"""How long playbooks/image.yml takes on a booted stand-in, what Lynis says, and whether a second run changes anything.

Run inside the private network namespace, after `make setup`:
    scripts/in-netns .venv/bin/python benchmarks/image_provisioning.py [--no-direct] [--json]

With the connection settings packer/golden gives the ansible provisioner (pipelining, one
persistent SSH connection), it runs playbooks/image.yml minus image_cleanup (after the
cleanup nothing can log in again):

1. on a fresh stand-in, with Lynis: the first run's time, and the Lynis tasks' share of it;
2. on the same stand-in again: the second run's changed count (the target is 0) and time;
3. unless --no-direct, on a second fresh stand-in with Lynis skipped
   (--skip-tags image_validate_lynis): the first run without Lynis, measured rather than
   subtracted; then image_cleanup alone (--tags image_cleanup) on that stand-in.

Then it prints the times, the Lynis hardening index, warnings and suggestions (read from
Lynis's own report on the stand-in) and the second run's changed count.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "sandbox"), str(REPO_ROOT / "tests")]

from cattle_sandbox.netns import require_private_netns  # noqa: E402
from cattle_sandbox.standin import StandIn, find_prepared  # noqa: E402
from fixtures.ansible import VENV_BIN, PlaybookRun, ansible_env  # noqa: E402
from task_times import timed_tasks  # noqa: E402

IMAGE_PLAYBOOK = REPO_ROOT / "playbooks" / "image.yml"
LYNIS_REPORT = "/var/log/lynis-report.dat"
# What packer/golden's ansible_env_defaults set for the provisioner; the stand-in's
# inventory adds the persistent connection (ControlMaster/ControlPersist).
PROVISIONER_ENV = {
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_NOCOLOR": "True",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
    "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
}
PLAYBOOK_TIMEOUT = 1800


def run_image_playbook(playbook, standin, work, label, *options):
    """One ansible-playbook run of image.yml against the stand-in: (PlaybookRun, seconds)."""
    extra_vars = {
        "image_app": "web",
        "image_fingerprint": "b" * 64,
        # One per stand-in: a second run fetches the same report over its first copy.
        "image_validation_report": str(work / f"validation-report-{standin.name}.json"),
        # Measure even when a check fails (the report says which): the figures matter most then.
        "image_validate_fail_on_failure": False,
    }
    command = [str(VENV_BIN / "ansible-playbook"), "-i", str(standin.inventory_path), str(playbook),
               "-e", json.dumps(extra_vars), *options]
    env = ansible_env(PROVISIONER_ENV)
    started = time.monotonic()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT,
                               check=False)
    seconds = time.monotonic() - started
    run = PlaybookRun(completed)
    if run.failed:
        raise RuntimeError(f"{playbook.name} ({label}) failed (exit {run.rc}):\n"
                           f"{failed_tasks(run) or run.stdout[-3000:]}\n{run.stderr[-2000:]}")
    return run, seconds


def failed_tasks(run):
    lines = []
    for task in run.tasks():
        for host, outcome in task["hosts"].items():
            if outcome.get("failed") or outcome.get("unreachable"):
                lines.append(f"{host}: {task['task']['name']}: {outcome.get('msg', '')}")
    return "\n".join(lines)


def changed_count(run):
    return sum(stats.get("changed", 0) for stats in run.report.get("stats", {}).values())


def task_seconds(run, word):
    """Wall time of the tasks whose name mentions `word`."""
    return sum(seconds for name, seconds in timed_tasks(run) if word.lower() in name.lower())


def seconds_per_role(run):
    """Wall time per role ("cattle.immutable.app : ..." task names), slowest first."""
    totals = {}
    for name, seconds in timed_tasks(run):
        role = name.split(" : ", 1)[0] if " : " in name else "(play)"
        totals[role] = totals.get(role, 0.0) + seconds
    return sorted(totals.items(), key=lambda item: -item[1])


def slowest_tasks(run, count=8):
    return sorted(timed_tasks(run), key=lambda item: -item[1])[:count]


def lynis_figures(standin):
    """hardening index, warnings and suggestions from Lynis's own report on the stand-in."""
    lines = standin.run(["cat", LYNIS_REPORT]).stdout.splitlines()
    index = [line.split("=", 1)[1] for line in lines if line.startswith("hardening_index=")]
    warnings = [line.split("=", 1)[1] for line in lines if line.startswith("warning[]=")]
    suggestions = [line.split("=", 1)[1] for line in lines if line.startswith("suggestion[]=")]
    return {
        "hardening_index": int(index[0]) if index else None,
        "warnings": [entry.split("|")[0] + ": " + entry.split("|")[1] for entry in warnings],
        "suggestions": [entry.split("|")[0] for entry in suggestions],
    }


def measure(playbook, direct):
    prepared = find_prepared()
    figures = {"load_average_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="cattle-bench-") as scratch:
        work = Path(scratch)
        with StandIn(prepared) as standin:
            figures["boot_seconds"] = standin.boot_seconds
            first, seconds = run_image_playbook(playbook, standin, work, "first", "--skip-tags", "image_cleanup")
            lynis = task_seconds(first, "lynis")
            figures.update({
                "first_run_seconds": seconds,
                "first_run_changed": changed_count(first),
                "lynis_task_seconds": lynis,
                "first_run_without_lynis_seconds": seconds - lynis,
                "first_run_seconds_per_role": seconds_per_role(first),
                "first_run_slowest_tasks": slowest_tasks(first),
            })
            figures["lynis"] = lynis_figures(standin)
            figures["validation"] = validation_outcome(work / f"validation-report-{standin.name}.json")
            second, seconds = run_image_playbook(playbook, standin, work, "second", "--skip-tags", "image_cleanup")
            figures.update({"second_run_seconds": seconds, "second_run_changed": changed_count(second)})
            figures["second_run_changed_tasks"] = changed_tasks(second)
        if direct:
            with StandIn(prepared) as standin:
                _run, seconds = run_image_playbook(playbook, standin, work, "direct", "--skip-tags",
                                                   "image_cleanup,image_validate_lynis")
                figures["first_run_lynis_skipped_seconds"] = seconds
                try:
                    _run, seconds = run_image_playbook(playbook, standin, work, "cleanup", "--tags", "image_cleanup")
                    figures["image_cleanup_seconds"] = seconds
                except RuntimeError as error:
                    figures["image_cleanup_error"] = str(error).strip()
    figures["load_average_after"] = os.getloadavg()[0]
    return figures


def validation_outcome(report_path):
    """passed/failed and the failed checks, from the report image_validate fetched."""
    report = json.loads(report_path.read_text())
    failed = [f"{check['name']} ({check.get('detail', '')})" for check in report.get("checks", [])
              if check.get("result") == "failed"]
    return {"result": report.get("result"), "failed_checks": failed}


def changed_tasks(run):
    return [task["task"]["name"] for task in run.tasks()
            if any(outcome.get("changed") for outcome in task["hosts"].values())]


def print_figures(figures):
    print("playbooks/image.yml on a booted Debian 12 stand-in (pipelining, persistent SSH), "
          f"load average {figures['load_average_before']:.1f} before, {figures['load_average_after']:.1f} after:")
    print(f"  first run minus image_cleanup, with Lynis:    {figures['first_run_seconds']:6.1f} s "
          f"(changed {figures['first_run_changed']})")
    print(f"    of which the Lynis tasks:                   {figures['lynis_task_seconds']:6.1f} s")
    print(f"    without them:                               {figures['first_run_without_lynis_seconds']:6.1f} s")
    print("    per role: " + ", ".join(f"{role} {seconds:.1f} s" for role, seconds in
                                       figures["first_run_seconds_per_role"]))
    print("    slowest tasks: " + "; ".join(f"{name} {seconds:.1f} s" for name, seconds in
                                            figures["first_run_slowest_tasks"]))
    if "first_run_lynis_skipped_seconds" in figures:
        print(f"  first run minus image_cleanup, Lynis skipped: {figures['first_run_lynis_skipped_seconds']:6.1f} s "
              "(a fresh stand-in)")
        if "image_cleanup_seconds" in figures:
            print(f"  image_cleanup alone (--tags image_cleanup):   {figures['image_cleanup_seconds']:6.1f} s")
        else:
            print(f"  image_cleanup alone (--tags image_cleanup):   FAILED: {figures['image_cleanup_error']}")
    print(f"  second run minus image_cleanup, with Lynis:   {figures['second_run_seconds']:6.1f} s, "
          f"changed {figures['second_run_changed']}")
    for name in figures["second_run_changed_tasks"]:
        print(f"    changed again: {name}")
    validation = figures["validation"]
    print(f"Validation (first run): {validation['result']}")
    for check in validation["failed_checks"]:
        print(f"  failed: {check}")
    lynis = figures["lynis"]
    print(f"Lynis: hardening index {lynis['hardening_index']}, {len(lynis['warnings'])} warnings, "
          f"{len(lynis['suggestions'])} suggestions")
    for warning in lynis["warnings"]:
        print(f"  warning {warning}")
    print(f"  suggestions: {', '.join(lynis['suggestions'])}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-direct", action="store_true",
                        help="skip the second stand-in (first run with Lynis skipped, image_cleanup alone)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--playbook", default=str(IMAGE_PLAYBOOK), help="the image playbook (default: %(default)s)")
    options = parser.parse_args(argv)
    require_private_netns()
    try:
        figures = measure(Path(options.playbook), direct=not options.no_direct)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    if options.json:
        print(json.dumps(figures, indent=2))
    else:
        print_figures(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
