"""The README's `make demo` step, run as a user would (after setup): the whole flow in the
sandbox, build -> promote -> deploy -> build again -> blue-green deploy -> terminate."""

import re
import subprocess

import pytest

from fixtures.ansible import REPO_ROOT

pytestmark = pytest.mark.sandbox


def test_demo_builds_promotes_deploys_blue_green_retires_blue_and_leaves_nothing_running():
    completed = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200, check=False
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    # The second build of 1.0.0 reuses the AMI; 2.0.0 is a new build that boots healthy.
    assert re.search(r"web: ami-[0-9a-f]+ reused \(same inputs, Packer not run\)", output), output[-4000:]
    assert "GET :8080/health -> ok app 2.0.0; SSH refused" in output, output[-4000:]
    # The second deploy is blue-green: green live, blue disabled, then retired by terminate.
    green = re.findall(r"deploy web/prod: deployed; .*?green (web-prod-[0-9a-f]{12})", output)
    assert len(green) == 2 and green[0] != green[1], output[-4000:]
    assert re.search(rf"blue {green[0]} disabled until", output), output[-4000:]
    assert re.search(rf"terminate web/prod: retired {green[0]}\b", output), output[-4000:]
    assert "nothing left running" in output, output[-4000:]
