"""cattle.immutable.image_build finds the plugins `packer init` installed (Packer 1.7+).

Only Debian's Packer 1.6.6 runs here, so a stand-in `packer` (packer_path) plays current
Packer: it records its arguments and environment, fails like Packer when the template's
plugin is not installed where it looks, and otherwise "builds": it registers the AMI in
the sandbox and writes the manifest and validation report the module reads.
"""

import json
import os
import sys

import pytest

from fixtures.ansible import module_play, run_playbook
from fixtures.aws import register_image

pytestmark = pytest.mark.sandbox

PLUGIN_SOURCE = os.path.join("github.com", "hashicorp", "amazon")

# Current Packer with a PACKER_CONFIG_DIR: plugins in PACKER_PLUGIN_PATH, else only
# under $PACKER_CONFIG_DIR/.packer.d/plugins (image_build's scratch directory).
STAND_IN = '''#!{python}
import json, os, sys
import boto3

RECORD, PLUGIN_SOURCE = {record!r}, {plugin_source!r}


def plugin_dir():
    if os.environ.get("PACKER_PLUGIN_PATH"):
        return os.environ["PACKER_PLUGIN_PATH"]
    return os.path.join(os.environ["PACKER_CONFIG_DIR"], ".packer.d", "plugins")


def say(text):
    print("1767225600,,ui,say," + text.replace(",", "%!(PACKER_COMMA)"), flush=True)


def build(arguments):
    with open(RECORD, "w") as handle:
        json.dump({{"argv": arguments, "cwd": os.getcwd(), "env": dict(os.environ)}}, handle)
    if not os.path.isdir(os.path.join(plugin_dir(), PLUGIN_SOURCE)):
        print("1767225600,,ui,error," + PLUGIN_SOURCE + " is required but not installed in " + plugin_dir())
        return 1
    variables_file = [a for a in arguments if a.startswith("-var-file=")][-1].split("=", 1)[1]
    with open(variables_file) as handle:
        variables = json.load(handle)
    image_id = boto3.client("ec2").register_image(
        Name=variables["ami_name"], Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
        BlockDeviceMappings=[{{"DeviceName": "/dev/xvda", "Ebs": {{"VolumeSize": 8, "VolumeType": "gp3"}}}}],
    )["ImageId"]
    with open(variables["validation_report"], "w") as handle:
        json.dump({{"result": "passed", "lynis_score": 80}}, handle)
    build = {{"name": "golden", "builder_type": "amazon-ebs", "packer_run_uuid": "run-1",
              "artifact_id": os.environ["AWS_REGION"] + ":" + image_id, "custom_data": {{}}}}
    with open(variables["manifest_path"], "w") as handle:
        json.dump({{"builds": [build], "last_run_uuid": "run-1"}}, handle)
    say("==> amazon-ebs.golden: AMI: " + image_id)
    return 0


if sys.argv[1] == "version":
    print("Packer v1.11.2")
    sys.exit(0)
sys.exit(build(sys.argv[1:]))
'''


@pytest.fixture
def packer(tmp_path):
    """The stand-in's path and the file where it records its last build."""
    record = tmp_path / "packer-build.json"
    path = tmp_path / "bin" / "packer"
    path.parent.mkdir()
    path.write_text(STAND_IN.format(python=sys.executable, record=str(record), plugin_source=PLUGIN_SOURCE))
    path.chmod(0o755)
    return path, record


@pytest.fixture
def template(tmp_path):
    directory = tmp_path / "template"
    directory.mkdir()
    (directory / "golden.pkr.hcl").write_text('packer {\n  required_plugins {\n    amazon = {\n'
                                              '      source  = "github.com/hashicorp/amazon"\n'
                                              '      version = ">= 1.3.0"\n    }\n  }\n}\n')
    return directory


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def build_env(aws_env, home):
    """The sandbox's environment for a user whose home is `home`, with no Packer settings of the caller."""
    env = {key: value for key, value in aws_env.items() if not key.startswith(("PACKER_", "XDG_"))}
    env["HOME"] = str(home)
    return env


def install_plugin(plugins_dir):
    """What `packer init` leaves in a plugins directory."""
    directory = plugins_dir / PLUGIN_SOURCE
    directory.mkdir(parents=True)
    (directory / "packer-plugin-amazon_v1.3.4_x5.0_linux_amd64").write_text("")


def build_with(playbook, ec2, packer, template, env_overrides=None):
    source_ami = register_image(ec2, "debian-12-amd64-20260101")
    args = {"app": "web", "template": str(template), "packer_path": str(packer), "vars": {"source_ami": source_ami}}
    return playbook(module_play("build", "image_build", args), env_overrides=env_overrides)


def recorded(record):
    return json.loads(record.read_text())


@pytest.fixture
def playbook(tmp_path, build_env):
    """Like fixtures.ansible's, in build_env, with variables to change for one run."""

    def write_and_run(text, env_overrides=None):
        path = tmp_path / "build.yml"
        path.write_text(text)
        return run_playbook(path, dict(build_env, **(env_overrides or {})))

    return write_and_run


def test_plugins_packer_init_installed_in_the_users_config_dir_are_found(playbook, ec2, packer, template, home):
    stand_in, record = packer
    install_plugin(home / ".config" / "packer" / "plugins")

    run = build_with(playbook, ec2, stand_in, template)

    assert not run.failed, run.explain()
    assert run.result("build")["outcome"] == "built"
    build = recorded(record)
    assert build["argv"][:2] == ["build", "-machine-readable"] and build["cwd"] == str(template)
    assert build["env"]["PACKER_PLUGIN_PATH"] == str(home / ".config" / "packer" / "plugins")
    assert not build["env"]["PACKER_CONFIG_DIR"].startswith(str(home))  # still image_build's scratch directory


def test_a_plugin_path_of_the_caller_is_passed_through_unchanged(playbook, ec2, packer, template, tmp_path):
    stand_in, record = packer
    install_plugin(tmp_path / "team-plugins")

    run = build_with(playbook, ec2, stand_in, template, {"PACKER_PLUGIN_PATH": str(tmp_path / "team-plugins")})

    assert not run.failed, run.explain()
    assert recorded(record)["env"]["PACKER_PLUGIN_PATH"] == str(tmp_path / "team-plugins")


def test_without_installed_plugins_the_build_fails_saying_so(playbook, ec2, packer, template):
    stand_in, record = packer

    run = build_with(playbook, ec2, stand_in, template)

    assert run.failed
    assert "PACKER_PLUGIN_PATH" not in recorded(record)["env"]
    assert "is required but not installed" in run.result("build")["msg"]
