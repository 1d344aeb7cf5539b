# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of cattle.immutable.fleet: progress while the module waits.

A module answers once, and a health gate or a drain takes minutes. This plugin runs the
module as usual (check mode, async, delegation and module_defaults behave as for any
module) and, when the task runs on the controller, gives the module a progress file and
prints each line the module appends to it through Display, at default verbosity:

    fleet: web-prod-3f2a9c0d1e4b: healthy 2/3 (in service 3/3), 12 s
    fleet: web-prod-3f2a9c0d1e4b: draining 3 target(s) (deregistration delay 30 s), 5 s

The module keeps all the logic; the thread only reads the file.
"""

from __future__ import annotations

import os
import tempfile

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.cattle.immutable.plugins.plugin_utils.progress import NewLines, ProgressThread

MODULE = "cattle.immutable.fleet"
POLL_SECONDS = 0.5


class ProgressFollower(ProgressThread):
    """Prints the lines the module appends to its progress file."""

    def __init__(self, display, path):
        super(ProgressFollower, self).__init__("fleet-progress", POLL_SECONDS)
        self.display = display
        self.new_lines = NewLines(path)

    def tick(self):
        for line in self.new_lines.read():
            if line.strip():
                self.display.display("fleet: {0}".format(line))


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def runs_on_controller(self):
        return getattr(self._connection, "transport", None) == "local"

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        if self.runs_on_controller() and not wrap_async and not args.get("progress_path"):
            module_result = self.run_with_progress(args, task_vars)
        else:
            module_result = self._execute_module(
                module_name=MODULE, module_args=args, task_vars=task_vars, wrap_async=wrap_async
            )
        result = merge_hash(result, module_result)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def run_with_progress(self, args, task_vars):
        handle, path = tempfile.mkstemp(prefix="cattle-fleet-", suffix=".progress")
        os.close(handle)
        try:
            args["progress_path"] = path
            with ProgressFollower(self._display, path):
                return self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        finally:
            os.unlink(path)
