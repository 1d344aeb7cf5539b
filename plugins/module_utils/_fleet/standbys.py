# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""cattle.immutable.fleet state=absent with `standbys`: retire the stage's standby fleets.

The fleets are chosen from what the module reads anyway (the stage's Auto Scaling groups,
found by their app and stage tags, and the listener), so retiring them costs no call more
than retiring one fleet named by its id: terminate.yml needs no deployment_info first.
Chosen: fleets tagged disabled whose rollback window has passed (or every disabled one
with standbys=all), fleets an interrupted retirement left at desired capacity 0 (or "Delete
in progress"), and fleets whose group is gone but whose launch template is not (a retirement
stopped while AWS was deleting the group).
Never a fleet with a weight above 0 (the drain of each one refuses it too).
"""


from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import parse_iso8601, utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import states as fleet_states
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import Context
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import FleetError
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import current_state
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import find_app_groups
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import find_launch_template
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import find_listener
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import find_target_group
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import identify_fleet

ALL = "all"


def retire(ctx, guarded, fleet_result):
    """{"retired", "kept", "live"}: each chosen fleet drained and deleted in turn, as state=absent does.

    guarded(ctx, work, build_result) runs one step the way the module runs a single fleet, so a
    failure says what was done; fleet_result builds one fleet's result.
    """
    leftovers = guarded(ctx, lambda: locate_stage(ctx), lambda _ctx, outcome: outcome["leftovers"])
    chosen, kept, live = choose(ctx, utc_now())
    retired = []
    for fleet, group in [(fleet_spec.asg_tags(group)[fleet_spec.TAG_FLEET], group) for group in chosen] + leftovers:
        one = fleet_context(ctx, fleet)
        try:
            done = guarded(one, lambda: drain_and_delete(one), fleet_result)
        except FleetError as error:
            raise stopped(ctx, retired, one, error)
        ctx.changes.actions.extend(one.changes.actions)
        ctx.adoptions.extend(one.adoptions)
        ctx.kept.extend(one.kept)
        ctx.weights = one.weights
        retired.append({"fleet_id": done["fleet_id"], "name": done["fleet_name"],
                        "rollback_until": fleet_spec.asg_tags(group or {}).get(fleet_spec.TAG_ROLLBACK_UNTIL),
                        "actions": done["actions"], "deletion": done["deletion"]})
    return {"retired": retired, "kept": kept, "live": live}


def locate_stage(ctx):
    find_app_groups(ctx)
    find_listener(ctx)
    return {"leftovers": [(fleet, None) for fleet in left_behind(ctx)]}


def left_behind(ctx):
    """Fleets whose launch template outlived their Auto Scaling group: a retirement stopped after AWS
    had deleted the group (it answers DeleteAutoScalingGroup at once and deletes later) but before the
    target group and launch template went. One DescribeLaunchTemplates of the stage's templates."""
    tags = {naming.TAG_APP: ctx.app, fleet_spec.TAG_STAGE: ctx.stage, naming.TAG_MANAGED_BY: naming.MANAGED_BY_VALUE}
    with_group = set(fleet_spec.asg_tags(group).get(fleet_spec.TAG_FLEET) for group in ctx.app_groups)
    fleets = []
    for template in ec2_calls.describe_launch_templates(ctx.ec2, tags):
        fleet = boto3_tag_list_to_ansible_dict(template.get("Tags") or []).get(fleet_spec.TAG_FLEET)
        if fleet and fleet not in with_group and fleet not in fleets:
            fleets.append(fleet)
    return sorted(fleets)


def weight_of_group(ctx, group):
    weights = [ctx.weights[arn] for arn in group.get("TargetGroupARNs") or [] if arn in ctx.weights]
    return max(weights) if weights else None


def window_over(tags, now):
    until = parse_iso8601(tags.get(fleet_spec.TAG_ROLLBACK_UNTIL))
    if until is None:
        return False  # no window recorded: kept unless standbys=all
    return now >= until


def choose(ctx, now):
    """(groups to retire, kept standbys, live fleets), by name."""
    chosen, kept, live = [], [], []
    for group in sorted(ctx.app_groups, key=lambda found: found["AutoScalingGroupName"]):
        tags = fleet_spec.asg_tags(group)
        if not tags.get(fleet_spec.TAG_FLEET):
            continue
        entry = {"fleet_id": tags[fleet_spec.TAG_FLEET], "name": group["AutoScalingGroupName"],
                 "rollback_until": tags.get(fleet_spec.TAG_ROLLBACK_UNTIL)}
        weight = weight_of_group(ctx, group)
        if weight:
            live.append(dict(entry, weight=weight))
        elif tags.get(fleet_spec.TAG_FLEET_STATE) == fleet_spec.STATE_DISABLED:
            if ctx.params["standbys"] == ALL or window_over(tags, now):
                chosen.append(group)
            else:
                kept.append(entry)
        elif group.get("DesiredCapacity") == 0:
            chosen.append(group)  # an interrupted retirement
    return chosen, kept, live


def fleet_context(ctx, fleet):
    """A run of state=absent on one fleet, knowing what the stage's run already read."""
    params = dict(ctx.params, fleet_id=fleet, standbys=None)
    one = Context(params, ctx.clients, ctx.definition, ctx.stage_def, ctx.check_mode, ctx.progress_path)
    one.lease = ctx.lease
    one.app_groups = ctx.app_groups
    one.target = ctx.target
    one.weights = dict(ctx.weights)
    return one


def drain_and_delete(one):
    identify_fleet(one)
    find_target_group(one)
    find_launch_template(one)
    one.previous = current_state(one)
    return fleet_states.ensure_absent(one)


def stopped(ctx, retired, one, error):
    """The failure of one fleet, saying which standbys were retired before it."""
    before = ", ".join(fleet["name"] for fleet in retired) or "none"
    details = dict(error.result)
    details["retired"] = retired
    if retired or one.changes.changed:
        details["changed"] = True
        details["actions"] = ctx.changes.actions + one.changes.actions
    return FleetError("retiring standby fleet {0}: {1} (standbys retired before it: {2})".format(
        one.label, error, before), **details)
