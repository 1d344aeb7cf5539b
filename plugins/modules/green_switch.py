#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: green_switch
version_added: 0.1.0
short_description: Move a stage's traffic to its healthy green fleet, retire the fleets that served, release the deploy lock
description:
  - What a blue-green deploy (C(playbooks/deploy.yml)) does once its green fleet is healthy, in one module run - each
    module run costs most of a second of Ansible's own work, and traffic waits for all of them.
  - Phase C(switch) - reads the forward action of the listener or rule (O(listener_arn) or O(rule_arn)) once, then
    writes one step per percent of O(steps) - green (O(green_target_group)) gets the percent, the target groups that
    served before share the rest in their old proportions (each keeps at least weight 1 until the last step), every
    other target group of the forward action keeps its weight. Each write is guarded as
    M(cattle.immutable.traffic) guards it - a target group whose share grows needs O(min_healthy) healthy targets.
    Between steps it pauses O(pause) seconds, reads O(alarms) (one C(DescribeAlarms)) and stops when one is in
    C(ALARM), and renews the deploy lock. When nothing but green serves (a run that already switched), no step is
    written.
  - Phase C(retire) - each fleet of O(retire) is disabled for the rollback window as M(cattle.immutable.fleet) with
    O(cattle.immutable.fleet#module:state=disabled) does it (weight 0 kept, capacity pinned, tagged
    C(cattle:rollback-until)).
  - Phase C(unlock) - with O(lock), the deploy lock this run holds is released.
  - Refused before the first write, naming the input and saying nothing was changed - bad steps, a negative pause, a
    bad O(min_healthy), a fleet id that is not one, an unknown app or stage, a listener or rule that is not there,
    green not in its forward action. A failure after the first write says in which phase it stopped (RV(phase)) and
    what was done (RV(steps), RV(retired)), so the playbook can restore the traffic of the fleets that served
    (M(cattle.immutable.traffic)), which this module never does on its own.
  - "The action plugin of this module prints each step as it begins, for example
    C(deploy web/prod: step 2 of 3: 50% to web-prod-3f2a9c0d1e4b)."
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  listener_arn:
    description:
      - The listener whose default action forwards to the stage's target groups.
      - Exactly one of O(listener_arn) and O(rule_arn) is required.
    type: str
  rule_arn:
    description:
      - The listener rule whose forward action carries the stage's traffic (an app behind a shared listener).
    type: str
  green_target_group:
    description:
      - ARN of the green fleet's target group; it must already be in the forward action (the fleet module adds it at
        weight 0).
    type: str
    required: true
  steps:
    description:
      - The percent of traffic green has after each step, increasing, each from 1 to 100, the last 100. V([100]) is
        an all-at-once switch.
    type: list
    elements: int
    default: [100]
  pause:
    description:
      - Seconds between two steps (the lock is renewed while it waits).
    type: int
    default: 0
  alarms:
    description:
      - CloudWatch alarms read between steps; any in C(ALARM) stops the switch (at most 100 names).
    type: list
    elements: str
    default: []
  retire:
    description:
      - Fleet ids of the fleets that served before, disabled for the rollback window after the last step.
    type: list
    elements: str
    default: []
  rollback_window:
    description:
      - Seconds the retired fleets are kept (their C(cattle:rollback-until) tag).
    type: int
    default: 3600
  lock:
    description:
      - The deploy lock this run holds (M(cattle.immutable.deploy_lock)) - renewed during the pauses between steps,
        and right before each step's listener write (fenced - the write is made only while this acquisition holds the
        lock and its lease left exceeds the write's worst-case time, see the collection's docs/deploy-lock.md),
        released at the end. Without it the lock is neither renewed nor released.
      - A run that lost the lock stops before its next write and fails with C(failure=lock), naming the new holder;
        a lease too short for a write stops it with C(failure=lease), the lock still held.
    type: dict
    suboptions:
      run_id:
        description: The run that holds it.
        type: str
        required: true
      acquisition:
        description:
          - The acquisition id that taking the lock returned (RV(cattle.immutable.deploy_lock#module:acquisition));
            renewals and the release are conditional on it. Without it, on O(lock.run_id) alone.
        type: str
      table:
        description: The DynamoDB lock table.
        type: str
        default: cattle-deploy-locks
      lease_seconds:
        description: The lease each renewal grants.
        type: int
        default: 900
      region:
        description: The table's region, when it is not the app's.
        type: str
  progress_path:
    description:
      - A file the module appends progress lines to. The action plugin sets it; leave it unset.
    type: path
notes:
  - Supports check mode (every read and the health guard of each step; nothing is written, the lock is only read)
    and diff mode (weights by target group name before and after).
  - Idempotent - when green already has all the traffic no listener write is made, and fleets already disabled are
    not written again.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.app_definition, cattle.immutable.health_guard, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Canary to the green fleet, keep the old fleets for an hour, release the lock
  cattle.immutable.green_switch:
    app: web
    definition: "{{ cattle_apps.web }}"
    stage: prod
    listener_arn: "{{ green.listener.listener_arn }}"
    green_target_group: "{{ green.target_group.arn }}"
    steps: [10, 50, 100]
    pause: 60
    alarms: [web-5xx]
    retire: "{{ green.other_fleets | selectattr('weight', 'gt', 0) | map(attribute='fleet_id') }}"
    lock:
      run_id: "{{ run_id }}"
  register: switched
"""

RETURN = r"""
msg:
  description: One line - the weights before and after, the fleets disabled, whether the lock was released.
  returned: always
  type: str
  sample: "web/prod: web-prod-3f2a9c0d1e4b 100, web-prod-5b1e0c2a9d3f 0 -> web-prod-3f2a9c0d1e4b 0, ... in 1 step(s); ..."
app:
  description: The app.
  returned: always
  type: str
stage:
  description: The stage.
  returned: always
  type: str
green_target_group:
  description: Green's target group (C(arn), C(name)).
  returned: always
  type: dict
steps:
  description: The steps written, in order - C(percent), C(weights) (target group name to weight after it) and C(msg).
  returned: always
  type: list
  elements: dict
retired:
  description: The fleets disabled, in order - C(fleet_id), C(fleet_name), C(changed), C(actions), C(rollback_until).
  returned: always
  type: list
  elements: dict
lock:
  description: M(cattle.immutable.deploy_lock)'s result of the release; null without O(lock).
  returned: always
  type: dict
phase:
  description: On failure, the phase it stopped in - C(switch), C(retire) or C(unlock).
  returned: failure after the first write
  type: str
failure:
  description: On failure, C(lock) when the run lost the deploy lock (a renewal before a write, or the release, found
    another holder), C(lease) when the lease left was too short for a write; else null.
  returned: failure after the first write
  type: str
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
  description: The forward action before the run - C(weights) (ARN to weight), C(weights_by_name), C(target_groups).
  returned: always
  type: dict
new:
  description: The forward action after the run, as AWS reported it (in check mode, as it would be).
  returned: always
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import green_switch
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking


def argument_spec():
    return dict(
        shared_options.app_definition(),
        **shared_options.health_guard(),
        listener_arn=dict(type="str"),
        rule_arn=dict(type="str"),
        green_target_group=dict(type="str", required=True),
        steps=dict(type="list", elements="int", default=[100]),
        pause=dict(type="int", default=0),
        alarms=dict(type="list", elements="str", default=[]),
        retire=dict(type="list", elements="str", default=[]),
        rollback_window=dict(type="int", default=3600),
        lock=dict(type="dict", options=locking.held_options()),
        progress_path=dict(type="path"),
    )


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("listener_arn", "rule_arn")],
        required_one_of=[("listener_arn", "rule_arn")],
    )
    end_module(module, green_switch.run_module)


if __name__ == "__main__":
    main()
