#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rollback_switch
version_added: 0.1.0
short_description: Move all of a stage's traffic back to its standby fleet in one listener write
description:
  - The traffic switch of a rollback (C(playbooks/rollback.yml)), reading only what that write needs, once each - the
    stage's Auto Scaling groups (C(DescribeAutoScalingGroups) by the C(cattle:app) and C(cattle:stage) tags; their tags
    say which fleet is a standby, since when and which AMI it runs), the listener or rule of the app's definition (one
    C(DescribeListeners) by the C(cattle:listener) tag a fleet carries, else by load balancer name and port), the
    standby's AMI (C(DescribeImages)) and the standby's target health (C(DescribeTargetHealth), the health guard) - then
    one C(ModifyListener) or C(ModifyRule) - the standby gets weight 100, every other target group of the forward action
    weight 0 (they stay in it, registered and health-checked).
  - The standby is the fleet O(standby_fleet_id) names (a disabled fleet, or one still in the forward action next to a
    failed deploy's green), else the newest fleet tagged C(cattle:fleet-state=disabled).
  - Refused before the write, naming the input and saying nothing was changed - no standby, a standby whose target
    group is not in the forward action, a standby whose AMI carries C(cattle:revoked) (unless O(allow_revoked)), a
    standby with fewer healthy targets than O(min_healthy), a listener that is not there.
  - Disabling the fleets that served (RV(serving)) and making the standby an active fleet again are left to
    M(cattle.immutable.fleet), after the write - traffic comes back first.
  - With O(lock) it first takes the app's deploy lock, as M(cattle.immutable.deploy_lock) does, in the same module run
    (each module run costs most of a second of Ansible's own work before traffic comes back). Without it, take the lock
    first with M(cattle.immutable.deploy_lock). The listener write is fenced - right before it the lock is renewed,
    conditional on the acquisition just taken, and it is made only when the lease left exceeds the write's worst-case
    time (C(failure=lock) when the lock was lost, C(failure=lease) when the lease is too short; nothing written).
    The module never releases the lock; a failure result says whether it
    holds it (RV(lock_held)).
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  standby_fleet_id:
    description:
      - The fleet to give the traffic to. Without it, the newest disabled fleet of the stage.
    type: str
  allow_revoked:
    description:
      - Roll back to a standby whose AMI was revoked (C(cattle:revoked)); RV(standby.revoked) says so.
    type: bool
    default: false
  lock:
    description:
      - Take the app's deploy lock (a DynamoDB item, docs/deploy-lock.md) before anything else is read, as
        M(cattle.immutable.deploy_lock) with O(cattle.immutable.deploy_lock#module:state=acquired) does - a live lock of
        another run is refused naming its holder, nothing changed; the lock of a run whose lease ran out is taken over
        (or a live one with O(lock.force)), and RV(lock) says from whom. In check mode it is read, not taken.
    type: dict
    suboptions:
      run_id:
        description: This run's id, recorded as the holder.
        type: str
        required: true
      owner:
        description: Who runs it, shown to anyone the lock refuses.
        type: str
        required: true
      reason:
        description: Why, shown to anyone the lock refuses.
        type: str
        default: ""
      lease_seconds:
        description: Seconds the lock stays valid unless renewed (1-604800).
        type: int
        default: 900
      force:
        description: Take over a live lock of another run (recorded in RV(lock)).
        type: bool
        default: false
      table:
        description: The DynamoDB lock table.
        type: str
        default: cattle-deploy-locks
      create_table:
        description: Create the table when it is missing.
        type: bool
        default: false
      wait_timeout:
        description: Seconds to wait for a table this run creates to become active.
        type: int
        default: 120
notes:
  - Supports check mode (every read, the revocation check and the health guard; nothing is written) and diff mode
    (weights by target group name).
  - Idempotent - when the standby already has all the traffic nothing is written.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.app_definition, cattle.immutable.health_guard, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Take the deploy lock and move traffic back to the newest standby of web/prod in one listener write
  cattle.immutable.rollback_switch:
    app: web
    definition: "{{ cattle_apps.web }}"
    stage: prod
    lock:
      run_id: "{{ run_id }}"
      owner: ops@ci
      reason: rollback prod
  register: switched

- name: Keep the fleets that served for inspection
  cattle.immutable.fleet:
    app: web
    definition: "{{ cattle_apps.web }}"
    stage: prod
    fleet_id: "{{ item.fleet_id }}"
    state: disabled
  loop: "{{ switched.serving }}"
"""

RETURN = r"""
msg:
  description: One line saying what was written, or that the standby already had the traffic.
  returned: always
  type: str
  sample: "web/prod: the default action of listener arn:...: web-prod-5b1e0c2a9d3f=100, web-prod-3f2a9c0d1e4b=0 -> ..."
app:
  description: The app.
  returned: always
  type: str
stage:
  description: The stage.
  returned: always
  type: str
standby:
  description: The fleet that gets the traffic, as it was before the write.
  returned: always
  type: dict
  contains:
    fleet_id:
      description: Its fleet id.
      type: str
    name:
      description: Its Auto Scaling group's name.
      type: str
    status:
      description: C(disabled), C(pending) (weight 0, active) or C(live) before the write.
      type: str
    fleet_state:
      description: Its C(cattle:fleet-state) tag.
      type: str
    weight:
      description: Its weight before the write.
      type: int
    image_id:
      description: The AMI it runs.
      type: str
    revoked:
      description: The AMI's C(cattle:revoked) tag when O(allow_revoked) let it through, else an empty string.
      type: str
    target_group:
      description: Its target group (C(arn), C(name)).
      type: dict
    created_at:
      description: When it was created (UTC, ISO 8601).
      type: str
serving:
  description: The other fleets that had traffic before the write (same fields as RV(standby) but C(revoked)), to disable next.
  returned: always
  type: list
  elements: dict
listener_arn:
  description: ARN of the listener.
  returned: always
  type: str
rule_arn:
  description: ARN of the rule, or null for the listener's default action.
  returned: always
  type: str
load_balancer_arn:
  description: ARN of the load balancer.
  returned: always
  type: str
previous:
  description: The forward action before the write - C(weights) (by ARN), C(weights_by_name), C(target_groups).
  returned: always
  type: dict
new:
  description: The forward action after the write, as its response reports it; in check mode what would be written.
  returned: always
  type: dict
health:
  description: Target health of the standby's group, read for the health guard (empty when nothing was written).
  returned: always
  type: list
  elements: dict
lock:
  description:
    - With O(lock), what taking the lock did, as M(cattle.immutable.deploy_lock) returns it (C(acquired), C(renewed),
      C(took_over), C(takeover), C(took_over_from), C(lock), C(msg), ...); null without O(lock).
  returned: always
  type: dict
lock_held:
  description: On failure, whether this run holds the deploy lock it took with O(lock) (release it).
  returned: failure
  type: bool
failure:
  description: On failure at the write's fence, C(lock) (the lock was lost before the write) or C(lease) (its lease
    left was too short for the write); nothing was written either way.
  returned: failure at the fence
  type: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import rollback_switch
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            shared_options.app_definition(),
            **shared_options.health_guard(),
            standby_fleet_id=dict(type="str"),
            allow_revoked=dict(type="bool", default=False),
            lock=dict(
                type="dict",
                options=dict(
                    run_id=dict(type="str", required=True),
                    owner=dict(type="str", required=True),
                    **locking.acquire_options(),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    end_module(module, rollback_switch.run_module)


if __name__ == "__main__":
    main()
