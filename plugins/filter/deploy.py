# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the deploy, rollback and terminate playbooks: the inputs' checks live in
module_utils/_pipeline/run_request.py and the traffic arithmetic in module_utils/_traffic/switch_plan.py
(both unit-tested); these only hand them over."""

from ansible_collections.cattle.immutable.plugins.module_utils._pipeline import run_request
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import switch_plan


def run_request_filter(given, kind, apps=None):
    """The request, normalised, with `errors` (empty when nothing is wrong)."""
    request, errors = run_request.normalise(kind, dict(given or {}), apps)
    return dict(request, errors=errors)


def deploy_switch(green, percents):
    return switch_plan.switch(green or {}, list(percents or []))


def deploy_plan(green, plan, strategy):
    return switch_plan.plan_lines(green or {}, plan, strategy)


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
            "run_request": run_request_filter,
            "target_group_weights": target_group_weights,
        }
