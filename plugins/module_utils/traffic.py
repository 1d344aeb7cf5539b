# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The traffic module's work: set the forward weights of a listener or rule, health-guarded.

Order: check the request, find the listener/rule, read its forward weights, resolve and
check the target groups, compare, guard health, write once. Everything up to the write
only reads, so every refusal leaves AWS as it was.
"""

from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._lock import fencing
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import write
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
    written = write.guarded_write(elbv2, target, current, wanted, params["min_healthy"], check_mode)
    return write.result(target, current, written["weights"], written["changed"], written["health"])


def lease_keeper(module):
    """With the option lock (and not in check mode), the keeper that fences the write."""
    lock = module.params.get("lock")
    if not lock or module.check_mode:
        return None
    try:
        return locking.keeper_of(lock, lock["app"], client_maker(module), module.region)
    except locking.LockError as error:
        raise Refusal("lock: {0}".format(error)) from error


def client_maker(module):
    return lambda service, region: module.client(service, region=region)


def run_module(module):
    keeper = lease_keeper(module)
    elbv2 = fencing.fenced(module.client("elbv2"), keeper, fencing.LISTENER_WRITES)
    try:
        return set_weights(elbv2, module.params, module.check_mode)
    except ListenerError as error:
        raise Refusal(error) from error
    except locking.LockError as error:
        # Raised by the fencing renewal, before the write: nothing was written.
        raise Refusal(error, failure=locking.fence_failure_kind(error)) from error
