"""The AWX execution environment (awx/ee), the collection's EE requirements (meta/) and
the ansible.cfg files: checked offline with ansible-builder, ansible-galaxy and
ansible-config, no container runtime needed."""

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
EE_DIR = REPO_ROOT / "awx" / "ee"
CONFIGS = [REPO_ROOT / "awx" / "project" / "ansible.cfg", EE_DIR / "ansible.cfg"]
TARBALL_PATTERN = re.compile(r"cattle-immutable-(\d+\.\d+\.\d+)\.tar\.gz$")
EE_META = REPO_ROOT / "meta" / "execution-environment.yml"
# Version operators that cap a version from above or pin it (<, <=, ==, ===, ~=), or leave
# out a version (!=): a collection's EE requirements only set floors.
UPPER_PIN = re.compile(r"<|<=|==|===|~=|!=")


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kwargs)


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


def galaxy_version():
    return load_yaml(REPO_ROOT / "galaxy.yml")["version"]


def pins(filename):
    found = {}
    for line in (REPO_ROOT / "requirements" / filename).read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            found[name.strip()] = version.strip()
    return found


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """The collection as `ansible-galaxy collection build` makes it."""
    out = tmp_path_factory.mktemp("collection")
    run(VENV_BIN / "ansible-galaxy", "collection", "build", "--output-path", out, REPO_ROOT)
    (built,) = out.glob("cattle-immutable-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def definition():
    return load_yaml(EE_DIR / "execution-environment.yml")


@pytest.fixture(scope="module")
def context(tmp_path_factory, tarball):
    """`ansible-builder create` on a copy of awx/ee holding the built tarball, as the
    README says to build it."""
    work = tmp_path_factory.mktemp("ee")
    ee = work / "ee"
    shutil.copytree(EE_DIR, ee, ignore=shutil.ignore_patterns("*.tar.gz"))
    shutil.copy(tarball, ee)
    ctx = work / "context"
    run(VENV_BIN / "ansible-builder", "create", "-f", ee / "execution-environment.yml", "-c", ctx,
        "--output-filename", "Containerfile")
    return ctx


@pytest.fixture(scope="module")
def final_stage(context):
    """The Containerfile's last stage (the image jobs run in), one instruction a line."""
    text = (context / "Containerfile").read_text()
    return text[text.rindex("\nFROM "):].splitlines()


def index_of(lines, pattern):
    matches = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert matches, f"no instruction matches {pattern!r}"
    return matches[0]


def packer_pin(definition):
    args = {}
    for step in definition["additional_build_steps"]["append_final"]:
        match = re.fullmatch(r"ARG (PACKER_VERSION|PACKER_SHA256)=(\S+)", step)
        if match:
            args[match.group(1)] = match.group(2)
    return args["PACKER_VERSION"], args["PACKER_SHA256"]


def test_packer_is_pinned_and_verified_before_it_is_unpacked(definition, final_stage):
    version, sha256 = packer_pin(definition)
    assert re.fullmatch(r"1\.\d+\.\d+", version)
    assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    assert f"ARG PACKER_VERSION={version}" in final_stage
    assert f"ARG PACKER_SHA256={sha256}" in final_stage
    download = final_stage[index_of(final_stage, r"curl .*packer_\$\{PACKER_VERSION\}_linux_amd64\.zip")]
    check = download.index('echo "${PACKER_SHA256}  packer.zip" | sha256sum -c -')
    assert download.index("curl ") < check < download.index("-m zipfile -e packer.zip")
    assert "install -m 0755 packer-bin/packer /usr/local/bin/packer" in download


def test_plugins_are_installed_into_the_baked_plugin_path(final_stage):
    env = index_of(final_stage, r"^ENV .*PACKER_PLUGIN_PATH=/usr/share/packer/plugins\b")
    assert "CHECKPOINT_DISABLE=1" in final_stage[env]
    install = index_of(final_stage, r"^RUN packer plugins install ")
    packer = index_of(final_stage, r"install -m 0755 packer-bin/packer")
    user = index_of(final_stage, r"^USER 1000$")
    assert packer < env < install < user, "Packer, then ENV, then the plugins, as root, before USER 1000"


def test_plugin_pins_satisfy_the_golden_template(final_stage):
    installs = dict(re.findall(r"packer plugins install github\.com/hashicorp/(\w+) v(\d+\.\d+\.\d+)",
                               final_stage[index_of(final_stage, r"^RUN packer plugins install ")]))
    assert set(installs) == {"amazon", "ansible"}
    hcl = (REPO_ROOT / "packer" / "golden" / "plugins.pkr.hcl").read_text()
    for name, version in installs.items():
        block = re.search(name + r" = \{(.*?)\}", hcl, re.S).group(1)
        constraint = re.search(r'version\s*=\s*"([^"]+)"', block).group(1)
        pinned = tuple(map(int, version.split(".")))
        for op, bound in re.findall(r"(>=|<)\s*(\d+\.\d+\.\d+)", constraint):
            bound = tuple(map(int, bound.split(".")))
            assert pinned >= bound if op == ">=" else pinned < bound, f"{name} {version} vs {constraint}"


def test_the_collection_is_installed_at_galaxy_version(definition, context, final_stage):
    version = galaxy_version()
    sources = [f["src"] for f in definition["additional_build_files"] if TARBALL_PATTERN.search(f["src"])]
    assert [TARBALL_PATTERN.search(s).group(1) for s in sources] == [version]
    requirements = load_yaml(context / "_build" / "requirements.yml")["collections"]
    local = [r["name"] for r in requirements if r.get("type") == "file"]
    assert local == [f"/build/collection/cattle-immutable-{version}.tar.gz"]
    assert {r["name"] for r in requirements} == {"amazon.aws", local[0]}, "awx.awx is not needed in the EE"
    # ansible-builder only warns when a build file is missing: the built tarball must be there.
    copied = context / "_build" / "collection" / f"cattle-immutable-{version}.tar.gz"
    with tarfile.open(copied) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["version"] == version
    galaxy = (context / "Containerfile").read_text()
    assert "COPY _build /build" in galaxy
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", galaxy)
    assert index_of(final_stage, r"^COPY --from=galaxy /usr/share/ansible /usr/share/ansible$")


def test_python_dependencies_are_the_runtime_pins(context):
    runtime, frozen = pins("runtime.txt"), pins("constraints.txt")
    containerfile = (context / "Containerfile").read_text()
    refs = re.search(r'ARG ANSIBLE_INSTALL_REFS="(.*)"', containerfile).group(1).split()
    assert sorted(refs) == [f"ansible-core=={runtime['ansible-core']}", f"ansible-runner=={frozen['ansible-runner']}"]
    python = (context / "_build" / "requirements.txt").read_text().split()
    assert sorted(python) == [f"{name}=={runtime[name]}" for name in ("boto3", "botocore", "cryptography")]
    assert "introspect.py introspect --user-pip=requirements.txt" in containerfile


def test_image_carries_the_system_wide_ansible_cfg(context, final_stage):
    assert "COPY _build/configs/ansible.cfg /etc/ansible/ansible.cfg" in final_stage
    assert (context / "_build" / "configs" / "ansible.cfg").read_text() == (EE_DIR / "ansible.cfg").read_text()


def test_collection_declares_its_ee_requirements(tarball, tmp_path):
    # Laid out as an installed collection, the way introspection finds it in an image.
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp_path / "ansible_collections" / "cattle" / "immutable", filter="data")
    found = yaml.safe_load(run(VENV_BIN / "ansible-builder", "introspect", tmp_path).stdout)
    names = {re.split(r"[<>=!~ \[]", line, maxsplit=1)[0] for line in found["python"]}
    assert {"boto3", "botocore"} <= names
    assert any(line.startswith("openssh-clients [platform:rpm]") for line in found["system"])


def ee_dependencies():
    """meta/execution-environment.yml's `dependencies`: each kind names a file relative to
    the collection's root (as ours do) or lists its requirements inline."""
    return load_yaml(EE_META).get("dependencies") or {}


def ee_requirement_file(kind):
    """The file that holds the requirements of one kind, or None when they are inline."""
    value = ee_dependencies().get(kind)
    if isinstance(value, str) and "\n" not in value.strip() and (REPO_ROOT / value.strip()).is_file():
        return REPO_ROOT / value.strip()
    return None


def ee_source(kind):
    return (ee_requirement_file(kind) or EE_META).relative_to(REPO_ROOT).as_posix()


def ee_requirement_text(kind):
    """The requirements of one kind ("python", "galaxy", "system") as text, "" if none."""
    value = ee_dependencies().get(kind)
    if value is None:
        return ""
    if ee_requirement_file(kind):
        return ee_requirement_file(kind).read_text()
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(value)
    return yaml.safe_dump(value)


def requirement_lines(text):
    lines = (line.split("#")[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def python_requirements():
    """(name, operators) of every Python requirement; environment markers are no pins."""
    found = []
    for line in requirement_lines(ee_requirement_text("python")):
        requirement = Requirement(line)
        found.append((requirement.name, [spec.operator for spec in requirement.specifier]))
    return found


def galaxy_operators(spec):
    """The operators of an ansible-galaxy version range ("*", ">=1.0.0,<2.0.0", "1.2.3");
    a bare version is an exact pin."""
    operators = []
    for part in str(spec).split(","):
        part = part.strip()
        if part in ("", "*"):
            continue
        match = re.match(r"(==|!=|>=|<=|>|<|~=)?", part)
        operators.append(match.group(1) or "==")
    return operators


def galaxy_requirements():
    """(name, operators) of every collection (or role) the EE requirements list."""
    text = ee_requirement_text("galaxy")
    data = yaml.safe_load(text) if text else None
    found = []
    for entry in [*(data or {}).get("collections", []), *(data or {}).get("roles", [])]:
        if isinstance(entry, str):
            name, version = (entry.split(":", 1) + ["*"])[:2]
            found.append((name, galaxy_operators(version)))
        else:
            found.append((entry["name"], galaxy_operators(entry.get("version", "*"))))
    return found


def system_requirements():
    """(name, operators) of every bindep line: `name [profiles] version-constraints`."""
    found = []
    for line in requirement_lines(ee_requirement_text("system")):
        name, rest = (line.split(None, 1) + [""])[:2]
        constraints = re.sub(r"\[[^]]*\]", " ", rest)
        found.append((name, re.findall(r"==|!=|>=|<=|>|<|~=", constraints)))
    return found


REQUIREMENTS = {"python": python_requirements, "galaxy": galaxy_requirements, "system": system_requirements}


@pytest.mark.parametrize("line, operators", [
    ("boto3>=1.34.0", [">="]),
    ("boto3>=1.34,<2", [">=", "<"]),
    ("boto3<=2", ["<="]),
    ("boto3==1.34.0", ["=="]),
    ("boto3~=1.34", ["~="]),
    ('botocore>=1.34.0; python_version < "3.12"', [">="]),
])
def test_python_requirements_are_read_with_their_operators(monkeypatch, line, operators):
    monkeypatch.setattr(sys.modules[__name__], "ee_requirement_text", lambda kind: line + "\n")
    assert python_requirements() == [(re.match(r"[\w.-]+", line).group(0), operators)]


@pytest.mark.parametrize("spec, operators", [
    ("*", []), (">=10.0.0", [">="]), (">=10.0.0,<11.0.0", [">=", "<"]), ("10.1.2", ["=="]), ("<=10", ["<="]),
])
def test_galaxy_versions_are_read_with_their_operators(spec, operators):
    assert galaxy_operators(spec) == operators


def test_ee_requirements_are_declared():
    assert set(ee_dependencies()) <= set(REQUIREMENTS), "a collection's EE file knows python, galaxy and system"
    assert "boto3" in dict(python_requirements()), "no Python requirements"


@pytest.mark.parametrize("kind", sorted(REQUIREMENTS))
def test_ee_requirements_carry_no_upper_bound_or_pin(kind):
    for name, operators in REQUIREMENTS[kind]():
        capping = [op for op in operators if UPPER_PIN.fullmatch(op)]
        assert not capping, f"{ee_source(kind)}: {name} is capped or pinned ({', '.join(capping)})"


@pytest.mark.parametrize("kind", sorted(REQUIREMENTS))
def test_ee_requirements_leave_ansible_to_the_image(kind):
    # ansible-core comes with the EE's base image or its builder options, never from a collection.
    for name in dict(REQUIREMENTS[kind]()):
        assert not re.fullmatch(r"ansible([-_](core|base))?", name, re.I), f"{ee_source(kind)} lists {name}"
    assert not {"ansible_core", "ansible_runner"} & set(ee_dependencies())


def test_built_collection_carries_its_ee_files(tarball):
    files = {ee_source(kind) for kind in REQUIREMENTS} | {EE_META.relative_to(REPO_ROOT).as_posix()}
    with tarfile.open(tarball) as tar:
        members = set(tar.getnames())
    assert files <= members, f"the built collection lacks its EE files: {sorted(files - members)}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_ansible_cfg_sets_only_the_poll_interval(path):
    parser = configparser.ConfigParser()
    parser.read(path)
    assert {s: dict(parser[s]) for s in parser.sections()} == {"defaults": {"internal_poll_interval": "0.05"}}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(path)
    dump = json.loads(run(VENV_BIN / "ansible-config", "dump", "--only-changed", "--format", "json",
                          env=env).stdout)
    changed = {item["name"]: item for item in dump if "name" in item and item["name"] != "CONFIG_FILE"}
    assert set(changed) == {"DEFAULT_INTERNAL_POLL_INTERVAL"}
    assert changed["DEFAULT_INTERNAL_POLL_INTERVAL"]["value"] == 0.05
    assert changed["DEFAULT_INTERNAL_POLL_INTERVAL"]["origin"] == str(path)
