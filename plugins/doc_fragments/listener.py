# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The listener locator: which listener, or rule of a listener, is meant (argument spec:
module_utils/shared_options.listener)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  listener_arn:
    description:
      - ARN of the listener. With O(rule_priority), the rule of that priority on it.
    type: str
  load_balancer_name:
    description:
      - Name of the load balancer whose listener on O(port) is meant.
    type: str
  port:
    description:
      - Port of the listener on O(load_balancer_name).
    type: int
  rule_arn:
    description:
      - ARN of the listener rule.
    type: str
  rule_priority:
    description:
      - Priority of the rule on the listener given by O(listener_arn) or O(load_balancer_name) and O(port).
        Without it (and without O(rule_arn)) the listener's default action is meant.
    type: int
"""
