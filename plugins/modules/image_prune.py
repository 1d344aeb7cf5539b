#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_prune
version_added: 0.1.0
short_description: Delete old AMIs of an app and their snapshots, never one in use
description:
  - Applies a retention policy to the AMIs of one app (the C(cattle:app) tag) owned by this account.
  - Keeps the newest O(keep) images that are available and not revoked, and every image younger than O(keep_days) days.
  - Never deletes an image that is in use, whatever its age, or one that is still pending.
    In use means named by a stage pointer (an SSM parameter under C(/<prefix>/<app>/)), by any version of any launch
    template (directly or as C(resolve:ssm:<parameter>)), by an Auto Scaling group (through its launch template version,
    with C($Default) and C($Latest) resolved, or its launch configuration), or used by an instance that is not terminated.
  - Every other image of the app is deregistered; once AWS no longer lists it, every EBS snapshot of its block device
    mappings is deleted, except a snapshot that a kept image shares. A snapshot that is already gone counts as deleted.
  - In check mode nothing is deleted; RV(deleted) lists what would go.
  - A second run with the same options changes nothing.
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  app:
    description:
      - App whose images are pruned (the C(cattle:app) tag).
      - Lowercase letters, digits and single hyphens, starting with a letter, at most 20 characters.
    type: str
    required: true
  keep:
    description:
      - How many of the newest available, unrevoked images to keep, in use or not.
      - At least 1; a smaller value fails the task before anything is looked up or changed.
    type: int
    default: 3
  keep_days:
    description:
      - Keep every image younger than this many days. C(0) keeps none for its age.
    type: int
    default: 14
  wait_timeout:
    description:
      - How many seconds to wait for deregistered images to disappear before their snapshots are deleted.
    type: int
    default: 300
notes:
  - Supports check mode.
  - Launch templates, Auto Scaling groups and instances are looked up in the module's region only.
  - If deleting fails part way, the error says which images were already deregistered and which snapshots deleted.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.stage_pointers, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Show what pruning the web app would delete
  cattle.immutable.image_prune:
    app: web
    keep: 3
    keep_days: 14
  check_mode: true
  register: would_prune

- name: Print it
  ansible.builtin.debug:
    msg: "{{ would_prune.msg }}"

- name: Prune the web app's images, keeping the newest 5 and anything younger than 30 days
  cattle.immutable.image_prune:
    app: web
    keep: 5
    keep_days: 30
"""

RETURN = r"""
msg:
  description: One line saying what was (or in check mode would be) deleted and how many images were kept.
  returned: always
  type: str
  sample: "web: deleted 2 image(s) and 2 snapshot(s): ami-0123456789abcdef0, ami-0fedcba9876543210; kept 4"
deleted:
  description:
    - The images deleted (in check mode, those that would be), newest first.
    - Each has C(image_id), C(name), C(creation_date), C(snapshots) (the EBS snapshots deleted with it) and
      C(reason) (why it went).
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0123456789abcdef0", "name": "web-3f2a9c0d1e4b5a6f",
            "creation_date": "2026-01-02T10:00:00.000Z", "snapshots": ["snap-0123456789abcdef0"],
            "reason": "not among the newest 3, older than 14 days, not in use"}]
kept:
  description:
    - The images of the app that were kept, newest first.
    - Each has C(image_id), C(name) and C(reason), every reason it was kept separated by C(; ).
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0fedcba9876543210", "name": "web-0a1b2c3d4e5f6a7b",
            "reason": "stage pointer /cattle/web/prod; in use: launch template web-lt v3; newest 3"}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import image_prune as pruning
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module


def main():
    argument_spec = dict(
        app=dict(type="str", required=True),
        keep=dict(type="int", default=3),
        keep_days=dict(type="int", default=14),
        **shared_options.stage_pointers(),
        wait_timeout=dict(type="int", default=300),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    end_module(module, pruning.run_module)


if __name__ == "__main__":
    main()
