"""Wall time and controller CPU of N apps deployed and retired in parallel, by internal_poll_interval.

Run inside the private network namespace:
    scripts/in-netns .venv/bin/python benchmarks/parallel_deploys.py [--apps 20]
        [--intervals default,0.05] [--playbooks DIR | --playbooks-at REV] [--json FILE]

Every waiting ansible-playbook wakes every internal_poll_interval seconds (Ansible's
default 0.001) while a module runs, so many deploys on one controller spend its CPU on
polling. The setting has no environment variable: only ansible.cfg's [defaults] key, and
only the first ansible.cfg found is read. Each run here gets ANSIBLE_CONFIG pointing at a
temporary ansible.cfg: an empty one for Ansible's default, one holding the interval
otherwise (checked with `ansible-config dump` before the runs).

For each interval the sandbox starts empty (target health delay 0, so only our own work
and Ansible's is timed) and N apps are set up, each with its own load balancer and
listener (tests/fixtures/deploy_site.py's Site, 2 instances per fleet) and a blue fleet
deployed by deploy.yml (not timed). Timed: for every app at once, deploy.yml of a new
image (rollback window 0), then terminate.yml, which retires the old fleet. Reported: the
wall time of the whole batch, the controller CPU seconds of all ansible-playbook processes
and the modules they ran (children's rusage), the sandbox's own CPU (this process, for
comparison: it shares the machine), the CPU everything else on the machine used meanwhile
(/proc/stat: other work slows the wall time down), and per-run medians of wall time and
CPU. The figures
go to benchmarks/results/parallel_deploys-<time>.json (or --json FILE).

Bounded: at most MAX_APPS apps, each playbook run is killed after --run-timeout seconds.
"""

import argparse
import concurrent.futures
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "sandbox"), str(REPO_ROOT / "tests")]

from cattle_sandbox.aws import SandboxAWS  # noqa: E402
from cattle_sandbox.netns import require_private_netns  # noqa: E402
from fixtures.ansible import VENV_BIN, PlaybookRun, ansible_env  # noqa: E402
from fixtures.aws import Network  # noqa: E402
from fixtures.deploy_site import Site  # noqa: E402

MAX_APPS = 50
DEFAULT_APPS = 20
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
DEFAULT_INTERVAL = "default"
WAIT_TIMEOUT = 600  # the playbooks' health and drain waits: generous, the controller is busy


# -- running one playbook, with its own CPU -------------------------------------------------


class Run:
    """One ansible-playbook run: its result, wall seconds and CPU seconds (it and its modules)."""

    def __init__(self, playbook_run, wall, cpu):
        self.result = playbook_run
        self.wall = wall
        self.cpu = cpu

    @property
    def failed(self):
        return self.result.failed

    def figures(self):
        return {"wall_seconds": round(self.wall, 2), "cpu_seconds": round(self.cpu, 2), "failed": self.failed}


def run_playbook_measured(playbook, env, extra_vars, timeout):
    """Like fixtures.ansible.run_playbook, but waits with wait4 to read the run's own rusage."""
    command = [str(VENV_BIN / "ansible-playbook"), str(playbook), "-e", json.dumps(extra_vars)]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, env=ansible_env(env), stdin=subprocess.DEVNULL, stdout=stdout,
                                   stderr=stderr, text=True)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        stdout.seek(0)
        stderr.seek(0)
        completed = subprocess.CompletedProcess(command, process.returncode, stdout.read(), stderr.read())
    return Run(PlaybookRun(completed), wall, usage.ru_utime + usage.ru_stime)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_cpu():
    """CPU seconds the whole machine has spent not idle since boot (/proc/stat), or 0.0 where unknown."""
    try:
        with open("/proc/stat") as handle:
            ticks = [int(value) for value in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


# -- ansible.cfg per interval ---------------------------------------------------------------


def write_config(directory, interval):
    """An ansible.cfg for the interval: empty for Ansible's default (so no other file is read)."""
    path = Path(directory) / "ansible-{0}.cfg".format(interval)
    text = "" if interval == DEFAULT_INTERVAL else "[defaults]\ninternal_poll_interval = {0}\n".format(interval)
    path.write_text(text)
    return path


def effective_interval(env):
    """DEFAULT_INTERNAL_POLL_INTERVAL as ansible-config reports it in this environment."""
    completed = subprocess.run([str(VENV_BIN / "ansible-config"), "dump"], env=ansible_env(env),
                               capture_output=True, text=True, timeout=120, check=True)
    for line in completed.stdout.splitlines():
        if line.startswith("DEFAULT_INTERNAL_POLL_INTERVAL("):
            return line.split("=", 1)[1].strip()
    raise SystemExit("ansible-config dump does not report DEFAULT_INTERNAL_POLL_INTERVAL")


# -- the apps -------------------------------------------------------------------------------


def app_names(count):
    return ["app{0:02d}".format(number) for number in range(1, count + 1)]


def shared_clients(aws):
    """boto3_client for Site: one client per service for all apps."""
    clients = {}

    def client(service):
        if service not in clients:
            clients[service] = aws.client(service)
        return clients[service]

    return client


def build_sites(aws, count):
    client = shared_clients(aws)
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.50.{0}.0/24".format(index), AvailabilityZone=zone)[
            "Subnet"]["SubnetId"]
        for index, zone in enumerate(("us-east-1a", "us-east-1b"), start=1)
    ]
    sites = [Site(aws, client, Network(vpc_id, subnets), app=name) for name in app_names(count)]
    sites[0].ensure_lock_table()
    return sites


def in_parallel(sites, work):
    """work(site) for every site at once; the results in the order of the sites."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(sites)) as pool:
        return list(pool.map(work, sites))


def deploy_vars(site, image_id):
    return site.extra_vars(image_id=image_id, rollback_window=0, wait_timeout=WAIT_TIMEOUT)


class Batch:
    """The runs of one interval: blue set up, then the timed deploy and terminate of every app."""

    def __init__(self, playbooks, env, run_timeout):
        self.playbooks = playbooks
        self.env = env
        self.run_timeout = run_timeout

    def run(self, name, variables):
        return run_playbook_measured(self.playbooks / name, self.env, variables, self.run_timeout)

    def set_up_blue(self, site):
        return self.run("deploy.yml", deploy_vars(site, site.images[0]))

    def deploy_and_retire(self, site):
        deploy = self.run("deploy.yml", deploy_vars(site, site.images[1]))
        terminate = self.run("terminate.yml", site.extra_vars(wait_timeout=WAIT_TIMEOUT)) if not deploy.failed else None
        return {"app": site.app, "deploy": deploy, "terminate": terminate}


def measure(aws, interval, config, playbooks, count, run_timeout):
    aws.reset()
    sites = build_sites(aws, count)
    env = dict(aws.subprocess_env(), ANSIBLE_CONFIG=str(config))
    reported = effective_interval(env)
    batch = Batch(playbooks, env, run_timeout)
    failed_setup = [site.app for site, run in zip(sites, in_parallel(sites, batch.set_up_blue)) if run.failed]
    if failed_setup:
        return {"interval": interval, "effective_interval": reported, "failed_setup": failed_setup}
    before = (children_cpu(), own_cpu(), machine_busy_cpu(), time.monotonic())
    apps = in_parallel(sites, batch.deploy_and_retire)
    controller, sandbox, busy, wall = (now - then for now, then in zip(
        (children_cpu(), own_cpu(), machine_busy_cpu(), time.monotonic()), before))
    figures = summary(interval, reported, apps, wall, controller, sandbox)
    # Other work on the machine competes for the same CPUs, so it shows in the wall time.
    return dict(figures, other_cpu_seconds=round(busy - controller - sandbox, 2))


def summary(interval, reported, apps, wall, controller_cpu, sandbox_cpu):
    runs = {phase: [app[phase] for app in apps if app[phase] is not None] for phase in ("deploy", "terminate")}
    failures = {phase: [app["app"] for app in apps if app[phase] is None or app[phase].failed]
                for phase in ("deploy", "terminate")}
    return {
        "interval": interval,
        "effective_interval": reported,
        "apps": len(apps),
        "wall_seconds": round(wall, 2),
        "controller_cpu_seconds": round(controller_cpu, 2),
        "sandbox_cpu_seconds": round(sandbox_cpu, 2),
        "median": {phase: medians(phase_runs) for phase, phase_runs in runs.items()},
        "failures": failures,
        "runs": [{"app": app["app"], "deploy": app["deploy"].figures(),
                  "terminate": app["terminate"].figures() if app["terminate"] else None} for app in apps],
        "first_failure": first_failure(apps),
    }


def medians(runs):
    if not runs:
        return None
    return {"wall_seconds": round(statistics.median(run.wall for run in runs), 2),
            "cpu_seconds": round(statistics.median(run.cpu for run in runs), 2)}


def first_failure(apps):
    for app in apps:
        for phase in ("deploy", "terminate"):
            if app[phase] is not None and app[phase].failed:
                return "{0} {1}: {2}".format(app["app"], phase, app[phase].result.explain()[-1500:])
    return None


# -- output -----------------------------------------------------------------------------------


def print_figures(figures):
    print("== internal_poll_interval {0} (ansible-config: {1}) ==".format(
        figures["interval"], figures["effective_interval"]))
    if figures.get("failed_setup"):
        print("  setting up the blue fleets failed for: " + ", ".join(figures["failed_setup"]))
        return
    print("  {0} apps deployed and retired in parallel: wall {1:.1f} s, controller CPU {2:.1f} s "
          "(sandbox {3:.1f} s, everything else on the machine {4:.1f} s)".format(
              figures["apps"], figures["wall_seconds"], figures["controller_cpu_seconds"],
              figures["sandbox_cpu_seconds"], figures["other_cpu_seconds"]))
    for phase, median in figures["median"].items():
        if median:
            print("  per {0} run, median: wall {1:.1f} s, CPU {2:.1f} s".format(
                phase, median["wall_seconds"], median["cpu_seconds"]))
    for phase, apps in figures["failures"].items():
        if apps:
            print("  {0} failed or did not run for: {1}".format(phase, ", ".join(apps)))
    if figures["first_failure"]:
        print("  first failure: " + figures["first_failure"])


def shown(path):
    """A path inside the checkout relative to it, so no machine's layout lands in the figures."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if REPO_ROOT in path.parents else str(path)


def results_path(given):
    if given:
        return Path(given)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return RESULTS_DIR / "parallel_deploys-{0}.json".format(stamp)


def playbooks_at(revision, directory):
    """playbooks/ as it is at a git revision, in a directory of its own (nothing in the checkout changes)."""
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", revision, "playbooks"],
                             capture_output=True, check=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True, timeout=120)
    return Path(directory) / "playbooks"


def parse_options():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=DEFAULT_APPS,
                        help="apps deployed at once, 1 to {0} (default {1})".format(MAX_APPS, DEFAULT_APPS))
    parser.add_argument("--intervals", default="default,0.05",
                        help="comma-separated internal_poll_interval values; 'default' is Ansible's (default: %(default)s)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--playbooks", default=str(REPO_ROOT / "playbooks"), help="directory of deploy.yml and terminate.yml")
    source.add_argument("--playbooks-at", metavar="REV", help="take playbooks/ from this git revision (e.g. HEAD)")
    parser.add_argument("--run-timeout", type=int, default=1200, help="seconds before one playbook run is killed")
    parser.add_argument("--json", help="where to write the figures (default: benchmarks/results/parallel_deploys-<time>.json)")
    options = parser.parse_args()
    if not 1 <= options.apps <= MAX_APPS:
        parser.error("--apps must be between 1 and {0}".format(MAX_APPS))
    return options


def main():
    options = parse_options()
    require_private_netns()
    intervals = [value.strip() for value in options.intervals.split(",") if value.strip()]
    load = os.getloadavg()
    print("load average before: {0}; {1} CPUs".format(" ".join("{0:.2f}".format(value) for value in load), os.cpu_count()))
    all_figures = []
    with tempfile.TemporaryDirectory() as work, SandboxAWS(port=0, target_healthy_after=0.0) as aws:
        playbooks = playbooks_at(options.playbooks_at, work) if options.playbooks_at else Path(options.playbooks)
        source = "playbooks/ at " + options.playbooks_at if options.playbooks_at else shown(playbooks)
        print("playbooks: " + source)
        for interval in intervals:
            config = write_config(work, interval)
            figures = measure(aws, interval, config, playbooks, options.apps, options.run_timeout)
            print_figures(figures)
            all_figures.append(figures)
    path = results_path(options.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"load_average_before": load, "cpus": os.cpu_count(), "apps": options.apps,
                                "playbooks": source,
                                "figures": all_figures}, indent=2, sort_keys=True))
    print("figures written to {0}".format(shown(path)))
    failed = any(f.get("failed_setup") or any(f["failures"].values()) for f in all_figures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
