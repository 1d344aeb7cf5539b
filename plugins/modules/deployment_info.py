#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deployment_info
version_added: 0.1.0
short_description: The blue-green deployment state of an app, with drift
description:
  - Reads, without changing anything, the state of an app's deployment.
  - The forward weights of each stage's listener (or rule), and which fleet each target group belongs to.
  - Every fleet of the app (the Auto Scaling groups tagged C(cattle:app), as C(cattle.immutable.fleet)
    tags them; see the collection's docs/fleets.md) with its target group, launch template version and
    that version's AMI, desired, in-service and healthy counts, instances, age and status.
  - "A fleet's status: V(live) when its target group has weight > 0 in the listener; otherwise
    V(disabled) (tagged C(cattle:fleet-state=disabled)), V(retired) (desired capacity 0, an
    interrupted retirement), V(pending) (active at weight 0: green before the switch, or a
    failed green left for inspection), or V(unattached) (in no forward action)."
  - "Drift: instances whose AMI differs from their fleet's launch template version, and live fleets
    whose AMI is not the one the target stage points to (the SSM parameter C(/<prefix>/<app>/<stage>))."
  - The app is given by its definition (O(definition), as for C(cattle.immutable.fleet)),
    whose stages name their load balancers and regions, or by the listener directly
    (O(listener_arn), O(load_balancer_name) and O(port), or O(rule_arn)).
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  stage:
    description:
      - Only this stage. Without it, every stage of the definition, or with a listener given
        directly, every fleet of the app.
    type: str
    required: false
  target_stage:
    description:
      - The stage pointer live fleets are compared to for drift.
      - Defaults to each fleet's own stage.
    type: str
notes:
  - Read only; supports check mode. One call per listener, per fleet (target health and launch
    template version), one for all instances, and one per stage pointer.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.app_definition, cattle.immutable.listener, cattle.immutable.stage_pointers, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: State of web in every stage
  cattle.immutable.deployment_info:
    app: web
    definition: "{{ cattle_apps.web }}"
  register: web_state

- name: Fail when prod drifted from its stage pointer
  ansible.builtin.assert:
    that: not web_state.drifted
    fail_msg: "{{ web_state.drift }}"

- name: State behind one listener, without a definition
  cattle.immutable.deployment_info:
    app: web
    load_balancer_name: web-alb
    port: 443
    stage: prod
"""

RETURN = r"""
app:
  description: The app whose deployment state this is.
  returned: always
  type: str
  sample: web
listeners:
  description: One entry per listener (or rule) read, that is per stage of the definition.
  returned: always
  type: list
  elements: dict
  contains:
    stage:
      description: The stage, or null when a listener was given without O(stage).
      type: str
      sample: prod
    load_balancer_arn:
      description: The load balancer.
      type: str
      sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web-alb/50dc6c495c0c9188
    listener_arn:
      description: The listener.
      type: str
      sample: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2
    rule_arn:
      description: The rule, or null for the listener's default action.
      type: str
      sample: null
    weights:
      description: Target group ARN to weight.
      type: dict
      sample: {"arn:...:targetgroup/web-prod-3f2a9c0d1e4b/0123456789abcdef": 100}
    target_groups:
      description: The forward action's target groups in order, each with its weight, share and fleet.
      type: list
      elements: dict
      sample: [{"arn": "arn:...", "name": "web-prod-3f2a9c0d1e4b", "weight": 100, "share": 100.0,
                "fleet_id": "3f2a9c0d1e4b", "fleet_name": "web-prod-3f2a9c0d1e4b"}]
fleets:
  description: Every fleet of the app (of O(stage) when given), by stage, live first, then oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    fleet_id:
      description: The fleet id (tag C(cattle:fleet)).
      type: str
      sample: 3f2a9c0d1e4b
    name:
      description: The Auto Scaling group name.
      type: str
      sample: web-prod-3f2a9c0d1e4b
    stage:
      description: The stage (tag C(cattle:stage)).
      type: str
      sample: prod
    status:
      description: V(live), V(disabled), V(retired), V(pending) or V(unattached).
      type: str
      sample: live
    fleet_state:
      description: The tag C(cattle:fleet-state), V(active) or V(disabled).
      type: str
      sample: active
    weight:
      description: Its target group's weight in the listener; null when not in the forward action.
      type: int
      sample: 100
    share:
      description: Percent of the listener's traffic it gets; null when not in the forward action.
      type: float
      sample: 100.0
    image_id:
      description: The AMI of the launch template version the group launches from.
      type: str
      sample: ami-0123456789abcdef0
    tagged_image_id:
      description: The tag C(cattle:image-id) on the group.
      type: str
      sample: ami-0123456789abcdef0
    auto_scaling_group:
      description: Name and ARN of the group.
      type: dict
      sample: {"name": "web-prod-3f2a9c0d1e4b", "arn": "arn:aws:autoscaling:..."}
    target_group:
      description: Name and ARN of its target group.
      type: dict
      sample: {"name": "web-prod-3f2a9c0d1e4b", "arn": "arn:aws:elasticloadbalancing:..."}
    launch_template:
      description: The launch template version the group launches from (C(id), C(name), C(version), C(image_id)).
      type: dict
      sample: {"id": "lt-0123456789abcdef0", "name": "web-prod-3f2a9c0d1e4b", "version": "1", "image_id": "ami-0123456789abcdef0"}
    counts:
      description: C(min), C(max), C(desired), C(instances), C(in_service), C(healthy) (its instances that
        are healthy targets) and C(registered) (targets not draining).
      type: dict
      sample: {"min": 3, "max": 3, "desired": 3, "instances": 3, "in_service": 3, "healthy": 3, "registered": 3}
    instances:
      description: Its instances with C(instance_id), C(lifecycle_state), C(health_status),
        C(launch_template_version), C(image_id), C(target_state), C(target_reason), C(drifted).
      type: list
      elements: dict
    created_at:
      description: When the fleet was created (tag C(cattle:created-at), else the group's creation time), UTC.
      type: str
      sample: "2026-11-27T10:00:00Z"
    age_seconds:
      description: Seconds since then.
      type: int
      sample: 86400
    rollback_until:
      description: End of a disabled fleet's rollback window (tag C(cattle:rollback-until)).
      type: str
      sample: "2026-11-28T10:00:00Z"
    rollback_window_over:
      description: Whether the rollback window has passed (null without one).
      type: bool
      sample: false
    deployment_id:
      description: The tag C(cattle:deployment).
      type: str
      sample: "4711"
    adopted:
      description: Whether the group was adopted (tag C(cattle:adopted)).
      type: bool
      sample: false
    suspended_processes:
      description: Suspended Auto Scaling processes.
      type: list
      elements: str
      sample: [AlarmNotification, ScheduledActions]
live:
  description: The ids of the live fleets.
  returned: always
  type: list
  elements: str
  sample: [3f2a9c0d1e4b]
pointers:
  description: The stage pointers read, by stage (C(name), C(image_id), C(version); C(image_id) null when unset).
  returned: always
  type: dict
  sample: {"prod": {"name": "/cattle/web/prod", "image_id": "ami-0123456789abcdef0", "version": 4}}
drift:
  description: What differs from what it should be.
  returned: always
  type: dict
  contains:
    instances:
      description: Instances whose AMI differs from their fleet's launch template version
        (C(instance_id), C(fleet_id), C(stage), C(image_id), C(expected_image_id)).
      type: list
      elements: dict
    fleets:
      description: Live fleets not on the AMI their target stage points to (C(fleet_id), C(stage),
        C(image_id), C(target_stage), C(pointer), C(pointer_image_id)).
      type: list
      elements: dict
drifted:
  description: Whether there is any drift.
  returned: always
  type: bool
  sample: false
inconsistencies:
  description: What looks wrong but is not drift (a live fleet tagged disabled, a live fleet not
    fully healthy, traffic to a target group of no fleet). Each is also shown as a warning.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import deployment_info as deployment
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module

LISTENER_SOURCES = ["definition", "listener_arn", "load_balancer_name", "rule_arn"]


def main():
    argument_spec = dict(
        shared_options.app_definition(stage_required=False),
        **shared_options.listener(),
        **shared_options.stage_pointers(),
        target_stage=dict(type="str"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[LISTENER_SOURCES],
        required_one_of=[LISTENER_SOURCES],
    )
    end_module(module, deployment.run_module)


if __name__ == "__main__":
    main()
