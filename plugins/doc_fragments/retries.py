# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every module of the collection does about throttling (module_utils' retry policies)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options: {}
notes:
  - Throttling and transient errors of every AWS call are retried with jittered backoff.
"""
