"""A cgroup of its own for every stand-in, where no host systemd makes one, and its memory use.

With --keep-unit and no systemd on the host, systemd-nspawn puts the stand-in into
`<its own cgroup>/payload`. Two stand-ins started from the same cgroup then share that
`payload`, and their systemds trip over each other's units: units fail at random with
status 219/CGROUP. So each stand-in is started from a fresh
`cattle-standin/<id>` cgroup, in the hierarchies systemd uses (name=systemd, cgroup2).

Memory: on a host whose cgroup2 hierarchy has the memory controller, it is enabled for
our subtree (cgroup.subtree_control) and the stand-in's cgroup has memory.current. On a
hybrid host (the memory controller bound to a cgroup v1 hierarchy, so cgroup2 cannot have
it) the stand-in also gets `cattle-standin/<id>` below our own cgroup of that v1 hierarchy,
whose memory.usage_in_bytes counts the same (processes, page cache, tmpfs, kernel memory).
"""

import os
from pathlib import Path

PARENT = "cattle-standin"
# Moves the shell into each cgroup.procs file given, then execs the rest: the pid, and with it
# the cgroups, stay those of the program (systemd-nspawn). No preexec_fn: tests boot from threads.
JOIN_AND_EXEC = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"'
UNIFIED = "cgroup2"
SYSTEMD_V1 = "name=systemd"
MEMORY_V1 = "memory"
# The memory in use, page cache and tmpfs included: cgroup2's name first, then cgroup v1's.
MEMORY_USAGE_FILES = ("memory.current", "memory.usage_in_bytes")
CREATE_ATTEMPTS = 5  # an empty parent may be removed by another stand-in's teardown meanwhile


def hierarchies():
    """[(kind, mount point)] of the hierarchies a stand-in joins: cgroup2, name=systemd and a v1 memory."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        fstype, super_options = fields[separator + 1], fields[separator + 3].split(",")
        if fstype == "cgroup2":
            found.append((UNIFIED, Path(fields[4])))
        elif fstype == "cgroup":
            found += [(kind, Path(fields[4])) for kind in (SYSTEMD_V1, MEMORY_V1) if kind in super_options]
    return found


def own_cgroup_path(kind):
    """Our cgroup within a hierarchy, from /proc/self/cgroup ("0::/x", "9:name=systemd:/x", "4:memory:/x")."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy_id, controllers, path = line.split(":", 2)
        if (kind == UNIFIED and hierarchy_id == "0") or (kind != UNIFIED and kind in controllers.split(",")):
            return path
    return "/"


def own_cgroups():
    """[(kind, our cgroup directory)] per hierarchy."""
    return [(kind, mount / own_cgroup_path(kind).lstrip("/")) for kind, mount in hierarchies()]


def cgroup_dirs(instance_id):
    return [own / PARENT / instance_id for _kind, own in own_cgroups()]


def create(instance_id):
    """The stand-in's cgroup directories (one per hierarchy), with memory accounting where we may."""
    directories = []
    for kind, own in own_cgroups():
        if kind == UNIFIED:
            enable_memory_controller(own)
        directories.append(make_cgroup(own / PARENT / instance_id))
    return directories


def make_cgroup(directory):
    for _attempt in range(CREATE_ATTEMPTS):
        try:
            directory.parent.mkdir(exist_ok=True)
            directory.mkdir(exist_ok=True)
            return directory
        except FileNotFoundError:  # the parent went between the two mkdirs: try again
            continue
    raise FileNotFoundError(f"could not create cgroup {directory}")


def enable_memory_controller(own):
    """+memory in our cgroup's and PARENT's subtree_control, where cgroup2 has the controller.

    Only our own cgroups are written. A non-root cgroup with processes in it cannot hand a
    controller to its children (EBUSY, cgroup2's "no internal processes" rule): then the
    stand-in simply has no memory.current.
    """
    parent = own / PARENT
    parent.mkdir(exist_ok=True)
    for directory in (own, parent):
        if "memory" not in read_words(directory / "cgroup.controllers"):
            return
        if "memory" in read_words(directory / "cgroup.subtree_control"):
            continue
        try:
            (directory / "cgroup.subtree_control").write_text("+memory")
        except OSError:
            return


def read_words(path):
    try:
        return path.read_text().split()
    except OSError:
        return []


def joined_argv(directories, argv):
    """argv, run after its process has joined the given cgroups."""
    procs = [str(directory / "cgroup.procs") for directory in directories]
    return ["sh", "-c", JOIN_AND_EXEC, "join-cgroups", str(len(procs)), *procs, *argv]


def memory_usage(directories):
    """Bytes of memory the stand-in's cgroup uses (memory.current or v1's usage_in_bytes); None if none says."""
    for directory in directories:
        for name in MEMORY_USAGE_FILES:
            try:
                return int((Path(directory) / name).read_text())
            except (OSError, ValueError):
                continue
    return None


def remove(instance_id, directories=None):
    """Removes the stand-in's cgroups (by default ours of instance_id), deepest first; only empty
    ones can go, as it should be. PARENT goes too where it sits below our cgroup rather than at a
    hierarchy's root (there someone else's cgroup would keep it)."""
    mounts = [mount for _kind, mount in hierarchies()]
    for directory in map(Path, directories if directories is not None else cgroup_dirs(instance_id)):
        if directory.name != instance_id or directory.parent.name != PARENT or \
                not any(mount in directory.parents for mount in mounts):
            raise ValueError(f"{directory} is not a cgroup of stand-in {instance_id}")
        if directory.exists():
            remove_tree(directory)
        if directory.parent.parent not in mounts:
            remove_if_empty(directory.parent)


def remove_tree(directory):
    for path, subdirectories, _files in os.walk(directory, topdown=False):
        for subdirectory in subdirectories:
            os.rmdir(os.path.join(path, subdirectory))
    os.rmdir(directory)


def remove_if_empty(directory):
    try:
        directory.rmdir()
    except OSError:  # another stand-in's cgroup is in it, or it is gone already
        pass


def existing(instance_id, directories=None):
    return [Path(directory) for directory in (directories if directories is not None else cgroup_dirs(instance_id))
            if Path(directory).exists()]
