#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_distribute
version_added: 0.1.0
short_description: Copy a golden AMI to other regions and share it with accounts
description:
  - Copies an AMI of O(app) from the module's region to each of O(regions) with CopyImage, under the same name.
  - Copies carry the source's tags, set with CreateTags after the copy (CopyImage copies no user tags), and
    C(cattle:copied-from) set to C(<source region>:<source AMI id>). Stage tags (C(cattle:stage:*)) are not
    copied, since stage pointers are per region; promote the copy in its region with M(cattle.immutable.image_promote).
  - A copy that already exists in a region, with the same C(cattle:fingerprint) or the same name and the C(cattle:app)
    tag of O(app), is reused; missing tags are added to it.
  - AMI names are unique per region, so a CopyImage whose answer was lost meets C(InvalidAMIName.Duplicate) when
    retried; the copy it made is adopted instead of making a second one.
  - With O(launch_permissions), the source and every copy are shared with the given accounts; with
    O(launch_permissions.purge), accounts not listed lose their launch permission.
  - Everything is checked before anything changes, in all regions; a bad input fails the task naming it, and
    nothing is changed.
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  image_id:
    description:
      - The AMI to distribute, in the module's region (O(region)).
    type: str
    required: true
  app:
    description:
      - App the AMI belongs to. The AMI must carry the C(cattle:app) tag with this value.
    type: str
    required: true
  regions:
    description:
      - Regions to copy the AMI to. The source region is not allowed.
    type: list
    elements: str
    default: []
  launch_permissions:
    description:
      - Accounts that may launch the source AMI and its copies.
    type: dict
    suboptions:
      user_ids:
        description:
          - Account ids, 12 digits each.
        type: list
        elements: str
        default: []
      purge:
        description:
          - Remove the launch permission of accounts not in O(launch_permissions.user_ids).
          - Only account launch permissions are touched; public, organization and organizational unit
            permissions are left as they are.
        type: bool
        default: false
  kms_key_ids:
    description:
      - Customer managed KMS key (id, ARN or alias) per region, as a dictionary of region to key.
      - Needed for every region of O(regions) when the AMI is encrypted; its copies are encrypted with it.
      - A key for a region that is neither the source region nor one of O(regions) is refused.
      - An encrypted AMI shared with accounts needs a customer managed key, not C(alias/aws/ebs). The key of the
        source is read from its snapshots; when AWS does not report it, the key given for the source region is used.
      - The key policy must allow the accounts of O(launch_permissions) to use the key (C(kms:Decrypt),
        C(kms:CreateGrant), C(kms:DescribeKey), ...). The module cannot check key policies.
    type: dict
    default: {}
  wait:
    description:
      - Wait until every copy is available.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait for each copy to become available, in seconds.
    type: int
    default: 1800
notes:
  - Supports check mode; it reports what would change and changes nothing. Copies it would make are
    returned as C(null) in RV(images).
  - The snapshots' C(createVolumePermission) is not shared. Other accounts need it only to copy the AMI themselves,
    not to launch it.
  - With O(wait=false), launch permissions are applied to copies that may still be pending.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Copy the web image to two regions
  cattle.immutable.image_distribute:
    region: us-east-1
    image_id: ami-0123456789abcdef0
    app: web
    regions: [eu-west-1, us-west-2]
  register: distributed

- name: Launch the copy in Ireland
  ansible.builtin.debug:
    msg: "{{ distributed.images['eu-west-1'] }}"

- name: Share an encrypted image with two accounts, and only with them
  cattle.immutable.image_distribute:
    region: us-east-1
    image_id: ami-0123456789abcdef0
    app: web
    regions: [eu-west-1]
    kms_key_ids:
      us-east-1: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
      eu-west-1: arn:aws:kms:eu-west-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321
    launch_permissions:
      user_ids: ["111122223333", "444455556666"]
      purge: true
"""

RETURN = r"""
images:
  description: The AMI id in each region, the source region included. C(null) for copies check mode would make.
  returned: always
  type: dict
  sample: {"us-east-1": "ami-0123456789abcdef0", "eu-west-1": "ami-0fedcba9876543210"}
copied:
  description: Regions where a copy was made (or adopted after a lost answer) by this run.
  returned: always
  type: list
  elements: str
  sample: [eu-west-1]
reused:
  description: Regions that already had a copy.
  returned: always
  type: list
  elements: str
  sample: [us-west-2]
launch_permissions:
  description: Accounts whose launch permission was added or removed, per region.
  returned: always
  type: dict
  sample: {"us-east-1": {"added": ["111122223333"], "removed": []}}
encrypted:
  description: Whether the source AMI has encrypted snapshots.
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import image_distribute as distribution
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module


def main():
    argument_spec = dict(
        image_id=dict(type="str", required=True),
        app=dict(type="str", required=True),
        regions=dict(type="list", elements="str", default=[]),
        launch_permissions=dict(
            type="dict",
            options=dict(
                user_ids=dict(type="list", elements="str", default=[]),
                purge=dict(type="bool", default=False),
            ),
        ),
        kms_key_ids=dict(type="dict", default={}, no_log=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    end_module(module, distribution.run_module)


if __name__ == "__main__":
    main()
