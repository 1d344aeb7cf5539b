"""A stand-in's cgroups (cattle_sandbox.standin.cgroups): where its memory use is read, and that
removal touches only a stand-in's own cgroup directories. Fake hierarchies in a temporary
directory; nothing is mounted or booted."""

import pytest
from cattle_sandbox.standin import cgroups


@pytest.fixture
def hierarchies(tmp_path, monkeypatch):
    """A cgroup2 and a v1 memory hierarchy under tmp_path; we sit in /ours of the memory one."""
    unified, memory = tmp_path / "unified", tmp_path / "memory"
    found = [(cgroups.UNIFIED, unified), (cgroups.MEMORY_V1, memory)]
    monkeypatch.setattr(cgroups, "hierarchies", lambda: found)
    monkeypatch.setattr(cgroups, "own_cgroup_path", lambda kind: "/ours" if kind == cgroups.MEMORY_V1 else "/")
    for directory in (unified, memory / "ours"):
        directory.mkdir(parents=True)
    return unified, memory


def test_memory_current_is_read_first_then_the_v1_usage(tmp_path):
    unified, memory = tmp_path / "unified", tmp_path / "memory"
    for directory in (unified, memory):
        directory.mkdir()
    (memory / "memory.usage_in_bytes").write_text("2048\n")
    assert cgroups.memory_usage([unified, memory]) == 2048
    (unified / "memory.current").write_text("1024\n")
    assert cgroups.memory_usage([unified, memory]) == 1024


def test_no_accounting_gives_none(tmp_path):
    assert cgroups.memory_usage([tmp_path]) is None
    assert cgroups.memory_usage([]) is None


def test_create_puts_the_standin_below_our_own_cgroup_of_each_hierarchy(hierarchies):
    unified, memory = hierarchies
    created = cgroups.create("standin-x")
    assert created == [unified / cgroups.PARENT / "standin-x", memory / "ours" / cgroups.PARENT / "standin-x"]
    assert all(directory.is_dir() for directory in created)


def test_remove_takes_the_parent_along_only_below_someone_elses_cgroup(hierarchies):
    unified, memory = hierarchies
    created = cgroups.create("standin-x")

    cgroups.remove("standin-x", created)

    assert not any(directory.exists() for directory in created)
    assert (unified / cgroups.PARENT).is_dir()  # at a hierarchy's root: stays for the next stand-in
    assert not (memory / "ours" / cgroups.PARENT).exists() and (memory / "ours").is_dir()


def test_remove_refuses_a_directory_that_is_not_the_standins_cgroup(hierarchies, tmp_path):
    elsewhere = tmp_path / "elsewhere" / cgroups.PARENT / "standin-x"
    elsewhere.mkdir(parents=True)
    for wrong in ([elsewhere], [hierarchies[0] / cgroups.PARENT / "standin-y"]):
        with pytest.raises(ValueError, match="not a cgroup of stand-in standin-x"):
            cgroups.remove("standin-x", wrong)
    assert elsewhere.is_dir()


def fake_cgroup(directory, controllers, subtree_control=""):
    directory.mkdir(exist_ok=True)
    (directory / "cgroup.controllers").write_text(controllers + "\n")
    (directory / "cgroup.subtree_control").write_text(subtree_control)


def test_memory_is_enabled_for_our_subtree_where_cgroup2_has_the_controller(hierarchies):
    unified, _memory = hierarchies
    for directory in (unified, unified / cgroups.PARENT):
        fake_cgroup(directory, "cpu memory pids")

    cgroups.create("standin-x")

    assert [(directory / "cgroup.subtree_control").read_text()
            for directory in (unified, unified / cgroups.PARENT)] == ["+memory", "+memory"]


def test_a_cgroup2_without_the_memory_controller_is_left_alone(hierarchies):
    unified, _memory = hierarchies
    fake_cgroup(unified, "hugetlb")  # a hybrid host: memory is bound to its v1 hierarchy

    cgroups.create("standin-x")

    assert (unified / "cgroup.subtree_control").read_text() == ""
