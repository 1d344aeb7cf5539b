"""A cgroup of its own for every stand-in, where no host systemd makes one.

With --keep-unit and no systemd on the host, systemd-nspawn puts the stand-in into
`<its own cgroup>/payload`. Two stand-ins started from the same cgroup then share that
`payload`, and their systemds trip over each other's units: units fail at random with
status 219/CGROUP. So each stand-in is started from a fresh
`cattle-standin/<id>` cgroup, in the hierarchies systemd uses (name=systemd, cgroup2).
"""

import os
from pathlib import Path

PARENT = "cattle-standin"
# Moves the shell into each cgroup.procs file given, then execs the rest: the pid, and with it
# the cgroups, stay those of the program (systemd-nspawn). No preexec_fn: tests boot from threads.
JOIN_AND_EXEC = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"'


def systemd_hierarchies():
    """Mount points of the name=systemd (v1) and the unified (v2) hierarchy, where mounted."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        fstype, super_options = fields[separator + 1], fields[separator + 3]
        if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in super_options.split(",")):
            found.append((fstype, Path(fields[4])))
    return found


def own_cgroup_path(fstype):
    """Our cgroup within a hierarchy, from /proc/self/cgroup ("0::/x" or "9:name=systemd:/x")."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy_id, controllers, path = line.split(":", 2)
        if (fstype == "cgroup2" and hierarchy_id == "0") or (fstype == "cgroup" and controllers == "name=systemd"):
            return path
    return "/"


def cgroup_dirs(instance_id):
    return [mount / own_cgroup_path(fstype).lstrip("/") / PARENT / instance_id
            for fstype, mount in systemd_hierarchies()]


def create(instance_id):
    """The stand-in's cgroup directories (one per hierarchy)."""
    directories = cgroup_dirs(instance_id)
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
    return directories


def joined_argv(directories, argv):
    """argv, run after its process has joined the given cgroups."""
    procs = [str(directory / "cgroup.procs") for directory in directories]
    return ["sh", "-c", JOIN_AND_EXEC, "join-cgroups", str(len(procs)), *procs, *argv]


def remove(instance_id):
    """Removes the stand-in's cgroups, deepest first; only empty ones can go, as it should be."""
    for directory in cgroup_dirs(instance_id):
        if not directory.exists():
            continue
        for path, subdirectories, _files in os.walk(directory, topdown=False):
            for subdirectory in subdirectories:
                os.rmdir(os.path.join(path, subdirectory))
        os.rmdir(directory)


def existing(instance_id):
    return [directory for directory in cgroup_dirs(instance_id) if directory.exists()]
