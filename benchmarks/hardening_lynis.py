"""Lynis hardening index of the booted Debian 12 stand-in with cattle.immutable.hardening alone.

Run inside the private network namespace, after `make setup` and `make collection-link`:
    scripts/in-netns .venv/bin/python benchmarks/hardening_lynis.py [--lynis-runs N] [--bare]
Boots a stand-in, applies the role twice the way playbooks/image.yml does (time and
changed count of each run), installs Lynis from the local repository, runs
`lynis audit system` (default profile, nothing skipped) N times and prints the hardening
index, warnings, suggestion count and the tests that lost points. --bare skips the role
(the baseline). The whole-image figure (every role) is benchmarks/image_provisioning.py's.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "sandbox")]

from cattle_sandbox.netns import require_private_netns  # noqa: E402
from cattle_sandbox.standin import StandIn, find_prepared  # noqa: E402

PLAYBOOK = """\
- name: Harden as playbooks/image.yml does
  hosts: all
  become: true
  gather_facts: true
  gather_subset: ["!all", "!min", distribution, pkg_mgr, service_mgr]
  roles:
    - role: cattle.immutable.hardening
      vars:
        hardening_image_build: true
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lynis-runs", type=int, default=1)
    parser.add_argument("--bare", action="store_true", help="measure the stand-in without the role")
    args = parser.parse_args()
    require_private_netns()
    with StandIn(find_prepared()) as standin, tempfile.TemporaryDirectory() as workdir:
        if not args.bare:
            playbook = Path(workdir) / "hardening.yml"
            playbook.write_text(PLAYBOOK)
            for number in (1, 2):
                seconds, recap = apply_role(standin, playbook)
                print(f"role run {number}: {seconds:.1f} s, {recap}", flush=True)
        install_lynis(standin)
        for number in range(args.lynis_runs):
            print(f"lynis run {number + 1}: {lynis_summary(standin)}", flush=True)
    return 0


def apply_role(standin, playbook):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".cache" / "collections"),
               ANSIBLE_PIPELINING="1", ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    started = time.monotonic()
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(standin.inventory_path), str(playbook)]
    completed = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        sys.exit(f"ansible-playbook failed ({completed.returncode}):\n"
                 f"{completed.stdout[-4000:]}\n{completed.stderr[-2000:]}")
    stats = next(iter(json.loads(completed.stdout)["stats"].values()))
    return seconds, f"ok={stats['ok']} changed={stats['changed']} failed={stats['failures']}"


def install_lynis(standin):
    standin.ssh(["sudo", "apt-get", "update", "-qq"], timeout=300)
    standin.ssh(["sudo", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-qq", "-y", "lynis"],
                timeout=300)


def lynis_summary(standin):
    started = time.monotonic()
    standin.ssh(["sudo", "lynis", "audit", "system", "--quick", "--no-colors"], timeout=900)
    seconds = time.monotonic() - started
    report = standin.ssh(["sudo", "cat", "/var/log/lynis-report.dat"]).stdout.splitlines()
    log = standin.ssh(["sudo", "cat", "/var/log/lynis.log"]).stdout
    index = next(line.split("=", 1)[1] for line in report if line.startswith("hardening_index="))
    warnings = [line.split("=", 1)[1] for line in report if line.startswith("warning[]=")]
    suggestions = [line for line in report if line.startswith("suggestion[]=")]
    lost = ", ".join(f"{test} -{points}" for test, points in lost_points(log))
    return (f"hardening index {index} in {seconds:.0f} s; {len(warnings)} warning(s) {warnings}; "
            f"{len(suggestions)} suggestion(s); points lost: {lost}")


def lost_points(log):
    """(test id, points lost) from Lynis's log, biggest loss first."""
    got, most = collections.Counter(), collections.Counter()
    test = None
    for line in log.splitlines():
        started = re.search(r"Performing test ID (\S+)", line)
        if started:
            test = started.group(1)
        partial = re.search(r"partial number of hardening points \((\d+) of (\d+)\)", line)
        if partial:
            got[test] += int(partial.group(1))
            most[test] += int(partial.group(2))
        full = re.search(r"maximum number of hardening points for this item \((\d+)\)", line)
        if full:
            got[test] += int(full.group(1))
            most[test] += int(full.group(1))
    losses = [(test, most[test] - got[test]) for test in most if most[test] > got[test]]
    return sorted(losses, key=lambda loss: -loss[1])


if __name__ == "__main__":
    sys.exit(main())
