"""What an AMI holds in the sandbox: the file system of the stand-in that played its instance.

Packer's amazon-ebs builder launches an instance in moto (a fake i-...) and provisions a
stand-in over SSH instead. Once the stand-in is bound to that instance (bind), CreateImage
of the instance keeps the stand-in's root file system as the new AMI's content: a zstd
tarball like the base image, which StandIn boots from instead of the base image.
CopyImage gives the copy the same content (one file, referenced by both AMIs);
DeregisterImage drops the reference, and the file goes with the last one. An AMI
registered by RegisterImage can be given a content tarball kept elsewhere (a cached build's,
imported): the store keeps its own link to it or copy of it, never the caller's file.

The store is the state of one SandboxAWS: its directory ($CATTLE_CACHE/run/images-XXXX,
next to the stand-ins' working directories) is created on the first capture and removed
by reset() and stop(), or at exit. `python -m cattle_sandbox.standin cleanup` removes
the directories of sandboxes that died without stopping. No moto in here: the aws
package's patches (aws/image_content.py) call it.
"""

import atexit
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .standin import namespaces, paths
from .standin.files import ROOT_SOURCE

# Mounted by the stand-in's own boot (nspawn, systemd), never on an EBS snapshot: kept as
# empty directories, like the mount points of a real root volume.
RUNTIME_DIRECTORIES = ("proc", "sys", "dev", "run", "tmp")
COMPRESSOR = "zstd -T0 -3"  # the base image's setting: 72 MB for a 224 MB root in about 1 s
STORE_PREFIX = "images-"
OWNER_FILE = "owner.json"
CONTENT_SUFFIX = ".tar.zst"
TAR_WARNINGS_ONLY = 1  # tar: "some files differ" (a running system writes while it is read)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # the first four bytes of every zstd frame (RFC 8878)
CAPTURE_TIMEOUT = 600

log = logging.getLogger("cattle_sandbox.aws")


@dataclass
class Content:
    path: Path
    source_instance_id: str | None  # None for imported content
    standin_root: str | None
    size_bytes: int
    capture_seconds: float
    image_ids: set[str] = field(default_factory=set)
    imported_from: str | None = None

    def describe(self, image_id: str) -> dict[str, Any]:
        return {
            "image_id": image_id,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "capture_seconds": self.capture_seconds,
            "source_instance_id": self.source_instance_id,
            "standin_root": self.standin_root,
            "imported_from": self.imported_from,
            "image_ids": sorted(self.image_ids),
        }


class ImageStore:
    """Stand-in bindings and AMI contents of one sandbox. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._directory: Path | None = None
        self._pending: list[str] = []  # stand-in roots waiting for the next RunInstances
        self._bound: dict[str, str] = {}  # instance id -> stand-in root
        self._contents: dict[str, Content] = {}  # image id -> its content (shared by copies)
        self._missing: dict[str, str] = {}  # image id -> why it has no content

    # -- bindings ---------------------------------------------------------------------------

    def bind(self, root: str, instance_id: str | None = None) -> dict[str, Any]:
        """The stand-in whose root file system is `root` plays `instance_id`, or (None) the
        first instance of the next RunInstances call."""
        root = check_standin_root(root)
        with self._lock:
            if instance_id is None:
                self._pending.append(root)
            else:
                self._bound[instance_id] = root
        return {"root": root, "instance_id": instance_id, "pending": instance_id is None}

    def launched(self, instance_ids: list[str]) -> str | None:
        """RunInstances started these instances: the oldest pending stand-in plays the first."""
        with self._lock:
            if not self._pending or not instance_ids:
                return None
            root = self._pending.pop(0)
            self._bound[instance_ids[0]] = root
        log.info("stand-in %s plays instance %s", root, instance_ids[0])
        return root

    def binding_pending(self) -> bool:
        """Whether the next RunInstances goes to a bound stand-in (Packer's build instance)."""
        with self._lock:
            return bool(self._pending)

    def content_path(self, image_id: str) -> str | None:
        """Where the AMI's content is; None when it has none."""
        with self._lock:
            content = self._contents.get(image_id)
            return str(content.path) if content is not None else None

    def bindings(self) -> list[dict[str, Any]]:
        with self._lock:
            bound = [{"root": root, "instance_id": iid, "pending": False} for iid, root in self._bound.items()]
            return bound + [{"root": root, "instance_id": None, "pending": True} for root in self._pending]

    def clear_bindings(self) -> int:
        with self._lock:
            count = len(self._bound) + len(self._pending)
            self._bound.clear()
            self._pending.clear()
            return count

    # -- what CreateImage, CopyImage and DeregisterImage do -------------------------------

    def image_created(self, image_id: str, instance_id: str) -> Content | None:
        """CreateImage made image_id from instance_id: keeps its stand-in's file system, if any."""
        with self._lock:
            root = self._bound.get(instance_id)
            if root is None:
                self._missing[image_id] = (
                    f"it was created from instance {instance_id}, which no stand-in played "
                    "(bind one with bind_standin before RunInstances or CreateImage)"
                )
                return None
            try:
                content = self._capture(root, instance_id, image_id)
            except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as error:
                self._missing[image_id] = f"keeping the file system of stand-in {root} failed: {error}"
                log.error("image %s: %s", image_id, self._missing[image_id])
                return None
            self._contents[image_id] = content
            return content

    def content_imported(self, image_id: str, source: Any) -> Content:
        """image_id (registered, with no content yet) holds the file system of the content
        tarball `source`; the store links or copies it, so `source` stays the caller's."""
        source_path = check_content_tarball(source)
        with self._lock:
            if image_id in self._contents:
                existing = self._contents[image_id].path
                raise ValueError(f"AMI {image_id} already has content ({existing}); nothing was changed")
            target = self._store_directory() / f"{image_id}{CONTENT_SUFFIX}"
            started = time.monotonic()
            link_or_copy(source_path, target)
            seconds = round(time.monotonic() - started, 2)
            content = Content(target, None, None, target.stat().st_size, seconds, {image_id}, str(source_path))
            self._contents[image_id] = content
            self._missing.pop(image_id, None)
        log.info("image %s: content imported from %s in %.1f s", image_id, source_path, seconds)
        return content

    def image_copied(self, source_image_id: str, image_id: str) -> None:
        """CopyImage: the copy references the source's content (no bytes are duplicated)."""
        with self._lock:
            content = self._contents.get(source_image_id)
            if content is None:
                why = self._missing.get(source_image_id, "it was not made from a stand-in")
                self._missing[image_id] = f"it is a copy of {source_image_id}, which has no content: {why}"
                return
            content.image_ids.add(image_id)
            self._contents[image_id] = content

    def image_deregistered(self, image_id: str) -> None:
        """The content stays while another AMI (a copy) references it; the last one removes it."""
        with self._lock:
            content = self._contents.pop(image_id, None)
            self._missing[image_id] = "it was deregistered (the sandbox drops an AMI's content with the AMI)"
            if content is None:
                return
            content.image_ids.discard(image_id)
            if not content.image_ids:
                content.path.unlink(missing_ok=True)

    # -- lookups ----------------------------------------------------------------------------

    def describe(self, image_id: str) -> dict[str, Any] | None:
        """The content of image_id; None when the store never heard of the AMI.

        Raises LookupError, saying why, for an AMI it knows has none.
        """
        with self._lock:
            content = self._contents.get(image_id)
            if content is not None:
                return content.describe(image_id)
            if image_id in self._missing:
                raise LookupError(f"AMI {image_id} has no content to boot from: {self._missing[image_id]}")
            return None

    def contents(self) -> list[dict[str, Any]]:
        with self._lock:
            return [content.describe(image_id) for image_id, content in sorted(self._contents.items())]

    # -- lifecycle --------------------------------------------------------------------------

    def clear(self) -> None:
        """Forgets bindings and contents and removes the files (sandbox reset)."""
        with self._lock:
            self.clear_bindings()
            self._contents.clear()
            self._missing.clear()
            directory, self._directory = self._directory, None
        if directory is not None:
            atexit.unregister(self.clear)
            shutil.rmtree(directory, ignore_errors=True)

    # -- capture ----------------------------------------------------------------------------

    def _capture(self, root: str, instance_id: str, image_id: str) -> Content:
        if not os.path.isdir(root):
            raise RuntimeError(f"{root} no longer exists (was the stand-in stopped before CreateImage?)")
        check_standin_root(root)  # still the stand-in's root, not the directory under it
        target = self._store_directory() / f"{image_id}{CONTENT_SUFFIX}"
        started = time.monotonic()
        write_content(root, target)
        seconds = round(time.monotonic() - started, 2)
        content = Content(target, instance_id, root, target.stat().st_size, seconds, {image_id})
        log.info("image %s: kept stand-in %s (%d MB) in %.1f s", image_id, root, content.size_bytes // 10**6, seconds)
        return content

    def _store_directory(self) -> Path:
        if self._directory is None:
            paths.run_root().mkdir(parents=True, exist_ok=True)
            self._directory = Path(tempfile.mkdtemp(prefix=STORE_PREFIX, dir=paths.run_root()))
            write_owner(self._directory)
            atexit.register(self.clear)
        return self._directory


def check_standin_root(root: Any) -> str:
    """root, if it is a stand-in's root file system (its own overlay mount); ValueError otherwise.

    The capture reads a whole tree as root: it must never be the host's root or some
    other directory given by mistake.
    """
    if not isinstance(root, str) or not os.path.isabs(root):
        raise ValueError(f"root must be the absolute path of a stand-in's root file system, not {root!r}")
    root = os.path.normpath(root)
    if mount_source(root) != ("overlay", ROOT_SOURCE):
        raise ValueError(
            f"{root} is not a stand-in's root file system (an overlay {ROOT_SOURCE!r} mounted by "
            "cattle_sandbox.standin): pass StandIn.files.root, or use StandIn.bind_to()"
        )
    return root


def check_content_tarball(path: Any) -> Path:
    """path, if it names a readable zstd-compressed tarball (*.tar.zst); ValueError saying what it is otherwise."""
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValueError(f"path must be the absolute path of a content tarball (*{CONTENT_SUFFIX}), not {path!r}")
    candidate = Path(path)
    if not candidate.name.endswith(CONTENT_SUFFIX) or not candidate.is_file():
        raise ValueError(f"{path} is not a content tarball (a regular file named *{CONTENT_SUFFIX})")
    with candidate.open("rb") as handle:
        if handle.read(len(ZSTD_MAGIC)) != ZSTD_MAGIC:
            raise ValueError(f"{path} is not zstd-compressed (what the store keeps and stand-ins boot from)")
    return candidate


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link when both are on one file system (instant), a copy otherwise."""
    try:
        os.link(source, target)
    except OSError:
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        partial.replace(target)


def mount_source(point: str) -> tuple[str, str] | None:
    """(file system type, source) of what is mounted at point, from our mount table; None if nothing.

    The last entry wins: a later mount on the same point hides the earlier ones.
    """
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            fields = line.split()
            if _unescape(fields[4]) == point:
                separator = fields.index("-")
                found = (fields[separator + 1], fields[separator + 2])
    return found


def _unescape(path: str) -> str:
    for code in ("\\040", "\\011", "\\012", "\\134"):
        path = path.replace(code, chr(int(code[1:], 8)))
    return path


def write_content(root: str, target: Path) -> None:
    """tar + zstd of root without the runtime directories' contents; written whole or not at all."""
    partial = target.with_name(target.name + ".partial")
    argv = ["tar", "--create", f"--file={partial}", f"--directory={root}", "--numeric-owner",
            "--xattrs", "--xattrs-include=*", "--acls", "--warning=no-file-changed",
            "--warning=no-file-removed", "--warning=no-file-ignored", "--anchored"]
    argv += [f"--exclude=./{directory}/*" for directory in RUNTIME_DIRECTORIES]
    argv += [f"--use-compress-program={COMPRESSOR}", "."]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=CAPTURE_TIMEOUT, check=False)
    if result.returncode not in (0, TAR_WARNINGS_ONLY):
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"tar exited with {result.returncode}: {result.stderr.strip()[-500:]}")
    partial.replace(target)


def write_owner(directory: Path) -> None:
    """Who owns the store, for the stale cleanup after a crash (pid and its start time)."""
    owner = {"owner_pid": os.getpid(), "owner_start": namespaces.start_time(os.getpid())}
    (directory / OWNER_FILE).write_text(json.dumps(owner) + "\n")


# -- reading a content tarball (what the image itself carries, before any boot changes it) --


def list_content(path: str | Path) -> list[str]:
    """Member names of a content tarball, without the leading "./" ("etc/machine-id", ...)."""
    result = subprocess.run(["tar", "--list", f"--file={path}", "--use-compress-program=zstd"],
                            capture_output=True, text=True, timeout=300, check=True)
    return [name[2:] if name.startswith("./") else name for name in result.stdout.splitlines() if name != "./"]


def read_content_file(path: str | Path, member: str) -> bytes:
    """One file of a content tarball ("etc/machine-id"); FileNotFoundError when it is not there."""
    result = subprocess.run(["tar", "--extract", "--to-stdout", f"--file={path}", "--use-compress-program=zstd",
                             f"./{member.lstrip('/')}"], capture_output=True, timeout=300, check=False)
    if result.returncode != 0:
        raise FileNotFoundError(f"{member} is not in {path}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
