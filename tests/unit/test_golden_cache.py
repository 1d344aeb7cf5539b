"""The golden image's cache (tests/fixtures/golden.py): one build, however many processes ask."""

import json
import multiprocessing
import time

import pytest

from fixtures import golden


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CATTLE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_build(scratch, seconds=0.0):
    """A builder that keeps a record and counts its runs in scratch/builds."""

    def build(key):
        with open(scratch / "builds", "a", encoding="utf-8") as runs:
            runs.write(key + "\n")
        time.sleep(seconds)
        content = scratch / f"{key}.tar.zst"
        content.write_bytes(b"\x28\xb5\x2f\xfd content of " + key.encode())
        return golden.keep_build(key, {"result": {"fingerprint": key}}, content)

    return build


def ask(key, scratch, seconds, answers):
    answers.put(golden.shared_build(key, fake_build(scratch, seconds)).record)


def test_processes_asking_at_once_share_one_build(tmp_path):
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    processes = [context.Process(target=ask, args=("k1", tmp_path, 1.0, answers)) for process_number in range(3)]
    for process in processes:
        process.start()
    records = [answers.get(timeout=30) for process in processes]
    for process in processes:
        process.join(timeout=30)

    assert (tmp_path / "builds").read_text() == "k1\n"
    assert records == [{"result": {"fingerprint": "k1"}}] * 3


def test_a_kept_build_is_read_back_whole_and_replaces_other_keys(tmp_path, cache_root):
    first = golden.shared_build("k1", fake_build(tmp_path))
    second = golden.shared_build("k2", fake_build(tmp_path))

    assert golden.read_build("k2") == second and second.content_path.read_bytes().endswith(b"content of k2")
    assert golden.read_build("k1") is None and not first.directory.exists()
    assert sorted(path.name for path in (cache_root / "golden").iterdir()) == [".lock", "k2"]
    assert (tmp_path / "builds").read_text() == "k1\nk2\n"


def test_a_record_without_its_content_or_unreadable_is_built_again(tmp_path):
    kept = golden.shared_build("k1", fake_build(tmp_path))
    kept.content_path.unlink()
    assert golden.read_build("k1") is None
    rebuilt = golden.shared_build("k1", fake_build(tmp_path))
    (rebuilt.directory / golden.RECORD_FILE).write_text("{ half a record")

    assert golden.read_build("k1") is None
    assert json.loads((golden.shared_build("k1", fake_build(tmp_path)).directory / golden.RECORD_FILE).read_text())
    assert (tmp_path / "builds").read_text() == "k1\nk1\nk1\n"


def test_the_key_changes_with_the_base_image_the_build_starts_from(monkeypatch):
    key = golden.golden_key()
    assert golden.golden_key() == key and len(key) == 64
    monkeypatch.setattr(golden.base_image, "recipe_key", lambda: "bookworm-r2-0123456789ab")
    assert golden.golden_key() != key
