# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of cattle.immutable.image_build: progress while Packer runs.

A module answers once, and a build takes minutes. This plugin runs the module as usual
(so check mode, async, delegation and module_defaults behave as for any module) and,
when the task runs on the controller, follows the Packer log from a background thread,
printing through Display at default verbosity:

    image_build: web: packer log: /root/.cache/.../web-20261126T100000Z-4242.log
    image_build: web: packer running 45 s, last: amazon-ebs.golden: Waiting for AMI to become ready...

It picks the log path itself when none is given, so it knows which file to follow. The
module keeps all the logic; the thread only reads the log file.
"""

from __future__ import annotations

import os
import time

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.cattle.immutable.plugins.module_utils._build import packer as build_packer
from ansible_collections.cattle.immutable.plugins.plugin_utils.progress import ProgressThread

DEFAULT_PROGRESS_INTERVAL = 15


class ProgressReporter(ProgressThread):
    """Prints the log path once the log appears, then what Packer last said, every `interval` seconds."""

    def __init__(self, display, app, log_path, interval, started):
        super(ProgressReporter, self).__init__("image_build-progress")
        self.display = display
        self.app = app
        self.log_path = log_path
        self.interval = max(1, interval)
        self.started = started
        self.next_line = started + self.interval
        self.packer_started = None

    def say(self, text):
        self.display.display("image_build: {0}: {1}".format(self.app, text))

    def log_is_ours(self):
        try:
            return os.stat(self.log_path).st_mtime >= self.started - 1
        except OSError:
            return False

    def tick(self):
        if self.packer_started is None and self.log_is_ours():
            self.packer_started = time.time()
            self.say("packer log: {0}".format(self.log_path))
            self.next_line = time.time() + self.interval
        if time.time() >= self.next_line:
            self.say(self.progress_line())
            self.next_line = time.time() + self.interval

    def progress_line(self):
        if self.packer_started is None:
            return "checking inputs and looking for a reusable image, {0:.0f} s".format(time.time() - self.started)
        last = build_packer.last_message(self.log_path) or "no output yet"
        return "packer running {0:.0f} s, last: {1}".format(time.time() - self.packer_started, last)

    def finish(self):
        if self.packer_started is None and self.log_is_ours():
            # Packer was quicker than one look at the log: still say where it is.
            self.say("packer log: {0}".format(self.log_path))


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def runs_on_controller(self):
        return getattr(self._connection, "transport", None) == "local"

    def module_args(self):
        args = dict(self._task.args)
        if self.runs_on_controller() and not self._play_context.check_mode and not args.get("log_path"):
            args["log_path"] = build_packer.default_log_path(args.get("app"))
        return args

    def progress_interval(self, args):
        try:
            return int(args.get("progress_interval") or DEFAULT_PROGRESS_INTERVAL)
        except (TypeError, ValueError):
            return DEFAULT_PROGRESS_INTERVAL

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self.module_args()
        wrap_async = self._task.async_val and not self._connection.has_native_async
        if args.get("log_path") and not wrap_async:
            reporter = ProgressReporter(
                self._display, args.get("app"), args["log_path"], self.progress_interval(args), time.time()
            )
            with reporter:
                module_result = self._execute_module(
                    module_name="cattle.immutable.image_build", module_args=args, task_vars=task_vars
                )
        else:
            module_result = self._execute_module(
                module_name="cattle.immutable.image_build", module_args=args, task_vars=task_vars,
                wrap_async=wrap_async,
            )
        result = merge_hash(result, module_result)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
