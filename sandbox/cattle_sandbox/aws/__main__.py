"""python -m cattle_sandbox.aws serve [--port N] [--env-file PATH] [--target-healthy-after S]

Starts the sandbox's emulated AWS, writes its environment as shell `export` lines to
PATH (once it is listening), prints the endpoint, and serves until SIGINT or SIGTERM,
then stops cleanly and exits 0.
"""

import argparse
import os
import shlex
import signal
import sys
import tempfile
import threading
from typing import Any

from ..netns import NotInPrivateNamespace, require_private_netns


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        require_private_netns()
    except NotInPrivateNamespace as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return serve(args.port, args.env_file, args.target_healthy_after)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cattle_sandbox.aws", description="The sandbox's emulated AWS.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="serve until SIGINT or SIGTERM")
    serve_command.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    serve_command.add_argument("--env-file", help="write `export` lines for AWS SDKs and CLIs to this file")
    serve_command.add_argument(
        "--target-healthy-after", type=float, default=1.0, help="seconds a new ELB target stays initial (default 1)"
    )
    return parser


def serve(port: int, env_file: str | None, target_healthy_after: float) -> int:
    from . import SandboxAWS

    stop_requested = threading.Event()
    _on_signals(lambda *_: stop_requested.set())
    with SandboxAWS(port=port, target_healthy_after=target_healthy_after) as aws:
        if env_file:
            write_env_file(env_file, aws.env())
        print(aws.endpoint, flush=True)
        while not stop_requested.wait(0.5):
            pass
    return 0


def _on_signals(handler: Any) -> None:
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, handler)


def write_env_file(path: str, env: dict[str, str]) -> None:
    """Written whole or not at all, so a script polling for the file never reads half of it."""
    from .server import CALLER_VARIABLES_TO_DROP

    lines = f"unset {' '.join(CALLER_VARIABLES_TO_DROP)}\n"
    lines += "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted(env.items()))
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, prefix=".aws-env-") as handle:
        handle.write(lines)
    os.replace(handle.name, path)


if __name__ == "__main__":
    sys.exit(main())
