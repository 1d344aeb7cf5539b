# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traffic arithmetic of deploy.yml and rollback.yml, from what the fleet and
deployment_info modules returned: which fleets are blue, the weights of each switch step,
the weights that restore the start, the plan a check run prints. No AWS call here."""

GREEN_PLACEHOLDER = "(new target group {0})"


def group_name(arn):
    """A target group's name from its ARN (...:targetgroup/<name>/<id>)."""
    if ":targetgroup/" not in (arn or ""):
        return arn
    return arn.split(":targetgroup/", 1)[1].split("/", 1)[0]


def blue_fleets(other_fleets):
    """The stage's other fleets that serve, or wait at weight 0 after an interrupted run.

    A disabled fleet at weight 0 is a standby and stays out; a fleet outside the forward
    action (weight None) is not blue either.
    """
    found = []
    for fleet in other_fleets or []:
        weight = fleet.get("weight")
        if weight is None:
            continue
        waiting = fleet.get("fleet_state") != "disabled" and int(fleet.get("desired_capacity") or 0) > 0
        if weight > 0 or waiting:
            found.append(fleet)
    return found


def serving(weights, green_key):
    """{arn: weight} of every group but green with traffic now."""
    return {arn: weight for arn, weight in weights.items() if arn != green_key and weight > 0}


def previous_names(blues, live, other_fleets):
    """What served before, for people: the blue fleets, then groups with traffic that are no fleet."""
    fleet_groups = {arn for fleet in other_fleets or [] for arn in fleet.get("target_group_arns") or []}
    names = [fleet["name"] for fleet in blues]
    names += [group_name(arn) for arn in live if arn not in fleet_groups]
    return names


def step_weights(start, green_key, live, percent):
    """Green gets `percent`; the groups that served share the rest in their old proportions
    (each keeps at least 1 until the last step); every other group keeps its weight."""
    live_sum = sum(live.values())
    weights = []
    for arn, weight in start.items():
        if arn == green_key:
            weight = percent
        elif arn in live:
            share = int(round(live[arn] * (100 - percent) / float(live_sum)))
            weight = max(share, 1 if percent < 100 else 0)
        weights.append({"target_group": arn, "weight": weight})
    return weights


def restore_weights(now, green_key, start):
    """Back to the start in one write: green 0, every other group its start weight (0 if new)."""
    return [{"target_group": arn, "weight": 0 if arn == green_key else start.get(arn, 0)} for arn in now]


def rollback_weights(now, standby_arn):
    """All traffic to the standby, none to any other group of the forward action."""
    return [{"target_group": arn, "weight": 100 if arn == standby_arn else 0} for arn in now]


def green_key(green):
    """The green target group's ARN, or a readable stand-in when a check run created none."""
    group = green.get("target_group") or {}
    return group.get("arn") or GREEN_PLACEHOLDER.format(group.get("name") or green.get("fleet_name"))


def start_weights(green, key):
    """The forward action's weights before the switch, with green at 0 (a check run only plans to add it)."""
    weights = dict((green.get("listener") or {}).get("weights") or {})
    weights.setdefault(key, 0)
    return weights


def switch(green, percents):
    """Everything deploy.yml's switch needs, from the green fleet's result and the steps (percent)."""
    key = green_key(green)
    start = start_weights(green, key)
    live = serving(start, key)
    blues = blue_fleets(green.get("other_fleets"))
    steps = [step_weights(start, key, live, int(percent)) for percent in percents] if live else []
    return {
        "green_target_group": key,
        "start_weights": start,
        "serving": live,
        "blue_fleets": blues,
        "blue_fleet_ids": [fleet["fleet_id"] for fleet in blues],
        "blue_fleet_names": [fleet["name"] for fleet in blues],
        "previous": previous_names(blues, live, green.get("other_fleets")),
        "steps": steps,
        "final_weights": steps[-1] if steps else [{"target_group": arn, "weight": w} for arn, w in start.items()],
        "restore": restore_weights(start, key, start),
    }


def by_name(weights):
    """{target group name: weight} of a weight list or mapping, for people."""
    pairs = weights.items() if isinstance(weights, dict) else ((w["target_group"], w["weight"]) for w in weights)
    return {group_name(arn): weight for arn, weight in pairs}


def weights_text(weights):
    return ", ".join("{0} {1}".format(name, weight) for name, weight in sorted(by_name(weights).items())) or "none"


def plan_lines(green, plan, strategy):
    """What a check run of deploy.yml would do, one line each."""
    capacity = green.get("desired_capacity")
    exists = ((green.get("previous") or {}).get("exists"))
    lines = ["green {0} ({1}): AMI {2}, {3} instance(s){4}".format(
        green.get("fleet_name"), "exists" if exists else "would be created", green.get("image_id"), capacity,
        ", joins the forward action at weight 0" if not exists else "")]
    if not plan["steps"]:
        lines.append("no switch: nothing else serves ({0})".format(weights_text(plan["start_weights"])))
    previous = plan["start_weights"]
    for index, step in enumerate(plan["steps"], start=1):
        lines.append("{0} step {1} of {2}: {3} -> {4}".format(
            strategy, index, len(plan["steps"]), weights_text(previous), weights_text(step)))
        previous = dict((w["target_group"], w["weight"]) for w in step)
    lines.append("would disable (rollback window): {0}".format(", ".join(plan["blue_fleet_names"]) or "none"))
    return lines


def rollback_choice(fleets, standby_fleet_id=None, label="the stage"):
    """(standby, fleets that serve and would be disabled) from deployment_info's fleets.

    The standby is the fleet named by `standby_fleet_id` (a standby, or a fleet that still
    serves next to a failed green), else the newest disabled one. Raises ValueError saying
    why there is none.
    """
    if standby_fleet_id:
        chosen = [fleet for fleet in fleets if fleet.get("fleet_id") == standby_fleet_id]
        if not chosen:
            raise ValueError("standby_fleet_id: {0} has no fleet {1}".format(label, standby_fleet_id))
        standby = chosen[0]
        if standby.get("status") not in ("disabled", "pending", "live"):
            raise ValueError("standby_fleet_id: fleet {0} is {1}, not in the forward action".format(
                standby.get("name"), standby.get("status")))
    else:
        standbys = sorted((fleet for fleet in fleets if fleet.get("status") == "disabled"),
                          key=lambda fleet: fleet.get("created_at") or "")
        if not standbys:
            listed = ", ".join("{0} {1}".format(f.get("name"), f.get("status")) for f in fleets) or "none"
            raise ValueError("{0} has no standby fleet to roll back to (fleets: {1})".format(label, listed))
        standby = standbys[-1]
    serving_fleets = [fleet for fleet in fleets
                      if fleet.get("status") == "live" and fleet.get("fleet_id") != standby.get("fleet_id")]
    return standby, serving_fleets
