"""`python -m cattle_sandbox.standin exec NAME -- CMD`: a command inside a stand-in another process owns."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.standin

SANDBOX_DIR = Path(__file__).resolve().parents[2] / "sandbox"


def standin_exec(name, *argv):
    env = dict(os.environ, PYTHONPATH=str(SANDBOX_DIR))
    return subprocess.run([sys.executable, "-m", "cattle_sandbox.standin", "exec", name, "--", *argv],
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_exec_runs_as_root_inside_after_ssh_is_gone(standin):
    standin.run(["systemctl", "stop", "ssh.service"])
    standin.run(["sh", "-c", "echo inside > /etc/cattle-exec-marker"])

    result = standin_exec(standin.name, "sh", "-c", "id -u; cat /etc/cattle-exec-marker; hostname")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "inside", standin.name]
    assert standin.ssh(["true"], check=False).returncode != 0


def test_exec_passes_on_the_commands_exit_status(standin):
    assert standin_exec(standin.name, "sh", "-c", "exit 7").returncode == 7


def test_exec_refuses_a_stand_in_that_does_not_run():
    # slot 0 is never handed out, so no stand-in of a concurrent test can have this name
    result = standin_exec("cattle-si-0", "true")

    assert result.returncode == 125
    assert "no running stand-in named cattle-si-0" in result.stderr
