# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Progress from action plugins while their module runs.

A module answers once, and our waits take minutes: an action plugin wraps the module run
in a ProgressThread, whose tick() looks at what the module leaves behind (a progress file,
the Packer log) and prints through Display at default verbosity.
"""

from __future__ import annotations

import threading


class ProgressThread:
    """Calls tick() every `poll_seconds` from a daemon thread while the with-block runs,
    then finish() once the module has answered."""

    def __init__(self, name, poll_seconds=0.5):
        self.poll_seconds = poll_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def tick(self):
        raise NotImplementedError

    def finish(self):
        self.tick()

    def _loop(self):
        while not self.stopped.wait(self.poll_seconds):
            self.tick()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join(5)
        self.finish()


class NewLines:
    """The complete lines appended to a file since the last call (a line still being
    written waits for its end)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = ""

    def read(self):
        try:
            with open(self.path, "r", encoding="utf-8", errors="replace") as stream:
                stream.seek(self.offset)
                text = stream.read()
                self.offset = stream.tell()
        except (IOError, OSError):
            return []
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        return lines
