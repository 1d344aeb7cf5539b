# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The traffic module's work: set the forward weights of a listener or rule, health-guarded.

Order: check the request, find the listener/rule, read its forward weights, resolve and
check the target groups, compare, guard health, write once. Everything up to the write
only reads, so every refusal leaves AWS as it was.
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners
from ansible_collections.cattle.immutable.plugins.module_utils._traffic.listeners import ListenerError

UNCHANGED = listeners.UNCHANGED


def requested_weights(target_groups):
    """[(target group name or ARN, weight)] from the module's `target_groups`, checked."""
    if not target_groups:
        raise ListenerError("target_groups: at least one target group is required; {0}".format(UNCHANGED))
    pairs = [(entry["target_group"], entry["weight"]) for entry in target_groups]
    keys = [key for key, _weight in pairs]
    duplicates = sorted(set(key for key in keys if keys.count(key) > 1))
    if duplicates:
        raise ListenerError(
            "target_groups: {0} listed more than once; {1}".format(", ".join(duplicates), UNCHANGED)
        )
    listeners.validate_weights(dict(pairs), name="target_groups")
    return pairs


def resolve(elbv2, pairs, current, load_balancer_arn):
    """{ARN: weight} in the requested order; names resolved, unknown groups refused.

    Groups already in the forward action exist (AWS refuses to delete a group in use), so
    only the others are described: a rollback between two known ARNs costs no lookup.
    """
    unknown = [key for key, _weight in pairs if key not in current]
    groups = listeners.find_target_groups(elbv2, unknown) if unknown else {}
    listeners.check_target_groups_usable(groups, load_balancer_arn)
    wanted = {}
    for key, weight in pairs:
        arn = groups[key]["TargetGroupArn"] if key in groups else key
        if arn in wanted:
            raise ListenerError("target_groups: {0} listed more than once; {1}".format(key, UNCHANGED))
        wanted[arn] = weight
    return wanted


def guard_health(elbv2, current, wanted, min_healthy):
    """{arn: (healthy, registered, required)} of the groups the write gives traffic to
    (their share grows); refuses any with too few healthy targets."""
    health = dict((arn, listeners.target_health(elbv2, arn)) for arn in listeners.gaining_groups(current, wanted))
    ids = dict((arn, listeners.healthy_and_registered(targets)) for arn, targets in health.items())
    short = listeners.health_shortfalls(ids, dict((arn, wanted[arn]) for arn in health), min_healthy)
    if short:
        raise ListenerError(health_refusal(short, health, wanted, min_healthy))
    return dict(
        (arn, (len(healthy), len(registered), listeners.required_healthy(min_healthy, len(registered))))
        for arn, (healthy, registered) in ids.items()
    )


def health_refusal(short, health, wanted, min_healthy):
    parts = []
    for arn, healthy, registered, required in short:
        states = _state_counts(health[arn])
        part = "target group {0} has {1} healthy of {2} registered targets{3}, {4} required (min_healthy={5})".format(
            listeners.target_group_name(arn), healthy, registered, " ({0})".format(states) if states else "",
            required, min_healthy,
        )
        if any(target["state"] == "unused" for target in health[arn]):
            part += ("; its targets are unused because nothing forwards to it yet: add it at weight 0 "
                     "first, so that it is health-checked")
        parts.append(part + ": refusing to give it weight {0}".format(wanted[arn]))
    return "; ".join(parts) + "; " + UNCHANGED


def _state_counts(targets):
    counts = {}
    for target in targets:
        counts[target["state"]] = counts.get(target["state"], 0) + 1
    return ", ".join("{0} {1}".format(count, state) for state, count in sorted(counts.items()))


def configuration(weights):
    """What RV(previous) and RV(new) hold."""
    shares = listeners.traffic_shares(weights)
    return {
        "weights": dict(weights),
        "weights_by_name": dict((listeners.target_group_name(arn), weight) for arn, weight in weights.items()),
        "target_groups": [
            {
                "arn": arn,
                "name": listeners.target_group_name(arn),
                "weight": weight,
                "percent": round(shares[arn], 1),
            }
            for arn, weight in weights.items()
        ],
    }


def summary(target, previous, new, changed):
    def text(weights):
        return ", ".join("{0}={1}".format(listeners.target_group_name(arn), weight) for arn, weight in weights.items())

    where = listeners.target_text(target)
    if not changed:
        return "{0} already forwards {1}".format(where, text(previous))
    return "{0}: {1} -> {2}".format(where, text(previous), text(new))


def set_weights(elbv2, params, check_mode):
    """The module's result; ListenerError for every refusal (nothing written)."""
    pairs = requested_weights(params["target_groups"])
    listeners.required_healthy(params["min_healthy"], 1)  # a bad value is refused before any call
    target = listeners.find_forward_target(
        elbv2,
        listener_arn=params.get("listener_arn"),
        load_balancer_name=params.get("load_balancer_name"),
        port=params.get("port"),
        rule_arn=params.get("rule_arn"),
        rule_priority=params.get("rule_priority"),
    )
    current = listeners.forward_weights(target["actions"], listeners.target_text(target))
    wanted = resolve(elbv2, pairs, current, target["load_balancer_arn"])
    written = guarded_write(elbv2, target, current, wanted, params["min_healthy"], check_mode)
    return result(target, current, written["weights"], written["changed"], written["health"])


def guarded_write(elbv2, target, current, wanted, min_healthy, check_mode):
    """{changed, weights, health, actions}: `wanted` written in one call unless it is there already,
    after the health guard (ListenerError, nothing written), then checked against AWS's answer.
    In check mode nothing is written and `weights` is what would be; `actions` is what AWS
    answered (None without a write)."""
    if listeners.same_weights(current, wanted):
        return {"changed": False, "weights": current, "health": {}, "actions": None}
    health = guard_health(elbv2, current, wanted, min_healthy)
    if check_mode:
        return {"changed": True, "weights": wanted, "health": health, "actions": None}
    actions = listeners.write_forward(elbv2, target, wanted)
    new = listeners.forward_weights(actions, listeners.target_text(target))
    if not listeners.same_weights(new, wanted):
        raise AnsibleAWSError(message="{0} was written, but AWS reports {1} instead of {2}".format(
            listeners.target_text(target), new, wanted))
    return {"changed": True, "weights": new, "health": health, "actions": actions}


def result(target, current, new, changed, health):
    return {
        "changed": changed,
        "msg": summary(target, current, new, changed),
        "listener_arn": target["listener_arn"],
        "rule_arn": target["rule_arn"],
        "load_balancer_arn": target["load_balancer_arn"],
        "previous": configuration(current),
        "new": configuration(new),
        "health": [
            {
                "arn": arn,
                "name": listeners.target_group_name(arn),
                "healthy": healthy,
                "registered": registered,
                "required": required,
            }
            for arn, (healthy, registered, required) in health.items()
        ],
        "diff": {
            "before_header": listeners.target_text(target),
            "after_header": listeners.target_text(target),
            "before": configuration(current)["weights_by_name"],
            "after": configuration(new)["weights_by_name"],
        },
    }


def run_module(module):
    try:
        return set_weights(module.client("elbv2"), module.params, module.check_mode)
    except ListenerError as error:
        raise Refusal(error) from error
