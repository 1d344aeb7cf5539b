"""Running host commands with errors a person can act on."""

import fcntl
import shlex
import subprocess
import time
from contextlib import contextmanager


class CommandError(RuntimeError):
    def __init__(self, argv, returncode, output):
        self.argv = [str(arg) for arg in argv]
        self.returncode = returncode
        self.output = output
        super().__init__(f"`{shlex.join(self.argv)}` failed (exit {returncode}): {tail(output, 15)}")


def tail(text, lines=20):
    kept = (text or "").rstrip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(no output)"


def run(argv, *, check=True, cwd=None, input=None, timeout=None):
    """Runs argv with stdout and stderr captured apart.

    Without input, stdin is /dev/null: nothing (ssh above all) reads the caller's terminal.
    """
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    result = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        **stdin,
        timeout=timeout,
        text=True,
        capture_output=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise CommandError(argv, result.returncode, (result.stdout or "") + (result.stderr or ""))
    return result


@contextmanager
def stopwatch():
    """Yields a dict whose "seconds" is filled in when the block ends."""
    timing = {"seconds": None}
    start = time.monotonic()
    try:
        yield timing
    finally:
        timing["seconds"] = round(time.monotonic() - start, 1)


@contextmanager
def exclusive_lock(path):
    """Holds an flock on path (created if missing) for the block: one process at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
