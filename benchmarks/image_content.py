"""What keeping an AMI's content costs: CreateImage of a stand-in, and booting a stand-in from it.

Run inside the private network namespace, after `make setup`:
    scripts/in-netns .venv/bin/python benchmarks/image_content.py [--rounds N] [--extra-mb M]
Prints, per round, the stand-in's root size, the CreateImage call (which keeps the content
before it answers), the content's size, and the boot of a stand-in from the AMI (extract,
personalize, boot to SSH-ready). --extra-mb writes M MB of random data into the stand-in
first, the way a provisioned image is larger than the base.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "sandbox"), str(REPO_ROOT / "tests")]

from cattle_sandbox.aws import SandboxAWS  # noqa: E402
from cattle_sandbox.netns import require_private_netns  # noqa: E402
from cattle_sandbox.standin import StandIn, find_prepared  # noqa: E402
from fixtures.aws import register_image  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--extra-mb", type=int, default=0)
    args = parser.parse_args()
    require_private_netns()
    prepared = find_prepared()
    with SandboxAWS(port=0) as aws:
        ec2 = aws.client("ec2")
        source = register_image(ec2, "benchmark-source")
        for number in range(args.rounds):
            print(one_round(aws, ec2, prepared, source, number, args.extra_mb), flush=True)
    return 0


def one_round(aws, ec2, prepared, source, number, extra_mb):
    with StandIn(prepared) as build:
        if extra_mb:
            build.run(["dd", "if=/dev/urandom", "of=/var/lib/benchmark-data", "bs=1M", f"count={extra_mb}"])
        root_mb = int(subprocess.run(["du", "-sm", build.files.root], capture_output=True, text=True,
                                     check=True).stdout.split()[0])
        build.bind_to(aws.control)
        instance_id = ec2.run_instances(ImageId=source, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        started = time.monotonic()
        image_id = ec2.create_image(InstanceId=instance_id, Name=f"benchmark-{number}")["ImageId"]
        create_seconds = time.monotonic() - started
    content = aws.control.image_content(image_id)
    with StandIn.from_image(prepared, image_id, control=aws.control) as booted:
        phases = booted.boot_phases
    return (f"round {number + 1}: root {root_mb} MB; CreateImage {create_seconds:.2f} s "
            f"(tar+zstd {content['capture_seconds']:.2f} s), content {content['size_bytes'] / 10**6:.0f} MB; "
            f"boot from the AMI {booted.boot_seconds:.1f} s (extract {phases['extract']:.1f} s, "
            f"boot {phases['boot']:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
