# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Forward weights of an ELBv2 listener's default action or of one of its rules.

Weights are a dict {target group ARN: weight}, in the order the action lists them.
A simple forward (`TargetGroupArn` alone) is the same thing as a one-group weighted
forward: `forward_weights` reads both as {arn: weight}, and `same_weights` treats a
single group with a positive weight as "everything to that group", whatever the number.

A write is one ModifyListener (default action) or ModifyRule call that sends only the
actions, so AWS keeps every other setting (port, protocol, certificates, conditions),
and that keeps the forward action's stickiness and any authenticate action before it.
Its response is the read-back.

Every refusal raises ListenerError, whose message names the input and says that
nothing was changed. Other AWS failures raise AnsibleAWSError (after retries).
"""

import math

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common
from ansible_collections.cattle.immutable.plugins.module_utils._aws import elbv2 as elbv2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import NOTHING_CHANGED

MIN_WEIGHT = 0
MAX_WEIGHT = 999
# AWS: a forward action may name at most five target groups.
MAX_FORWARD_GROUPS = 5
FORWARD = "forward"
HEALTHY = "healthy"
# A draining target is leaving the group: it does not count as registered.
LEAVING_STATES = ("draining",)
MIN_HEALTHY_ALL = "all"
UNCHANGED = NOTHING_CHANGED


class ListenerError(Exception):
    """A refusal before any write: the message names the input and says nothing was changed."""


# ---------------------------------------------------------------------------------------
# Pure helpers: weights, actions, ARNs.


def forward_action(actions, where="the action"):
    """The forward action among `actions` (a list, or one action); refuses any other kind."""
    if isinstance(actions, dict):
        actions = [actions]
    actions = list(actions or [])
    forwards = [action for action in actions if action.get("Type") == FORWARD]
    if len(forwards) == 1:
        return forwards[0]
    if not forwards:
        kinds = ", ".join(sorted({str(action.get("Type")) for action in actions})) or "no action at all"
        raise ListenerError(
            "{0} is not a forward action (it is {1}): cattle.immutable only sets the weights of a "
            "forward action; {2}".format(where, kinds, UNCHANGED)
        )
    raise ListenerError("{0} has {1} forward actions, AWS allows one; {2}".format(where, len(forwards), UNCHANGED))


def forward_weights(actions, where="the action"):
    """{target group ARN: weight} of the forward action in `actions`.

    A simple forward (TargetGroupArn only) reads as {arn: 1}, as AWS itself reports it
    in ForwardConfig. A group listed without a weight has weight 1 (AWS's default).
    """
    action = forward_action(actions, where)
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if groups:
        return dict((group["TargetGroupArn"], int(group.get("Weight", 1))) for group in groups)
    if action.get("TargetGroupArn"):
        return {action["TargetGroupArn"]: 1}
    raise ListenerError("{0} forwards to no target group; {1}".format(where, UNCHANGED))


def _normalised(weights):
    weights = dict((arn, int(weight)) for arn, weight in (weights or {}).items())
    # One group with any positive weight takes all the traffic: a simple forward.
    if len(weights) == 1 and list(weights.values())[0] > 0:
        return dict.fromkeys(weights, 1)
    return weights


def same_weights(a, b):
    """Whether two weight maps configure the same forward (order does not matter)."""
    return _normalised(a) == _normalised(b)


def with_weight(weights, tg_arn, weight):
    """A copy of `weights` with `tg_arn` at `weight` (appended when it was not there)."""
    changed = dict(weights or {})
    changed[tg_arn] = weight
    return changed


def without_group(weights, tg_arn):
    """A copy of `weights` without `tg_arn`."""
    return dict((arn, weight) for arn, weight in (weights or {}).items() if arn != tg_arn)


def traffic_shares(weights):
    """{arn: percent of the traffic} (floats, 0 when every weight is 0)."""
    total = sum(int(weight) for weight in (weights or {}).values())
    return dict((arn, (100.0 * int(weight) / total) if total else 0.0) for arn, weight in (weights or {}).items())


def gaining_groups(current, wanted):
    """ARNs in `wanted` (weight > 0) whose share of the traffic is larger than in `current`.

    These are the groups a write gives traffic to. A group whose share stays the same or
    shrinks receives nothing new: adding a group at weight 0 beside a live one gives none.
    """
    before, after = traffic_shares(current), traffic_shares(wanted)
    return [arn for arn, weight in wanted.items() if int(weight) > 0 and after[arn] > before.get(arn, 0.0)]


def validate_weights(weights, allow_all_zero=False, name="weights"):
    """Refuses what AWS refuses (0-999 whole numbers, at most 5 groups) and a forward to nowhere.

    `weights` maps a target group (ARN or name) to its weight.
    """
    if not weights:
        raise ListenerError("{0}: at least one target group is required; {1}".format(name, UNCHANGED))
    if len(weights) > MAX_FORWARD_GROUPS:
        raise ListenerError(
            "{0}: {1} target groups given, a forward action takes at most {2}; {3}".format(
                name, len(weights), MAX_FORWARD_GROUPS, UNCHANGED
            )
        )
    for group, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            raise ListenerError(
                "{0}: the weight of {1} is {2!r}; a weight is a whole number from {3} to {4}; {5}".format(
                    name, group, weight, MIN_WEIGHT, MAX_WEIGHT, UNCHANGED
                )
            )
    if not allow_all_zero and not any(weights.values()):
        raise ListenerError(
            "{0}: every weight is 0, which would send the traffic nowhere; {1}".format(name, UNCHANGED)
        )


def listener_arn_of_rule(rule_arn):
    """arn:...:listener-rule/app/NAME/LB/LISTENER/RULE -> arn:...:listener/app/NAME/LB/LISTENER."""
    head, sep, path = rule_arn.partition(":listener-rule/")
    if not sep or path.count("/") < 4:
        raise ListenerError("rule_arn {0} is not a listener rule ARN; {1}".format(rule_arn, UNCHANGED))
    return "{0}:listener/{1}".format(head, path.rsplit("/", 1)[0])


def load_balancer_arn_of_listener(listener_arn):
    """arn:...:listener/app/NAME/LB/LISTENER -> arn:...:loadbalancer/app/NAME/LB."""
    head, sep, path = listener_arn.partition(":listener/")
    if not sep or path.count("/") < 3:
        raise ListenerError("listener_arn {0} is not a listener ARN; {1}".format(listener_arn, UNCHANGED))
    return "{0}:loadbalancer/{1}".format(head, path.rsplit("/", 1)[0])


def target_group_name(arn):
    """arn:...:targetgroup/NAME/ID -> NAME (AWS puts the name in the ARN)."""
    head, sep, path = arn.partition(":targetgroup/")
    return path.split("/")[0] if sep else arn


def _writable_action(action):
    """An action as read, made acceptable to ModifyListener/ModifyRule again."""
    action = dict(action)
    oidc = action.get("AuthenticateOidcConfig")
    if oidc is not None and "ClientSecret" not in oidc:
        # Describe calls never return the secret; this keeps the one AWS has.
        action["AuthenticateOidcConfig"] = dict(oidc, UseExistingClientSecret=True)
    return action


def weighted_actions(actions, weights, where="the action"):
    """`actions` with the forward action's groups replaced by `weights`, everything else kept."""
    old = forward_action(actions, where)
    forward = {
        "Type": FORWARD,
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": arn, "Weight": int(weight)} for arn, weight in weights.items()]
        },
    }
    if "Order" in old:
        forward["Order"] = old["Order"]
    stickiness = (old.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
    if stickiness:
        forward["ForwardConfig"]["TargetGroupStickinessConfig"] = dict(stickiness)
    listed = [actions] if isinstance(actions, dict) else list(actions)
    return [forward if action is old else _writable_action(action) for action in listed]


def required_healthy(min_healthy, registered):
    """How many healthy targets a group with `registered` targets needs to receive traffic.

    min_healthy: None or "all" (every registered target, at least one), a whole number
    (0 turns the guard off), or a percentage string like "50%" (rounded up, at least one).
    """
    if min_healthy is None or min_healthy == MIN_HEALTHY_ALL:
        return max(registered, 1)
    text = str(min_healthy).strip()
    if text.endswith("%"):
        percent = _number(text[:-1], min_healthy)
        if not 0 <= percent <= 100:
            raise ListenerError("min_healthy {0!r} is not a percentage from 0 to 100; {1}".format(min_healthy, UNCHANGED))
        return max(int(math.ceil(registered * percent / 100.0)), 1) if percent > 0 else 0
    count = _number(text, min_healthy)
    if count < 0 or count != int(count):
        raise ListenerError("min_healthy {0!r} is not a whole number >= 0; {1}".format(min_healthy, UNCHANGED))
    return int(count)


def _number(text, original):
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not math.isfinite(number):
        raise ListenerError(
            "min_healthy {0!r} is not 'all', a whole number or a percentage like '50%'; {1}".format(original, UNCHANGED)
        )
    return number


def health_shortfalls(health, weights, min_healthy=None):
    """Groups given weight > 0 with fewer healthy targets than required.

    health: {arn: (healthy_ids, registered_ids)}. Returns [(arn, healthy, registered, required)].
    """
    short = []
    for arn, weight in weights.items():
        if int(weight) <= 0:
            continue
        healthy, registered = health[arn]
        required = required_healthy(min_healthy, len(registered))
        if len(healthy) < required:
            short.append((arn, len(healthy), len(registered), required))
    return short


# ---------------------------------------------------------------------------------------
# Finding the listener, its rules and target groups (the calls are _aws/elbv2.py's).


def _load_balancer_named(elbv2, name):
    found = elbv2_calls.describe_load_balancer(elbv2, name)
    if found is None:
        raise ListenerError("load_balancer_name: there is no load balancer {0}; {1}".format(name, UNCHANGED))
    return found


def _by_arn(describe, arn, option, what, not_found):
    """The one listener or rule `arn` names; a refusal naming `option` when AWS knows none."""
    try:
        return describe(arn)[0]
    except AnsibleAWSError as error:
        if common.error_code(error) in (not_found, "ValidationError"):
            raise ListenerError("{0}: there is no {1} {2}; {3}".format(option, what, arn, UNCHANGED)) from None
        raise


def _listener_by_arn(elbv2, listener_arn):
    return _by_arn(lambda arn: elbv2_calls.describe_listeners(elbv2, ListenerArns=[arn]),
                   listener_arn, "listener_arn", "listener", "ListenerNotFound")


def _listener_on_port(elbv2, load_balancer, port):
    listeners = elbv2_calls.describe_listeners(elbv2, LoadBalancerArn=load_balancer["LoadBalancerArn"])
    for listener in listeners:
        if int(listener["Port"]) == int(port):
            return listener
    ports = ", ".join(str(listener["Port"]) for listener in listeners) or "none"
    raise ListenerError(
        "port: load balancer {0} has no listener on port {1} (its listeners: {2}); {3}".format(
            load_balancer["LoadBalancerName"], port, ports, UNCHANGED
        )
    )


def _rule_by_arn(elbv2, rule_arn):
    return _by_arn(lambda arn: elbv2_calls.describe_rules(elbv2, RuleArns=[arn]),
                   rule_arn, "rule_arn", "listener rule", "RuleNotFound")


def _rule_by_priority(elbv2, listener_arn, priority):
    try:
        rules = elbv2_calls.describe_rules(elbv2, ListenerArn=listener_arn)
    except AnsibleAWSError as error:
        if common.error_code(error) in ("ListenerNotFound",):
            raise ListenerError("listener_arn: there is no listener {0}; {1}".format(listener_arn, UNCHANGED)) from None
        raise
    for rule in rules:
        if str(rule.get("Priority")) == str(priority):
            return rule
    priorities = ", ".join(str(rule["Priority"]) for rule in rules if not rule.get("IsDefault")) or "none"
    raise ListenerError(
        "rule_priority: listener {0} has no rule with priority {1} (its rules: {2}); {3}".format(
            listener_arn, priority, priorities, UNCHANGED
        )
    )


def find_forward_target(elbv2, listener_arn=None, load_balancer_name=None, port=None, rule_arn=None, rule_priority=None):
    """The listener default action or rule whose forward weights are to be read or written.

    Give rule_arn; or listener_arn; or load_balancer_name and port; the last two with
    rule_priority for a rule instead of the default action. Returns {"listener_arn",
    "rule_arn" (None for the default action), "load_balancer_arn", "actions"}.
    """
    if rule_arn:
        rule = _rule_by_arn(elbv2, rule_arn)
        listener_arn = listener_arn_of_rule(rule["RuleArn"])
        return _target(listener_arn, rule["RuleArn"], load_balancer_arn_of_listener(listener_arn), rule["Actions"])
    if listener_arn:
        if rule_priority is not None:
            rule = _rule_by_priority(elbv2, listener_arn, rule_priority)
            return _target(listener_arn, rule["RuleArn"], load_balancer_arn_of_listener(listener_arn), rule["Actions"])
        listener = _listener_by_arn(elbv2, listener_arn)
        return _target(listener["ListenerArn"], None, listener["LoadBalancerArn"], listener["DefaultActions"])
    if load_balancer_name and port is not None:
        load_balancer = _load_balancer_named(elbv2, load_balancer_name)
        listener = _listener_on_port(elbv2, load_balancer, port)
        if rule_priority is not None:
            rule = _rule_by_priority(elbv2, listener["ListenerArn"], rule_priority)
            return _target(listener["ListenerArn"], rule["RuleArn"], listener["LoadBalancerArn"], rule["Actions"])
        return _target(listener["ListenerArn"], None, listener["LoadBalancerArn"], listener["DefaultActions"])
    raise ListenerError(
        "give rule_arn, listener_arn, or load_balancer_name with port to find the listener; {0}".format(UNCHANGED)
    )


def load_balancer_name_of(load_balancer_arn):
    """arn:...:loadbalancer/app/NAME/ID -> NAME."""
    path = load_balancer_arn.partition(":loadbalancer/")[2]
    parts = path.split("/")
    return parts[1] if len(parts) > 2 else None


def find_known_listener(elbv2, listener_arn, load_balancer_name, port, rule_priority=None):
    """find_forward_target from a listener ARN remembered earlier, checked; None when it no longer fits.

    One DescribeListeners instead of DescribeLoadBalancers + DescribeListeners: the
    listener must still exist, belong to a load balancer named `load_balancer_name` and
    listen on `port`; otherwise the caller looks it up by name and port.
    """
    try:
        listener = elbv2_calls.describe_listeners(elbv2, ListenerArns=[listener_arn])[0]
    except AnsibleAWSError as error:
        if common.error_code(error) in ("ListenerNotFound", "ValidationError"):
            return None
        raise
    if load_balancer_name_of(listener["LoadBalancerArn"]) != load_balancer_name or int(listener["Port"]) != int(port):
        return None
    if rule_priority is not None:
        rule = _rule_by_priority(elbv2, listener["ListenerArn"], rule_priority)
        return _target(listener["ListenerArn"], rule["RuleArn"], listener["LoadBalancerArn"], rule["Actions"])
    return _target(listener["ListenerArn"], None, listener["LoadBalancerArn"], listener["DefaultActions"])


def _target(listener_arn, rule_arn, load_balancer_arn, actions):
    return {
        "listener_arn": listener_arn,
        "rule_arn": rule_arn,
        "load_balancer_arn": load_balancer_arn,
        "actions": actions,
    }


def target_text(target):
    """'rule ARN' or 'the default action of listener ARN': for messages."""
    if target.get("rule_arn"):
        return "rule {0}".format(target["rule_arn"])
    return "the default action of listener {0}".format(target["listener_arn"])


def _target_groups_or_none(elbv2, **kwargs):
    try:
        return elbv2_calls.describe_target_groups(elbv2, **kwargs)
    except AnsibleAWSError as error:
        if common.error_code(error) in ("TargetGroupNotFound", "ValidationError"):
            return None
        raise


def find_target_groups(elbv2, keys, name="target_groups"):
    """{key: target group description} for target groups given by ARN or by name.

    One call for the ARNs and one for the names; only when a group is missing are they
    looked up one by one, to name every missing group in the refusal.
    """
    keys = list(dict.fromkeys(keys))
    arns = [key for key in keys if key.startswith("arn:")]
    names = [key for key in keys if not key.startswith("arn:")]
    found = {}
    for kind, given, field in (("TargetGroupArns", arns, "TargetGroupArn"), ("Names", names, "TargetGroupName")):
        if not given:
            continue
        groups = _target_groups_or_none(elbv2, **{kind: given})
        if groups is None:
            groups = _one_by_one(elbv2, kind, given)
        found.update((group[field], group) for group in groups if group[field] in given)
    missing = [key for key in keys if key not in found]
    if missing:
        raise ListenerError(
            "{0}: no target group {1}; {2}".format(name, ", ".join(missing), UNCHANGED)
        )
    return dict((key, found[key]) for key in keys)


def _one_by_one(elbv2, kind, given):
    groups = []
    for key in given:
        groups.extend(_target_groups_or_none(elbv2, **{kind: [key]}) or [])
    return groups


def check_target_groups_exist(elbv2, arns, name="target_groups"):
    """{arn: target group description}; ListenerError naming every missing one."""
    return find_target_groups(elbv2, arns, name)


def check_target_groups_usable(groups, load_balancer_arn, name="target_groups"):
    """Refuses groups already attached to another load balancer (AWS allows one per group)."""
    for key, group in groups.items():
        others = sorted(set(group.get("LoadBalancerArns") or []) - {load_balancer_arn})
        if others:
            raise ListenerError(
                "{0}: target group {1} is used by another load balancer ({2}); {3}".format(
                    name, key, ", ".join(others), UNCHANGED
                )
            )


def target_health(elbv2, tg_arn):
    """[{"id", "state", "reason", "description"}] of every target DescribeTargetHealth lists."""
    try:
        descriptions = elbv2_calls.describe_target_health(elbv2, tg_arn)
    except AnsibleAWSError as error:
        if common.error_code(error) in ("TargetGroupNotFound",):
            raise ListenerError("there is no target group {0}; {1}".format(tg_arn, UNCHANGED)) from None
        raise
    return [
        {
            "id": description["Target"]["Id"],
            "state": description["TargetHealth"].get("State"),
            "reason": description["TargetHealth"].get("Reason"),
            "description": description["TargetHealth"].get("Description"),
        }
        for description in descriptions
    ]


def healthy_targets(elbv2, tg_arn):
    """(healthy target ids, registered target ids) of a group; draining targets are not registered."""
    return healthy_and_registered(target_health(elbv2, tg_arn))


def healthy_and_registered(targets):
    """(healthy ids, registered ids) of `target_health` output."""
    registered = [target["id"] for target in targets if target["state"] not in LEAVING_STATES]
    healthy = [target["id"] for target in targets if target["state"] == HEALTHY]
    return healthy, registered


def group_health(elbv2, weights):
    """{arn: (healthy ids, registered ids)} of the groups given weight > 0 (one call each)."""
    return dict((arn, healthy_targets(elbv2, arn)) for arn, weight in weights.items() if int(weight) > 0)


def write_forward(elbv2, target, weights):
    """One write of `weights` into the target's forward action; returns the actions AWS answers."""
    actions = weighted_actions(target["actions"], weights, target_text(target))
    if target.get("rule_arn"):
        return elbv2_calls.modify_rule_actions(elbv2, target["rule_arn"], actions)
    return elbv2_calls.modify_listener_actions(elbv2, target["listener_arn"], actions)


def write_weights(elbv2, target, weights):
    """One write; the new weights as the write's response reports them (the read-back)."""
    return forward_weights(write_forward(elbv2, target, weights), target_text(target))
