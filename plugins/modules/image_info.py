#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_info
version_added: 0.1.0
short_description: Find golden AMIs by id, name, tags, or app and stage
description:
  - Finds AMIs and returns their facts newest first, with tags as a dictionary.
  - Queries combine; an AMI must match all that is given.
  - O(app) matches the C(cattle:app) tag that every image built by this collection carries.
  - O(stage) reads the stage pointer, the SSM parameter C(/<prefix>/<app>/<stage>), and returns
    the AMI it names if that AMI belongs to O(app).
  - O(fingerprint) matches the C(cattle:fingerprint) tag, the hash of an image's build inputs.
  - Revoked images (tag C(cattle:revoked)) and deprecated images (deprecation time in the past) are left out unless
    O(include_revoked) or O(include_deprecated) is set; RV(excluded_images) lists what was left out and why.
  - Ids that do not exist are reported in RV(missing_image_ids) instead of failing the task.
  - With O(include_usage), each image also says what keeps it in use (launch template versions, Auto Scaling groups,
    instances, stage pointers); that is what M(cattle.immutable.image_prune) never deletes.
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  image_ids:
    description:
      - AMI ids to find.
    type: list
    elements: str
    aliases: [image_id]
  name:
    description:
      - AMI name, or a pattern with C(*) and C(?) wildcards.
    type: str
  tags:
    description:
      - Tags the AMIs must carry, as a dictionary of key to value. A value may use wildcards.
    type: dict
  app:
    description:
      - App the AMIs were built for (the C(cattle:app) tag).
      - Lowercase letters, digits and single hyphens, starting with a letter, at most 20 characters.
    type: str
  stage:
    description:
      - Return the AMI that this stage of O(app) points at.
    type: str
  fingerprint:
    description:
      - Fingerprint of the build inputs (the C(cattle:fingerprint) tag). A value may use wildcards.
    type: str
  include_revoked:
    description:
      - Also return images carrying the C(cattle:revoked) tag.
    type: bool
    default: false
  include_deprecated:
    description:
      - Also return images whose deprecation time has passed.
      - Also asks AWS for them, which it needs for deprecated images of other owners.
    type: bool
    default: false
  include_usage:
    description:
      - Add RV(images[].usage) to each image, what keeps it in use.
      - Stage pointers are looked up under C(/<prefix>/<app>/) for the C(cattle:app) tag of each image.
    type: bool
    default: false
  owners:
    description:
      - Owners of the AMIs, as account ids or C(self), C(amazon), C(aws-marketplace).
      - An empty list searches every AMI the account can see, which is slow on AWS.
    type: list
    elements: str
    default: [self]
  filters:
    description:
      - Further DescribeImages filters, as a dictionary of filter name to value or list of values.
      - See U(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html).
    type: dict
    default: {}
notes:
  - Supports check mode; it never changes anything.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.stage_pointers, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Find the newest image of the web app
  cattle.immutable.image_info:
    app: web
  register: web_images

- name: Use it
  ansible.builtin.debug:
    msg: "{{ web_images.images[0].image_id }}"
  when: web_images.images | length > 0

- name: Find the image that production runs
  cattle.immutable.image_info:
    app: web
    stage: prod

- name: Find images by name pattern and tag
  cattle.immutable.image_info:
    name: "web-*"
    tags:
      cattle:validation: passed

- name: Find the image built from these inputs, even if it was revoked
  cattle.immutable.image_info:
    app: web
    fingerprint: 3f2a9c0d1e4b5a6f7a8b9c0d1e2f3a4b
    include_revoked: true

- name: Show what keeps each web image in use
  cattle.immutable.image_info:
    app: web
    include_usage: true
  register: web_usage

- name: Look up known ids, reporting those that are gone
  cattle.immutable.image_info:
    image_ids:
      - ami-0123456789abcdef0
      - ami-0fedcba9876543210
"""

RETURN = r"""
images:
  description: The AMIs found, newest first. Keys are the DescribeImages fields in snake_case.
  returned: always
  type: list
  elements: dict
  contains:
    image_id:
      description: The AMI id.
      type: str
      sample: ami-0123456789abcdef0
    name:
      description: The AMI name.
      type: str
      sample: web-3f2a9c0d1e4b5a6f
    state:
      description: The AMI state.
      type: str
      sample: available
    creation_date:
      description: When the AMI was created.
      type: str
      sample: "2026-11-26T10:00:00.000Z"
    owner_id:
      description: The account that owns the AMI.
      type: str
      sample: "123456789012"
    tags:
      description: The AMI's tags as a dictionary.
      type: dict
      sample: {"cattle:app": "web", "cattle:fingerprint": "3f2a9c0d1e4b5a6f"}
    block_device_mappings:
      description: The block devices of the AMI, with their snapshots.
      type: list
      elements: dict
    deprecation_time:
      description: When the AMI is or was deprecated, if deprecation is set.
      type: str
      returned: when set
    imds_support:
      description: C(v2.0) when instances launched from the AMI must use IMDSv2.
      type: str
      returned: when set
    usage:
      description: What keeps the image in use.
      type: dict
      returned: when O(include_usage=true)
      contains:
        launch_templates:
          description: Launch template versions whose image is this AMI, directly or through C(resolve:ssm:).
          type: list
          elements: dict
          sample: [{"name": "web-prod-a1", "id": "lt-0123456789abcdef0", "version": 3}]
        auto_scaling_groups:
          description: Auto Scaling groups that launch this AMI, and through what.
          type: list
          elements: dict
          sample: [{"name": "web-prod-a1", "via": "launch template web-prod-a1 v3"}]
        instances:
          description: Instances started from the AMI that are not terminated.
          type: list
          elements: dict
          sample: [{"id": "i-0123456789abcdef0", "state": "running"}]
        stage_pointers:
          description: Names of the stage pointers (SSM parameters) that name this AMI.
          type: list
          elements: str
          sample: [/cattle/web/prod]
        in_use:
          description: Whether any of the above names the image.
          type: bool
          sample: true
excluded_images:
  description:
    - Images that matched but were left out because they are revoked or deprecated.
    - Each has C(image_id), C(name) and C(reason), which is C(revoked) or C(deprecated).
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0123456789abcdef0", "name": "web-3f2a9c0d1e4b5a6f", "reason": "revoked"}]
missing_image_ids:
  description: Ids from O(image_ids) that matched no AMI.
  returned: always
  type: list
  elements: str
  sample: []
stage_pointer:
  description: The stage pointer that was read, when O(stage) was given.
  returned: when O(stage) is given
  type: dict
  contains:
    name:
      description: The SSM parameter name.
      type: str
      sample: /cattle/web/prod
    image_id:
      description: The AMI id it names, or null when the stage has never been set.
      type: str
      sample: ami-0123456789abcdef0
    version:
      description: The parameter version.
      type: int
      sample: 3
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import image_info
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module


def main():
    argument_spec = dict(
        image_ids=dict(type="list", elements="str", aliases=["image_id"]),
        name=dict(type="str"),
        tags=dict(type="dict"),
        app=dict(type="str"),
        stage=dict(type="str"),
        fingerprint=dict(type="str"),
        include_revoked=dict(type="bool", default=False),
        include_deprecated=dict(type="bool", default=False),
        include_usage=dict(type="bool", default=False),
        **shared_options.stage_pointers(),
        owners=dict(type="list", elements="str", default=["self"]),
        filters=dict(type="dict", default={}),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_by={"stage": "app"},
    )
    end_module(module, image_info.run_module)


if __name__ == "__main__":
    main()
