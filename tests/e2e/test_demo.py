"""The README's `make demo` step, run as a user would (after setup): the whole flow in the
sandbox, playbooks/pipeline.yml for web 1.0.0 (build, test, promote and deploy dev, staging,
prod, cleanup), the same build again, then under load on prod's load balancer: the pipeline
for 2.0.0 (tested, a canary in every stage, 1.0.0 kept as standby), a rollback of prod, the
deploy again and the retirement of 1.0.0, and a broken 2.1.0 refused by its test and by the
health gate."""

import re
import subprocess

import pytest

from fixtures.ansible import REPO_ROOT

# The longest test of its layers (about 8 minutes): started first.
pytestmark = [pytest.mark.sandbox, pytest.mark.first]

STAGES = ("dev", "staging", "prod")


def test_demo_takes_releases_through_test_canary_rollback_and_refusal_with_no_failed_request():
    completed = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800, check=False
    )
    output = completed.stdout + completed.stderr
    tail = output[-5000:]
    assert completed.returncode == 0, tail
    # The second build of 1.0.0 reuses the AMI; 2.0.0 is a new build that boots healthy.
    assert re.search(r"web: ami-[0-9a-f]+ reused \(same inputs, Packer not run\)", output), tail
    assert "GET :8080/health -> ok app 2.0.0; SSH refused" in output, tail
    # Each new image passed its test from outside before any stage got it.
    # (the line shows once when the step runs and again in the pipeline's summary)
    tested = set(re.findall(r"web (ami-[0-9a-f]+): passed 4 HTTP checks and 0 commands", output))
    assert len(tested) == 2, tail
    # In every stage the second deploy is blue-green: a new green live, the first fleet disabled.
    for stage in STAGES:
        green = re.findall(rf"deploy web/{stage}: deployed; .*?green (web-{stage}-[0-9a-f]{{12}})", output)
        assert len(green) >= 2 and green[0] != green[1], (stage, tail)
        assert re.search(rf"blue {green[0]} disabled until", output), (stage, tail)
    # Prod went back to 1.0.0, forward to 2.0.0, and 1.0.0 was retired.
    first_prod = re.findall(r"deploy web/prod: deployed; .*?green (web-prod-[0-9a-f]{12})", output)[0]
    assert f"prod: all traffic to {first_prod}" in output, tail
    assert re.search(rf"terminate web/prod: retired {first_prod};", output), tail
    assert len(re.findall(r"^\s*pipeline web: done in ", output, re.MULTILINE)) == 2, tail
    assert "pipeline web: failed" not in output, tail
    assert "nothing left running" in output, tail
    # The broken version never got traffic: refused twice, no client request reached it.
    assert "refused by its test: its target is unhealthy (Target." in output, tail
    assert re.search(r"broken 2\.1\.0 \(ami-[0-9a-f]+\): refused by its test .* 0 client requests reached it", output), tail
    # Prod's load balancer carried every request through all of it; who answered moved
    # 1.0.0 -> 2.0.0 (canary) -> 1.0.0 (rollback) -> 2.0.0.
    [(requests, failed)] = re.findall(r"load on web-prod-alb: (\d+) requests, (\d+) failed", output)
    assert int(requests) >= 2000 and int(failed) == 0, tail
    timeline = output[output.index("load on web-prod-alb:"):]
    assert re.search(r"app 1\.0\.0 x.*app 2\.0\.0 x.*app 1\.0\.0 x.*app 2\.0\.0 x", timeline, re.DOTALL), tail
    assert re.search(r"memory of the \d+ running at the end: median \d+ MiB, max \d+ MiB", output), tail
