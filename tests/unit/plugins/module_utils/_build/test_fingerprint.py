"""The fingerprint of image_build's inputs: what changes it and what does not."""

import os
import shutil

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._build import fingerprint as build_fingerprint
from ansible_collections.cattle.immutable.plugins.module_utils._build.fingerprint import (
    FingerprintError,
    compute_fingerprint,
)

BASE = dict(app="web", packer_version="1.6.6", source_ami="ami-0123456789abcdef0")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "template"
    (root / "roles" / "web").mkdir(parents=True)
    (root / "build.pkr.hcl").write_text("source {}\n")
    (root / "roles" / "web" / "main.yml").write_text("- name: x\n")
    return root


def fingerprint(paths=(), **overrides):
    inputs = dict(BASE, paths=[str(path) for path in paths])
    inputs.update(overrides)
    return compute_fingerprint(**inputs)


def test_same_inputs_give_the_same_fingerprint_of_64_hex_digits(tree):
    first = fingerprint([tree], variables={"a": 1, "b": [1, 2]})
    assert first == fingerprint([tree], variables={"b": [1, 2], "a": 1})
    assert len(first) == 64 and int(first, 16) >= 0


def test_the_checkout_location_does_not_matter(tree, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "template"
    shutil.copytree(tree, elsewhere)
    assert fingerprint([tree]) == fingerprint([elsewhere])


@pytest.mark.parametrize(
    "change",
    ["content", "new file", "rename", "empty directory", "mode of entry: symlink"],
)
def test_a_change_in_a_named_tree_changes_the_fingerprint(tree, change):
    before = fingerprint([tree])
    if change == "content":
        (tree / "roles" / "web" / "main.yml").write_text("- name: y\n")
    elif change == "new file":
        (tree / "roles" / "web" / "extra.yml").write_text("")
    elif change == "rename":
        (tree / "roles" / "web" / "main.yml").rename(tree / "roles" / "web" / "other.yml")
    elif change == "empty directory":
        (tree / "files").mkdir()
    else:
        os.remove(tree / "build.pkr.hcl")
        os.symlink("roles/web/main.yml", tree / "build.pkr.hcl")
    assert fingerprint([tree]) != before


@pytest.mark.parametrize(
    "override",
    [
        {"app": "api"},
        {"packer_version": "1.11.2"},
        {"source_ami": "ami-0fedcba9876543210"},
        {"variables": {"instance_type": "t3.small"}},
        {"only": ["amazon-ebs.ssh"]},
    ],
)
def test_each_other_input_changes_the_fingerprint(tree, override):
    assert fingerprint([tree], **override) != fingerprint([tree])


def test_var_files_count_by_content_and_order(tmp_path, tree):
    one, two = tmp_path / "one.pkrvars.hcl", tmp_path / "two.pkrvars.hcl"
    one.write_text('a = "1"\n')
    two.write_text('a = "2"\n')
    in_order = fingerprint([tree], var_files=[str(one), str(two)])
    assert in_order != fingerprint([tree], var_files=[str(two), str(one)])
    two.write_text('a = "3"\n')
    assert in_order != fingerprint([tree], var_files=[str(one), str(two)])


def test_excluded_names_and_symlink_targets_do_not_count(tree, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("one")
    os.symlink(str(outside), tree / "link")
    before = fingerprint([tree])
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref")
    (tree / "roles" / "web" / "cache.pyc").write_bytes(b"\0")
    outside.write_text("two")  # the link is recorded as a link, not followed
    assert fingerprint([tree]) == before


def test_a_missing_path_is_named(tmp_path):
    with pytest.raises(FingerprintError, match="cannot fingerprint what does not exist: .*nowhere"):
        fingerprint([tmp_path / "nowhere"])


def test_the_scheme_is_part_of_it(tree, monkeypatch):
    before = fingerprint([tree])
    monkeypatch.setattr(build_fingerprint, "FINGERPRINT_SCHEME", "cattle.immutable/image_build/2")
    assert fingerprint([tree]) != before
