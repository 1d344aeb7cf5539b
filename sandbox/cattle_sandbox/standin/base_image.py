"""The stand-in's base image: a debootstrapped Debian 12 with what every boot shares.

Built once (about 45 s) outside any private network namespace, because debootstrap
downloads; cached as a zstd tarball whose name carries the recipe key, so changing the
recipe below builds a new one. Nothing per-boot is baked in: host keys, the admin's
authorized key and sshd's listen address are written into each copy (see instance.py).
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import commands, mounts, paths
from .mirror import debian_mirror

SUITE = "bookworm"
INCLUDE = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo")
# Bump when the recipe's code changes; changes to the data below change the key by themselves.
RECIPE_VERSION = "1"

ADMIN_USER = "admin"
ADMIN_UID = 1000
REPO_MOUNT = "/srv/cattle-repo"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
SUDOERS_FILE = f"/etc/sudoers.d/90-cattle-{ADMIN_USER}"

# path in the image -> (mode, content)
BAKED_FILES = {
    SUDOERS_FILE: (0o440, f"{ADMIN_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"),
    "/etc/ssh/sshd_config.d/10-cattle-standin.conf": (
        0o644,
        "# Stand-in for an EC2 build instance: key-only logins, no root, one host key\n"
        "# generated per boot (the listen address comes from 20-cattle-listen.conf).\n"
        f"HostKey {HOST_KEY}\n"
        "PermitRootLogin no\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\n"
        "UseDNS no\n",
    ),
    # The only package source: the local repository bound in read-only at boot.
    "/etc/apt/sources.list.d/cattle-repo.list": (0o644, f"deb [trusted=yes] file:{REPO_MOUNT} ./\n"),
    "/etc/apt/apt.conf.d/90-cattle-offline": (0o644, 'Acquire::Languages "none";\n'),
    # Stand-ins are thrown away after each boot: fsync per file buys nothing.
    "/etc/dpkg/dpkg.cfg.d/90-cattle-unsafe-io": (0o644, "force-unsafe-io\n"),
    "/etc/default/locale": (0o644, "LANG=C.UTF-8\n"),
    "/etc/timezone": (0o644, "Etc/UTC\n"),
    # debootstrap copies the host's resolver; stand-ins have no DNS to reach.
    "/etc/resolv.conf": (0o644, "# stand-ins reach nothing but their sandbox: no DNS\n"),
    # Empty: systemd gives every boot its own machine id.
    "/etc/machine-id": (0o444, ""),
}
REMOVED_PATHS = (
    "/etc/apt/sources.list",  # debootstrap's network mirror
    "/etc/hostname",  # systemd-nspawn --machine names each boot
    "/var/lib/dbus/machine-id",
)
REMOVED_GLOBS = ("/etc/ssh/ssh_host_*", "/var/lib/apt/lists/*", "/var/cache/apt/*.bin", "/var/cache/apt/archives/*.deb")
# The apt timers would take the dpkg lock in the middle of a build.
DISABLED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer")
# Its login prompt on the console log helps nobody; logins are over SSH.
MASKED_UNITS = ("console-getty.service",)
TIMEZONE = "Etc/UTC"


@dataclass(frozen=True)
class BaseImageResult:
    path: Path
    reused: bool
    seconds: float
    size_bytes: int


def recipe_key():
    recipe = json.dumps(
        {
            "version": RECIPE_VERSION,
            "suite": SUITE,
            "include": INCLUDE,
            "admin": [ADMIN_USER, ADMIN_UID],
            "files": {path: [mode, content] for path, (mode, content) in BAKED_FILES.items()},
            "removed": [REMOVED_PATHS, REMOVED_GLOBS],
            "disabled": DISABLED_UNITS,
            "masked": MASKED_UNITS,
            "timezone": TIMEZONE,
        },
        sort_keys=True,
    )
    return f"{SUITE}-r{RECIPE_VERSION}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def base_image_path():
    return paths.standin_cache() / f"base-{recipe_key()}.tar.zst"


def ensure_base_image(log=print):
    """The cached tarball for the current recipe, built first when missing."""
    target = base_image_path()
    if target.is_file():
        return BaseImageResult(target, reused=True, seconds=0.0, size_bytes=target.stat().st_size)
    with commands.stopwatch() as timing:
        build_base_image(target, log)
    prune_other_base_images(target, log)
    return BaseImageResult(target, reused=False, seconds=timing["seconds"], size_bytes=target.stat().st_size)


def build_base_image(target, log):
    work = target.with_name(target.name + ".build")
    if work.exists():
        mounts.remove_tree(work)  # an interrupted build; debootstrap may have left /proc mounted
    rootfs = work / "rootfs"
    rootfs.mkdir(parents=True)
    try:
        debootstrap(rootfs, log)
        customize(rootfs)
        write_tarball(rootfs, target)
    finally:
        mounts.remove_tree(work)


def debootstrap(rootfs, log):
    mirror = debian_mirror(SUITE)
    debs = paths.standin_cache() / "debootstrap-debs"  # re-used when only the recipe changes
    debs.mkdir(parents=True, exist_ok=True)
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(INCLUDE)}", f"--cache-dir={debs}"]
    if mirror.keyring:
        argv.append(f"--keyring={mirror.keyring}")
    argv += [SUITE, rootfs, mirror.uri]
    log(f"standin: debootstrap {SUITE} from {mirror.uri} (about 45 s)")
    commands.run(argv, timeout=1800)


def customize(rootfs):
    """Everything every stand-in shares; order matters only for sudoers validation."""
    create_admin_user(rootfs)
    write_baked_files(rootfs)
    commands.run(["chroot", rootfs, "visudo", "-cf", SUDOERS_FILE])
    set_timezone(rootfs)
    commands.run(["systemctl", f"--root={rootfs}", "disable", *DISABLED_UNITS])
    commands.run(["systemctl", f"--root={rootfs}", "mask", *MASKED_UNITS])
    remove_host_specific_state(rootfs)


def create_admin_user(rootfs):
    commands.run(
        ["chroot", rootfs, "useradd", "--create-home", "--shell", "/bin/bash",
         "--uid", ADMIN_UID, "--user-group", ADMIN_USER]
    )
    # "*": no password can match, yet the account is not "locked" (sshd refuses those).
    commands.run(["chroot", rootfs, "usermod", "--password", "*", ADMIN_USER])


def write_baked_files(rootfs):
    for path, (mode, content) in BAKED_FILES.items():
        target = inside(rootfs, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.write_text(content)
        target.chmod(mode)


def set_timezone(rootfs):
    localtime = inside(rootfs, "/etc/localtime")
    if localtime.is_symlink() or localtime.exists():
        localtime.unlink()
    if inside(rootfs, f"/usr/share/zoneinfo/{TIMEZONE}").exists():
        localtime.symlink_to(f"/usr/share/zoneinfo/{TIMEZONE}")
    # Without tzdata glibc falls back to UTC, which is what we want anyway.


def remove_host_specific_state(rootfs):
    for path in REMOVED_PATHS:
        target = inside(rootfs, path)
        if target.is_symlink() or target.exists():
            target.unlink()
    for pattern in REMOVED_GLOBS:
        for target in rootfs.glob(pattern.lstrip("/")):
            if not target.is_dir():  # keeps apt's own directories such as lists/partial
                target.unlink()


def write_tarball(rootfs, target):
    """tar + zstd to a temporary name, then rename: a reader never sees half a tarball."""
    partial = target.with_name(f"{target.name}.partial")
    commands.run(
        ["tar", "--create", "--file", partial, "--directory", rootfs, "--numeric-owner",
         "--xattrs", "--xattrs-include=*", "--acls", "--use-compress-program=zstd -T0 -3", "."],
        timeout=600,
    )
    partial.replace(target)


def prune_other_base_images(keep, log):
    for old in keep.parent.glob("base-*.tar.zst"):
        if old != keep:
            log(f"standin: removing base image of an older recipe: {old.name}")
            old.unlink()


def inside(rootfs, path):
    return Path(rootfs) / path.lstrip("/")


def human_size(size_bytes):
    return f"{size_bytes / 1_000_000:.0f} MB"
