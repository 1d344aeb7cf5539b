"""Mount points under a directory: found, unmounted, and never deleted through."""

import re
import shutil
from pathlib import Path

from . import commands


def mount_points():
    """Mount points of our mount namespace, unescaped (\\040 is a space)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4]) for line in lines]


def mounts_at_or_below(path):
    prefix = str(path)
    return [point for point in mount_points() if point == prefix or point.startswith(prefix + "/")]


def unmount(point):
    """Normally; lazily if something still holds it, so the directory can go either way."""
    if commands.run(["umount", point], check=False).returncode != 0:
        commands.run(["umount", "--lazy", point])


def unmount_below(path):
    """Deepest first, so a mount inside another one goes before it."""
    for point in sorted(mounts_at_or_below(path), key=len, reverse=True):
        unmount(point)


def remove_tree(path):
    """rmtree, but only once nothing is mounted below: it must not delete into /proc, /dev or a stand-in's root."""
    unmount_below(path)
    remaining = mounts_at_or_below(path)
    if remaining:
        raise RuntimeError(f"not removing {path}: still mounted below it: {', '.join(remaining)}")
    shutil.rmtree(path)
