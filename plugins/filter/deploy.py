# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the deploy and rollback playbooks: the traffic arithmetic lives in
module_utils/switch_plan.py (unit-tested), these only hand it over."""

from ansible_collections.cattle.immutable.plugins.module_utils import switch_plan


def deploy_switch(green, percents):
    return switch_plan.switch(green or {}, list(percents or []))


def deploy_plan(green, plan, strategy):
    return switch_plan.plan_lines(green or {}, plan, strategy)


def rollback_choice(fleets, standby_fleet_id=None, label="the stage"):
    """{standby, serving, error}: the error says why there is no standby (the playbook refuses with it)."""
    try:
        standby, serving = switch_plan.rollback_choice(list(fleets or []), standby_fleet_id or None, label)
    except ValueError as error:
        return {"standby": {}, "serving": [], "error": str(error)}
    return {"standby": standby, "serving": serving, "error": ""}


def rollback_weights(weights, standby_arn):
    return switch_plan.rollback_weights(weights or {}, standby_arn)


def fleet_line(fleet):
    """One deployment_info fleet in words: name, status, AMI, healthy/desired, weight."""
    counts = fleet.get("counts") or {}
    return "{0}: {1}, {2}, {3}/{4} healthy, weight {5}".format(
        fleet.get("name"), fleet.get("status"), fleet.get("image_id"), counts.get("healthy"), counts.get("desired"),
        fleet.get("weight"))


def target_group_weights(weights):
    return switch_plan.by_name(weights or {})


class FilterModule:
    def filters(self):
        return {
            "deploy_switch": deploy_switch,
            "deploy_plan": deploy_plan,
            "fleet_line": fleet_line,
            "rollback_choice": rollback_choice,
            "rollback_weights": rollback_weights,
            "target_group_weights": target_group_weights,
        }
