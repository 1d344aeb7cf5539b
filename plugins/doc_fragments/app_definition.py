# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Options of the modules that read an app's definition (argument spec:
module_utils/shared_options.app_definition)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  app:
    description:
      - The app. Its definition comes from O(apps) or O(definition).
    type: str
    required: true
  apps:
    description:
      - Every app's definition, app name to definition (usually the variable C(cattle_apps), docs/apps.md); the
        definition of O(app) is used, and an app not in it is refused. Errors name the field as C(apps.<app>.<field>).
      - Give O(apps) or O(definition), not both.
    type: dict
  definition:
    description:
      - The definition of O(app) itself (docs/apps.md). Errors name the field as C(definition.<field>).
    type: dict
  stage:
    description:
      - The stage, one of the definition's stages; its overrides (region, load balancer, capacity, ...) apply.
    type: str
    required: true
"""
