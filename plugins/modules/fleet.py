#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: fleet
version_added: 0.1.0
short_description: One fleet of an app - launch template, Auto Scaling group and target group behind a listener
description:
  - A fleet is what one blue-green color is made of - a launch template for an AMI and the app's launch inputs, an Auto
    Scaling group with health check type C(ELB), and its own target group in the forward action of the app's listener
    (or listener rule). The app comes from its definition (docs/apps.md), validated before any AWS call.
  - The fleet id is the first 12 hexadecimal digits of a SHA-256 over every identity input - the AMI, instance type,
    instance profile, user data, security groups, root volume, metadata options, subnets, target port and protocol and
    the health check - so the same inputs give the same fleet and any change makes a new one. Names are
    C(<app>-<stage>-<fleet id>) (docs/naming.md). Capacity, scaling policies, grace period, deregistration delay and
    tags are settings changed in place.
  - O(state=present) creates what is missing, in this order - launch template (IMDSv2 required, encrypted root volume,
    no key pair, the instance profile, tags on instances and volumes), target group, the target group into the forward
    action at weight 0 (traffic unchanged; on AWS only a target group a listener uses is health-checked), then the Auto
    Scaling group. With O(wait=true) it then waits until all desired instances are C(InService) and healthy targets of
    that target group, compared by instance id. Failed launches (scaling activities) fail the task at once with their
    reasons; otherwise it fails after O(wait_timeout) seconds naming the instances that are not healthy and why.
  - O(state=present) on a disabled fleet enables it again - scaling processes resumed, capacity bounds of the
    definition restored, the rollback window tags removed. It never changes listener weights.
  - O(state=disabled) keeps the fleet in the forward action at weight 0 with its targets registered and
    health-checked, pins the capacity (min = max = desired), suspends C(AlarmNotification) and C(ScheduledActions)
    (unhealthy instances are still replaced) and tags C(cattle:fleet-state=disabled), C(cattle:disabled-at) and
    C(cattle:rollback-until) (now plus O(rollback_window)). Refused while the fleet has a weight above 0.
  - O(state=absent) drains in order - scale to 0 while still in the forward action at weight 0, wait until no target
    is left (the deregistration delay), take the target group out of the forward action, then delete the Auto
    Scaling group, wait until AWS has really deleted it (C(DeleteAutoScalingGroup) answers at once and the group stays
    C(Delete in progress) while its instances terminate), then delete the target group and the launch template. A
    group already C(Delete in progress) (an earlier or concurrent run) is waited for, not deleted again. Refused while
    the fleet has a weight above 0 - never removes a serving fleet. O(state=present) and O(state=disabled) refuse a
    fleet whose group is being deleted.
  - A create whose answer was lost is adopted on the retry or the next run (the names are deterministic), never
    duplicated. O(adopt_asg) takes over an Auto Scaling group (and target group) this collection did not create, as the
    first blue - see docs/fleets.md.
  - Every refusal happens before the first write, names the input and says nothing was changed. The action plugin of
    this module prints progress lines (for example C(healthy 2/3)) while it waits.
  - Before it creates a fleet (in check mode too), the module reads what the definition refers to and AWS would check
    only when the group is created or launches, one call per kind, and refuses naming every field that is wrong (such
    as C(apps.web.subnets) or C(apps.web.stages.prod.security_groups)) - the subnets exist and share one VPC (the
    definition's C(vpc_id) when given), the security groups exist in that VPC, the instance type is offered in every
    subnet's Availability Zone, the instance profile exists, and the root volume's KMS key exists and is enabled. The
    load balancer, listener and rule are found, or refused, by every run. An existing fleet's references are not read
    again.
  - With O(lock), the module renews the app's deploy lock while it waits, and stops when another run took it over;
    with O(lock.acquire) it takes the lock first.
  - O(state=absent) with O(standbys) instead of O(image_id) or O(fleet_id) retires the stage's standby fleets - each
    drained and deleted in turn as above - chosen from the stage's groups and the listener the module reads anyway (no
    extra call), see O(standbys). The per-fleet return values are then null; RV(standbys) says what was done.
  - A failure result carries RV(fleet_id), RV(fleet_name), RV(target_group) and RV(previous) once the fleet is known,
    so a playbook can clean up after it without looking the fleet up again.
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  image_id:
    description:
      - The AMI. Refused when it does not exist, is not C(available), carries C(cattle:revoked), or carries another
        app's C(cattle:app).
      - Required to create a fleet. With O(state=disabled) or O(state=absent), it identifies the fleet together with the
        definition (or give O(fleet_id)).
    type: str
  fleet_id:
    description:
      - An existing fleet's id (RV(fleet_id)). Identifies the fleet when O(image_id) is not given; when both are given
        they must agree.
    type: str
  state:
    description:
      - V(present), V(disabled) or V(absent), as described above.
    type: str
    choices: [present, disabled, absent]
    default: present
  desired_capacity:
    description:
      - Instances the fleet runs. From 1 to the definition's C(capacity.max), and not below C(capacity.min).
      - Defaults to the fleet's own desired capacity when it exists; else the current desired capacity of the live
        fleet (the app's fleets whose target groups have weight above 0 in the listener); else the definition's
        C(capacity.desired).
    type: int
  wait:
    description:
      - With O(state=present), wait until every desired instance is healthy. O(state=absent) always waits for the
        drain before deleting.
    type: bool
    default: true
  accept_image_mismatch:
    description:
      - With O(state=present) and O(image_id), the AMI's C(cattle:app-port) and C(cattle:health-path) tags (what its
        app serves, recorded by the build from the image's validation report) must agree with the definition's
        C(port) and C(health_check); otherwise the module refuses before its first write, naming both, because the
        fleet's instances would never turn healthy.
      - V(true) creates the fleet anyway; what disagrees is returned in RV(image_mismatch) and warned about.
      - An AMI without those tags (built elsewhere) is not checked.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for health (O(state=present)), or with O(state=absent) for the drain and then, as long again
        at most, for the Auto Scaling group's deletion.
      - The health gate fails sooner when Auto Scaling reports failed launches (C(failure=launch)) or has replaced
        as many instances as the fleet wants for failing the load balancer's health check (C(failure=health)).
    type: int
    default: 600
  rollback_window:
    description:
      - With O(state=disabled), seconds the fleet is kept for a rollback; recorded as C(cattle:rollback-until) when the
        fleet is disabled (a second run keeps the first time).
    type: int
    default: 3600
  deployment_id:
    description:
      - Recorded as the tag C(cattle:deployment) on the fleet's resources when the fleet is created (the run that made
        it). A later run with another deployment id leaves the tag as it is and changes nothing.
    type: str
  standbys:
    description:
      - With O(state=absent), retire the stage's standby fleets instead of one fleet (give neither O(image_id) nor
        O(fleet_id)) - V(expired) the fleets tagged C(cattle:fleet-state=disabled) whose C(cattle:rollback-until) has
        passed, V(all) every fleet tagged disabled, window or not. Fleets that an interrupted retirement left at
        desired capacity 0 are finished either way. A fleet with a weight above 0 in the forward action is never
        chosen; fleets kept for their window and live fleets are listed in RV(standbys).
    type: str
    choices: [expired, all]
  adopt_asg:
    description:
      - Name of an Auto Scaling group that this collection did not create, to take over as a fleet (the first blue). It
        is tagged as a fleet of O(app) and O(stage) (C(cattle:adopted=true)), its target group is put into the forward
        action at weight 0 if it is not there already, and its launch template, health check, policies and capacity
        stay as they are (capacity changes only with O(desired_capacity)). Later runs find it by its fleet id.
    type: str
  adopt_target_group:
    description:
      - With O(adopt_asg), the target group (name or ARN) to adopt with it; needed when the group has none or several.
    type: str
  lock:
    description:
      - The app's deploy lock (M(cattle.immutable.deploy_lock)) that this run holds. While the module waits (the health
        gate of O(state=present), the drain of O(state=absent)) it renews the lock's lease when the wait begins (the
        first poll that does not end it) and then once a third of O(lock.lease_seconds) has passed since the last
        renewal (one C(UpdateItem) each, not one per poll; no poll pause outlasts the next renewal), so a wait longer
        than the lease keeps the lock. Before O(state=absent) deletes anything it renews too, when a renewal is due.
      - When the run no longer holds the lock (its lease ran out and another run took it over, or someone forced it),
        the module stops at once and fails (C(failure=lock) in the result) saying what it left; it never moves
        traffic.
      - The lock must still be held when the wait begins; between tasks renew it with M(cattle.immutable.deploy_lock)
        and C(state=renewed). A wait that ends at its first poll renews nothing.
      - With O(lock.acquire=true) the module first takes the lock, before anything else is read, as
        M(cattle.immutable.deploy_lock) with C(state=acquired) does - a live lock of another run is refused naming its
        holder, nothing changed; the lock of a run whose lease ran out is taken over (or a live one with
        O(lock.force)), and RV(lock) says from whom; the lock of this acquisition (the same O(lock.run_id) and O(lock.acquisition)) is renewed. One
        module run instead of two before the fleet's first write. Unless O(lock.release), it never releases the lock;
        every failure result then says whether the run holds it (RV(lock_held)), and one that could not take it has
        C(failure=lock_not_taken). In check mode the lock is read, not taken.
      - With O(lock.release=true) the module gives the lock back when it is done, after success or failure (not one
        it lost to another run), and RV(lock_released) says so. With O(lock.acquire) that makes a whole locked job in one module
        run instead of three (the standby retirement of playbooks/terminate.yml); without it, the last task of a
        locked job releases the lock an earlier one took (the standby's return to service in playbooks/rollback.yml).
      - Fenced writes - while the run holds the lock, each write of the listener's forward action, and with
        O(state=absent) every write, is preceded by a renewal conditional on this acquisition (O(lock.acquisition), or
        what O(lock.acquire) returned) and made only when the lease left exceeds the write's worst-case time (the
        client's attempts, timeouts and backoff). A run that lost the lock fails with C(failure=lock), one whose lease
        is too short for the write with C(failure=lease); the write is not made. See the collection's docs/deploy-lock.md.
      - Needs C(dynamodb:UpdateItem) and C(dynamodb:GetItem) on the table, with O(lock.acquire) C(dynamodb:PutItem),
        with O(lock.release) C(dynamodb:DeleteItem). Without O(lock.acquire), not used in check mode.
    type: dict
    suboptions:
      run_id:
        description:
          - The run id the lock was acquired with (or is taken with, O(lock.acquire)).
        type: str
        required: true
      acquisition:
        description:
          - The acquisition id that taking the lock returned (RV(cattle.immutable.deploy_lock#module:acquisition)).
            Renewals, fenced writes and the release are conditional on it; without it, on O(lock.run_id) alone.
          - With O(lock.acquire), the acquisition of this run id that holds the lock now, which makes taking it again a
            renewal; a lock held under the same run id without it is refused as another run's.
        type: str
      acquire:
        description:
          - Take the lock first (see O(lock)).
        type: bool
        default: false
      release:
        description:
          - Release the lock when the module is done, whatever the outcome (see O(lock)).
        type: bool
        default: false
      owner:
        description:
          - Who runs it, shown to anyone the lock refuses. Required with O(lock.acquire).
        type: str
      reason:
        description:
          - Why, shown to anyone the lock refuses (with O(lock.acquire)).
        type: str
        default: ""
      force:
        description:
          - With O(lock.acquire), take over a live lock of another run (recorded in RV(lock)).
        type: bool
        default: false
      create_table:
        description:
          - With O(lock.acquire), create the table when it is missing.
        type: bool
        default: false
      wait_timeout:
        description:
          - With O(lock.create_table), seconds to wait for the table this run creates to become active.
        type: int
        default: 120
      table:
        description:
          - The DynamoDB table of the locks.
        type: str
        default: cattle-deploy-locks
      lease_seconds:
        description:
          - The lease each renewal sets; use the value the lock was acquired with. Between 1 and 604800.
        type: int
        default: 900
      region:
        description:
          - The region of O(lock.table). Defaults to the app's region.
        type: str
  progress_path:
    description:
      - File the module appends progress lines to while it waits; the action plugin sets it and prints the lines.
    type: path
notes:
  - Runs where the task runs; use it on the controller (C(hosts=localhost) or C(delegate_to=localhost)).
  - Check mode finds the fleet and reports what would be done (RV(actions)) without writing or waiting.
  - Supports C(--diff) - existence, fleet state, capacity, listener weight and suspended processes before and after.
  - Waits poll with backoff from 0.25 to 5 seconds, within ELB's describe rate limits.
  - A new Auto Scaling group is tagged C(cattle:listener) with the listener's ARN; later runs look the listener up by
    that ARN (checked against the definition's load balancer name and port) in one call instead of two.
  - The region is the definition's C(region); a different O(region) is refused.
  - Creating a fleet reads its references, which needs C(ec2:DescribeSubnets), C(ec2:DescribeSecurityGroups),
    C(ec2:DescribeInstanceTypeOfferings), C(iam:GetInstanceProfile) (with C(instance_profile) in the definition) and
    C(kms:DescribeKey) (with C(root_volume.kms_key_id)) besides the calls that create it.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.app_definition, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Green fleet of web in prod, at the live fleet's capacity, healthy before it returns
  cattle.immutable.fleet:
    app: web
    definition: "{{ cattle_apps.web }}"
    stage: prod
    image_id: ami-0123456789abcdef0
    wait_timeout: 900
  register: green

- name: Keep the old fleet for a rollback for an hour (after traffic moved away from it)
  cattle.immutable.fleet:
    app: web
    definition: "{{ cattle_apps.web }}"
    stage: prod
    fleet_id: "{{ blue_fleet_id }}"
    state: disabled
    rollback_window: 3600

- name: Retire it, keeping the deploy lock of this run alive while it drains
  cattle.immutable.fleet:
    app: web
    definition: "{{ cattle_apps.web }}"
    stage: prod
    fleet_id: "{{ blue_fleet_id }}"
    state: absent
    lock:
      run_id: "{{ deploy_run_id }}"

- name: Retire the standby fleets whose rollback window has passed (drain, then delete each)
  cattle.immutable.fleet:
    app: web
    definition: "{{ cattle_apps.web }}"
    stage: prod
    state: absent
    standbys: expired
  register: retired

- name: Take over the group that serves today, as the first blue
  cattle.immutable.fleet:
    app: web
    definition: "{{ cattle_apps.web }}"
    stage: prod
    adopt_asg: web-production
    adopt_target_group: web-tg
"""

RETURN = r"""
fleet_id:
  description: The fleet's id (12 hexadecimal digits).
  returned: always
  type: str
  sample: 3f2a9c0d1e4b
fleet_name:
  description: C(<app>-<stage>-<fleet id>), the name of its Auto Scaling group and launch template (an adopted group keeps
    its name).
  returned: always
  type: str
  sample: web-prod-3f2a9c0d1e4b
app:
  description: The app.
  returned: always
  type: str
  sample: web
stage:
  description: The stage.
  returned: always
  type: str
  sample: prod
state:
  description: The state asked for.
  returned: always
  type: str
  sample: present
adopted:
  description: Whether the fleet is a group this collection did not create (O(adopt_asg)).
  returned: always
  type: bool
image_id:
  description: The fleet's AMI (O(image_id), or C(cattle:image-id) of the group).
  returned: always
  type: str
  sample: ami-0123456789abcdef0
image_mismatch:
  description:
    - How the definition's health check disagrees with what the image serves, when O(accept_image_mismatch=true)
      let the fleet be created anyway; empty otherwise.
  returned: always
  type: list
  elements: str
  sample: ["the health check asks /healthz, the image's app answers health at /health"]
desired_capacity:
  description: The desired capacity used (null for O(state=absent)).
  returned: always
  type: int
  sample: 3
desired_source:
  description: Where RV(desired_capacity) came from - C(option), C(fleet) (its own), C(live_fleet) or C(definition).
  returned: always
  type: str
  sample: live_fleet
auto_scaling_group:
  description: The group after the run.
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
    arn:
      description: ARN.
      type: str
    exists:
      description: Whether it exists (false after O(state=absent), or in check mode before it is created).
      type: bool
    capacity:
      description: C(min), C(max), C(desired).
      type: dict
    suspended_processes:
      description: Suspended scaling processes.
      type: list
      elements: str
    health_check_type:
      description: C(ELB) for fleets this collection created.
      type: str
    health_check_grace_period:
      description: Seconds.
      type: int
    fleet_state:
      description: C(cattle:fleet-state) - C(active) or C(disabled).
      type: str
    rollback_until:
      description: C(cattle:rollback-until) of a disabled fleet.
      type: str
    tags:
      description: The group's tags.
      type: dict
target_group:
  description: The fleet's target group (C(name), C(arn), C(exists)); null after O(state=absent).
  returned: always
  type: dict
launch_template:
  description: The fleet's launch template (C(name), C(id), C(version), C(exists)); null after O(state=absent).
  returned: always
  type: dict
listener:
  description: C(listener_arn), C(rule_arn) (null for the default action), the fleet's C(weight) (null when not in the
    forward action) and all C(weights) (target group ARN to weight) after the run.
  returned: always
  type: dict
instances:
  description: Ids of the group's C(InService) instances.
  returned: always
  type: list
  elements: str
healthy_instances:
  description: Ids of the instances that were healthy targets when the health gate passed; null when it did not run.
  returned: always
  type: list
  elements: str
actions:
  description: What was changed, in order (in check mode, what would be).
  returned: always
  type: list
  elements: str
  sample: ["create launch template web-prod-3f2a9c0d1e4b (ami-0123456789abcdef0, IMDSv2 required, encrypted root volume)",
           "create target group web-prod-3f2a9c0d1e4b"]
adoptions:
  description: Resources that already existed under the fleet's names and were taken as they are (a lost create answer,
    or an interrupted run).
  returned: always
  type: list
  elements: str
kept:
  description: Resources O(state=absent) left in place because this collection did not create them.
  returned: always
  type: list
  elements: str
deletion:
  description: What O(state=absent) deleted; null when there was nothing to delete, and with O(standbys) (each retired
    fleet has its own).
  returned: always
  type: dict
  contains:
    auto_scaling_group:
      description: V(deleted) (deleted by this run, which waited until AWS had finished), V(was being deleted) (found
        C(Delete in progress), waited for, not deleted again), V(absent) (AWS no longer knew it), V(would be deleted)
        in check mode, or null when the fleet had no group.
      type: str
    waited_seconds:
      description: Seconds the run waited for AWS to finish deleting the group.
      type: float
    target_group:
      description: V(deleted), V(absent), V(would be deleted) in check mode, or null when there was none.
      type: str
    launch_template:
      description: V(deleted), V(absent), V(kept) (not created by this collection), V(would be deleted) in check
        mode, or null when there was none.
      type: str
  sample:
    auto_scaling_group: deleted
    waited_seconds: 42.5
    target_group: deleted
    launch_template: deleted
lock:
  description: With O(lock.acquire), M(cattle.immutable.deploy_lock)'s result of taking the lock (C(msg), C(took_over),
    C(takeover), C(took_over_from), C(lock), ...); else null.
  returned: always
  type: dict
lock_held:
  description: With O(lock.acquire) or O(lock.release), whether the run holds the lock after the failure (false when
    it failed before taking it, gave it back, lost it, or in check mode).
  returned: failure, with O(lock.acquire) or O(lock.release)
  type: bool
lock_released:
  description: With O(lock.release), whether the module gave the lock back (false after a failure that left the
    lock with another run, or when releasing it failed; the message then says why).
  returned: with O(lock.release), not in check mode
  type: bool
failure:
  description:
    - On failure, what stopped the run - C(lock) (it lost the deploy lock, found at a renewal or at the renewal before
      a fenced write), C(lease) (the lease left was too short for a fenced write), C(lock_not_taken), C(timeout),
      C(launch) or C(health).
  returned: failure
  type: str
previous:
  description: The fleet before the run - C(exists), C(state), C(capacity), C(in_listener), C(weight),
    C(suspended_processes), C(rollback_until), C(image_id).
  returned: always
  type: dict
other_fleets:
  description:
    - The stage's other fleets as the run found them (one C(DescribeAutoScalingGroups) it makes anyway), with their
      weight in the forward action after the run. A playbook tells blue from green with it, without another read.
  returned: always
  type: list
  elements: dict
  contains:
    fleet_id:
      description: Its fleet id (C(cattle:fleet)).
      type: str
    name:
      description: Its Auto Scaling group.
      type: str
    target_group_arns:
      description: Its target groups.
      type: list
      elements: str
    weight:
      description: The largest weight of its target groups in the forward action; null when none is in it.
      type: int
    fleet_state:
      description: C(cattle:fleet-state) - C(active) or C(disabled).
      type: str
    desired_capacity:
      description: Its desired capacity when the run began.
      type: int
    image_id:
      description: C(cattle:image-id).
      type: str
    rollback_until:
      description: C(cattle:rollback-until) of a disabled fleet.
      type: str
standbys:
  description: With O(standbys), the stage's fleets as the run found them.
  returned: when O(standbys) is given
  type: dict
  contains:
    retired:
      description: The fleets retired, in order - C(fleet_id), C(name), C(rollback_until), C(actions) and C(deletion)
        (as the top-level RV(deletion) of one fleet).
      type: list
      elements: dict
    kept:
      description: Standby fleets kept for their rollback window - C(fleet_id), C(name), C(rollback_until).
      type: list
      elements: dict
    live:
      description: Fleets with a weight above 0 - C(fleet_id), C(name), C(weight), C(rollback_until).
      type: list
      elements: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import fleet as fleets
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking


def lock_options():
    """A lock this run holds (renewed while the module waits), or takes first (acquire)."""
    options = locking.held_options()
    options.update(locking.acquire_options())
    options.update(acquire=dict(type="bool", default=False), release=dict(type="bool", default=False),
                   owner=dict(type="str"))
    return options


def argument_spec():
    return dict(
        shared_options.app_definition(),
        image_id=dict(type="str"),
        fleet_id=dict(type="str"),
        state=dict(type="str", choices=["present", "disabled", "absent"], default="present"),
        desired_capacity=dict(type="int"),
        accept_image_mismatch=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        rollback_window=dict(type="int", default=3600),
        deployment_id=dict(type="str"),
        standbys=dict(type="str", choices=["expired", "all"]),
        adopt_asg=dict(type="str"),
        adopt_target_group=dict(type="str"),
        lock=dict(type="dict", options=lock_options(), required_if=[("acquire", True, ["owner"])]),
        progress_path=dict(type="path"),
    )


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("adopt_asg", "image_id"), ("standbys", "image_id"),
                            ("standbys", "fleet_id"), ("standbys", "adopt_asg")],
        required_by={"adopt_target_group": "adopt_asg"},
    )
    end_module(module, fleets.run_module)


if __name__ == "__main__":
    main()
