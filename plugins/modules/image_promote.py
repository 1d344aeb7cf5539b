#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_promote
version_added: 0.1.0
short_description: Promote a golden AMI to a stage, or revoke it
description:
  - Points a stage of an app at an AMI. The stage is the SSM parameter C(/<prefix>/<app>/<stage>),
    whose value is the AMI id (data type C(aws:ec2:image), so launch templates can use
    C(resolve:ssm:)), and the tag C(cattle:stage:<stage>) on the AMI with the promotion time.
  - Each write of the parameter records who, when, what it named before, whether a stage was
    skipped and why, as compact JSON in that version's description; RV(history) reads it back.
  - Before anything is written the AMI must exist, belong to O(app) (tag C(cattle:app)), be
    C(available), carry passed validation (C(cattle:validation=passed) and C(cattle:lynis-score)
    at least O(min_lynis_score)), not be revoked (C(cattle:revoked)), and hold the stage before
    O(stage) in O(stages) (tag C(cattle:stage:<previous stage>)). A refusal names the input and
    changes nothing.
  - The pointer is read back after the write, waiting up to O(wait_timeout) seconds.
  - With O(state=revoked), the AMI is tagged C(cattle:revoked) (time and O(reason)); every stage
    pointer of the app that names it moves back to the most recent earlier value in its history
    that is still an available, unrevoked AMI of the app; its C(cattle:stage:*) tags are removed;
    then it is deprecated as soon as AWS allows. EnableImageDeprecation refuses a time in the past
    and rounds seconds to the nearest minute, so the time sent is the first whole minute at least
    30 seconds ahead (at most 90 seconds), computed right before the call.
  - When a pointer has no such earlier image, revocation is refused unless O(force=true); then
    the AMI is revoked and deprecated and that pointer is left naming it (RV(stranded)), so the
    stage has to be promoted to a good image before its next deployment.
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  app:
    description:
      - App the AMI was built for (the C(cattle:app) tag).
    type: str
    required: true
  image_id:
    description:
      - The AMI to promote or revoke.
    type: str
    required: true
  stage:
    description:
      - Stage to promote the AMI to; one of O(stages).
      - Required when O(state=present); not used when O(state=revoked).
    type: str
  stages:
    description:
      - The stages in promotion order. An AMI must hold the stage before O(stage) unless O(force=true).
    type: list
    elements: str
    default: [dev, staging, prod]
  state:
    description:
      - V(present) promotes the AMI to O(stage); V(revoked) revokes it.
    type: str
    choices: [present, revoked]
    default: present
  force:
    description:
      - With O(state=present), promote even though the AMI does not hold the previous stage. It is
        recorded in the history and in RV(forced).
      - With O(state=revoked), revoke even when a pointer naming the AMI has no earlier good image
        to move back to; that pointer is left as it is.
      - It never skips the other gates.
    type: bool
    default: false
  reason:
    description:
      - Why; recorded in the history. Required when O(state=revoked).
    type: str
  promoted_by:
    description:
      - Who promotes or revokes, recorded in the history.
      - Defaults to the user the module runs as (on localhost, the controller user).
    type: str
  require_validation:
    description:
      - Require the validation evidence of the image build, tags C(cattle:validation=passed) and a
        numeric C(cattle:lynis-score).
    type: bool
    default: true
  require_tested:
    description:
      - For every stage after the first, require that the image passed its test from outside, the tag
        C(cattle:tested) starting with C(passed) (playbooks/validate.yml, M(cattle.immutable.image_test)).
      - With V(false) an untested image is promoted, and that write's history record says so (RV(history[].untested)),
        as it does for O(force).
    type: bool
    default: true
  min_lynis_score:
    description:
      - Lowest C(cattle:lynis-score) accepted when O(require_validation=true).
    type: int
    default: 0
  history_size:
    description:
      - How many of the pointer's latest writes to return in RV(history).
    type: int
    default: 10
  wait_timeout:
    description:
      - Seconds to wait for an AMI that is not visible yet (AWS lists new AMIs with a delay) and
        for a written pointer to read back. An AMI still not found after it is reported unknown.
    type: int
    default: 10
notes:
  - Supports check mode; every gate is evaluated and RV(actions) lists what would be written.
  - Idempotent; promoting an AMI to a stage it holds and whose pointer names it, or revoking a
    revoked AMI again, reports no change.
  - SSM parameters have no compare-and-swap; two promotions of the same stage at once are not
    prevented, but the read-back reports a write that came after ours.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.stage_pointers, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Promote a new build to dev
  cattle.immutable.image_promote:
    app: web
    image_id: ami-0123456789abcdef0
    stage: dev

- name: Promote it on to staging, requiring a hardening score
  cattle.immutable.image_promote:
    app: web
    image_id: ami-0123456789abcdef0
    stage: staging
    min_lynis_score: 65
    reason: "release 2026.11"
  register: promotion

- name: Hotfix straight to prod, skipping staging (recorded)
  cattle.immutable.image_promote:
    app: web
    image_id: ami-0fedcba9876543210
    stage: prod
    force: true
    reason: "CVE-2026-0001 hotfix"

- name: Revoke a bad image; stages that run it go back to their previous image
  cattle.immutable.image_promote:
    app: web
    image_id: ami-0123456789abcdef0
    state: revoked
    reason: "breaks TLS to the payment provider"
"""

RETURN = r"""
image_id:
  description: The AMI promoted or revoked.
  returned: always
  type: str
  sample: ami-0123456789abcdef0
stage:
  description: The stage promoted to.
  returned: when O(state=present)
  type: str
  sample: staging
previous:
  description: The AMI the pointer named before this promotion, or null when the stage was unset.
  returned: when O(state=present)
  type: str
  sample: ami-0fedcba9876543210
forced:
  description: Whether the promotion skipped the previous stage (O(force=true) was needed).
  returned: when O(state=present)
  type: bool
  sample: false
untested:
  description: Whether the promotion went past the first stage with an image that had not passed its test from outside
    (O(require_tested=false) was needed).
  returned: when O(state=present)
  type: bool
  sample: false
skipped_stage:
  description: The previous stage the AMI does not hold, or null.
  returned: when O(state=present)
  type: str
  sample: null
parameter:
  description: The stage pointer; in check mode and when nothing changed, its current version.
  returned: when O(state=present)
  type: dict
  contains:
    name:
      description: The SSM parameter name.
      type: str
      sample: /cattle/web/staging
    version:
      description: The parameter version naming the AMI, or null when it was unset (check mode).
      type: int
      sample: 4
history:
  description: The pointer's latest writes, newest first, at most O(history_size).
  returned: when O(state=present)
  type: list
  elements: dict
  contains:
    version:
      description: The parameter version.
      type: int
      sample: 4
    image_id:
      description: The AMI that version named.
      type: str
      sample: ami-0123456789abcdef0
    action:
      description: V(promote) or V(revert) (a revocation moved the pointer back); null for a write made by other tools.
      type: str
      sample: promote
    by:
      description: Who made the write (O(promoted_by)), or null for a write made by other tools.
      type: str
      sample: alice
    at:
      description: When, UTC, ISO 8601.
      type: str
      sample: "2026-11-26T10:00:00Z"
    previous:
      description: The AMI the pointer named before that write.
      type: str
      sample: ami-0fedcba9876543210
    forced:
      description: Whether that write skipped a stage or forced a revocation.
      type: bool
      sample: false
    untested:
      description: Whether that write promoted, past the first stage, an image that had not passed its test.
      type: bool
      sample: false
    reason:
      description: The reason given.
      type: str
      sample: release 2026.11
revoked:
  description: The C(cattle:revoked) tag value, time and reason.
  returned: when O(state=revoked)
  type: str
  sample: "2026-11-26T10:00:00Z breaks TLS to the payment provider"
moved:
  description: The stage pointers moved back from the revoked AMI.
  returned: when O(state=revoked)
  type: list
  elements: dict
  contains:
    stage:
      description: The stage.
      type: str
      sample: prod
    from:
      description: The revoked AMI.
      type: str
      sample: ami-0123456789abcdef0
    to:
      description: The AMI the pointer names now.
      type: str
      sample: ami-0fedcba9876543210
    parameter:
      description: The pointer's name and new version (current version in check mode).
      type: dict
      sample: {"name": "/cattle/web/prod", "version": 5}
stranded:
  description: Pointers left naming the revoked AMI because no earlier good image exists (O(force=true)).
  returned: when O(state=revoked)
  type: list
  elements: dict
  sample: [{"stage": "dev", "parameter": {"name": "/cattle/web/dev", "version": 1}}]
actions:
  description: What was written, or in check mode what would be, in order.
  returned: always
  type: list
  elements: str
  sample: ["point /cattle/web/staging at ami-0123456789abcdef0 (was unset)", "tag ami-0123456789abcdef0 cattle:stage:staging=2026-11-26T10:00:00Z"]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import image_promote as promotion
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module


def main():
    argument_spec = dict(
        app=dict(type="str", required=True),
        image_id=dict(type="str", required=True),
        stage=dict(type="str"),
        stages=dict(type="list", elements="str", default=list(naming.DEFAULT_STAGES)),
        state=dict(type="str", choices=["present", "revoked"], default="present"),
        force=dict(type="bool", default=False),
        reason=dict(type="str"),
        promoted_by=dict(type="str"),
        require_validation=dict(type="bool", default=True),
        require_tested=dict(type="bool", default=True),
        min_lynis_score=dict(type="int", default=0),
        **shared_options.stage_pointers(),
        history_size=dict(type="int", default=10),
        wait_timeout=dict(type="int", default=10),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("state", "present", ["stage"]), ("state", "revoked", ["reason"])],
    )
    end_module(module, promotion.run_module)


if __name__ == "__main__":
    main()
