"""image_build's environment for Packer: scratch directories that hide none of the user's plugins."""

import os

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._build import packer as build_packer


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


# -- running Packer through AnsibleModule.run_command -------------------------------------------


@pytest.fixture
def run_command():
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args({}):
        return AnsibleModule(argument_spec={}).run_command


def fake_packer(tmp_path, body):
    """An executable that stands in for Packer: its output and how long it runs are the test's."""
    path = tmp_path / "packer"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_packer_version_is_read_from_its_answer(run_command, tmp_path):
    packer = fake_packer(tmp_path, 'echo "Packer v1.15.4"')
    assert build_packer.packer_version(run_command, packer, dict(os.environ)) == "1.15.4"


def test_a_packer_that_does_not_say_its_version_is_refused_with_its_output(run_command, tmp_path):
    packer = fake_packer(tmp_path, 'echo "no such command" >&2; exit 3')
    with pytest.raises(build_packer.PackerError, match=r"version failed \(exit 3\): no such command"):
        build_packer.packer_version(run_command, packer, dict(os.environ))


def test_packer_output_goes_to_the_log_with_its_arguments_and_exit_code(run_command, tmp_path):
    packer = fake_packer(tmp_path, 'echo "ran with $* in $(pwd) for $CATTLE_TEST"; echo oops >&2; exit 4')
    log = tmp_path / "build.log"
    exit_code, seconds, timed_out = build_packer.run_packer(
        run_command, [packer, "build", "a b", "$HOME"], str(tmp_path), dict(os.environ, CATTLE_TEST="web"), str(log), 60)
    assert (exit_code, timed_out) == (4, False) and seconds < 60
    lines = log.read_text().splitlines()
    assert lines[0].startswith("# image_build: ")
    # Arguments pass through unexpanded and unsplit; the environment and directory are the task's.
    assert lines[1:] == ["ran with build a b $HOME in {0} for web".format(tmp_path), "oops"]


def test_a_packer_past_its_timeout_is_interrupted_and_says_so(run_command, tmp_path):
    packer = fake_packer(tmp_path, "echo started; exec sleep 30")
    log = tmp_path / "build.log"
    exit_code, seconds, timed_out = build_packer.run_packer(
        run_command, [packer, "build"], str(tmp_path), dict(os.environ), str(log), 1, append=False)
    assert timed_out and exit_code != 0 and 1 <= seconds < 10
    assert log.read_text().splitlines()[1:] == ["started"]


def test_a_packer_version_that_hangs_is_stopped_at_its_timeout(run_command, tmp_path):
    packer = fake_packer(tmp_path, "exec sleep 30")
    with pytest.raises(build_packer.PackerError, match=r"version failed \(exit -2\)"):
        build_packer.packer_version(run_command, packer, dict(os.environ), timeout=1)
