import os

import pytest

from fixtures.ansible import VENV_BIN


@pytest.fixture
def build_env(aws_env, tmp_path):
    """The sandbox's environment with a cache of this test's own (image_build's Packer logs
    and fingerprint inputs), and the venv's tools first on PATH (Packer runs ansible-playbook)."""
    env = dict(aws_env)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{aws_env.get('PATH', '')}"
    return env
