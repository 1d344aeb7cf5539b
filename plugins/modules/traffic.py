#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: traffic
version_added: 0.1.0
short_description: Set the forward weights of a load balancer listener or rule, guarded by target health
description:
  - Sets the target groups and weights of the forward action of an ELBv2 listener's default
    action, or of one of its rules, with one C(ModifyListener) or C(ModifyRule) call that sends
    only the actions. Every other setting of the listener or rule (port, protocol, certificates,
    conditions, an authenticate action, the forward action's stickiness) is kept.
  - The listener is found by O(listener_arn), or by O(load_balancer_name) and O(port); a rule by
    O(rule_arn), or by O(rule_priority) on that listener. Without a rule the default action is set.
  - Health guard. Before the write, every target group the write gives traffic to (a weight above
    0 and a larger share of the traffic than now) must have at least O(min_healthy) healthy targets
    (C(DescribeTargetHealth)); otherwise the module fails naming the group and its counts, and
    nothing is changed. A group whose share stays the same or shrinks is not checked, so a
    degraded live group does not block adding a new group at weight 0 or moving traffic away
    from it.
  - On AWS, the targets of a group that no listener or rule forwards to are C(unused) and never
    health-checked, so a new group joins at weight 0 first, then gets traffic once healthy.
  - Weights (whole numbers 0-999, at most five groups, not all 0) and the existence of every
    target group are checked before any write, whatever the endpoint would accept.
  - A simple forward (one target group, no weights) and a weighted forward to that one group
    with any weight above 0 are the same configuration; a group at weight 0 is part of the
    configuration (it keeps being health-checked), so adding or removing one is a change.
  - The write's response is the read-back; RV(new) is what AWS reports after the write.
  - A rollback that restores weights between groups already in the forward action makes
    exactly one mutating call.
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  target_groups:
    description:
      - The target groups the forward action sends traffic to, in this order, and their weights.
      - Groups of the current forward action that are not listed are removed from it.
    type: list
    elements: dict
    required: true
    suboptions:
      target_group:
        description:
          - Name or ARN of the target group.
        type: str
        required: true
      weight:
        description:
          - Weight, 0-999. The group's share of the traffic is its weight over the sum of weights.
          - A group at weight 0 takes no traffic but stays in the forward action, so AWS keeps
            health-checking its targets.
        type: int
        required: true
  lock:
    description:
      - The app's deploy lock this run holds (M(cattle.immutable.deploy_lock)). The write is fenced - right before
        it the lock is renewed, conditional on O(lock.run_id) and O(lock.acquisition), and it is made only when the
        lease left exceeds the write's worst-case time (the client's attempts, timeouts and backoff). A run that lost
        the lock (C(failure=lock)) or whose lease is too short for the write (C(failure=lease)) is refused, nothing
        written. See the collection's docs/deploy-lock.md.
      - Not used in check mode. Needs C(dynamodb:UpdateItem) and C(dynamodb:GetItem) on the table.
    type: dict
    suboptions:
      app:
        description: The app whose deploy lock it is.
        type: str
        required: true
      run_id:
        description: The run id the lock was acquired with.
        type: str
        required: true
      acquisition:
        description:
          - The acquisition id that taking the lock returned (RV(cattle.immutable.deploy_lock#module:acquisition));
            renewals are conditional on it. Without it, on O(lock.run_id) alone.
        type: str
      table:
        description: The DynamoDB lock table.
        type: str
        default: cattle-deploy-locks
      lease_seconds:
        description: The lease the renewal sets; use the value the lock was acquired with (1-604800).
        type: int
        default: 900
      region:
        description: The region of O(lock.table). Defaults to the module's region.
        type: str
notes:
  - Supports check mode (the health guard and every check run; nothing is written) and diff
    mode (weights by target group name).
  - Idempotent; when the forward action already has the requested weights no target health is
    read and nothing is written.
  - Only a forward action can be set; a listener or rule whose action is a redirect or a fixed
    response is refused, nothing changed.
  - One of O(listener_arn), O(load_balancer_name) and O(rule_arn) is required.
  - The write is idempotent.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.listener, cattle.immutable.health_guard, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Add green to the listener at weight 0, so that it is health-checked
  cattle.immutable.traffic:
    load_balancer_name: web
    port: 443
    target_groups:
      - {target_group: web-blue, weight: 100}
      - {target_group: web-green, weight: 0}

- name: Canary step, 10 percent to green once every green target is healthy
  cattle.immutable.traffic:
    load_balancer_name: web
    port: 443
    target_groups:
      - {target_group: web-blue, weight: 90}
      - {target_group: web-green, weight: 10}

- name: Switch the /api/* rule to green, requiring half of its targets healthy
  cattle.immutable.traffic:
    load_balancer_name: web
    port: 443
    rule_priority: 10
    min_healthy: 50%
    target_groups:
      - {target_group: web-blue, weight: 0}
      - {target_group: web-green, weight: 1}

- name: Roll back in one listener write
  cattle.immutable.traffic:
    listener_arn: "{{ listener_arn }}"
    target_groups:
      - {target_group: "{{ blue_target_group_arn }}", weight: 1}
      - {target_group: "{{ green_target_group_arn }}", weight: 0}
  register: rollback

- name: Say what changed
  ansible.builtin.debug:
    msg: "{{ rollback.msg }}"
"""

RETURN = r"""
failure:
  description: With O(lock), on failure at the write's fence - C(lock) (the run lost the lock) or C(lease) (the lease
    left was too short for the write); nothing was written.
  returned: failure with O(lock)
  type: str
msg:
  description: One line saying what was set, or that it already was.
  returned: always
  type: str
  sample: "the default action of listener arn:aws:...:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2: web-blue=1 -> web-blue=0, web-green=1"
listener_arn:
  description: ARN of the listener.
  returned: always
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2
rule_arn:
  description: ARN of the rule, or null when the listener's default action was set.
  returned: always
  type: str
  sample: null
load_balancer_arn:
  description: ARN of the load balancer.
  returned: always
  type: str
  sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188
previous:
  description: The forward action's target groups and weights before the module ran.
  returned: always
  type: dict
  contains:
    weights:
      description: Weight by target group ARN.
      type: dict
      sample: {"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/0123456789abcdef": 1}
    weights_by_name:
      description: Weight by target group name.
      type: dict
      sample: {"web-blue": 1}
    target_groups:
      description: Each target group in the forward action's order.
      type: list
      elements: dict
      contains:
        arn:
          description: ARN of the target group.
          type: str
        name:
          description: Name of the target group.
          type: str
        weight:
          description: Its weight.
          type: int
        percent:
          description: Its share of the traffic in percent (0 when every weight is 0).
          type: float
new:
  description:
    - The target groups and weights after the module ran, as the write's response reports them.
    - In check mode, what would be written. Same shape as RV(previous).
  returned: always
  type: dict
  sample: {"weights_by_name": {"web-blue": 0, "web-green": 1}}
health:
  description:
    - Target health of each group whose share of the traffic grows, read for the health guard.
    - Empty when nothing had to change or no group gains traffic (for example, a group added at weight 0).
    - Each has the group's C(arn) and C(name), its C(healthy) targets, its C(registered) targets (draining ones
      excluded) and the healthy targets O(min_healthy) C(required).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "web-green", "healthy": 3, "registered": 3, "required": 3}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import traffic
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking


def main():
    argument_spec = dict(
        shared_options.listener(),
        **shared_options.health_guard(),
        target_groups=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                target_group=dict(type="str", required=True),
                weight=dict(type="int", required=True),
            ),
        ),
        lock=dict(type="dict", options=dict(locking.held_options(), app=dict(type="str", required=True))),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_one_of=[("listener_arn", "load_balancer_name", "rule_arn")],
        mutually_exclusive=[("listener_arn", "load_balancer_name", "rule_arn"), ("rule_arn", "rule_priority")],
        required_together=[("load_balancer_name", "port")],
    )
    end_module(module, traffic.run_module)


if __name__ == "__main__":
    main()
