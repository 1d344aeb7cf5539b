# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one guarded write of a forward action's weights, and how its result reads: the
traffic module, green_switch and rollback_switch all write the listener through it."""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners
from ansible_collections.cattle.immutable.plugins.module_utils._traffic.listeners import ListenerError

UNCHANGED = listeners.UNCHANGED


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
