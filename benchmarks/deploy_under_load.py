"""Deploys, a rollback and a retirement under load, with instances that run: what users see.

Run inside the private network namespace, after `make setup` (stand-ins need the prepared image):
    scripts/in-netns .venv/bin/python benchmarks/deploy_under_load.py [--json FILE] [--rate 40]
        [--max-seconds 420] [--latency-ms 0,30] [--repeat 3] [--rollback-at REV]
        [--skip-live] [--skip-restore]

Live part. An app of fleets of 2 instances from an AMI with content (a booted stand-in's file
system, as tests/fixtures/live.py makes one) whose user data starts the test app on :8080, behind
the sandbox's load balancer; health check every 5 s (healthy threshold 2), deregistration delay
5 s, all set in the app's definition as a user would. Blue is deployed first; then, while a
LoadGenerator sends kept-alive GETs to the balancer's DNS name (bounded in count and time):
an all-at-once deploy of a second AMI, a rollback to blue, terminate.yml retiring the rolled
back fleet, a canary deploy of a third AMI (steps 50/100, 5 s pause). For each: requests, non-2xx,
connection errors, p50/p99 latency in its window; the time from "every green target healthy"
(DescribeTargetHealth polled every 0.2 s) to the listener write that gives green all the traffic
(the sandbox's listener-write record), and to the last request routed elsewhere (its record of
routed requests); wall time against a floor: the slowest green instance's launch -> first passing
health check, plus one listener write (plus the canary's pause and its other writes); for the
rollback one listener write; for terminate the deregistration delay plus its writes (scale to
0, out of the listener, three deletes) at the measured time of one write. "Within one poll
interval": wall minus floor at most the fleet module's poll interval, 5 s (the pause its polls
back off to); also given against the shorter pause due at the moment green turned healthy.

Restore part. rollback.yml's time from its start (the ansible-playbook process starting) to the
listener write that restores traffic, with 0 and 30 ms added to every API call (a sandbox `delay`
fault), on fleets of virtual instances (targets healthy at once: only our work is timed), best
and median of --repeat runs. --rollback-at REV runs the same with playbooks/ as they are at a git
revision too (before/after a change). Wall times depend on the machine's load: the load
average is printed before each part.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "sandbox"), str(REPO_ROOT / "tests")]

from cattle_sandbox.aws import SandboxAWS  # noqa: E402
from cattle_sandbox.load import LoadGenerator  # noqa: E402
from cattle_sandbox.netns import require_private_netns  # noqa: E402
from cattle_sandbox.standin import StandIn, find_prepared  # noqa: E402
from fixtures.ansible import run_playbook  # noqa: E402
from fixtures.aws import Network  # noqa: E402
from fixtures.deploy_site import Site, fleet_name  # noqa: E402
from fixtures.live import TEST_APP, capture_content_ami  # noqa: E402
from task_times import task_times  # noqa: E402
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import wait as fleet_wait  # noqa: E402

HEALTH_INTERVAL = 5
HEALTHY_THRESHOLD = 2
DEREGISTRATION_DELAY = 5
CANARY_STEPS = [50, 100]
CANARY_PAUSE = 5
FLEET_SIZE = 2
HEALTH_POLL_SECONDS = 0.2
PLAYBOOK_TIMEOUT = 300
WAIT_TIMEOUT = 240
LIVE_DEFINITION = {
    "port": 8080,
    "user_data": TEST_APP,
    "capacity": {"min": 1, "max": FLEET_SIZE, "desired": FLEET_SIZE},
    "health_check": {"path": "/health", "interval": HEALTH_INTERVAL, "timeout": 2,
                     "healthy_threshold": HEALTHY_THRESHOLD, "unhealthy_threshold": 2},
    "deregistration_delay": DEREGISTRATION_DELAY,
    "grace_period": 30,
}
TARGET_RESTORE_SECONDS_AT_30MS = 2.5


def load_average():
    return " ".join("{0:.2f}".format(load) for load in os.getloadavg())


def new_site(aws):
    """The app `web` behind its own load balancer (tests/fixtures/deploy_site.py), on an empty sandbox."""
    aws.reset()
    ec2 = aws.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.{0}.0/24".format(index),
                                 AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for index, zone in enumerate(("us-east-1a", "us-east-1b"), start=1)]
    return Site(aws, aws.client, Network(vpc_id, subnets))


# -- timing one playbook run ------------------------------------------------------------------


class Timed:
    """One ansible-playbook run with its epoch start and end, and its tasks' offsets from the start."""

    def __init__(self, name, run, started, ended):
        self.name, self.run, self.started, self.ended = name, run, started, ended

    @property
    def wall(self):
        return self.ended - self.started

    def tasks(self):
        """[(task name, start offset s, seconds)] from the json callback's durations."""
        return [(name, round(start.timestamp() - self.started, 2), round((end - start).total_seconds(), 2))
                for name, start, end in task_times(self.run)]


def timed_run(name, playbook, env, extra_vars):
    started = time.time()
    run = run_playbook(playbook, env, extra_vars=extra_vars, timeout=PLAYBOOK_TIMEOUT)
    timed = Timed(name, run, started, time.time())
    if run.failed:
        raise SystemExit("{0} failed:\n{1}".format(name, run.explain()))
    return timed


# -- what the sandbox recorded ----------------------------------------------------------------


def share(weights, arn):
    total = sum(weights.values())
    return weights.get(arn, 0) / float(total) if total else 0.0


def full_write(writes, arn, after):
    """The first listener write at or after `after` that gives `arn` all the traffic."""
    for write in writes:
        if write["time"] >= after and share(write["weights"], arn) == 1.0:
            return write
    return None


def group_name(arn):
    """A target group's name (what the routed-requests record holds) from its ARN."""
    return arn.split(":targetgroup/", 1)[1].split("/", 1)[0]


def last_routed_elsewhere(routed, arn, start, end):
    """When the last request of the window went to another target group than `arn` (None: none did)."""
    name = group_name(arn)
    elsewhere = [entry["time"] for entry in routed
                 if start <= entry["time"] <= end and entry["target_group"] and entry["target_group"] != name]
    return max(elsewhere) if elsewhere else None


def routed_to_unhealthy(routed, timed):
    """Requests of the run's window the balancer sent to a target that was not healthy when chosen."""
    return sum(1 for entry in routed if timed.started <= entry["time"] <= timed.ended
               and entry["target_id"] and entry["health"] != "healthy")


def launch_times(ec2, instance_ids):
    """{instance id: launch epoch} (the instances EC2 still lists)."""
    if not instance_ids:
        return {}
    reservations = ec2.describe_instances(InstanceIds=sorted(instance_ids))["Reservations"]
    return {instance["InstanceId"]: instance["LaunchTime"].timestamp()
            for reservation in reservations for instance in reservation["Instances"]}


class HealthWatch:
    """Polls one target group's health (by name, once it exists) and notes when each target first
    turned healthy; stops once `expected` targets are healthy, or at stop()."""

    def __init__(self, elbv2, target_group_name, expected):
        self.elbv2, self.name, self.expected = elbv2, target_group_name, expected
        self.arn = None
        self.healthy_at = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="health-watch", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopping.set()
        self._thread.join(timeout=10)

    def all_healthy_at(self):
        return max(self.healthy_at.values()) if len(self.healthy_at) >= self.expected else None

    def _watch(self):
        while not self._stopping.wait(HEALTH_POLL_SECONDS) and len(self.healthy_at) < self.expected:
            if self.arn is None:
                self.arn = self._find()
                continue
            now = time.time()
            for description in self.elbv2.describe_target_health(TargetGroupArn=self.arn)["TargetHealthDescriptions"]:
                if description["TargetHealth"]["State"] == "healthy":
                    self.healthy_at.setdefault(description["Target"]["Id"], now)

    def _find(self):
        try:
            return self.elbv2.describe_target_groups(Names=[self.name])["TargetGroups"][0]["TargetGroupArn"]
        except self.elbv2.exceptions.TargetGroupNotFoundException:
            return None


# -- the load's view --------------------------------------------------------------------------


def percentile(ordered, percent):
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, int(round(percent / 100.0 * len(ordered) + 0.5)) - 1))]


def load_figures(load, began, start, end):
    """What the load generator saw between two epoch times."""
    answers = [answer for answer in list(load.answers) if start <= began + answer.started <= end]
    latencies = sorted(answer.seconds for answer in answers)
    non_2xx = sum(1 for answer in answers if answer.status is not None and not 200 <= answer.status < 300)
    errors = sum(1 for answer in answers if answer.status is None)
    return {"requests": len(answers), "non_2xx": non_2xx, "connection_errors": errors, "failed": non_2xx + errors,
            "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p99_ms": round(percentile(latencies, 99) * 1000, 1)}


# -- the live part ----------------------------------------------------------------------------


def content_images(aws, site):
    """Three AMIs of the app with one booted stand-in's file system (one capture, two copies)."""
    ec2 = site.ec2
    with StandIn(find_prepared()) as standin:
        first = capture_content_ami(aws.control, ec2, standin)
    images = [first] + [ec2.copy_image(SourceImageId=first, SourceRegion="us-east-1", Name="web-live-{0}".format(n))[
        "ImageId"] for n in (2, 3)]
    ec2.create_tags(Resources=images, Tags=[{"Key": "cattle:app", "Value": site.app}])
    return images


def listener_write_seconds(site):
    """One listener write (the current weights again), timed: the write in each floor."""
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in site.weights().items()]
    started = time.monotonic()
    site.elbv2.modify_listener(ListenerArn=site.listener,
                               DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}])
    return time.monotonic() - started


def run_live(site, image_id, playbook, env, **variables):
    """A playbook run of the site, with green's health watched when it deploys a new image."""
    extra = site.extra_vars(wait_timeout=WAIT_TIMEOUT, rollback_window=600, **variables)
    if image_id is None:
        return timed_run(playbook, REPO_ROOT / "playbooks" / playbook, env, extra), None
    with HealthWatch(site.aws.client("elbv2"), fleet_name(site, image_id), FLEET_SIZE) as watch:
        timed = timed_run(playbook, REPO_ROOT / "playbooks" / playbook, env, dict(extra, image_id=image_id))
    return timed, watch


def poll_interval_at(elapsed):
    """(the fleet module's pause before its first poll at or after `elapsed` s into its wait, that poll's time).

    Its polls start at once, then pause FIRST_DELAY, each pause BACKOFF times the last, up to MAX_DELAY
    (_fleet/wait.py): a fleet healthy at `elapsed` is seen at the next poll, at most one pause later.
    """
    at, pause, last = 0.0, fleet_wait.FIRST_DELAY, 0.0
    while at < elapsed:
        at, last, pause = at + pause, pause, min(pause * fleet_wait.BACKOFF, fleet_wait.MAX_DELAY)
    return round(last, 2), round(at, 2)


def deploy_figures(site, timed, watch, pauses, write_s, context):
    """A deploy's timeline against its floor: launch -> healthy (slowest green) + its writes and pauses."""
    healthy = watch.all_healthy_at()
    if healthy is None:
        raise SystemExit("{0}: the green targets were not all seen healthy: {1}".format(timed.name, watch.healthy_at))
    launched = launch_times(site.ec2, watch.healthy_at)
    slowest = max(watch.healthy_at[instance] - launched[instance] for instance in launched)
    launch = min(launched.values())
    full = full_write(context["writes"], watch.arn, healthy)
    elsewhere = last_routed_elsewhere(context["routed"], watch.arn, timed.started, timed.ended)
    floor = slowest + write_s * (len(pauses) + 1) + sum(pauses)
    interval, next_poll = poll_interval_at(healthy - launch)
    return {
        "wall_s": round(timed.wall, 2), "floor_s": round(floor, 2), "above_floor_s": round(timed.wall - floor, 2),
        "slowest_launch_to_healthy_s": round(slowest, 2),
        "start_to_launch_s": round(launch - timed.started, 2),
        "healthy_to_100_s": round(full["time"] - healthy, 2) if full else None,
        "healthy_to_last_request_elsewhere_s": round(elsewhere - healthy, 2) if elsewhere else None,
        "after_100_s": round(timed.ended - full["time"], 2) if full else None,
        "fleet_poll_interval_when_healthy_s": interval,
        "fleet_poll_due_after_launch_s": next_poll,
        "within_one_poll_interval": timed.wall - floor <= fleet_wait.MAX_DELAY,
        "within_the_pause_when_healthy": timed.wall - floor <= interval,
    }


def rollback_figures(timed, standby_arn, write_s, context):
    """The standby is healthy all along: its "healthy -> 100%" is the rollback's start -> restoring write."""
    full = full_write(context["writes"], standby_arn, timed.started)
    elsewhere = last_routed_elsewhere(context["routed"], standby_arn, timed.started, timed.ended)
    return {"wall_s": round(timed.wall, 2), "floor_s": round(write_s, 2), "above_floor_s": round(timed.wall - write_s, 2),
            "restore_s": round(full["time"] - timed.started, 2) if full else None,
            "healthy_to_100_s": round(full["time"] - timed.started, 2) if full else None,
            "healthy_to_last_request_elsewhere_s": round(elsewhere - timed.started, 2) if elsewhere else None,
            "after_100_s": round(timed.ended - full["time"], 2) if full else None}


def terminate_figures(timed, write_s):
    """Floor: the deregistration delay, plus its writes (scale to 0, out of the listener, three deletes)."""
    floor = DEREGISTRATION_DELAY + 5 * write_s
    interval, _next_poll = poll_interval_at(DEREGISTRATION_DELAY)
    return {"wall_s": round(timed.wall, 2), "floor_s": round(floor, 2), "above_floor_s": round(timed.wall - floor, 2),
            "fleet_poll_interval_when_drained_s": interval,
            "within_one_poll_interval": timed.wall - floor <= fleet_wait.MAX_DELAY,
            "within_the_pause_when_drained": timed.wall - floor <= interval}


class LiveRun:
    """The live part's state: the site, its AMIs, the load and what each scenario measured."""

    def __init__(self, aws, rate, max_seconds):
        self.aws, self.rate, self.max_seconds = aws, rate, max_seconds
        self.site = new_site(aws)
        self.site.definition.update(LIVE_DEFINITION)
        self.env = aws.subprocess_env()
        self.images = content_images(aws, self.site)
        self.scenarios = {}
        self.load = None
        self.began = None
        self.write_s = None

    def context(self):
        return {"writes": [w for w in self.aws.control.listener_writes() if w["listener_arn"] == self.site.listener],
                "routed": self.aws.control.routed_requests()}

    def record(self, name, timed, figures):
        figures.update(load_figures(self.load, self.began, timed.started, timed.ended))
        figures["routed_to_unhealthy"] = routed_to_unhealthy(self.aws.control.routed_requests(), timed)
        figures["tasks"] = timed.tasks()
        self.scenarios[name] = figures
        print(describe(name, figures), flush=True)

    def run(self):
        blue, green, canary = self.images
        run_live(self.site, blue, "deploy.yml", self.env)
        self.write_s = listener_write_seconds(self.site)
        balancer = self.site.elbv2.describe_load_balancers(LoadBalancerArns=[self.site.load_balancer])["LoadBalancers"][0]
        self.load = LoadGenerator("http://{0}/health".format(balancer["DNSName"]), rate=self.rate,
                                  max_requests=int(self.rate * self.max_seconds), max_seconds=self.max_seconds)
        self.began = time.time()
        with self.load:
            time.sleep(2)  # steady state first
            self.deploy("all_at_once", green)
            self.rollback(blue)
            self.terminate()
            self.deploy("canary", canary, strategy="canary", canary_steps=CANARY_STEPS, canary_pause=CANARY_PAUSE)
        return {"scenarios": self.scenarios, "listener_write_s": round(self.write_s, 4),
                "load": {key: value for key, value in self.load.summary().items() if key not in ("timeline",)}}

    def deploy(self, name, image_id, **variables):
        timed, watch = run_live(self.site, image_id, "deploy.yml", self.env, **variables)
        pauses = [variables.get("canary_pause", 0)] * (len(variables.get("canary_steps", [100])) - 1)
        self.record(name, timed, deploy_figures(self.site, timed, watch, pauses, self.write_s, self.context()))

    def rollback(self, standby_image):
        standby = self.site.arn_of(fleet_name(self.site, standby_image))
        timed, _watch = run_live(self.site, None, "rollback.yml", self.env)
        self.record("rollback", timed, rollback_figures(timed, standby, self.write_s, self.context()))

    def terminate(self):
        timed, _watch = run_live(self.site, None, "terminate.yml", self.env, retire_now=True)
        self.record("terminate", timed, terminate_figures(timed, self.write_s))


def describe(name, figures):
    parts = ["{0}: {1} requests, {2} failed ({3} non-2xx, {4} connection errors), p50 {5} ms, p99 {6} ms, "
             "{7} routed to a target not healthy".format(
                 name, figures["requests"], figures["failed"], figures["non_2xx"], figures["connection_errors"],
                 figures["p50_ms"], figures["p99_ms"], figures["routed_to_unhealthy"])]
    if figures.get("healthy_to_100_s") is not None:
        parts.append("healthy->100% {0} s".format(figures["healthy_to_100_s"]))
    if "restore_s" in figures:
        parts.append("start->restoring write {0} s".format(figures["restore_s"]))
    parts.append("wall {0} s vs floor {1} s (+{2} s)".format(figures["wall_s"], figures["floor_s"],
                                                             figures["above_floor_s"]))
    if "fleet_poll_interval_when_healthy_s" in figures:
        parts.append("launch->healthy {0} s, fleet poll interval then {1} s".format(
            figures["slowest_launch_to_healthy_s"], figures["fleet_poll_interval_when_healthy_s"]))
    if "within_one_poll_interval" in figures:
        parts.append("within one poll interval ({0} s) of the floor: {1}".format(
            fleet_wait.MAX_DELAY, figures["within_one_poll_interval"]))
    for key in ("within_the_pause_when_healthy", "within_the_pause_when_drained"):
        if key in figures:
            parts.append("within the poll pause at that moment: {0}".format(figures[key]))
    return "; ".join(parts)


# -- the restore part -------------------------------------------------------------------------


def playbooks_at(revision, directory):
    """playbooks/ as it is at a git revision, in a directory of its own (nothing in the checkout changes)."""
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", revision, "playbooks"],
                             capture_output=True, check=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True, timeout=120)
    return Path(directory) / "playbooks"


def restore_once(aws, site, playbook, latency_ms):
    """One timed rollback from green to the standby blue: seconds to the restoring write, wall, calls."""
    blue = site.arn_of(fleet_name(site, site.images[0]))
    if latency_ms:
        aws.control.add_fault(service="*", action="*", kind="delay", delay=latency_ms / 1000.0)
    aws.control.reset_counters()
    try:
        timed = timed_run("rollback", playbook, aws.subprocess_env(), site.extra_vars(rollback_window=600))
    finally:
        aws.control.clear_faults()
    write = full_write(site.listener_writes(), blue, timed.started)
    return {"restore_s": round(write["time"] - timed.started, 2), "wall_s": round(timed.wall, 2),
            "calls": sum(aws.control.counters().values())}


def measure_restore(aws, playbooks, latencies, repeat):
    """{latency: [runs]}: blue, then green deployed (virtual instances, healthy at once), then rollback;
    each repeat deploys green again (it re-enables the rolled back fleet) and rolls back again."""
    site = new_site(aws)
    aws.control.set_fidelity(target_healthy_after=0)
    env = aws.subprocess_env()
    site.deploy(env, image_id=site.images[0])
    runs = {}
    for latency in latencies:
        runs[latency] = []
        for _number in range(repeat):
            site.deploy(env, image_id=site.images[1], rollback_window=600)
            runs[latency].append(restore_once(aws, site, playbooks / "rollback.yml", latency))
    return runs


def restore_summary(label, runs):
    summary = {}
    for latency, measured in runs.items():
        restores = sorted(run["restore_s"] for run in measured)
        summary[latency] = {"best_s": restores[0], "median_s": statistics.median(restores), "runs": measured}
        print(restore_line(label, latency, restores, measured), flush=True)
    at_30 = summary.get(30)
    if at_30:
        met = at_30["best_s"] <= TARGET_RESTORE_SECONDS_AT_30MS
        print("{0}: target at 30 ms <= {1} s: {2}".format(label, TARGET_RESTORE_SECONDS_AT_30MS, met))
    return summary


def restore_line(label, latency, restores, measured):
    return "{0}: at {1} ms per call, start->restoring write {2:.2f} s best, {3:.2f} s median ({4}); wall {5}; {6} calls".format(
        label, latency, restores[0], statistics.median(restores), ", ".join("{0:.2f}".format(r) for r in restores),
        ", ".join(str(run["wall_s"]) for run in measured), measured[0]["calls"])


# -- main ---------------------------------------------------------------------------------------


def poll_times():
    """When the fleet module polls, seconds into its wait, until its pause reaches MAX_DELAY."""
    times, at, pause = [0.0], 0.0, fleet_wait.FIRST_DELAY
    while pause < fleet_wait.MAX_DELAY:
        at += pause
        times.append(round(at, 2))
        pause = min(pause * fleet_wait.BACKOFF, fleet_wait.MAX_DELAY)
    return times


def poll_statement():
    return ("fleet module poll interval: {2} s - it polls at once, then after {0} s, each pause {1}x the last, up to "
            "{2} s (plugins/module_utils/_fleet/wait.py): at {3} s, then every {2} s".format(
                fleet_wait.FIRST_DELAY, fleet_wait.BACKOFF, fleet_wait.MAX_DELAY,
                ", ".join(str(at) for at in poll_times())))


def parse_options():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second of the load (default 40)")
    parser.add_argument("--max-seconds", type=float, default=420.0, help="the load stops after this (default 420)")
    parser.add_argument("--latency-ms", default="0,30", help="latencies per call of the restore part (default 0,30)")
    parser.add_argument("--repeat", type=int, default=3, help="rollbacks per latency in the restore part (default 3)")
    parser.add_argument("--rollback-at", metavar="REV", help="also time rollback.yml as it is at this git revision")
    parser.add_argument("--skip-live", action="store_true", help="only the restore part (no stand-ins)")
    parser.add_argument("--skip-restore", action="store_true", help="only the live part")
    return parser.parse_args()


def main():
    options = parse_options()
    require_private_netns()
    figures = {"poll": poll_statement(), "settings": {
        "health_check_interval_s": HEALTH_INTERVAL, "healthy_threshold": HEALTHY_THRESHOLD,
        "deregistration_delay_s": DEREGISTRATION_DELAY, "fleet_size": FLEET_SIZE, "canary_steps": CANARY_STEPS,
        "canary_pause_s": CANARY_PAUSE, "rate": options.rate}}
    print(figures["poll"])
    with SandboxAWS(port=0) as aws:
        if not options.skip_live:
            print("load average before the live part: {0}".format(load_average()), flush=True)
            figures["live"] = LiveRun(aws, options.rate, options.max_seconds).run()
        if not options.skip_restore:
            figures["restore"] = restore_part(aws, options)
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2, sort_keys=True))
    return 0


def restore_part(aws, options):
    latencies = [int(value) for value in options.latency_ms.split(",")]
    repeat = max(options.repeat, 1)
    print("load average before the restore part: {0}".format(load_average()), flush=True)
    now = measure_restore(aws, REPO_ROOT / "playbooks", latencies, repeat)
    found = {"now": restore_summary("rollback.yml now", now)}
    if options.rollback_at:
        with tempfile.TemporaryDirectory() as work:
            before = playbooks_at(options.rollback_at, work)
            found[options.rollback_at] = restore_summary("rollback.yml at " + options.rollback_at,
                                                         measure_restore(aws, before, latencies, repeat))
    return found


if __name__ == "__main__":
    sys.exit(main())
