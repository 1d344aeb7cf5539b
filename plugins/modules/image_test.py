#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_test
version_added: 0.4.0
short_description: Test a new golden AMI from outside, on one instance behind the app's load balancer
description:
  - Launches one test instance from O(image_id) with the app's definition (its stage's instance type, subnets,
    security groups, instance profile, user data and root volume; IMDSv2 only; no key pair), registers it in a
    temporary target group with the app's health check, and forwards to that group from a listener rule of its own
    on the app's listener. The rule has its own priority and a host-header condition on a name under
    C(.cattle-test.invalid), which no client sends, so the app's live traffic and its forward action are never
    touched.
  - Once the target is healthy, sends the health check path and each of the definition's C(image_tests.http_checks)
    through the load balancer with that host header, and checks the status (the health check's matcher for the health
    path) and the body pattern. Then runs each of C(image_tests.commands) on the instance through SSM Run Command
    (C(AWS-RunShellScript)); a command passes when it ends C(Success) with exit code 0.
  - Records the result on the AMI, C(cattle:tested) (C(passed <time>), or C(failed <time>) and the first failure) and
    C(cattle:tested-digest) (SHA-256 of the evidence), and returns the full evidence.
  - Removes the instance, the rule and the target group on every path out, also when the test fails or an AWS call
    fails half-way. An AWS failure is not tagged on the AMI, since the image was not at fault.
  - Refuses, before anything is created, an AMI that is not an available image of O(app), a load balancer or listener
    that does not exist, a load balancer at AWS's quota of 100 rules, a O(rule_priority) that is taken, and test
    commands without an instance profile.
  - An AMI whose C(cattle:tested) already says C(passed) is not tested again unless O(retest=true).
author:
  - cattle.immutable maintainers (@cattle-immutable)
options:
  stage:
    description:
      - The stage whose definition and load balancer the test uses. Default the app's first stage.
    type: str
    required: false
  image_id:
    description:
      - The AMI to test.
    type: str
    required: true
  rule_priority:
    description:
      - The test rule's priority. Default the highest priority no rule of the listener has.
    type: int
  retest:
    description:
      - Test again an image whose C(cattle:tested) tag already says C(passed).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the instance to run, and again for its target to turn healthy.
      - A target that is still unhealthy after the definition's C(grace_period) fails the test at once.
    type: int
    default: 600
  command_timeout:
    description:
      - Seconds each test command may run (its C(executionTimeout)); also how long to wait for the instance to come
        Online in Systems Manager.
    type: int
    default: 600
notes:
  - Supports check mode; it reads and plans, and launches nothing.
  - HTTPS listeners are tested without certificate verification, since no certificate names the test host.
  - Needs C(ec2:DescribeImages), C(ec2:RunInstances), C(ec2:DescribeInstances), C(ec2:TerminateInstances),
    C(ec2:CreateTags), C(iam:PassRole) for the instance profile, C(elasticloadbalancing:DescribeLoadBalancers),
    C(DescribeListeners), C(DescribeRules), C(CreateTargetGroup), C(DeleteTargetGroup), C(RegisterTargets),
    C(DescribeTargetHealth), C(CreateRule), C(DeleteRule), C(AddTags), and with commands C(ssm:SendCommand),
    C(ssm:GetCommandInvocation), C(ssm:DescribeInstanceInformation).
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  cattle.immutable.app_definition, cattle.immutable.retries]
"""

EXAMPLES = r"""
- name: Test the new image before it is promoted
  cattle.immutable.image_test:
    app: web
    definition: "{{ cattle_apps.web }}"
    image_id: "{{ cattle_build.image_id }}"
  register: web_test

- name: Show what failed
  ansible.builtin.debug:
    msg: "{{ web_test.failure }}"
  when: web_test.result == 'failed'
"""

RETURN = r"""
result:
  description: C(passed) or C(failed); null in check mode.
  returned: always
  type: str
  sample: passed
failure:
  description: The first check that failed, in words; null when the test passed.
  returned: when the test ran
  type: str
  sample: "GET /health answered 500, expected matcher 200"
already_passed:
  description:
    - Whether the test was not run because the image had passed before (O(retest=false)). Not named C(skipped),
      which Ansible keeps for the tasks it skips.
  returned: always
  type: bool
tested:
  description: The C(cattle:tested) value that made the test skip.
  returned: when RV(already_passed)
  type: str
  sample: "passed 2026-12-07T05:30:00Z"
tags:
  description: The tags written on the AMI.
  returned: when the test ran
  type: dict
  sample: {"cattle:tested": "passed 2026-12-07T05:30:00Z", "cattle:tested-digest": "sha256:3f2a..."}
digest:
  description: The SHA-256 digest of RV(evidence) (canonical JSON), as tagged.
  returned: when the test ran
  type: str
evidence:
  description: What ran and what it answered.
  returned: always
  type: dict
  contains:
    health:
      description: The test target's last health (state, reason) and the seconds it took to turn healthy.
      type: dict
    http_checks:
      description: Each request, with its expected and actual status, the first 1000 characters of its body, time and
        outcome.
      type: list
      elements: dict
    commands:
      description: Each command, with its Run Command status, exit code, and output as AWS keeps it.
      type: list
      elements: dict
    resources:
      description: The test instance, target group, rule, its priority and host header.
      type: dict
removed:
  description: What the test created and removed again.
  returned: when the test ran
  type: list
  elements: str
cleanup_errors:
  description: What could not be removed, and why (the task fails when this is not empty).
  returned: when the test ran
  type: list
  elements: str
plan:
  description: In check mode, the load balancer, listener and priority the test would use.
  returned: in check mode
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.cattle.immutable.plugins.module_utils import image_test as image_testing
from ansible_collections.cattle.immutable.plugins.module_utils._common import options as shared_options
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import end_module


def main():
    argument_spec = dict(
        shared_options.app_definition(stage_required=False),
        image_id=dict(type="str", required=True),
        rule_priority=dict(type="int"),
        retest=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=600),
        command_timeout=dict(type="int", default=600),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    end_module(module, image_testing.run_module)


if __name__ == "__main__":
    main()
