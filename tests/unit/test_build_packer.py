"""image_build's environment for Packer: scratch directories that hide none of the user's plugins."""

import os

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import build_packer


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


def installed(directory):
    """What `packer init` leaves: a plugin binary under <plugins>/<source>/."""
    plugin = directory / "github.com" / "hashicorp" / "amazon"
    plugin.mkdir(parents=True)
    (plugin / "packer-plugin-amazon_v1.3.4_x5.0_linux_amd64").write_text("")
    return str(directory)


def scratch_env(env, tmp_path):
    return build_packer.private_packer_dirs(env, str(tmp_path / "scratch"))


def test_the_default_plugins_directory_is_kept_under_a_scratch_config_dir(home, tmp_path):
    plugins = installed(home / ".config" / "packer" / "plugins")
    env = scratch_env({"HOME": str(home)}, tmp_path)
    assert env["PACKER_PLUGIN_PATH"] == plugins
    assert env["PACKER_CONFIG_DIR"] == str(tmp_path / "scratch" / "config")
    assert env["PACKER_CACHE_DIR"] == str(tmp_path / "scratch" / "cache")


def test_an_existing_packer_d_comes_before_xdg_config_home(home, tmp_path):
    plugins = installed(home / ".packer.d" / "plugins")
    installed(tmp_path / "xdg" / "packer" / "plugins")
    env = scratch_env({"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}, tmp_path)
    assert env["PACKER_PLUGIN_PATH"] == plugins


def test_xdg_config_home_comes_before_dot_config(home, tmp_path):
    plugins = installed(tmp_path / "xdg" / "packer" / "plugins")
    installed(home / ".config" / "packer" / "plugins")
    env = scratch_env({"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}, tmp_path)
    assert env["PACKER_PLUGIN_PATH"] == plugins


def test_an_empty_packer_d_is_still_packers_config_dir(home, tmp_path):
    (home / ".packer.d").mkdir()
    installed(home / ".config" / "packer" / "plugins")
    env = scratch_env({"HOME": str(home)}, tmp_path)
    assert "PACKER_PLUGIN_PATH" not in env


@pytest.mark.parametrize(
    "given",
    [
        {"PACKER_PLUGIN_PATH": "/opt/packer/plugins"},
        {"PACKER_PLUGIN_PATH": "/opt/packer/plugins", "PACKER_CONFIG_DIR": "/etc/packer"},
        {"PACKER_CONFIG_DIR": "/etc/packer"},
    ],
)
def test_the_callers_plugin_path_and_config_dir_pass_through_unchanged(home, tmp_path, given):
    installed(home / ".config" / "packer" / "plugins")
    env = scratch_env(dict(given, HOME=str(home)), tmp_path)
    assert env.get("PACKER_PLUGIN_PATH") == given.get("PACKER_PLUGIN_PATH")
    assert env["PACKER_CONFIG_DIR"] == given.get("PACKER_CONFIG_DIR", str(tmp_path / "scratch" / "config"))


def test_nothing_is_set_when_the_user_has_no_plugins_directory(home, tmp_path):
    assert "PACKER_PLUGIN_PATH" not in scratch_env({"HOME": str(home)}, tmp_path)
    assert "PACKER_PLUGIN_PATH" not in scratch_env({}, tmp_path)


def test_the_plugins_directory_is_where_current_packer_looks(home):
    env = {"HOME": str(home)}
    assert build_packer.user_plugin_dir(env) == os.path.join(str(home), ".config", "packer", "plugins")
    assert build_packer.user_plugin_dir(dict(env, XDG_CONFIG_HOME="/x")) == "/x/packer/plugins"
    assert build_packer.user_plugin_dir({}) is None
