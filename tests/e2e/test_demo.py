"""The README's `make demo` step, run as a user would (after setup): the whole flow in the
sandbox, playbooks/pipeline.yml for web 1.0.0 (build, promote and deploy dev, staging,
prod, cleanup), the same build again, then the pipeline for 2.0.0 (blue-green in every
stage, cleanup retires the 1.0.0 fleets) while a load generator hits prod's load balancer."""

import re
import subprocess

import pytest

from fixtures.ansible import REPO_ROOT

pytestmark = pytest.mark.sandbox

STAGES = ("dev", "staging", "prod")


def test_demo_runs_the_pipeline_twice_blue_green_in_every_stage_and_leaves_nothing_running():
    completed = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500, check=False
    )
    output = completed.stdout + completed.stderr
    tail = output[-4000:]
    assert completed.returncode == 0, tail
    # The second build of 1.0.0 reuses the AMI; 2.0.0 is a new build that boots healthy.
    assert re.search(r"web: ami-[0-9a-f]+ reused \(same inputs, Packer not run\)", output), tail
    assert "GET :8080/health -> ok app 2.0.0; SSH refused" in output, tail
    # In every stage the second deploy is blue-green: a new green live, the first fleet
    # disabled, then retired by the pipeline's cleanup step.
    for stage in STAGES:
        green = re.findall(rf"deploy web/{stage}: deployed; .*?green (web-{stage}-[0-9a-f]{{12}})", output)
        assert len(green) == 2 and green[0] != green[1], (stage, tail)
        assert re.search(rf"blue {green[0]} disabled until", output), (stage, tail)
        assert re.search(rf"cleanup web: retired [^;]*\b{green[0]}\b", output), (stage, tail)
    assert len(re.findall(r"^\s*pipeline web: done in ", output, re.MULTILINE)) == 2, tail
    assert "pipeline web: failed" not in output, tail
    assert "nothing left running" in output, tail
    # While 2.0.0 went out, prod's load balancer carried every request: none failed, and the
    # answers moved from the 1.0.0 fleet to the 2.0.0 one.
    [(requests, failed)] = re.findall(r"load on web-prod-alb: (\d+) requests, (\d+) failed", output)
    assert int(requests) >= 2000 and int(failed) == 0, tail
    timeline = output[output.index("load on web-prod-alb:"):]
    assert timeline.index("app 1.0.0 x") < timeline.rindex("app 2.0.0 x"), tail
