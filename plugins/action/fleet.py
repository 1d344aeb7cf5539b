# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of cattle.immutable.fleet: progress while the module waits.

A module answers once, and a health gate or a drain takes minutes. While the module runs
on the controller this prints each progress line it writes, at default verbosity:

    fleet: web-prod-3f2a9c0d1e4b: healthy 2/3 (in service 3/3), 12 s
    fleet: web-prod-3f2a9c0d1e4b: draining 3 target(s) (deregistration delay 30 s), 5 s
"""

from __future__ import annotations

from ansible_collections.cattle.immutable.plugins.plugin_utils.progress import ModuleWithProgress


class ActionModule(ModuleWithProgress):
    MODULE = "cattle.immutable.fleet"
    PREFIX = "fleet: "
