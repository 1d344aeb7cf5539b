"""A record of every listener and rule write, with the health of the groups it sends traffic to.

Blue-green's promise is that no write ever gives traffic (weight > 0) to a target group
without healthy targets. Checking the listener at the end of a test cannot see a bad
write that a later one undid, so the sandbox notes, for every CreateListener,
ModifyListener, CreateRule and ModifyRule that writes actions and succeeds: when, which
listener or rule, the forward weights before and after, and for each group with weight > 0
how many of its targets were healthy and registered right after the write (the moment
traffic would start to flow).

A write *gives* traffic to a group when the group's share of the traffic grows (a new group
at weight > 0 included; a group re-sent with an unchanged share, say blue beside a green
joining at weight 0, is given nothing). A write is *unguarded* when a group it gives
traffic to had no healthy target, or fewer healthy targets than registered ones.
`degraded_groups` lists every group at weight > 0 that was not fully healthy, given
traffic or not.

The health is what DescribeTargetHealth would have answered then (the sandbox's timeline
and overrides included). The recorder runs inside the same lock as the write itself, so
no other request comes between the two.
"""

import itertools
import threading
import time
from typing import Any

from moto.elbv2.models import ELBv2Backend

from .fidelity import Fidelity
from .patching import bound_arguments, patch

# Backend method -> (API operation, argument holding the written actions, argument naming
# the listener or rule written, None for a create).
WRITERS = {
    "create_listener": ("CreateListener", "actions", None),
    "modify_listener": ("ModifyListener", "actions", "arn"),
    "create_rule": ("CreateRule", "actions", None),
    "modify_rule": ("ModifyRule", "actions", "rule_arn"),
}
# A draining target is leaving its group: not counted as registered.
LEAVING = ("draining",)


class ListenerWriteLog:
    """Thread-safe list of write records; cleared when the sandbox resets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._sequence = itertools.count(1)

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(dict(record, sequence=next(self._sequence)))

    def writes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._records]

    def unguarded(self) -> list[dict[str, Any]]:
        return [record for record in self.writes() if record["unguarded_groups"]]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._sequence = itertools.count(1)


LOG = ListenerWriteLog()


def _recording(method_name: str, operation: str, parameter: str, written_arn: str | None) -> None:
    @patch(ELBv2Backend, method_name)
    def recorded(fidelity: Fidelity, original: Any, backend: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        arguments = bound_arguments(original, (backend, *args), kwargs)
        previous = _stored_actions(backend, arguments.get(written_arn)) if written_arn else []
        result = original(backend, *args, **kwargs)
        if arguments.get(parameter):  # ModifyListener/ModifyRule without actions leave them as they were
            LOG.add(_record(backend, operation, forward_weights(previous), result))
        return result


for _method, (_operation, _parameter, _written_arn) in WRITERS.items():
    _recording(_method, _operation, _parameter, _written_arn)


def _stored_actions(backend: ELBv2Backend, arn: str | None) -> list[dict[str, Any]]:
    """The actions of the listener or rule `arn` as stored now ([] when there is none)."""
    for load_balancer in backend.load_balancers.values():
        for listener in load_balancer.listeners.values():
            if listener.arn == arn:
                return [action.data for action in listener.default_actions]
            for rule in listener.rules.values():
                if rule.arn == arn:
                    return [action.data for action in rule.actions]
    return []


def _record(backend: ELBv2Backend, operation: str, previous: dict[str, int], written: Any) -> dict[str, Any]:
    is_listener = operation.endswith("Listener")
    actions = written.default_actions if is_listener else written.actions
    weights = forward_weights([action.data for action in actions])
    gaining = set(gaining_groups(previous, weights))
    groups = [
        dict(_group_health(backend, arn, weight), gains_traffic=arn in gaining)
        for arn, weight in weights.items()
        if weight > 0
    ]
    return {
        "time": time.time(),
        "operation": operation,
        "listener_arn": written.arn if is_listener else written.listener_arn,
        "rule_arn": None if is_listener else written.arn,
        "previous_weights": previous,
        "weights": weights,
        "groups": groups,
        "unguarded_groups": [g["target_group_arn"] for g in groups if g["gains_traffic"] and not _fully_healthy(g)],
        "degraded_groups": [g["target_group_arn"] for g in groups if not _fully_healthy(g)],
    }


def forward_weights(actions: list[dict[str, Any]]) -> dict[str, int]:
    """{target group ARN: weight} of the forward action(s); a simple forward is weight 1."""
    weights: dict[str, int] = {}
    for action in actions:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        for group in groups:
            weights[group["TargetGroupArn"]] = int(group.get("Weight", 1))
        if not groups and action.get("TargetGroupArn"):
            weights[action["TargetGroupArn"]] = 1
    return weights


def _shares(weights: dict[str, int]) -> dict[str, float]:
    total = sum(weights.values())
    return {arn: (weight / total if total else 0.0) for arn, weight in weights.items()}


def gaining_groups(previous: dict[str, int], weights: dict[str, int]) -> list[str]:
    """Groups at weight > 0 whose share of the traffic grows with the write."""
    before, after = _shares(previous), _shares(weights)
    return [arn for arn, weight in weights.items() if weight > 0 and after[arn] > before.get(arn, 0.0)]


def _group_health(backend: ELBv2Backend, arn: str, weight: int) -> dict[str, Any]:
    states = [status.status for status in backend.describe_target_health(arn, [])]
    return {
        "target_group_arn": arn,
        "weight": weight,
        "healthy": sum(1 for state in states if state == "healthy"),
        "registered": sum(1 for state in states if state not in LEAVING),
        "states": sorted(states),
    }


def _fully_healthy(group: dict[str, Any]) -> bool:
    return group["healthy"] > 0 and group["healthy"] >= group["registered"]
