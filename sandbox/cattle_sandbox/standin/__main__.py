"""python -m cattle_sandbox.standin prepare | boot | exec | cleanup (see sandbox/docs/standin.md)."""

import argparse
import json
import signal
import sys
import threading

from ..netns import NotInPrivateNamespace
from .attach import NotRunning, exec_in
from .instance import StandIn, StandInError
from .inputs import NotPrepared, find_prepared, prepare
from .stale import cleanup_stale


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cattle_sandbox.standin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="build the base image and fill the package repository "
                        "(downloads: run outside any private network namespace); quick when cached")
    boot = commands.add_parser("boot", help="boot one stand-in, print how to reach it, remove it on "
                               "Ctrl-C or after --hold seconds (run inside scripts/in-netns)")
    boot.add_argument("--hold", type=float, default=None, help="seconds to keep it running (default: until interrupted)")
    run_in = commands.add_parser("exec", help="run a command as root inside a running stand-in (nsenter; "
                                 "works after its SSH is gone); exits with the command's status")
    run_in.add_argument("name", help="the stand-in's name, e.g. cattle-si-7 (`boot` prints it)")
    run_in.add_argument("argv", nargs="+", metavar="-- COMMAND", help="the command and its arguments")
    commands.add_parser("cleanup", help="stop and remove stand-ins whose owning process has died")
    args = parser.parse_args(argv)
    return {"prepare": run_prepare, "boot": run_boot, "exec": run_exec, "cleanup": run_cleanup}[args.command](args)


def run_prepare(args):
    prepare()
    return 0


def run_boot(args):
    try:
        prepared = find_prepared()
    except NotPrepared as error:
        print(f"standin: {error}", file=sys.stderr)
        return 2
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    try:
        with StandIn(prepared) as standin:
            print(json.dumps(describe(standin), indent=2), flush=True)
            try:
                stop_requested.wait(args.hold)
            except KeyboardInterrupt:
                pass
    except (NotInPrivateNamespace, StandInError) as error:
        print(f"standin: {error}", file=sys.stderr)
        return 1
    left = standin.leftovers()
    if left:
        print(f"standin: {standin.name} not fully removed: {', '.join(left)}", file=sys.stderr)
        return 1
    print(f"standin: {standin.name} removed in {standin.teardown_seconds} s", file=sys.stderr)
    return 0


def run_exec(args):
    try:
        return exec_in(args.name, args.argv)
    except NotRunning as error:
        print(f"standin: {error}", file=sys.stderr)
        return 125


def describe(standin):
    return {
        "name": standin.name,
        "address": standin.address,
        "port": standin.port,
        "user": standin.user,
        "boot_seconds": standin.boot_seconds,
        "system_state": standin.system_state,
        "private_key": str(standin.private_key_path),
        "known_hosts": str(standin.known_hosts_path),
        "inventory": str(standin.inventory_path),
        "ssh": " ".join(standin.ssh_argv()),
        "packer_vars": standin.packer_vars(),
        "packer_ansible_env_vars": standin.packer_ansible_env_vars(),
    }


def run_cleanup(args):
    removed = cleanup_stale()
    print(f"standin: removed {removed} stale stand-in(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
