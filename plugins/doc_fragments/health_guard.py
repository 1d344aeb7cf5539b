# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The health guard of the modules that move traffic (argument spec: shared_options.health_guard;
module_utils/listeners.required_healthy reads it)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  min_healthy:
    description:
      - How many healthy targets a target group needs for its share of the traffic to grow.
      - V(all) (default) means every registered target, and at least one. Targets that are
        draining (deregistered) do not count as registered.
      - A whole number N means at least N healthy targets; V(0) turns the guard off.
      - A percentage such as V(50%) means that share of the registered targets, rounded up and
        at least one.
    type: raw
    default: all
"""
