# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of cattle.immutable.green_switch: each step as it begins.

A canary's steps and pauses take minutes in one module run. While the module runs on the
controller this prints each step as it begins, at default verbosity:

    deploy web/prod: step 2 of 3: 50% to web-prod-3f2a9c0d1e4b
"""

from __future__ import annotations

from ansible_collections.cattle.immutable.plugins.plugin_utils.progress import ModuleWithProgress


class ActionModule(ModuleWithProgress):
    MODULE = "cattle.immutable.green_switch"
