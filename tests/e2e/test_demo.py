"""The README's `make demo` step, run as a user would (after setup)."""

import re
import subprocess

import pytest

from fixtures.ansible import REPO_ROOT

pytestmark = pytest.mark.sandbox


def test_demo_creates_an_ami_finds_it_and_stops_the_sandbox():
    completed = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    created = re.search(r"Created (ami-[0-9a-f]+) \(web-[0-9a-f]{16}\)", output)
    assert created, output[-4000:]
    assert f"newest image of app web: {created.group(1)}, state available" in output
    assert "demo: sandbox stopped" in output
