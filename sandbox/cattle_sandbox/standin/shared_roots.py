"""One extracted copy of each image tarball on disk, shared by every stand-in booted from it.

A stand-in's root file system is an overlay (files.mount_root_overlay): one of these copies
below, read only, and the stand-in's own upper directory above it, in its working directory.
Booting from a tarball again (the base image, an AMI's content, the golden image) extracts
nothing.

- Named by content: a copy is `<SHA-256 of the tarball>/root`, so the links that pin an AMI's
  content for a launch (live_instances.pin_content), the AMI's copies and an imported tarball
  all find the same copy.
- Extracted once: a lock per digest makes concurrent boots of one tarball wait for a single
  extraction, into a partial directory that is renamed into place when complete.
- Never changed: overlayfs forbids changing a lower directory under a mounted overlay. The
  store writes only next to `root` (the last-used stamp), never into it.
- In use: a stand-in's working directory holds a link (USE_LINK) to the copy it mounts, made
  under the store's lock after the copy was found there; it goes with the working directory,
  also when `cleanup` removes a stand-in whose owner died.
- Bounded: after each new extraction and on `cleanup`, copies no stand-in uses are removed,
  all but the KEEP_UNUSED most recently used (each is as large as an unpacked image).
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

from . import commands, files, namespaces, paths

STORE_NAME = "shared-roots"
USE_LINK = "shared-root"  # in a stand-in's working directory: the copy below its root
LOWER = "root"
LAST_USED = "last-used"
STORE_LOCK = ".lock"
LOCK_SUFFIX = ".lock"  # <digest>.lock: held while one process extracts that tarball
PARTIAL_PREFIX = ".partial-"
REMOVING_PREFIX = ".removing-"
KEEP_UNUSED = 3
CLAIM_ATTEMPTS = 3  # a copy removed between extraction and use is extracted again

_digests = {}  # (device, inode, size, mtime) of a tarball -> its SHA-256, for this process
_digests_lock = threading.Lock()  # boots at once (live instances of one AMI) hash the file once


def store_root():
    return paths.run_root() / STORE_NAME


def claim(tarball, work):
    """The lower directory holding tarball's files for the stand-in whose working directory is work,
    extracted first if no copy exists. Returns (lower directory, whether this call extracted it)."""
    digest = tarball_digest(tarball)
    entry = store_root() / digest
    extracted = False
    for _attempt in range(CLAIM_ATTEMPTS):
        with commands.exclusive_lock(lock_path(digest)):  # others booting this tarball wait for one extraction
            if not (entry / LOWER).is_dir():
                extract(tarball, entry)
                extracted = True
        if link_if_present(entry, work):
            break
    else:
        raise RuntimeError(f"the shared copy {entry} was removed as soon as it was extracted, {CLAIM_ATTEMPTS} times")
    if extracted:
        prune(background=True)  # deleting 200+ MB takes seconds on this disk: not during a boot
    return entry / LOWER, extracted


def lock_path(digest):
    return store_root() / f"{digest}{LOCK_SUFFIX}"


def tarball_digest(tarball):
    """SHA-256 of the tarball's bytes (about 0.1 s for 75 MB), once per file in this process."""
    stat = os.stat(tarball)
    identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        if identity not in _digests:
            with open(tarball, "rb") as handle:
                _digests[identity] = hashlib.file_digest(handle, "sha256").hexdigest()
        return _digests[identity]


def extract(tarball, entry):
    """tarball's files into entry/root, whole or not at all (a partial directory, then a rename).
    Should another process have put a copy there meanwhile, that one stays and ours goes."""
    store_root().mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{os.getpid()}-", dir=store_root()))
    try:
        (partial / LOWER).mkdir()
        files.extract_tarball(tarball, partial / LOWER)
        partial.rename(entry)
    except OSError:
        if not (entry / LOWER).is_dir():
            raise
    finally:
        discard(partial)


def link_if_present(entry, work):
    """Marks entry used by the stand-in in work, if it is still there (under the store's lock)."""
    with store_lock():
        if not (entry / LOWER).is_dir():
            return False
        (work / USE_LINK).unlink(missing_ok=True)
        (work / USE_LINK).symlink_to(entry)
        (entry / LAST_USED).touch()
        return True


@contextmanager
def store_lock():
    """Held while a copy is marked used or chosen for removal: a copy in use is never removed."""
    with commands.exclusive_lock(store_root() / STORE_LOCK):
        yield


def users(entry):
    """Working directories (of running or stale stand-ins) whose root is over entry."""
    found = []
    for work in paths.run_root().glob("standin-*"):
        try:
            if os.readlink(work / USE_LINK) == str(entry):
                found.append(work)
        except OSError:
            continue
    return found


def copies():
    """The complete copies in the store, most recently used first."""
    if not store_root().is_dir():
        return []
    found = [entry for entry in store_root().iterdir() if (entry / LOWER).is_dir() and not entry.name.startswith(".")]
    return sorted(found, key=last_used, reverse=True)


def last_used(entry):
    try:
        return (entry / LAST_USED).stat().st_mtime
    except OSError:
        return 0.0


def prune(keep_unused=KEEP_UNUSED, log=None, background=False):
    """Removes copies no stand-in uses, all but the keep_unused most recently used, and what
    crashed extractions and removals left. background: the deleting goes on behind the caller's
    back (an `rm -rf` that outlives this process if need be). Returns the names of the removed copies."""
    with store_lock():
        unused = [entry for entry in copies() if not users(entry)]
        doomed = [set_aside(entry) for entry in unused[keep_unused:]]
        stray_locks = [path for path in store_root().glob(f"[!.]*{LOCK_SUFFIX}")
                       if not (store_root() / path.name[:-len(LOCK_SUFFIX)]).exists() and not held(path)]
    for name, _aside in doomed:
        if log:
            log(f"standin: removing the shared root copy {name} (unused; {keep_unused} more recently used ones stay)")
    for lock_file in stray_locks:
        lock_file.unlink(missing_ok=True)
    trees = [aside for _name, aside in doomed] + abandoned()
    if background and trees:
        threading.Thread(target=remove_detached, args=(trees,), name="shared-roots-prune", daemon=True).start()
    else:
        discard_all(trees)
    return [name for name, _aside in doomed]


def held(lock_file):
    """Whether some process holds the flock on lock_file (say, while it extracts)."""
    try:
        with open(lock_file, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def set_aside(entry):
    """Renames entry out of the way (instant, under the lock); it is deleted afterwards."""
    aside = store_root() / f"{REMOVING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{entry.name}"
    entry.rename(aside)
    return entry.name, aside


def abandoned():
    """Partial extractions and removals whose process is gone (named .partial-<pid>-..., .removing-<pid>-...)."""
    if not store_root().is_dir():
        return []
    found = []
    for path in store_root().iterdir():
        for prefix in (PARTIAL_PREFIX, REMOVING_PREFIX):
            pid = path.name[len(prefix):].split("-", 1)[0] if path.name.startswith(prefix) else ""
            if pid.isdigit() and not namespaces.process_alive(int(pid)):
                found.append(path)
    return found


def remove_detached(trees):
    """rm -rf in a session of its own: it finishes even if this process exits first."""
    subprocess.run(["rm", "-rf", "--", *map(str, trees)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, start_new_session=True, check=False)


def discard_all(paths_to_remove):
    for path in paths_to_remove:
        discard(path)


def discard(path):
    """A directory tree or a file, gone; whatever is already gone is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        Path(path).unlink(missing_ok=True)
