"""The collection as a user gets it, at the end of the venv running these tests
(`make release-check`, `make oldest`): `ansible-galaxy collection build`, then
`ansible-galaxy collection install --offline` (dependencies resolved, not skipped) into a
collections path that already holds this end's amazon.aws, then a module and a playbook
run from that path against the sandbox, from a directory outside the checkout and with the
checkout on no collections path."""

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml

from fixtures.ansible import REPO_ROOT, VENV_BIN, ansible_env
from fixtures.aws import register_image

pytestmark = pytest.mark.sandbox

SITE_COLLECTIONS = Path(sysconfig.get_paths()["purelib"]) / "ansible_collections"


def manifest_version(collection_dir):
    return json.loads((collection_dir / "MANIFEST.json").read_text())["collection_info"]["version"]


def galaxy(*arguments, cwd):
    return subprocess.run([str(VENV_BIN / "ansible-galaxy"), *arguments], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The built tarball installed beside this end's amazon.aws: (collections path, galaxy's output)."""
    work = tmp_path_factory.mktemp("release")
    built = galaxy("collection", "build", "--output-path", str(work), str(REPO_ROOT), cwd=work)
    assert built.returncode == 0, built.stdout + built.stderr
    [tarball] = work.glob("cattle-immutable-*.tar.gz")
    path = work / "collections"
    shutil.copytree(SITE_COLLECTIONS / "amazon" / "aws", path / "ansible_collections" / "amazon" / "aws", symlinks=True)
    install = galaxy("collection", "install", "--offline", "-p", str(path), str(tarball), cwd=work)
    assert install.returncode == 0, install.stdout + install.stderr
    return path, install.stdout + install.stderr


def user_env(aws_env, collections_path):
    """What a user's shell has: the sandbox's credentials and endpoint, and only the
    installed path (the `ansible` package's own collections stay where pip put them)."""
    return ansible_env(dict(aws_env, ANSIBLE_COLLECTIONS_PATH=str(collections_path),
                            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default"))


def test_install_resolves_amazon_aws_to_the_copy_already_there(installed):
    path, output = installed
    collections = path / "ansible_collections"
    assert sorted(p.relative_to(collections).as_posix() for p in collections.glob("*/*")) == [
        "amazon/aws", "cattle/immutable"], output
    release = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())["version"]
    assert manifest_version(collections / "cattle" / "immutable") == release
    # The dependency was checked and kept, not fetched again nor skipped.
    assert manifest_version(collections / "amazon" / "aws") == manifest_version(SITE_COLLECTIONS / "amazon" / "aws")
    assert "amazon.aws" in output and "was installed successfully" in output, output


def test_a_module_runs_from_the_installed_collection(installed, aws_env, ec2, tmp_path):
    path = installed[0]
    image_id = register_image(ec2, "web-release-check", {"cattle:app": "web", "cattle:managed-by": "cattle.immutable"})
    completed = subprocess.run(
        [str(VENV_BIN / "ansible"), "localhost", "-m", "cattle.immutable.image_info",
         "-a", json.dumps({"app": "web", "region": "us-east-1"}), "-o"],
        cwd=tmp_path, env=user_env(aws_env, path), capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert image_id in completed.stdout, completed.stdout


def test_a_playbook_runs_by_its_collection_name(installed, aws_env, ec2, ssm, tmp_path):
    path = installed[0]
    image_id = register_image(ec2, "web-release-check", {"cattle:app": "web", "cattle:managed-by": "cattle.immutable",
                                                         "cattle:validation": "passed", "cattle:lynis-score": "80"})
    completed = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "cattle.immutable.promote",
         "-e", json.dumps({"app": "web", "image_id": image_id, "to": "dev", "region": "us-east-1"})],
        cwd=tmp_path, env=user_env(aws_env, path), capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert ssm.get_parameter(Name="/cattle/web/dev")["Parameter"]["Value"] == image_id
    # The playbook came from the installed copy, not from this checkout.
    assert str(path) in subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "list", "cattle.immutable", "--format", "json"],
        cwd=tmp_path, env=user_env(aws_env, path), capture_output=True, text=True, check=True, timeout=120).stdout
