"""Running a command inside a stand-in that another process owns (`... standin exec NAME -- CMD`).

For tests that check a stand-in after its SSH is gone (image cleanup, final SSH state):
the owner's state.json names the stand-in's init pid and the namespaces recorded at boot,
and the command runs through nsenter only while both still match (pids are reused).
"""

import subprocess

from . import namespaces, network, paths
from .stale import init_matches, owner_alive, read_state


class NotRunning(RuntimeError):
    pass


def find_init(name):
    """The init pid of the running stand-in called name (e.g. cattle-si-7)."""
    state = read_state(find_work(name))
    init_pid = state.get("init_pid")
    if not owner_alive(state):
        raise NotRunning(f"stand-in {name}: its owner (pid {state.get('owner_pid')}) is gone")
    if not init_pid or not init_matches(init_pid, state.get("namespaces") or {}):
        raise NotRunning(f"stand-in {name}: init pid {init_pid} is gone or no longer its init")
    return init_pid


def find_work(name):
    """The working directory of the stand-in called name (root/, upper/, state.json, ...)."""
    for work in sorted(paths.run_root().glob("standin-*")):
        state = read_state(work)
        if state and f"{network.NETNS_PREFIX}{state.get('slot')}" == name:
            return work
    raise NotRunning(f"no running stand-in named {name} under {paths.run_root()}")


def exec_in(name, argv, timeout=600):
    """Runs argv as root inside the stand-in; its output goes to ours. Returns the exit status."""
    argv = namespaces.nsenter_argv(find_init(name), argv)
    return subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=timeout, check=False).returncode


def run_in(name, argv, timeout=120):
    """Runs argv as root inside the stand-in and returns the CompletedProcess (text, captured)."""
    argv = namespaces.nsenter_argv(find_init(name), argv)
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          check=False)
