"""What a running instance costs: memory, boot time and disk of live instances (issue 12's memory target).

Run inside the private network namespace, after `make setup`:
    scripts/in-netns .venv/bin/python benchmarks/instance_memory.py [--instances 4] [--image auto|golden|test-app]
        [--settle 5] [--cold] [--json FILE]

Launches N instances at once (one RunInstances) of an AMI with content: the cached golden image
($CATTLE_CACHE/golden, whose app starts at boot) with --image golden, or an AMI made from a
fresh stand-in (CreateImage, as tests/fixtures/live.py's content_ami) launched with that file's
test app as user data with --image test-app; auto takes the golden image when one is cached.
Waits until every instance's app answers /health on :8080, lets them settle, then reads:

- memory: each stand-in's cgroup (memory_current_bytes of the control API's live_instances:
  processes, page cache, tmpfs and kernel memory charged to it), and what its root takes in
  memory without being charged to it (a tmpfs root extracted by the sandbox's process; 0 for a
  root on disk). The median and maximum of both and of their sum;
- boot: per instance, RunInstances to `running` (the stand-in's boot_seconds and its phases)
  and to the app answering;
- disk: the shared extracted copy below the roots (once; and how much of it is in the page
  cache) and each root's own upper directory.

--cold removes the AMI's extracted copy first, so one boot extracts it and the others wait for
it; a test-app AMI is new, so its boots are always cold.

The figures go to benchmarks/results/instance_memory-<time>.json (or --json FILE).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "sandbox"), str(REPO_ROOT / "tests")]

from cattle_sandbox.aws import SandboxAWS  # noqa: E402
from cattle_sandbox.image_store import mount_source  # noqa: E402
from cattle_sandbox.netns import require_private_netns  # noqa: E402
from cattle_sandbox.standin import StandIn, find_prepared, paths, shared_roots  # noqa: E402
from cattle_sandbox.standin.attach import find_work  # noqa: E402
from fixtures.aws import register_image  # noqa: E402
from fixtures.live import TEST_APP, capture_content_ami  # noqa: E402

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
APP_PORT = 8080
HEALTHY_TIMEOUT = 180
MIB = 2**20
FINCORE_BATCH = 500


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--image", choices=("auto", "golden", "test-app"), default="auto")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait after the last app answers")
    parser.add_argument("--cold", action="store_true",
                        help="remove the AMI's extracted copy first (if unused): the first boot extracts it")
    parser.add_argument("--json", help="write the figures here "
                        "(default: benchmarks/results/instance_memory-<time>.json)")
    args = parser.parse_args()
    require_private_netns()
    golden = cached_golden_content()
    use_golden = args.image == "golden" or (args.image == "auto" and golden is not None)
    if use_golden and golden is None:
        parser.error("no golden image is cached in $CATTLE_CACHE/golden (run the e2e layer or the demo first)")
    with SandboxAWS(port=0) as aws:
        ec2 = aws.client("ec2")
        image_id = golden_ami(aws, ec2, golden) if use_golden else test_app_ami(aws, ec2)
        if args.cold:
            evict_copy(aws.control.image_content(image_id)["path"])
        figures = measure(aws, ec2, image_id, args.instances, None if use_golden else TEST_APP, args.settle)
    figures["image"] = "golden" if use_golden else "test-app"
    figures["cold"] = args.cold or not use_golden  # a test-app AMI is new: its copy is extracted
    print_figures(figures)
    target = Path(args.json) if args.json else results_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"figures: {target}")
    return 0


# -- the AMI ----------------------------------------------------------------------------------


def cached_golden_content():
    """The newest golden build's content tarball, whatever its key (the sandbox's code is part of it)."""
    found = sorted((paths.cache_root() / "golden").glob("*/content.tar.zst"), key=lambda path: path.stat().st_mtime)
    return found[-1] if found else None


def golden_ami(aws, ec2, content):
    image_id = register_image(ec2, "benchmark-golden")
    aws.control.import_image_content(image_id, str(content))
    return image_id


def test_app_ami(aws, ec2):
    """What tests/fixtures/live.py's content_ami makes: CreateImage of a stand-in's instance."""
    with StandIn(find_prepared()) as build:
        return capture_content_ami(aws.control, ec2, build)


def evict_copy(content):
    """Removes the shared copy of content's files, unless a stand-in uses it."""
    entry = shared_roots.store_root() / shared_roots.tarball_digest(content)
    with shared_roots.store_lock():
        aside = None if not entry.exists() or shared_roots.users(entry) else shared_roots.set_aside(entry)[1]
    if aside:
        shared_roots.discard(aside)


# -- booting and measuring ---------------------------------------------------------------------


def measure(aws, ec2, image_id, count, user_data, settle):
    started = time.monotonic()
    options = {"UserData": user_data} if user_data else {}
    reservation = ec2.run_instances(ImageId=image_id, MinCount=count, MaxCount=count, **options)
    instance_ids = [instance["InstanceId"] for instance in reservation["Instances"]]
    live = aws.control.wait_for_live_instances(instance_ids, timeout=HEALTHY_TIMEOUT)
    failed = [item for item in live if item["state"] != "running"]
    if failed:
        raise SystemExit(f"instances did not boot: {failed}")
    healthy = {item["instance_id"]: wait_until_healthy(item["address"], started) for item in live}
    time.sleep(settle)
    described = {item["instance_id"]: item for item in aws.control.live_instances()}
    instances = [instance_figures(described[instance_id], healthy[instance_id]) for instance_id in instance_ids]
    return summary(instances)


def wait_until_healthy(address, started):
    """Seconds from RunInstances until the app at address answers 200 on /health."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with opener.open(f"http://{address}:{APP_PORT}/health", timeout=2) as response:
                if response.status == 200:
                    return round(time.monotonic() - started, 2)
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the app at {address}:{APP_PORT} did not answer within {HEALTHY_TIMEOUT} s")


def instance_figures(item, seconds_to_healthy):
    work = find_work(item["name"])
    root = work / "root"
    kind, _source = mount_source(str(root))
    cgroup_bytes = item["memory_current_bytes"]
    root_memory = used_bytes(root) if kind == "tmpfs" else 0
    return {
        "instance_id": item["instance_id"],
        "root": kind,
        "memory_cgroup_bytes": cgroup_bytes,
        "memory_root_uncharged_bytes": root_memory,
        "memory_total_bytes": (cgroup_bytes or 0) + root_memory,
        "boot_seconds": item["boot_seconds"],
        "boot_phases": item["boot_phases"],
        "seconds_to_healthy": seconds_to_healthy,
        "upper_disk_bytes": disk_bytes(work / "upper") if kind == "overlay" else 0,
        "lower": lower_directory(root) if kind == "overlay" else None,
    }


def used_bytes(mount_point):
    stats = os.statvfs(mount_point)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def disk_bytes(directory):
    """Bytes of disk a tree takes (du: allocated blocks, each hard-linked file once)."""
    result = subprocess.run(["du", "-s", "--block-size=1", str(directory)], capture_output=True, text=True,
                            check=True, timeout=300)
    return int(result.stdout.split()[0])


def lower_directory(root):
    """The lowerdir of the overlay mounted at root, from our mount table."""
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            fields = line.split()
            if fields[4] == str(root):
                options = fields[fields.index("-") + 3].split(",")
                return next(option.split("=", 1)[1] for option in options if option.startswith("lowerdir="))
    return None


def summary(instances):
    lowers = sorted({item["lower"] for item in instances if item["lower"]})
    return {
        "instances": instances,
        "memory_cgroup_mib": spread(item["memory_cgroup_bytes"] or 0 for item in instances),
        "memory_root_uncharged_mib": spread(item["memory_root_uncharged_bytes"] for item in instances),
        "memory_total_mib": spread(item["memory_total_bytes"] for item in instances),
        "boot_seconds": spread((item["boot_seconds"] for item in instances), scale=1),
        "extract_seconds": spread((item["boot_phases"].get("extract", 0) for item in instances), scale=1),
        "seconds_to_healthy": spread((item["seconds_to_healthy"] for item in instances), scale=1),
        "upper_disk_mib": spread(item["upper_disk_bytes"] for item in instances),
        "shared_lower_copies": len(lowers),
        "shared_lower_disk_mib": round(sum(disk_bytes(lower) for lower in lowers) / MIB, 1),
        "shared_lower_page_cache_mib": round(sum(resident_bytes(lower) for lower in lowers) / MIB, 1),
    }


def resident_bytes(directory):
    """Bytes of the tree's regular files in the page cache now (fincore): shared by all its
    instances, charged to whoever read them first, reclaimable unlike a tmpfs."""
    regular = [os.path.join(parent, name) for parent, _dirs, names in os.walk(directory) for name in names
               if os.path.isfile(os.path.join(parent, name)) and not os.path.islink(os.path.join(parent, name))]
    total = 0
    for start in range(0, len(regular), FINCORE_BATCH):
        result = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES",
                                 *regular[start:start + FINCORE_BATCH]], capture_output=True, text=True,
                                check=False, timeout=300)
        total += sum(int(line) for line in result.stdout.split())
    return total


def spread(values, scale=MIB):
    values = [value / scale for value in values]
    return {"median": round(statistics.median(values), 2), "max": round(max(values), 2),
            "min": round(min(values), 2)}


def print_figures(figures):
    print(f"{len(figures['instances'])} instances of the {figures['image']} AMI, roots: "
          f"{', '.join(sorted({item['root'] for item in figures['instances']}))}"
          f"{', the first boot extracts the copy' if figures['cold'] else ''}")
    for label, key, unit in (
        ("memory, its cgroup", "memory_cgroup_mib", "MiB"),
        ("memory, its root outside its cgroup", "memory_root_uncharged_mib", "MiB"),
        ("memory, both", "memory_total_mib", "MiB"),
        ("RunInstances to running", "boot_seconds", "s"),
        ("  of which extract", "extract_seconds", "s"),
        ("RunInstances to the app answering", "seconds_to_healthy", "s"),
        ("disk, its own upper directory", "upper_disk_mib", "MiB"),
    ):
        values = figures[key]
        print(f"  {label}: median {values['median']} {unit}, max {values['max']} {unit} (min {values['min']})")
    print(f"  shared extracted copies: {figures['shared_lower_copies']}, {figures['shared_lower_disk_mib']} MiB "
          f"on disk, {figures['shared_lower_page_cache_mib']} MiB of it in the page cache")


def results_path():
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return RESULTS_DIR / f"instance_memory-{stamp}.json"


if __name__ == "__main__":
    sys.exit(main())
