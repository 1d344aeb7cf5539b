# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where the stage pointers live: SSM parameters /<prefix>/<app>/<stage>
(module_utils/naming.stage_parameter_name)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  prefix:
    description:
      - First segment of the SSM parameter path of stage pointers (C(/<prefix>/<app>/<stage>)).
    type: str
    default: cattle
"""
