"""Entering a stand-in with nsenter, and refusing to enter anything that looks like the host.

The systemd-nspawn process lives in the host's namespaces; only its child, the
stand-in's init, lives in the stand-in's. A `sysctl -w` sent to the wrong one changes
the host, so every nsenter first checks that the target's mount, pid and network
namespaces are neither ours nor PID 1's.
"""

import os
from pathlib import Path

# A clean environment inside: nothing of the caller's venv, PYTHONPATH or locale leaks in.
STANDIN_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root")
CONTAINER_NAMESPACES = ("mnt", "pid", "net")
NSPAWN_COMM = "systemd-nspawn"


class LooksLikeHost(RuntimeError):
    pass


def namespace_id(pid, kind):
    """e.g. 'mnt:[4026531832]'; None when the process is gone or unreadable to us."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def host_namespaces(kind):
    """Ours, and PID 1's where the kernel lets us read it (here it may not)."""
    return {ns for ns in (namespace_id("self", kind), namespace_id(1, kind)) if ns}


def ensure_not_host(pid):
    """Raises unless pid lives in mount, pid and network namespaces other than the host's.

    The mount namespace alone is not enough: on a systemd host, a service with PrivateTmp
    has a mount namespace of its own but the host's network and processes.
    """
    for kind in CONTAINER_NAMESPACES:
        target = namespace_id(pid, kind)
        if target is None:
            raise LooksLikeHost(f"cannot read the {kind} namespace of pid {pid}: refusing to enter it")
        if target in host_namespaces(kind):
            raise LooksLikeHost(
                f"pid {pid} shares the host's {kind} namespace ({target}): it is not a stand-in's init "
                "(the systemd-nspawn process itself lives in the host's namespaces); refusing to enter it"
            )


def nsenter_argv(pid, argv):
    """argv run as root inside all of pid's namespaces, after the safety check."""
    ensure_not_host(pid)
    return ["nsenter", "--target", str(pid), "--all", "--", "env", "-i", *STANDIN_ENV, *argv]


def stat_fields(pid):
    """/proc/PID/stat from the state on (field 3, see proc(5)) or None when pid is gone: the
    command name before it may contain spaces and parentheses."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def parent_pid(pid):
    fields = stat_fields(pid)
    return None if fields is None else int(fields[1])


def children(pid):
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and parent_pid(entry) == pid]


def find_standin_init(nspawn_pid):
    """The child of systemd-nspawn that passes ensure_not_host(), once there is one.

    While booting, nspawn briefly has a helper child with a mount namespace of its own
    but the host's pid namespace; the check passes over it.
    """
    for child in children(nspawn_pid):
        if read_comm(child) == NSPAWN_COMM:
            continue  # not yet exec'ed init: still nspawn setting up, namespaces may change
        try:
            ensure_not_host(child)
        except LooksLikeHost:
            continue
        return child
    return None


def read_comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def process_alive(pid):
    """True for a running process; a zombie has already finished."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def start_time(pid):
    """Clock ticks since boot at which pid started: tells a live owner from a reused pid."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[19])
