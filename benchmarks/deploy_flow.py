"""API calls and wall time of one blue-green deploy and terminate of a 3-instance fleet.

Run inside the private network namespace:
    scripts/in-netns .venv/bin/python benchmarks/deploy_flow.py [--latency-ms 0,30] [--repeat 3]
        [--flow auto|playbooks|sequence] [--json FILE]

Issue 5's performance target, on the sandbox with target health delay and deregistration
delay 0 (so only our own work is timed): deploy a new AMI, then terminate the old fleet
(rollback window 0), in <= 40 API calls and <= 12 s wall at 30 ms per call, gating on
every desired instance and taking the deploy lock in both. (33 until the lock fenced each
listener write of deploy and each write of terminate with a renewal, issue 15: 7 UpdateItem;
30 until a new fleet's subnets, security groups and instance type offerings were read before
its first write: 3 reads that turn a half-created fleet into a refusal that changes nothing.)

The flow is playbooks/deploy.yml then playbooks/terminate.yml (the default, --flow auto or
playbooks); --flow sequence runs the bare module sequence in benchmarks/deploy_flow_deploy.yml
and deploy_flow_terminate.yml instead (the calls the issue prescribes, in its order: the
least the modules can do, to compare the playbooks' figures with). For each latency it starts from the same
state: an app (VPC, two subnets, security group, ALB, HTTP listener), a blue fleet of 3
instances serving all traffic (made by cattle.immutable.fleet and traffic, not counted),
the lock table, and a new AMI. Counters are reset right before the measured runs; the
latency is a sandbox `delay` fault on every service and action, added after the setup.
Wall time is that of the ansible-playbook runs (ansible's own start-up and per-task
overhead included), so it depends on the machine's load: --repeat reports the best and
the median, and the load average is printed first.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "sandbox"), str(REPO_ROOT / "tests")]

from cattle_sandbox.aws import SandboxAWS  # noqa: E402
from cattle_sandbox.netns import require_private_netns  # noqa: E402
from fixtures.ansible import run_playbook  # noqa: E402
from fixtures.aws import register_image  # noqa: E402
from task_times import timed_tasks  # noqa: E402

APP = "web"
STAGE = "prod"
LOCK_TABLE = "cattle-deploy-locks"
CAPACITY = 3
TARGET_CALLS = 40
TARGET_SECONDS_AT_30MS = 12.0
PLAYBOOKS = {"deploy": REPO_ROOT / "playbooks" / "deploy.yml", "terminate": REPO_ROOT / "playbooks" / "terminate.yml"}
SEQUENCE = {
    "deploy": REPO_ROOT / "benchmarks" / "deploy_flow_deploy.yml",
    "terminate": REPO_ROOT / "benchmarks" / "deploy_flow_terminate.yml",
}

SETUP = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: blue
      cattle.immutable.fleet:
        app: {app}
        definition: "{{{{ bench_apps['{app}'] }}}}"
        stage: {stage}
        image_id: "{{{{ bench_blue_image }}}}"
        desired_capacity: {capacity}
      register: blue
    - name: live
      cattle.immutable.traffic:
        listener_arn: "{{{{ blue.listener.listener_arn }}}}"
        target_groups: [{{target_group: "{{{{ blue.target_group.arn }}}}", weight: 1}}]
""".format(app=APP, stage=STAGE, capacity=CAPACITY)


def build_app(aws):
    """Network, security group, ALB and listener (to a placeholder group), two AMIs, the lock table."""
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.40.{0}.0/24".format(index), AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for index, zone in enumerate(("us-east-1a", "us-east-1b"), start=1)
    ]
    security_group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc_id)["GroupId"]
    balancer = elbv2.create_load_balancer(Name="web-alb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    placeholder = elbv2.create_target_group(Name="web-placeholder", Protocol="HTTP", Port=80, VpcId=vpc_id)[
        "TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": placeholder}])
    aws.client("dynamodb").create_table(
        TableName=LOCK_TABLE,
        KeySchema=[{"AttributeName": "app", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "app", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    definition = {
        "region": "us-east-1",
        "vpc_id": vpc_id,
        "subnets": subnets,
        "security_groups": [security_group],
        "instance_type": "t3.micro",
        "capacity": {"min": 1, "max": 6, "desired": CAPACITY},
        "health_check": {"path": "/healthz"},
        "load_balancer": {"name": "web-alb", "listener_port": 80},
        "deregistration_delay": 0,
        "stages": [STAGE],
    }
    return {
        "definition": definition,
        "blue_image": register_image(ec2, "web-0000000000000001", {"cattle:app": APP}),
        "green_image": register_image(ec2, "web-0000000000000002", {"cattle:app": APP}),
    }


def children_cpu_seconds():
    """User + system CPU of the ended child processes: ansible-playbook and the workers it reaped
    (the sandbox runs in this process and is not counted)."""
    times = os.times()
    return times.children_user + times.children_system


def run(path, env, extra_vars):
    """The playbook's result, its wall seconds and the controller's CPU-seconds."""
    started, cpu_before = time.monotonic(), children_cpu_seconds()
    result = run_playbook(path, env, extra_vars=extra_vars)
    elapsed, cpu = time.monotonic() - started, children_cpu_seconds() - cpu_before
    if result.failed:
        raise SystemExit("{0} failed:\n{1}".format(path.name, result.explain()))
    return result, elapsed, cpu


def set_up(aws, work):
    app = build_app(aws)
    setup = Path(work) / "setup.yml"
    setup.write_text(SETUP)
    apps = {APP: app["definition"]}
    result, _elapsed, _cpu = run(setup, aws.subprocess_env(), {"bench_apps": apps, "bench_blue_image": app["blue_image"]})
    blue = result.result("blue")
    return apps, app["green_image"], blue


def flow_vars(apps, green_image, blue, phase):
    """The extra variables of one phase: what the sequence files and the real playbooks read."""
    run_id = "bench-{0}".format(phase)
    return {
        # benchmarks/deploy_flow_*.yml
        "bench_app": APP,
        "bench_stage": STAGE,
        "bench_apps": apps,
        "bench_image_id": green_image,
        "bench_run_id": run_id,
        "bench_blue_fleet_id": blue["fleet_id"],
        "bench_blue_target_group": blue["target_group"]["arn"],
        "bench_lock": {"table": LOCK_TABLE, "run_id": run_id},
        # playbooks/deploy.yml and terminate.yml (see the README)
        "cattle_apps": apps,
        "app": APP,
        "stage": STAGE,
        "image_id": green_image,
        "rollback_window": 0,
    }


def measure(aws, latency_ms, flow):
    aws.reset()
    with tempfile.TemporaryDirectory() as work:
        apps, green_image, blue = set_up(aws, work)
        if latency_ms:
            aws.control.add_fault(service="*", action="*", kind="delay", delay=latency_ms / 1000.0)
        aws.control.reset_counters()
        env = aws.subprocess_env()
        timings, calls, tasks, cpu = {}, {}, {}, {}
        for phase in ("deploy", "terminate"):
            before = aws.control.counters()
            result, timings[phase], cpu[phase] = run(flow[phase], env, flow_vars(apps, green_image, blue, phase))
            calls[phase] = difference(aws.control.counters(), before)
            tasks[phase] = timed_tasks(result)
        aws.control.clear_faults()
    return timings, calls, tasks, cpu


def difference(after, before):
    return dict((key, after[key] - before.get(key, 0)) for key in after if after[key] - before.get(key, 0))


def report(latency_ms, runs):
    """Calls of the first run (every run makes the same calls), wall times and controller CPU-seconds
    of all runs: best and median."""
    timings, calls, tasks, cpu = runs[0]
    totals = sorted(sum(run[0].values()) for run in runs)
    cpu_totals = sorted(sum(run[3].values()) for run in runs)
    total_calls = sum(sum(phase.values()) for phase in calls.values())
    total_time = totals[0]
    print("== latency {0} ms per call ==".format(latency_ms))
    for phase in ("deploy", "terminate"):
        print("{0}: {1} calls, {2:.2f} s, {3:.2f} CPU-s".format(
            phase, sum(calls[phase].values()), timings[phase], cpu[phase]))
        print("  tasks: {0}".format(len(tasks[phase])))
        for action, count in sorted(calls[phase].items()):
            print("    {0:<55} {1}".format(action, count))
        print("  task time: " + ", ".join("{0} {1:.2f} s".format(name, seconds) for name, seconds in tasks[phase]))
    if any(sum(run[1][phase].values()) != sum(calls[phase].values()) for run in runs for phase in calls):
        print("  note: the runs made different numbers of calls: " + ", ".join(
            str(sum(sum(phase.values()) for phase in run[1].values())) for run in runs))
    print("total: {0} calls (target <= {1}), wall {2:.2f} s best, {3:.2f} s median of {4} run(s): {5}".format(
        total_calls, TARGET_CALLS, total_time, totals[len(totals) // 2], len(totals),
        ", ".join("{0:.2f}".format(total) for total in totals)))
    print("controller CPU: {0:.2f} s best, {1:.2f} s median".format(cpu_totals[0], cpu_totals[len(cpu_totals) // 2]))
    return {"latency_ms": latency_ms, "calls": calls, "seconds": timings, "total_calls": total_calls,
            "total_seconds": round(total_time, 2), "median_seconds": round(totals[len(totals) // 2], 2),
            "all_seconds": [round(total, 2) for total in totals], "cpu_seconds": {
                phase: round(value, 2) for phase, value in cpu.items()},
            "total_cpu_seconds": round(cpu_totals[0], 2), "median_cpu_seconds": round(cpu_totals[len(cpu_totals) // 2], 2),
            "tasks": {phase: len(phase_tasks) for phase, phase_tasks in tasks.items()}}


def choose_flow(which):
    real = all(path.exists() for path in PLAYBOOKS.values())
    if which == "playbooks" or (which == "auto" and real):
        return "playbooks", PLAYBOOKS
    return "sequence", SEQUENCE


def shown(path):
    return path.relative_to(REPO_ROOT) if REPO_ROOT in path.parents else path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", default="0,30", help="comma-separated latencies per call (default 0,30)")
    parser.add_argument("--flow", choices=["auto", "playbooks", "sequence"], default="auto",
                        help="the real playbooks (auto: when both exist) or the module sequence of benchmarks/")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per latency; wall time is reported as the best and the median (default 1)")
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()
    require_private_netns()
    name, flow = choose_flow(options.flow)
    print("load average before: {0}".format(" ".join("{0:.2f}".format(load) for load in os.getloadavg())))
    print("flow: {0} ({1}, {2})".format(name, shown(flow["deploy"]), shown(flow["terminate"])))
    figures = []
    with SandboxAWS(port=0, target_healthy_after=0.0) as aws:
        for latency in [int(value) for value in options.latency_ms.split(",")]:
            runs = [measure(aws, latency, flow) for _run in range(max(options.repeat, 1))]
            figures.append(report(latency, runs))
    at_30 = [figure for figure in figures if figure["latency_ms"] == 30]
    if at_30:
        print("target at 30 ms: {0} calls <= {1}: {2}; {3:.2f} s <= {4}: {5}".format(
            at_30[0]["total_calls"], TARGET_CALLS, at_30[0]["total_calls"] <= TARGET_CALLS,
            at_30[0]["total_seconds"], TARGET_SECONDS_AT_30MS, at_30[0]["total_seconds"] <= TARGET_SECONDS_AT_30MS))
    if options.json:
        Path(options.json).write_text(json.dumps({"flow": name, "figures": figures}, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
