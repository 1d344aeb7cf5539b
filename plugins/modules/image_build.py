#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_build
version_added: 0.1.0
short_description: Build a golden AMI with Packer, or reuse the one built from the same inputs
description:
  - Runs C(packer build) for a template directory and records the AMI it made, tagged with where it came from.
  - The inputs are fingerprinted (SHA-256) from O(fingerprint_paths), O(vars), O(var_files), O(only), the resolved
    source AMI and the Packer version, unless O(fingerprint) is given. The fingerprint is tagged on the AMI as
    C(cattle:fingerprint) and its first 16 digits name it, C(<app>-<fingerprint>).
  - When an available AMI of that name exists and is complete, it is returned unchanged (C(changed=false), unless
    O(imds_support) had to be set) and Packer does not run. A new base image, template change or Packer version means
    a new fingerprint and a new build.
  - An AMI is complete when it carries C(cattle:built-at). This module writes that tag last, in the same call as the
    other provenance tags; templates must not set it. An AMI with the name but without the tag was left behind by a
    build whose answer was lost (for example a lost CreateImage response). It is adopted, never duplicated - tagged
    from the build's validation report when that report is on the controller, else deregistered with its snapshots
    and built again (once within one task).
  - With O(imds_support=v2.0) (the default) instances launched from the image require IMDSv2 - the AMI's ImdsSupport
    is set to C(v2.0) (ModifyImageAttribute) on every image of the result that lacks it, before the completion tag
    is written.
  - Provenance tags - C(cattle:app), C(cattle:managed-by), C(cattle:fingerprint), C(cattle:source-ami),
    C(cattle:packer-version), C(cattle:built-at), C(cattle:vcs-revision) when O(vcs_revision) is given, and from the
    validation report C(cattle:validation) and C(cattle:lynis-score). Snapshots get C(cattle:app),
    C(cattle:managed-by) and C(cattle:fingerprint).
  - 'Contract with templates: the module passes these Packer variables, which the template must declare:
    C(app), C(ami_name) (use it as the AMI name), C(fingerprint), C(source_ami) (use it as the source AMI),
    C(validation_report) (controller path where the build leaves its validation report, JSON such as
    C({"result": "passed", "lynis_score": 71})), and C(manifest_path) (the C(output) of a C(manifest)
    post-processor). O(endpoint_variable) adds one more.'
  - The full Packer output (C(-machine-readable)) goes to a log file, RV(log_path). The action plugin of this module
    prints the log path and, while Packer runs, a progress line every O(progress_interval) seconds.
  - Inputs are checked before anything in AWS is touched - the app, the template directory, the files named, Packer
    itself and the source AMI. A refused or failed build leaves nothing of its own behind (Packer cleans up its
    instance) and says so.
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  app:
    description:
      - App the image is for. Lowercase letters, digits and single hyphens, starting with a letter, at most 20
        characters.
    type: str
    required: true
  template:
    description:
      - Directory of the Packer template (C(*.pkr.hcl) files). Packer runs in it.
    type: path
    required: true
  vars:
    description:
      - Packer variables, passed through as they are (in a generated variables file that comes after O(var_files)).
      - C(source_ami) here names the base image; otherwise give O(source_ami_filter).
      - Must not set the variables this module sets - C(app), C(ami_name), C(fingerprint), C(validation_report),
        C(manifest_path).
    type: dict
    default: {}
  var_files:
    description:
      - Packer variable files (C(-var-file)), in order. Their contents are part of the fingerprint.
    type: list
    elements: path
    default: []
  only:
    description:
      - Builds to run (C(-only)), for example C(amazon-ebs.golden). The run must produce one AMI build.
    type: list
    elements: str
    default: []
  source_ami_filter:
    description:
      - Finds the base image with DescribeImages when O(vars) has no C(source_ami). The AMI found is passed to the
        template as C(source_ami) and is part of the fingerprint.
    type: dict
    suboptions:
      owners:
        description:
          - Account ids or C(self), C(amazon), C(aws-marketplace).
        type: list
        elements: str
        required: true
      filters:
        description:
          - DescribeImages filters, name to value or list of values. C(state=available) is added unless given.
        type: dict
        required: true
      most_recent:
        description:
          - Take the newest of several matches; when false, several matches fail the task.
        type: bool
        default: true
  fingerprint:
    description:
      - The fingerprint to use instead of computing one, 12 to 64 lowercase hexadecimal digits.
    type: str
  fingerprint_paths:
    description:
      - Files and directories whose contents make up the fingerprint, walked in sorted order (relative path and
        content of each file; symlinks as links). Defaults to O(template).
      - List here the playbooks and roles the build runs, too.
    type: list
    elements: path
  fingerprint_exclude:
    description:
      - File and directory names (glob patterns) left out when walking O(fingerprint_paths).
    type: list
    elements: str
    default: [".git", "__pycache__", "*.pyc", "packer_cache", "crash.log", ".DS_Store"]
  fingerprint_ignore_vars:
    description:
      - Names in O(vars) that say how to connect rather than what to build (SSH host and port, endpoints), left out
        of the fingerprint.
    type: list
    elements: str
    default: []
  endpoint_variable:
    description:
      - Name of a template variable that receives the EC2 endpoint URL (O(endpoint_url), else C(AWS_ENDPOINT_URL_EC2)
        or C(AWS_ENDPOINT_URL) from the environment), for templates that set C(custom_endpoint_ec2) with it. Packer
        1.6 ignores C(AWS_ENDPOINT_URL). Not part of the fingerprint. Nothing is passed when no endpoint is set.
    type: str
  vcs_revision:
    description:
      - Source revision to record as C(cattle:vcs-revision).
    type: str
  imds_support:
    description:
      - C(v2.0) makes instances launched from the image require IMDSv2 (C(HttpTokens=required)) - the AMI's
        ImdsSupport is set to C(v2.0) when it lacks it, on new, adopted and reused images alike (in every region of
        the result). AWS cannot undo this on an AMI.
      - Current Packer sets it in the template (C(imds_support = "v2.0")); Packer 1.6.6 cannot, and this covers it.
      - C(as-built) leaves the attribute as the template made it.
      - Not part of the fingerprint.
    type: str
    choices: [v2.0, as-built]
    default: v2.0
  packer_path:
    description:
      - The Packer executable. Defaults to C(packer) on E(PATH).
    type: path
  log_path:
    description:
      - File for Packer's output. Defaults to a new file under C(~/.cache/cattle-immutable/image_build/logs/)
        (E(XDG_CACHE_HOME) is respected). Set E(PACKER_LOG=1) in the task's environment to include Packer's debug log.
    type: path
  work_dir:
    description:
      - Directory for per-build files - the manifest and the validation report, under C(builds/<ami name>/), where a
        later run finds the report of a build whose answer was lost.
      - Defaults to C(~/.cache/cattle-immutable/image_build).
    type: path
  build_timeout:
    description:
      - Seconds Packer may run. After that it is interrupted (as with Ctrl-C, so it cleans up) and the task fails.
    type: int
    default: 7200
  wait_timeout:
    description:
      - Seconds to wait for a pending AMI to settle, or for a new AMI to be listed and available.
    type: int
    default: 600
  progress_interval:
    description:
      - Seconds between the progress lines the action plugin prints while the task runs. The module ignores it.
    type: int
    default: 15
notes:
  - Runs where the task runs; use it on the controller (C(hosts=localhost) or C(delegate_to=localhost)). Progress
    lines are printed only there.
  - Check mode computes the fingerprint and looks for a reusable image, and returns what would happen; it never runs
    Packer (only C(packer version)) and changes nothing.
  - Packer takes its AWS credentials from the environment; the module's O(access_key), O(secret_key),
    O(session_token), O(profile) and O(region) are passed to it as the standard C(AWS_*) variables.
    E(CHECKPOINT_DISABLE=1) is set; E(PACKER_CONFIG_DIR) and E(PACKER_CACHE_DIR) point at a temporary directory
    unless set in the environment.
  - Plugins installed with C(packer init) (Packer 1.7+) are still found. E(PACKER_PLUGIN_PATH) is passed through
    unchanged when set, and so is E(PACKER_CONFIG_DIR). Otherwise E(PACKER_PLUGIN_PATH) is set to the plugins
    directory Packer would have used - C(~/.packer.d/plugins) when C(~/.packer.d) exists, else
    C($XDG_CONFIG_HOME/packer/plugins) when E(XDG_CONFIG_HOME) is set, else C(~/.config/packer/plugins) - if that
    directory exists. On Packer 1.7 to 1.10 this also stops the lookup of plugins next to the Packer executable and
    in the template directory; set E(PACKER_PLUGIN_PATH) yourself to keep them.
  - Tested with Debian's Packer 1.6.6 (amazon-ebs builder, communicator none and SSH, ansible and shell-local
    provisioners, manifest post-processor) against a local AWS emulation. Written for current Packer too (the same
    command line, manifest format and machine-readable output), where the template's C(required_plugins) must have
    been installed with C(packer init) beforehand. The plugin lookup above follows Packer's documentation and
    source; it was tested with a stand-in executable, not with current Packer itself.
  - Two runs for the same inputs at the same time are not coordinated; one of them fails on the duplicate AMI name.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Build the web image, or reuse it when nothing changed
  cattle.immutable.image_build:
    app: web
    template: "{{ playbook_dir }}/../packer/golden"
    only: [amazon-ebs.golden]
    source_ami_filter:
      owners: ["136693071363"]
      filters:
        name: debian-12-amd64-*
        architecture: x86_64
    fingerprint_paths:
      - "{{ playbook_dir }}/../packer/golden"
      - "{{ playbook_dir }}/image.yml"
      - "{{ playbook_dir }}/../roles"
    vcs_revision: "{{ lookup('ansible.builtin.pipe', 'git rev-parse HEAD') }}"
  register: web_image

- name: Say what it did
  ansible.builtin.debug:
    msg: "{{ web_image.image_id }} ({{ web_image.outcome }})"

- name: Against a local endpoint, with a template of your own and a known base image
  cattle.immutable.image_build:
    app: web
    template: "{{ playbook_dir }}/packer/web"
    only: [amazon-ebs.web]
    vars:
      source_ami: ami-0123456789abcdef0
    endpoint_variable: endpoint
"""

RETURN = r"""
outcome:
  description:
    - C(reused) (a complete AMI of these inputs existed), C(built) (Packer built it), or C(adopted) (an AMI left
      behind by a lost build was finished from its validation report). In check mode, what would happen.
  returned: always
  type: str
  sample: built
image_id:
  description: The AMI id in the task's region (or, if Packer built none there, the first region's). Null in check mode
    when a build would run.
  returned: always
  type: str
  sample: ami-0123456789abcdef0
images:
  description: AMI id per region.
  returned: always
  type: dict
  sample: {"us-east-1": "ami-0123456789abcdef0"}
ami_name:
  description: The AMI name, C(<app>-<first 16 digits of the fingerprint>).
  returned: always
  type: str
  sample: web-3f2a9c0d1e4b5a6f
fingerprint:
  description: The fingerprint of the inputs (64 hexadecimal digits when computed).
  returned: always
  type: str
  sample: 3f2a9c0d1e4b5a6f3f2a9c0d1e4b5a6f3f2a9c0d1e4b5a6f3f2a9c0d1e4b5a6f
source_ami:
  description: The base AMI the build starts from.
  returned: always
  type: str
  sample: ami-0fedcba9876543210
tags:
  description: The AMI's tags (set by this run, or found on the reused AMI).
  returned: always
  type: dict
  sample: {"cattle:app": "web", "cattle:validation": "passed", "cattle:lynis-score": "71"}
log_path:
  description: The Packer log of this run; null when Packer did not run.
  returned: always
  type: str
  sample: /root/.cache/cattle-immutable/image_build/logs/web-20261126T100000Z-4242.log
build:
  description: Build metadata.
  returned: always
  type: dict
  contains:
    packer_version:
      description: Packer version of the build.
      type: str
      sample: 1.6.6
    source_ami:
      description: Base AMI of the build.
      type: str
    fingerprint:
      description: Fingerprint of the inputs.
      type: str
    built_at:
      description: C(cattle:built-at) of the AMI; null in check mode.
      type: str
      sample: "2026-11-26T10:00:00Z"
    duration_seconds:
      description: How long Packer ran; null when it did not.
      type: float
      sample: 312.4
    name:
      description: Build name from the manifest.
      type: str
      sample: golden
    builder_type:
      description: Builder from the manifest.
      type: str
      sample: amazon-ebs
    packer_run_uuid:
      description: Packer's run id from the manifest.
      type: str
    custom_data:
      description: The manifest post-processor's C(custom_data).
      type: dict
    packer_ran:
      description: Whether Packer built in this run.
      type: bool
    manifest_path:
      description: The manifest that was read.
      type: str
imds_support:
  description:
    - ImdsSupport of each image of the result, before and after this run (nothing when a build would run in check
      mode).
  returned: always
  type: list
  elements: dict
  contains:
    image_id:
      description: The AMI.
      type: str
    region:
      description: Its region.
      type: str
    before:
      description: ImdsSupport before this run; null when unset.
      type: str
    after:
      description: ImdsSupport after this run (in check mode, what it would be).
      type: str
    changed:
      description: Whether this run set it (in check mode, would set it).
      type: bool
  sample: [{"image_id": "ami-0123456789abcdef0", "region": "us-east-1", "before": null, "after": "v2.0",
            "changed": true}]
removed_images:
  description: AMIs left behind by lost builds that were deregistered (with their snapshots) before building again.
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0123456789abcdef0", "name": "web-3f2a9c0d1e4b5a6f", "state": "available",
            "snapshot_ids": ["snap-0123456789abcdef0"]}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import image_build as build_utils
from ansible_collections.cattle.immutable.plugins.module_utils._build import fingerprint as build_fingerprint
from ansible_collections.cattle.immutable.plugins.module_utils._build import imds as build_imds
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module


def argument_spec():
    return dict(
        app=dict(type="str", required=True),
        template=dict(type="path", required=True),
        vars=dict(type="dict", default={}),
        var_files=dict(type="list", elements="path", default=[]),
        only=dict(type="list", elements="str", default=[]),
        source_ami_filter=dict(
            type="dict",
            options=dict(
                owners=dict(type="list", elements="str", required=True),
                filters=dict(type="dict", required=True),
                most_recent=dict(type="bool", default=True),
            ),
        ),
        fingerprint=dict(type="str"),
        fingerprint_paths=dict(type="list", elements="path"),
        fingerprint_exclude=dict(type="list", elements="str", default=list(build_fingerprint.DEFAULT_EXCLUDES)),
        fingerprint_ignore_vars=dict(type="list", elements="str", default=[]),
        endpoint_variable=dict(type="str"),
        vcs_revision=dict(type="str"),
        imds_support=dict(type="str", choices=list(build_imds.CHOICES), default=build_imds.IMDS_V2),
        packer_path=dict(type="path"),
        log_path=dict(type="path"),
        work_dir=dict(type="path"),
        build_timeout=dict(type="int", default=7200),
        wait_timeout=dict(type="int", default=600),
        progress_interval=dict(type="int", default=15),
    )


def main():
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    end_module(module, build_utils.run_module)


if __name__ == "__main__":
    main()
