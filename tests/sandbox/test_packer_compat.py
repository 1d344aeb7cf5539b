"""The Packer 1.6.6 copy of the golden template (cattle_sandbox.packer_compat).

The copy must lack exactly `required_plugins`, `metadata_options` and `imds_support`,
keep every other line, and validate with Debian's Packer 1.6.6, which rejects each of the
three on its own; the template in the tree keeps them.
"""

import json
import os
import subprocess
import sys

import pytest

from cattle_sandbox.packer_compat import CompatError, legacy_copy, strip_legacy
from fixtures.ansible import REPO_ROOT
from fixtures.packer import packer_env

pytestmark = pytest.mark.packer

GOLDEN = REPO_ROOT / "packer" / "golden"
EXPECTED = {
    ("plugins.pkr.hcl", "required_plugins", "block"),
    ("golden.pkr.hcl", "metadata_options", "block"),
    ("golden.pkr.hcl", "imds_support", "attribute"),
}
VALIDATE_VARS = {
    "app": "web",
    "ami_name": "web-0123456789abcdef",
    "fingerprint": "0123456789abcdef" * 4,
    "playbook_file": str(REPO_ROOT / "playbooks" / "image.yml"),
}


def packer_validate(directory, tmp_path):
    env = packer_env(os.environ, tmp_path)  # the provisioner runs ansible-playbook --version
    command = ["packer", "validate", "-var-file=sandbox.pkrvars.hcl"]
    command += [f"-var={name}={value}" for name, value in VALIDATE_VARS.items()] + ["."]
    return subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=120, check=False)


def lines_of(path):
    return path.read_text().splitlines(keepends=True)


def without(lines, removals):
    dropped = {number for removal in removals for number in range(removal.first_line - 1, removal.last_line)}
    return [line for number, line in enumerate(lines) if number not in dropped]


@pytest.fixture
def copy(tmp_path):
    destination = tmp_path / "golden-1.6"
    return destination, legacy_copy(GOLDEN, destination)


def test_the_copy_lacks_exactly_the_three_and_keeps_every_other_line(copy):
    destination, removals = copy
    assert {(removal.file, removal.name, removal.kind) for removal in removals} == EXPECTED
    originals = sorted(path.relative_to(GOLDEN) for path in GOLDEN.rglob("*") if path.is_file())
    assert sorted(path.relative_to(destination) for path in destination.rglob("*") if path.is_file()) == originals
    for relative in originals:
        of_file = [removal for removal in removals if removal.file == str(relative)]
        assert lines_of(destination / relative) == without(lines_of(GOLDEN / relative), of_file), relative
    # The removed lines are the statements themselves.
    golden = lines_of(GOLDEN / "golden.pkr.hcl")
    by_name = {removal.name: removal for removal in removals}
    assert golden[by_name["imds_support"].first_line - 1].split() == ["imds_support", "=", '"v2.0"']
    metadata = golden[by_name["metadata_options"].first_line - 1:by_name["metadata_options"].last_line]
    assert metadata[0].split() == ["metadata_options", "{"] and metadata[-1].strip() == "}"
    assert any('http_tokens' in line and '"required"' in line for line in metadata)


def test_the_template_in_the_tree_keeps_them(copy):
    _destination, removals = copy
    for removal in removals:
        text = "".join(lines_of(GOLDEN / removal.file)[removal.first_line - 1:removal.last_line])
        assert text.lstrip().startswith(removal.name), removal


@pytest.mark.sandbox
def test_packer_1_6_6_validates_the_copy_and_rejects_each_of_the_three(copy, tmp_path):
    destination, removals = copy
    validated = packer_validate(destination, tmp_path)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    # Put one of the three back at a time: Packer 1.6.6 refuses it, naming it.
    for kept in removals:
        partial = tmp_path / f"with-{kept.name}"
        legacy_copy(GOLDEN, partial)
        for relative in {removal.file for removal in removals}:
            others = [removal for removal in removals if removal.file == relative and removal != kept]
            (partial / relative).write_text("".join(without(lines_of(GOLDEN / relative), others)))
        refused = packer_validate(partial, tmp_path)
        assert refused.returncode != 0, kept
        assert kept.name in refused.stdout + refused.stderr, (kept, refused.stdout, refused.stderr)


def test_names_in_comments_and_strings_are_not_statements():
    text = (
        '# metadata_options { is only mentioned here\n'
        'source "x" "y" {\n'
        '  description = "imds_support = 1 and metadata_options {"\n'
        '  tags = { a = "${jsonencode({ b = "}" })}" }\n'
        '  metadata_options {\n'
        '    http_tokens = "required" # }\n'
        '    nested = { c = "{" }\n'
        '  }\n'
        '  /* imds_support = "v2.0" */\n'
        '  imds_support = "v2.0"\n'
        '  user_data = <<EOF\n'
        'imds_support = "inside a heredoc"\n'
        'EOF\n'
        '}\n'
    )
    kept, removals = strip_legacy(text, "t.pkr.hcl")
    assert [(removal.name, removal.first_line, removal.last_line) for removal in removals] == [
        ("metadata_options", 5, 8), ("imds_support", 10, 10),
    ]
    expected = text.splitlines(keepends=True)
    del expected[9]
    del expected[4:8]
    assert kept == "".join(expected)


@pytest.mark.parametrize("text, problem", [
    ('x {\n  metadata_options { a = 1 } b = 2\n}\n', "something follows the end of the block"),
    ('x {\n  metadata_options {\n    a = 1\n', "does not end"),
    ('x {\n  imds_support { a = 1 }\n}\n', "imds_support is a block here, expected an attribute"),
])
def test_what_cannot_be_removed_safely_is_refused(text, problem):
    with pytest.raises(CompatError, match=problem):
        strip_legacy(text, "t.pkr.hcl")


def test_the_cli_prints_what_it_removed_and_refuses_a_used_directory(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "sandbox"))
    command = [sys.executable, "-m", "cattle_sandbox.packer_compat", str(GOLDEN), str(tmp_path / "copy"), "--json"]
    printed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert {(item["file"], item["name"], item["kind"]) for item in json.loads(printed.stdout)} == EXPECTED
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 2 and "exists and is not empty" in again.stderr
