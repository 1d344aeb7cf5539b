"""Counts the AWS API calls of one cattle.immutable.image_prune run over 20 images.

Run inside the private network namespace:
    scripts/in-netns .venv/bin/python benchmarks/prune_calls.py
Prints the total and the calls per action. 20 images of app `web`, keep 5, keep_days 0:
15 are deregistered and their snapshots deleted.
"""

import json
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "sandbox"), str(REPO_ROOT / "tests")]

from cattle_sandbox.aws import SandboxAWS  # noqa: E402
from cattle_sandbox.netns import require_private_netns  # noqa: E402
from fixtures.ansible import run_playbook  # noqa: E402
from fixtures.aws import register_image  # noqa: E402

IMAGES = 20
PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: prune
      cattle.immutable.image_prune: {app: web, keep: 5, keep_days: 0}
"""


def main():
    require_private_netns()
    with SandboxAWS(port=0) as aws, tempfile.TemporaryDirectory() as work:
        ec2 = aws.client("ec2")
        for number in range(IMAGES):
            register_image(ec2, "web-{0:016x}".format(number + 1), {"cattle:app": "web"})
        playbook = Path(work) / "prune.yml"
        playbook.write_text(PLAY)
        aws.control.reset_counters()
        run = run_playbook(playbook, aws.subprocess_env())
        if run.failed:
            print(run.explain(), file=sys.stderr)
            return 1
        counters = aws.control.counters()
        print("API calls for one prune of {0} images: {1}".format(IMAGES, sum(counters.values())))
        print(json.dumps(counters, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
