# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Progress from action plugins while their module runs.

A module answers once, and our waits take minutes: an action plugin wraps the module run
in a ProgressThread, whose tick() looks at what the module leaves behind (a progress file,
the Packer log) and prints through Display at default verbosity.
"""

from __future__ import annotations

import os
import tempfile
import threading

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash


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


class ProgressFollower(ProgressThread):
    """Prints the lines a module appends to its progress file, each after `prefix`."""

    def __init__(self, display, path, prefix, poll_seconds=0.5):
        super(ProgressFollower, self).__init__("cattle-progress", poll_seconds)
        self.display = display
        self.prefix = prefix
        self.new_lines = NewLines(path)

    def tick(self):
        for line in self.new_lines.read():
            if line.strip():
                self.display.display(self.prefix + line)


class ModuleWithProgress(ActionBase):
    """An action plugin that runs MODULE as usual (check mode, async, delegation and
    module_defaults behave as for any module) and, when the task runs on the controller,
    gives the module a progress file (option progress_path) and prints each line the
    module appends to it, after PREFIX, at default verbosity. The module keeps all the
    logic; the thread only reads the file."""

    MODULE = None
    PREFIX = ""
    _supports_check_mode = True
    _supports_async = True

    def runs_on_controller(self):
        return getattr(self._connection, "transport", None) == "local"

    def run(self, tmp=None, task_vars=None):
        result = super(ModuleWithProgress, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        if self.runs_on_controller() and not wrap_async and not args.get("progress_path"):
            module_result = self.run_with_progress(args, task_vars)
        else:
            module_result = self._execute_module(
                module_name=self.MODULE, module_args=args, task_vars=task_vars, wrap_async=wrap_async
            )
        result = merge_hash(result, module_result)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def run_with_progress(self, args, task_vars):
        handle, path = tempfile.mkstemp(prefix="cattle-", suffix=".progress")
        os.close(handle)
        try:
            args["progress_path"] = path
            with ProgressFollower(self._display, path, self.PREFIX):
                return self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars)
        finally:
            os.unlink(path)
