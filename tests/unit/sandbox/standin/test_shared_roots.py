"""The store of extracted image copies below stand-in roots (cattle_sandbox.standin.shared_roots):
named by content, extracted once, never handed out half-made, pruned to a bound without
touching a copy in use. Small tarballs in a temporary $CATTLE_CACHE; nothing boots."""

import os
import subprocess
import threading
import time

import pytest
from cattle_sandbox.standin import files, paths, shared_roots


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CATTLE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def tarball(tmp_path, name, content):
    """A zstd tarball holding etc/name-file with content."""
    tree = tmp_path / f"tree-{name}"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "name-file").write_text(content)
    target = tmp_path / f"{name}.tar.zst"
    subprocess.run(["tar", "--create", "--zstd", f"--file={target}", f"--directory={tree}", "."], check=True)
    return target


def work_dir(name):
    work = paths.run_root() / f"standin-{name}"
    work.mkdir(parents=True)
    return work


def counting_extractions(monkeypatch, delay=0.0):
    calls = []
    extract = files.extract_tarball

    def counted(source, directory):
        calls.append(source)
        time.sleep(delay)
        extract(source, directory)

    monkeypatch.setattr(files, "extract_tarball", counted)
    return calls


def test_a_claim_extracts_once_and_links_the_copy_in_use(tmp_path):
    image = tarball(tmp_path, "one", "one\n")
    first, second = work_dir("a"), work_dir("b")

    lower, extracted = shared_roots.claim(image, first)
    again, extracted_again = shared_roots.claim(image, second)

    assert (extracted, extracted_again) == (True, False) and lower == again
    assert (lower / "etc" / "name-file").read_text() == "one\n"
    assert lower == shared_roots.store_root() / shared_roots.tarball_digest(image) / shared_roots.LOWER
    assert sorted(shared_roots.users(lower.parent)) == [first, second]
    assert not list(shared_roots.store_root().glob(".partial-*"))


def test_a_hard_link_of_the_tarball_is_the_same_image_and_other_bytes_another(tmp_path):
    image = tarball(tmp_path, "one", "one\n")
    os.link(image, tmp_path / "pinned.tar.zst")
    other = tarball(tmp_path, "two", "two\n")

    lower, _extracted = shared_roots.claim(image, work_dir("a"))
    assert shared_roots.claim(tmp_path / "pinned.tar.zst", work_dir("b")) == (lower, False)
    assert shared_roots.claim(other, work_dir("c"))[0] != lower


def test_concurrent_claims_wait_for_one_extraction(tmp_path, monkeypatch):
    image = tarball(tmp_path, "one", "one\n")
    calls = counting_extractions(monkeypatch, delay=0.3)
    works = [work_dir(str(number)) for number in range(3)]
    results = [None] * len(works)

    def claim(index):
        results[index] = shared_roots.claim(image, works[index])

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 1
    assert len({lower for lower, _extracted in results}) == 1
    assert sorted(extracted for _lower, extracted in results) == [False, False, True]


def test_a_failed_extraction_leaves_no_copy_behind(tmp_path):
    broken = tmp_path / "broken.tar.zst"
    broken.write_bytes(b"\x28\xb5\x2f\xfd not really zstd")

    with pytest.raises(RuntimeError):
        shared_roots.claim(broken, work_dir("a"))

    assert shared_roots.copies() == []
    assert not list(shared_roots.store_root().glob(".partial-*"))


def test_prune_keeps_copies_in_use_and_the_most_recently_used_unused_ones(tmp_path):
    images = [tarball(tmp_path, f"image{number}", f"{number}\n") for number in range(5)]
    works = []
    for number, image in enumerate(images):
        works.append(work_dir(str(number)))
        shared_roots.claim(image, works[-1])
        os.utime(shared_roots.store_root() / shared_roots.tarball_digest(image) / shared_roots.LAST_USED,
                 (1000 + number, 1000 + number))
    for work in works[1:]:  # image0 stays in use; the others' stand-ins are gone
        (work / shared_roots.USE_LINK).unlink()

    removed = shared_roots.prune(keep_unused=2)

    digests = [shared_roots.tarball_digest(image) for image in images]
    assert sorted(removed) == sorted(digests[1:3])
    assert [entry.name for entry in shared_roots.copies()] == [digests[4], digests[3], digests[0]]
    assert not list(shared_roots.store_root().glob(".removing-*"))
    assert sorted(path.name for path in shared_roots.store_root().glob("[!.]*.lock")) == sorted(
        f"{digest}.lock" for digest in (digests[0], digests[3], digests[4]))


def test_prune_removes_what_dead_processes_left_and_spares_work_under_way(tmp_path):
    store = shared_roots.store_root()
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True).stdout.strip()
    left = [store / f".partial-{gone}-x1", store / f".removing-{gone}-x2-abc"]
    under_way = store / f".partial-{os.getpid()}-x3"
    for directory in (*left, under_way):
        (directory / "root").mkdir(parents=True)

    shared_roots.prune()

    assert not any(path.exists() for path in left)
    assert under_way.exists()


def test_a_copy_removed_before_it_was_linked_is_extracted_again(tmp_path, monkeypatch):
    image = tarball(tmp_path, "one", "one\n")
    calls = counting_extractions(monkeypatch)
    link_if_present = shared_roots.link_if_present
    raced = []

    def pruned_first(entry, work):
        if not raced:  # another process's prune sets the copy aside right after its extraction
            raced.append(shared_roots.set_aside(entry))
        return link_if_present(entry, work)

    monkeypatch.setattr(shared_roots, "link_if_present", pruned_first)
    lower, extracted = shared_roots.claim(image, work_dir("a"))

    assert extracted and len(calls) == 2 and (lower / "etc" / "name-file").exists()
