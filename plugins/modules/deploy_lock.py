#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deploy_lock
version_added: 0.1.0
short_description: Take, renew, take over or release the deploy lock of an app
description:
  - One deployment of an app at a time. The lock is an item in a DynamoDB table (partition key
    C(app)) holding the O(owner), O(run_id), O(reason), when it was acquired, when it was last
    renewed and the holder's lease.
  - Every write is conditional (compare-and-swap, as Terraform's state locking does), so of two
    runs acquiring, taking over or releasing at the same moment exactly one wins.
    SSM parameters have no conditional write and are not used.
  - V(acquired) takes a free lock. A lock held by another run fails at once, naming its holder
    (owner, run id, reason) and age, and nothing is changed. Each acquisition gets an id (RV(acquisition), a random
    nonce, not the run id) that renewals keep; later tasks of the run pass it on (O(acquisition), or the
    C(lock.acquisition) option of the modules that write), and renewals, fenced writes and the release are
    conditional on it.
  - A run id holds the lock once. Acquiring again with the same O(run_id) and the current O(acquisition) renews
    the lease; without it (or with another) the lock is another acquisition's and is refused naming its holder,
    as for another run (taken over only once its lease ran out, or with O(force=true)).
  - A lock is taken over only when its last renewal is older than its holder's lease (the holder
    is presumed dead) or with O(force=true). The takeover is conditional on the renewal time it
    observed, so two takers cannot both win. RV(took_over_from) names the previous holder, and the lock record keeps
    a history of its takeovers (RV(lock.history), the last 10; it goes with the record when the lock is released).
  - V(renewed) renews the lease of a lock this O(run_id) holds and fails if it does not hold it
    any more (its lease ran out and another run took it over). The holder renews at every phase
    of a deployment; a single wait longer than the lease needs a longer O(lease_seconds), or a
    module that renews while it polls (see the collection's docs/deploy-lock.md).
  - V(released) deletes the lock if this O(run_id) holds it. Releasing another run's lock fails
    unless O(force=true); releasing a free lock changes nothing.
  - Times are UTC and come from the clock of the machine the module runs on (normally the
    controller). Runs that share a lock must have clocks that agree to well within the lease.
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  app:
    description:
      - The app whose deployments the lock serializes.
    type: str
    required: true
  run_id:
    description:
      - Identifies this run. Every task of one deployment must pass the same value; a different
        value is a different run.
      - For example the AWX job id, a CI pipeline id, or a random id set once per play.
    type: str
    required: true
  state:
    description:
      - V(acquired) takes (or renews, or takes over) the lock; V(renewed) renews a lock this run
        holds; V(released) releases it.
    type: str
    choices: [acquired, renewed, released]
    default: acquired
  acquisition:
    description:
      - The acquisition id that taking the lock returned (RV(acquisition)). With V(acquired) it makes acquiring again a
        renewal; with V(renewed) and V(released) the renewal and the release are conditional on it (without it, on
        O(run_id) alone).
    type: str
  owner:
    description:
      - Who holds the lock, shown to anyone refused by it.
      - Defaults to C(user@host) of the machine the module runs on.
    type: str
  reason:
    description:
      - Why the lock is held, shown to anyone refused by it.
    type: str
    default: ""
  lease_seconds:
    description:
      - How long the lock stays valid after each renewal. Once the holder has not renewed for
        longer, another run may take it over.
      - Between 1 and 604800.
    type: int
    default: 900
  force:
    description:
      - With O(state=acquired), take over a lock another run holds although its lease has not run out.
      - With O(state=released), release a lock another run holds.
      - Both are still conditional on the holder observed, so a lock taken by a third run in
        between is not thrown out unseen.
    type: bool
    default: false
  table:
    description:
      - The DynamoDB table holding the locks, one item per app.
    type: str
    default: cattle-deploy-locks
  create_table:
    description:
      - Create O(table) if it does not exist (partition key C(app) of type string, on-demand
        billing, tag C(cattle:managed-by)) and wait until it is C(ACTIVE).
      - Without it a missing table fails the task and nothing is changed.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a created table to become C(ACTIVE).
    type: int
    default: 120
notes:
  - Supports check mode; the lock is read once and the result says what would happen.
  - Acquiring reports a change; renewing a lock the run already holds does not (the holder is
    unchanged, only its lease is extended), so acquiring twice with the same O(run_id) and O(acquisition)
    is idempotent.
  - Throttling (C(ThrottlingException), C(ProvisionedThroughputExceededException)) and transient
    errors are retried with jittered backoff. A write whose answer was lost is recognized when it
    is retried.
  - "IAM: C(dynamodb:GetItem), C(dynamodb:PutItem), C(dynamodb:UpdateItem), C(dynamodb:DeleteItem)
    on the table; C(dynamodb:CreateTable), C(dynamodb:DescribeTable), C(dynamodb:TagResource) for O(create_table=true)."
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3]
"""

EXAMPLES = r"""
- name: Pick one id for this deployment run
  ansible.builtin.set_fact:
    deploy_run_id: "{{ awx_job_id | default(lookup('ansible.builtin.password', '/dev/null', chars=['ascii_lowercase', 'digits'], length=12)) }}"

- name: Take the deploy lock of web (fails at once if another deploy holds it)
  cattle.immutable.deploy_lock:
    app: web
    run_id: "{{ deploy_run_id }}"
    reason: "deploy {{ image_id }}"
    create_table: true

- name: Renew it between phases
  cattle.immutable.deploy_lock:
    app: web
    run_id: "{{ deploy_run_id }}"
    state: renewed

- name: Rollback takes over the lock of a deploy that died
  cattle.immutable.deploy_lock:
    app: web
    run_id: "{{ rollback_run_id }}"
    reason: rollback
  register: rollback_lock

- name: Say whose lock it took over
  ansible.builtin.debug:
    msg: "{{ rollback_lock.msg }}"
  when: rollback_lock.took_over

- name: Release it
  cattle.immutable.deploy_lock:
    app: web
    run_id: "{{ deploy_run_id }}"
    state: released
"""

RETURN = r"""
app:
  description: The app whose deploy lock this is.
  returned: always
  type: str
  sample: web
table:
  description: The DynamoDB table.
  returned: always
  type: str
  sample: cattle-deploy-locks
run_id:
  description: This run's id.
  returned: always
  type: str
  sample: "4711"
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
  sample: "run 4711 took over the deploy lock of app 'web' from alice@ci (run 4702, reason \"deploy ami-0123456789abcdef0\"), acquired 42 min ago ..."
lock:
  description: The lock after this task (in check mode, as it would be); null when released or free.
  returned: always
  type: dict
  contains: &lock
    app:
      description: The app.
      type: str
      sample: web
    owner:
      description: Who holds it.
      type: str
      sample: alice@laptop
    run_id:
      description: The holder's run id.
      type: str
      sample: "4711"
    reason:
      description: Why it is held.
      type: str
      sample: deploy ami-0123456789abcdef0
    acquired_at:
      description: When it was acquired, UTC, ISO 8601.
      type: str
      sample: "2026-11-26T10:00:00Z"
    renewed_at:
      description: When it was last renewed, UTC, ISO 8601.
      type: str
      sample: "2026-11-26T10:05:00Z"
    lease_seconds:
      description: The holder's lease.
      type: int
      sample: 900
    age_seconds:
      description: Seconds since it was acquired.
      type: int
      sample: 300
    idle_seconds:
      description: Seconds since it was last renewed.
      type: int
      sample: 0
    expired:
      description: Whether the last renewal is older than the lease (it may be taken over).
      type: bool
      sample: false
    history:
      description:
        - The takeovers of this lock record, oldest first, the last 10 - each with C(at), the taker's C(owner) and
          C(run_id), C(kind) (C(expired) or C(forced)), and the holder it was taken from (C(from_owner),
          C(from_run_id), C(from_reason), C(from_acquired_at), C(from_idle_seconds)).
      type: list
      elements: dict
      sample: []
previous:
  description: The lock as it was before this task (the previous holder); null when it was free.
  returned: always
  type: dict
  contains: *lock
acquired:
  description: Whether this task took the lock (free before, or taken over).
  returned: always
  type: bool
  sample: true
renewed:
  description: Whether this task renewed a lock this run already held.
  returned: always
  type: bool
  sample: false
released:
  description: Whether this task released the lock.
  returned: always
  type: bool
  sample: false
took_over:
  description: Whether this task took the lock from another run.
  returned: always
  type: bool
  sample: false
takeover:
  description: Why it was taken over, V(expired) (the holder's lease had run out) or V(forced); null otherwise.
  returned: always
  type: str
  sample: expired
took_over_from:
  description: The holder it was taken over from, as RV(lock); null when nothing was taken over.
  returned: always
  type: dict
  contains: *lock
acquisition:
  description:
    - The id of the acquisition this run holds after the task (acquired, taken over or renewed); null otherwise.
      Pass it on to the later tasks of the run (O(acquisition), the C(lock.acquisition) option of the modules).
  returned: always
  type: str
  sample: 3f0c9a8e2b1d4c6f8a7e5d3c1b0a9f8e
table_created:
  description: Whether the table was created (in check mode, would be).
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import deploy_lock
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking


def main():
    argument_spec = dict(
        app=dict(type="str", required=True),
        run_id=dict(type="str", required=True),
        state=dict(
            type="str",
            choices=[locking.STATE_ACQUIRED, locking.STATE_RENEWED, locking.STATE_RELEASED],
            default=locking.STATE_ACQUIRED,
        ),
        owner=dict(type="str"),
        acquisition=dict(type="str"),
        **locking.acquire_options(),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    end_module(module, deploy_lock.run_module)


if __name__ == "__main__":
    main()
