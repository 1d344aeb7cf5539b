"""A stand-in's root is an overlay: one extracted copy of its image, shared and never written,
below an upper directory of its own that goes when it stops (sandbox/docs/standin.md)."""

import os
import secrets
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cattle_sandbox.image_store import mount_source
from cattle_sandbox.standin import StandIn, files, shared_roots

pytestmark = pytest.mark.standin

SKIPPABLE_FRAME_MAGIC = 0x184D2A50  # RFC 8878: a frame zstd skips when decompressing


@pytest.fixture
def fresh_image(standin_base, tmp_path):
    """The base image's files in a tarball of its own: other bytes (a skippable zstd frame at
    the end), so no copy of it exists yet, the same files once decompressed."""
    image = tmp_path / "fresh.tar.zst"
    padding = secrets.token_bytes(16)
    image.write_bytes(standin_base.base_image.read_bytes()
                      + struct.pack("<II", SKIPPABLE_FRAME_MAGIC, len(padding)) + padding)
    return image


def copy_of(standin):
    return Path(os.readlink(standin.files.work / shared_roots.USE_LINK))


def lower_of(standin):
    """The lowerdir of the stand-in's root overlay, as the mount table has it."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(standin.files.root):
            options = fields[fields.index("-") + 3].split(",")
            return Path(next(option[len("lowerdir="):] for option in options if option.startswith("lowerdir=")))
    return None


def start_all(standins):
    with ThreadPoolExecutor(max_workers=len(standins)) as pool:
        return list(pool.map(StandIn.start, standins))


def stop_all(standins):
    for standin in standins:
        standin.stop()


def test_two_standins_of_one_new_image_share_one_copy_extracted_once(standin_base, fresh_image):
    standins = [StandIn(standin_base, image=fresh_image) for _number in range(2)]
    try:
        first, second = start_all(standins)  # at once: the second waits for the first's extraction

        assert sorted([first.extracted_root, second.extracted_root]) == [False, True]
        assert copy_of(first) == copy_of(second) == shared_roots.store_root() / shared_roots.tarball_digest(fresh_image)
        assert lower_of(first) == lower_of(second) == copy_of(first) / shared_roots.LOWER
        assert mount_source(str(first.files.root)) == ("overlay", files.ROOT_SOURCE)
        assert first.run(["hostname"]).stdout.strip() == first.name
    finally:
        stop_all(standins)


def test_a_link_to_the_same_tarball_finds_the_copy_without_extracting(standin_base, fresh_image, tmp_path):
    """What live_instances.pin_content hands a launch: another name for the AMI's content file."""
    pinned = tmp_path / "pinned.tar.zst"
    os.link(fresh_image, pinned)
    with StandIn(standin_base, image=fresh_image) as first, StandIn(standin_base, image=pinned) as second:
        assert (first.extracted_root, second.extracted_root) == (True, False)
        assert copy_of(first) == copy_of(second)


def test_what_one_standin_writes_stays_in_its_own_upper_directory(standin_factory):
    first, second = standin_factory(), standin_factory()
    lower = lower_of(first)
    first.run(["sh", "-c", "echo first > /etc/written-by-first && rm /etc/issue"])

    assert (first.files.upper / "etc" / "written-by-first").read_text() == "first\n"
    assert second.run(["test", "-e", "/etc/written-by-first"], check=False).returncode == 1
    assert second.run(["test", "-e", "/etc/issue"], check=False).returncode == 0
    assert not (lower / "etc" / "written-by-first").exists() and (lower / "etc" / "issue").exists()


def test_stop_removes_the_upper_directory_and_the_mount_and_keeps_the_copy(standin_base):
    standin = StandIn(standin_base).start()
    copy, work = copy_of(standin), standin.files.work
    assert (standin.files.upper / "etc").is_dir()

    standin.stop()

    assert standin.leftovers() == []
    assert not work.exists()
    assert str(work) not in Path("/proc/self/mountinfo").read_text()
    assert (copy / shared_roots.LOWER / "etc" / "os-release").exists()
    assert work not in shared_roots.users(copy)


def test_memory_of_its_cgroup_is_reported_while_it_runs(standin_base):
    with StandIn(standin_base) as standin:
        used = standin.memory_current()
        assert isinstance(used, int) and 2**20 < used < 100 * 2**20
    assert standin.memory_current() is None
