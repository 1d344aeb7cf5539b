# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Options of the modules that read an app's definition (argument spec:
module_utils/shared_options.app_definition)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  app:
    description:
      - The app. Its definition is O(definition).
    type: str
    required: true
  definition:
    description:
      - The definition of O(app) (docs/apps.md), usually C(cattle_apps[app]). Only the app's own definition is
        given, so no other app's settings reach the module's arguments.
      - Each field is checked as docs/apps.md says; errors name the field by its place in C(cattle_apps), as
        C(apps.<app>.<field>), and nothing is changed.
    type: dict
    suboptions:
      region:
        description:
          - The AWS region of the app's resources.
        type: raw
      vpc_id:
        description:
          - The VPC of the subnets.
        type: raw
      subnets:
        description:
          - The subnets the instances run in (a list of subnet ids).
        type: raw
      security_groups:
        description:
          - The instances' security groups (a list of ids).
        type: raw
      instance_type:
        description:
          - The instance type, for example C(t3.micro).
        type: raw
      instance_profile:
        description:
          - The instances' instance profile (name or ARN).
        type: raw
      user_data:
        description:
          - The instances' user data script. Hidden from results, logs and job events (no_log).
          - It is still stored in the launch template, readable by anyone allowed
            C(ec2:DescribeLaunchTemplateVersions), so it should name secrets (an SSM parameter the instance reads at
            boot) rather than contain them (docs/apps.md).
        type: raw
      root_volume:
        description:
          - The root volume (C(size), C(type), C(kms_key_id)).
        type: raw
      capacity:
        description:
          - C(min), C(max) and C(desired) instances.
        type: raw
      scaling_policies:
        description:
          - Target tracking policies.
        type: raw
      port:
        description:
          - The port the instances serve on.
        type: raw
      protocol:
        description:
          - C(HTTP) or C(HTTPS).
        type: raw
      health_check:
        description:
          - The target group's health check.
        type: raw
      grace_period:
        description:
          - Seconds before Auto Scaling acts on ELB health.
        type: raw
      load_balancer:
        description:
          - The load balancer (C(name), C(listener_port), C(rule_priority)).
        type: raw
      deregistration_delay:
        description:
          - Seconds a deregistered target drains.
        type: raw
      tags:
        description:
          - Tags added to every resource of the app's fleets.
        type: raw
      image_tests:
        description:
          - What image_test checks (C(http_checks), C(commands)).
        type: raw
      stages:
        description:
          - The stages in promotion order, a list of names or a mapping of stage to overrides of the fields above.
          - A stage's C(user_data) is hidden from results as well.
        type: raw
  stage:
    description:
      - The stage, one of the definition's stages; its overrides (region, load balancer, capacity, ...) apply.
    type: str
    required: true
"""
