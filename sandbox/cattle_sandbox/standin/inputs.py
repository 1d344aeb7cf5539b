"""Preparing (outside any namespace) and finding (inside one) the stand-in's cached inputs."""

from dataclasses import dataclass
from pathlib import Path

from . import base_image, commands, paths, repo


class NotPrepared(RuntimeError):
    pass


@dataclass(frozen=True)
class Prepared:
    base_image: Path
    repo: Path


def prepare(log=print, packages_file=paths.PACKAGES_FILE):
    """Ensures the base image and the package repository exist; says what it reused."""
    paths.standin_cache().mkdir(parents=True, exist_ok=True)
    with prepare_lock():
        image = base_image.ensure_base_image(log)
        log(describe_base(image))
        packages = repo.ensure_repo(packages_file, log)
        log(describe_repo(packages))
    return Prepared(base_image=image.path, repo=packages.path)


def find_prepared(packages_file=paths.PACKAGES_FILE):
    """The prepared inputs for the current recipes, without building or downloading anything."""
    image = base_image.base_image_path()
    packages = repo.repo_path(repo.read_package_list(packages_file), repo.native_architecture())
    missing = []
    if not image.is_file():
        missing.append(f"base image {image.name}")
    if not repo.is_complete(packages):
        missing.append(f"package repository for {Path(packages_file).name} ({packages.name})")
    if missing:
        raise NotPrepared(
            f"the stand-in is not prepared: missing {' and '.join(missing)} in {paths.standin_cache()}. "
            "Run `make setup` (scripts/setup.sh) outside the private network namespace; "
            "it downloads what the stand-ins need, which cannot be done from inside it."
        )
    return Prepared(base_image=image, repo=packages)


def prepare_lock():
    """Two setups at once wait for each other instead of building the same thing twice."""
    return commands.exclusive_lock(paths.standin_cache() / ".prepare.lock")


def describe_base(result):
    size = base_image.human_size(result.size_bytes)
    if result.reused:
        return f"standin: reused base image {result.path} ({size})"
    return f"standin: built base image {result.path} in {result.seconds} s ({size})"


def describe_repo(result):
    what = f"{result.package_count} packages, {base_image.human_size(result.size_bytes)}"
    if result.reused:
        return f"standin: reused package repository {result.path} ({what})"
    return f"standin: filled package repository {result.path} in {result.seconds} s ({what})"
