# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The fingerprint of an image build's inputs: same inputs, same fingerprint, same AMI.

A SHA-256 over typed, length-prefixed records, so no two different inputs can run
together into the same byte stream:

- the scheme version, the app, the Packer version and the resolved source AMI id;
- the Packer variables (canonical JSON, minus those that only say how to connect);
- the build selection (``only``) and the contents of the variable files, in order;
- every named file and directory: each entry's path relative to what was named (prefixed
  by the position in the list, never by where the checkout lives), its kind and its
  content; directories are walked in sorted order, symlinks are recorded as links and
  not followed, and names matching an exclusion pattern are skipped.
"""

import fnmatch
import hashlib
import json
import os
import stat

FINGERPRINT_SCHEME = "cattle.immutable/image_build/1"
DEFAULT_EXCLUDES = (".git", "__pycache__", "*.pyc", "packer_cache", "crash.log", ".DS_Store")
_CHUNK = 1024 * 1024


class FingerprintError(ValueError):
    """An input that cannot be fingerprinted; the message names it."""


def _record(digest, kind, name, size):
    header = "{0}\0{1}\0{2}\0".format(kind, name, size)
    digest.update(header.encode("utf-8", "surrogateescape"))


def _add_bytes(digest, kind, name, data):
    _record(digest, kind, name, len(data))
    digest.update(data)


def _add_text(digest, kind, name, text):
    _add_bytes(digest, kind, name, text.encode("utf-8", "surrogateescape"))


def _add_file(digest, kind, name, path):
    try:
        size = os.stat(path).st_size
        _record(digest, kind, name, size)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as e:
        raise FingerprintError("cannot read {0} for the fingerprint: {1}".format(path, e.strerror or e))


def is_excluded(name, excludes):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in excludes)


def _sorted_entries(directory):
    try:
        return sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as e:
        raise FingerprintError("cannot list {0} for the fingerprint: {1}".format(directory, e.strerror or e))


def _add_tree(digest, label, path, excludes):
    """One named path: a file, a symlink, or a directory walked depth-first in name order."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        _add_text(digest, "link", label, os.readlink(path))
    elif stat.S_ISREG(mode):
        _add_file(digest, "file", label, path)
    elif stat.S_ISDIR(mode):
        _add_bytes(digest, "dir", label, b"")
        for entry in _sorted_entries(path):
            if not is_excluded(entry.name, excludes):
                _add_tree(digest, label + "/" + entry.name, entry.path, excludes)
    # Sockets, fifos and devices have no content worth hashing.


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def missing_paths(paths):
    return [path for path in paths if not os.path.lexists(path)]


def compute_fingerprint(
    app,
    packer_version,
    source_ami,
    variables=None,
    only=None,
    var_files=None,
    paths=None,
    excludes=DEFAULT_EXCLUDES,
):
    """The fingerprint (64 lowercase hexadecimal digits) of one build's inputs."""
    missing = missing_paths(list(var_files or []) + list(paths or []))
    if missing:
        raise FingerprintError("cannot fingerprint what does not exist: " + ", ".join(missing))
    digest = hashlib.sha256()
    _add_text(digest, "scheme", "", FINGERPRINT_SCHEME)
    _add_text(digest, "app", "", app)
    _add_text(digest, "packer-version", "", packer_version)
    _add_text(digest, "source-ami", "", source_ami)
    _add_text(digest, "vars", "", canonical_json(variables or {}))
    _add_text(digest, "only", "", canonical_json(sorted(only or [])))
    for index, var_file in enumerate(var_files or []):
        _add_file(digest, "var-file", str(index), var_file)
    for index, path in enumerate(paths or []):
        label = "{0}/{1}".format(index, os.path.basename(os.path.normpath(path)))
        _add_tree(digest, label, path, excludes)
    return digest.hexdigest()
