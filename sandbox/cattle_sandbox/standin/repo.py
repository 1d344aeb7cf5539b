"""The local package repository the stand-ins install from, as in an air-gapped build.

Filled outside any private network namespace with `apt-get download` of the packages in
sandbox/packages.txt and their recursive dependencies, indexed with dpkg-scanpackages,
and bound read-only into every stand-in at /srv/cattle-repo. Cached under a key of the
package list, so editing packages.txt fills a new repository.

Every dependency is downloaded, including what the base image already has: the host's
apt may pick newer versions (updates, security) than the base image carries, and a
package that needs one of those must still install with no network.
"""

import gzip
import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

from . import commands, paths
from .base_image import SUITE

# Bump when the way the repository is filled changes.
REPO_RECIPE_VERSION = "1"
PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
DEPENDS_OPTIONS = (
    "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
    "--no-breaks", "--no-replaces", "--no-enhances",
)
INDEX_FILES = ("Packages", "Packages.gz", "Release")


class PackageListError(ValueError):
    pass


@dataclass(frozen=True)
class RepoResult:
    path: Path
    reused: bool
    seconds: float
    package_count: int
    size_bytes: int


def read_package_list(path=paths.PACKAGES_FILE):
    """Package names, one a line; `#` starts a comment."""
    names = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not PACKAGE_NAME.match(name):
            raise PackageListError(f"{path}:{number}: {name!r} is not a Debian package name")
        names.append(name)
    if not names:
        raise PackageListError(f"{path} lists no packages")
    return names


def native_architecture():
    return commands.run(["dpkg", "--print-architecture"]).stdout.strip()


def repo_key(packages, architecture):
    listed = "\n".join(sorted(set(packages)))
    material = f"{REPO_RECIPE_VERSION}\n{SUITE}\n{architecture}\n{listed}\n"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def repo_path(packages, architecture):
    return paths.standin_cache() / f"repo-{repo_key(packages, architecture)}"


def ensure_repo(packages_file=paths.PACKAGES_FILE, log=print):
    """The cached repository for the current package list, filled first when missing."""
    packages = read_package_list(packages_file)
    target = repo_path(packages, native_architecture())
    if is_complete(target):
        return describe(target, reused=True, seconds=0.0)
    with commands.stopwatch() as timing:
        fill_repo(packages, target, log)
    return describe(target, reused=False, seconds=timing["seconds"])


def is_complete(repo):
    return all((repo / name).is_file() for name in INDEX_FILES)


def describe(repo, reused, seconds):
    debs = list(repo.glob("*.deb"))
    size = sum(deb.stat().st_size for deb in debs)
    return RepoResult(repo, reused=reused, seconds=seconds, package_count=len(debs), size_bytes=size)


def fill_repo(packages, target, log):
    """Downloads into a temporary directory next to the target, then renames it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=target.parent))
    try:
        try:
            download_closure(packages, partial, log)
        except commands.CommandError:
            # Missing or stale host package lists (versions the mirror no longer has): refresh once.
            log("standin: resolving or downloading failed; refreshing the host's package lists and retrying")
            commands.run(["apt-get", "update", "-qq"], timeout=600)
            download_closure(packages, partial, log)
        write_index(partial)
        make_world_readable(partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def resolve_dependencies(packages):
    """The packages plus everything they depend on, recursively (no recommends)."""
    output = commands.run(["apt-cache", "depends", *DEPENDS_OPTIONS, *packages]).stdout
    return sorted(set(concrete_packages(output)))


def concrete_packages(depends_output):
    """Top-level names of `apt-cache depends` output, without virtual `<names>`."""
    for line in depends_output.splitlines():
        if line and not line[0].isspace() and not line.startswith("<"):
            # Foreign-architecture variants (name:i386) are not for the stand-in.
            if ":" not in line:
                yield line.strip()


def download_closure(packages, directory, log):
    closure = resolve_dependencies(packages)
    log(f"standin: downloading {len(closure)} packages ({', '.join(packages)} and dependencies)")
    commands.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *closure],
                 cwd=directory, timeout=1800)


def write_index(directory):
    """Packages, Packages.gz and a Release with their hashes, for a flat `./` repository."""
    packages = commands.run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], cwd=directory).stdout
    (directory / "Packages").write_text(packages)
    with gzip.open(directory / "Packages.gz", "wt", compresslevel=9) as compressed:
        compressed.write(packages)
    (directory / "Release").write_text(release_text(directory))


def release_text(directory):
    lines = [
        "Origin: cattle-sandbox",
        "Label: cattle-sandbox local repository",
        f"Date: {format_datetime(datetime.now(timezone.utc), usegmt=True)}",
        "SHA256:",
    ]
    for name in ("Packages", "Packages.gz"):
        data = (directory / name).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    return "\n".join(lines) + "\n"


def make_world_readable(directory):
    """apt inside the stand-in reads the bind mount as its unprivileged _apt user."""
    directory.chmod(0o755)
    for item in directory.iterdir():
        item.chmod(0o644)
