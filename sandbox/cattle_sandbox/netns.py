"""Checks that code touching the sandbox runs in a private network namespace."""

import os


class NotInPrivateNamespace(RuntimeError):
    pass


def in_private_netns():
    """True when this process's network namespace is not the one PID 1 (the host) uses."""
    try:
        return os.readlink("/proc/self/ns/net") != os.readlink("/proc/1/ns/net")
    except OSError:
        # /proc/1 unreadable: fall back to the marker our runner sets.
        return os.environ.get("CATTLE_IN_NETNS") == "1"


def require_private_netns():
    if not in_private_netns():
        raise NotInPrivateNamespace(
            "the sandbox must run in a private network namespace so no stray connection "
            "leaves the machine: run through scripts/in-netns (make test / make demo do)"
        )
