# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One fleet of an app's stage: present, disabled or absent (cattle.immutable.fleet).

`run` is the module's whole job: fleet_context checks the inputs and finds what exists,
fleet_references checks what a new fleet refers to (every refusal happens there, before
the first write), fleet_states makes the changes in the order that keeps traffic safe,
and the result says what the fleet is now, what was done and what it was before.
docs/fleets.md is the contract.
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._aws import autoscaling as autoscaling_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import aws_cause_text
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import client_factory
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import standbys as fleet_standbys
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import states as fleet_states
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import wait as fleet_wait
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import Context
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import FleetError
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import UNCHANGED
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import capacity_of
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import locate
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import lock_reference
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import lock_request
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import resolve_definition
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import suspended
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import validate_params
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import weight_of
from ansible_collections.cattle.immutable.plugins.module_utils._lock import fencing
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners

__all__ = ["FleetError", "Refusal", "run", "diff"]
# The failure of a run that could not take the deploy lock (option lock.acquire).
LOCK_NOT_TAKEN = "lock_not_taken"
STATES = {
    "present": fleet_states.ensure_present,
    "disabled": fleet_states.ensure_disabled,
    "absent": fleet_states.ensure_absent,
}


class Clients(dict):
    """boto3 clients of the definition's region, each made when first used; with a lease
    keeper, the writes `fenced` names ({service: operations, or None for every write}) are
    each preceded by a renewal of the deploy lock (fencing.FencedClient)."""

    def __init__(self, make_client, region, keeper=None, fenced=None):
        super(Clients, self).__init__()
        self.make_client = make_client
        self.region = region
        self.keeper = keeper
        self.fenced = fenced or {}

    def __missing__(self, service):
        client = self.make_client(service, self.region)
        if service in self.fenced:
            client = fencing.fenced(client, self.keeper, self.fenced[service])
        self[service] = client
        return self[service]


# What a fleet run holding the lock fences: the forward action's writes, and every write of
# a removal (terminate's scale-in and deletes).
FENCED_WRITES = {"elbv2": fencing.LISTENER_WRITES}
FENCED_REMOVAL = {"elbv2": None, "autoscaling": None, "ec2": None}


def fenced_writes(params):
    return FENCED_REMOVAL if params["state"] == "absent" else FENCED_WRITES


def lease_keeper(params, make_client, stage_def, check_mode):
    """A LeaseKeeper of the deploy lock the run holds (option lock), renewed while the module
    waits and before each fenced write; the token is lock.token (or, with lock.acquire, what
    taking the lock returns)."""
    lock = lock_reference(params)
    if lock is None or check_mode:
        return None
    client = make_client("dynamodb", lock["region"] or stage_def["region"])
    return locking.LeaseKeeper(client, lock["table"], params["app"], lock["run_id"], lock["lease_seconds"],
                               token=lock.get("acquisition"))


def refresh(ctx, outcome):
    """The group as it is now (after our writes), for the return value: the health gate's last look, or one call."""
    if ctx.check_mode:
        return
    if ctx.params["state"] == "absent":
        ctx.group = None
        return
    health = outcome.get("health") or {}
    if health.get("group"):
        ctx.group = health["group"]
        return
    # Disabling changes no instance, and fleet_states keeps ctx.group as its writes left it.
    if ctx.group is not None and (ctx.params["state"] == "disabled" or not ctx.changes.changed):
        return
    ctx.group = autoscaling_calls.describe_group(ctx.autoscaling, ctx.names["asg"]) or ctx.group


def run_module(module):
    """The fleet module's run: its result, with warnings and (in diff mode) the diff."""
    result = run(module.params, client_factory(module), module.check_mode, module.params["progress_path"])
    result["warnings"] = ["accept_image_mismatch: {0}".format(conflict) for conflict in result.get("image_mismatch") or []]
    if module._diff:
        result["diff"] = diff(result)
    return result


def run(params, make_client, check_mode, progress_path=None):
    """The module's whole job; returns the result or raises FleetError (Refusal: nothing changed).

    make_client(service, region) -> a boto3 client; the region is the definition's. With
    lock.acquire every failure says whether the run holds the lock (lock_held), for the
    caller to release it; with lock.release the module gives the lock back itself, after
    success or failure, and says so (lock_released).
    """
    taken = []
    try:
        answer = run_locked(params, make_client, check_mode, progress_path, taken)
    except FleetError as error:
        raise failure_with_lock(params, error, taken[0] if taken else None, check_mode)
    if releases_lock(params, check_mode):
        answer["lock_released"] = release_after_success(params, answer, taken[0])
    return answer


def run_locked(params, make_client, check_mode, progress_path, taken):
    definition, stage_def = resolve_definition(params)
    validate_params(params, stage_def)
    keeper = lease_keeper(params, make_client, stage_def, check_mode)
    clients = Clients(make_client, stage_def["region"], keeper, fenced_writes(params))
    ctx = Context(params, clients, definition, stage_def, check_mode, progress_path)
    ctx.lease = keeper
    lock = take_lock(params, make_client, stage_def, check_mode) or held_lock(params, make_client, stage_def)
    if lock is not None:
        taken.append(lock)
        if keeper is not None and lock.result:
            keeper.token = lock.result.get("acquisition")
    if params.get("standbys"):
        answer = standbys_result(ctx, fleet_standbys.retire(ctx, guarded, result))
    else:
        answer = guarded(ctx, lambda: (locate(ctx), STATES[params["state"]](ctx))[1], result)
    answer["lock"] = lock.result if lock else None
    return answer


def held_lock(params, make_client, stage_def):
    """The lock an earlier task took, to give back (lock.release without lock.acquire); else None."""
    reference = lock_reference(params)
    if reference is None or not params["lock"].get("release"):
        return None
    client = make_client("dynamodb", reference["region"] or stage_def["region"])
    return TakenLock(None, client, {"app": params["app"], "run_id": reference["run_id"], "table": reference["table"],
                                    "token": reference.get("acquisition")})


class TakenLock(object):
    """The lock this run holds: what taking it said (None when an earlier task took it), and the
    client to give it back with."""

    def __init__(self, result, client, request):
        self.result = result
        self.client = client
        self.request = request

    def release(self):
        """deploy_lock's release result: only this run's lock (this acquisition's) is released, never another's."""
        token = (self.result or {}).get("acquisition") or self.request.get("token")
        return locking.run(self.client, dict(self.request, state=locking.STATE_RELEASED, force=False, token=token))


def take_lock(params, make_client, stage_def, check_mode):
    """The lock taken (in check mode only read) when lock.acquire, else None: before anything
    else is read, as deploy_lock takes it. A lock held by another live run is refused naming it."""
    request = lock_request(params)
    if request is None:
        return None
    client = make_client("dynamodb", params["lock"].get("region") or stage_def["region"])
    try:
        return TakenLock(locking.run(client, request, check_mode=check_mode), client, request)
    except locking.LockHeld as error:
        raise Refusal("{0}; {1}".format(error, UNCHANGED), failure=LOCK_NOT_TAKEN,
                      holder=locking.holder_view(error.holder, locking.utc_now()))
    except locking.LockError as error:
        raise Refusal("{0}; {1}".format(error, UNCHANGED), failure=LOCK_NOT_TAKEN)
    except locking.TableNotReady as error:
        raise FleetError("{0}; the lock was not taken, retry once the table is ACTIVE".format(error),
                         changed=True, failure=LOCK_NOT_TAKEN)
    except AnsibleAWSError as error:
        raise Refusal("taking the deploy lock: {0}{1}; {2}".format(error.message, aws_cause_text(error), UNCHANGED),
                      failure=LOCK_NOT_TAKEN)


def releases_lock(params, check_mode):
    return bool((params.get("lock") or {}).get("release")) and not check_mode


def failure_with_lock(params, error, taken, check_mode):
    """The failure, saying whether the run still holds the lock (with lock.acquire or
    lock.release); with lock.release the lock is given back first (unless the run lost it:
    then it is another run's)."""
    option = params.get("lock") or {}
    if not (option.get("acquire") or option.get("release")):
        return error
    # Without acquire the lock came from an earlier task: the run holds it unless it lost it.
    took = taken is not None if option.get("acquire") else True
    held = took and not check_mode and error.result.get("failure") != "lock"
    error.result["lock_held"] = held
    if getattr(taken, "result", None) is not None:
        # What taking the lock said (its acquisition id included), for the caller to release it.
        error.result.setdefault("lock", taken.result)
    if not releases_lock(params, check_mode):
        return error
    error.result["lock_released"] = False
    if not held or taken is None:
        return error
    try:
        taken.release()
    except (locking.LockError, AnsibleAWSError) as release_error:
        return error.with_note("the deploy lock was not released: {0}".format(release_error))
    return error.with_note("the deploy lock was released", lock_held=False, lock_released=True)


def release_after_success(params, answer, taken):
    """True once the lock is given back; a release that fails fails the run, saying what was done."""
    try:
        taken.release()
    except (locking.LockError, AnsibleAWSError) as error:
        details = dict(answer, lock_held=True, lock_released=False)
        details.pop("msg", None)
        raise FleetError("{0} done, but the deploy lock of app '{1}' was not released: {2}; release it with "
                         "cattle.immutable.deploy_lock state=released".format(
                             ", ".join(answer["actions"]) or "nothing to do", params["app"], error), **details)
    return True


def guarded(ctx, work, build_result):
    """build_result(ctx, work()); every failure a FleetError saying what was done and which fleet it was."""
    try:
        outcome = work()
        refresh(ctx, outcome)
    except FleetError as error:
        if ctx.changes.changed and not isinstance(error, Refusal):
            error.result.setdefault("changed", True)
            error.result.setdefault("actions", ctx.changes.actions)
        raise with_identity(ctx, error)
    except listeners.ListenerError as error:
        raise with_identity(ctx, failure_after(ctx, str(error)))
    except locking.LockError as error:
        raise with_identity(ctx, fence_failure(ctx, error))
    except AnsibleAWSError as error:
        raise with_identity(ctx, failure_after(ctx, error.message if hasattr(error, "message") else str(error), error))
    return build_result(ctx, outcome)


def fence_failure(ctx, error):
    """A fenced write refused by the renewal before it (fencing.py): the lock was lost, or the
    lease left was too short for the write. Either way the write was not made."""
    if isinstance(error, locking.LeaseTooShort):
        failure = failure_after(ctx, str(error))
        failure.result["failure"] = "lease"
        return failure
    return fleet_states.lock_lost(ctx, error, "the write it was about to make was not made (traffic unchanged by it)")


def with_identity(ctx, error):
    """Which fleet failed (when it was known), so a playbook can clean up without looking it up again."""
    if ctx.fleet_id is not None:
        error.result.setdefault("fleet_id", ctx.fleet_id)
        error.result.setdefault("fleet_name", ctx.names["fleet"])
        error.result.setdefault("target_group", {"arn": (ctx.target_group or {}).get("TargetGroupArn"),
                                                 "name": ctx.names.get("target_group")})
        error.result.setdefault("previous", ctx.previous)
    if ctx.target is not None:
        # What serves beside it, so a failed deploy can say what still serves and who blue is.
        error.result.setdefault("other_fleets", other_fleets(ctx))
        error.result.setdefault("listener", listener_facts(ctx))
    return error


def failure_after(ctx, message, error=None):
    if not ctx.changes.changed:
        cause = aws_cause_text(error)
        return Refusal("{0}{1}; {2}".format(message, cause, UNCHANGED))
    return FleetError("{0}{1}. Done before the failure: {2}. Re-run to finish".format(
        message, aws_cause_text(error), ctx.changes.done()), actions=ctx.changes.actions, changed=True)


def result(ctx, outcome):
    state = ctx.params["state"]
    gone = state == "absent" and not ctx.check_mode
    group = None if gone else ctx.group
    health = outcome.get("health")
    return {
        "changed": ctx.changes.changed,
        "fleet_id": ctx.fleet_id,
        "fleet_name": ctx.names["fleet"],
        "app": ctx.app,
        "stage": ctx.stage,
        "state": state,
        "adopted": ctx.adopted,
        "image_id": (ctx.image or {}).get("ImageId") or fleet_spec.asg_tags(group or {}).get(fleet_spec.TAG_IMAGE),
        "image_mismatch": ctx.image_mismatch,
        "desired_capacity": outcome.get("desired_capacity"),
        "desired_source": outcome.get("desired_source"),
        "auto_scaling_group": group_facts(ctx, group),
        "target_group": None if gone else target_group_facts(ctx),
        "launch_template": None if gone else launch_template_facts(ctx),
        "listener": listener_facts(ctx),
        "instances": (health or {}).get("in_service") or fleet_wait.instance_ids(group, fleet_wait.IN_SERVICE),
        "healthy_instances": (health or {}).get("healthy"),
        "actions": ctx.changes.actions,
        "adoptions": ctx.adoptions,
        "kept": ctx.kept,
        "deletion": ctx.deletion,
        "previous": ctx.previous,
        "other_fleets": other_fleets(ctx),
    }


def standbys_result(ctx, standbys):
    """The result of state=absent with standbys: no one fleet, so its own return values are null."""
    return {
        "changed": ctx.changes.changed,
        "fleet_id": None,
        "fleet_name": None,
        "app": ctx.app,
        "stage": ctx.stage,
        "state": "absent",
        "adopted": False,
        "image_id": None,
        "image_mismatch": [],
        "desired_capacity": None,
        "desired_source": None,
        "auto_scaling_group": None,
        "target_group": None,
        "launch_template": None,
        "listener": {"listener_arn": (ctx.target or {}).get("listener_arn"),
                     "rule_arn": (ctx.target or {}).get("rule_arn"), "weight": None, "weights": ctx.weights},
        "instances": [],
        "healthy_instances": None,
        "actions": ctx.changes.actions,
        "adoptions": ctx.adoptions,
        "kept": ctx.kept,
        "deletion": None,
        "previous": None,
        "other_fleets": other_fleets(ctx),
        "standbys": standbys,
    }


def other_fleets(ctx):
    """The stage's other fleets as this run found them, with their weights after it (no extra call).

    Lets a playbook tell blue from green without reading the whole deployment again.
    """
    mine = ctx.names["asg"] if ctx.names else None
    fleets = []
    for group in ctx.app_groups:
        if group["AutoScalingGroupName"] == mine:
            continue
        tags = fleet_spec.asg_tags(group)
        arns = group.get("TargetGroupARNs") or []
        weights = [ctx.weights[arn] for arn in arns if arn in ctx.weights]
        fleets.append({
            "fleet_id": tags.get(fleet_spec.TAG_FLEET),
            "name": group["AutoScalingGroupName"],
            "target_group_arns": arns,
            "weight": max(weights) if weights else None,
            "fleet_state": tags.get(fleet_spec.TAG_FLEET_STATE),
            "desired_capacity": group.get("DesiredCapacity"),
            "image_id": tags.get(fleet_spec.TAG_IMAGE),
            "rollback_until": tags.get(fleet_spec.TAG_ROLLBACK_UNTIL),
        })
    return fleets


def group_facts(ctx, group):
    if group is None:
        return {"name": ctx.names["asg"], "exists": False}
    tags = fleet_spec.asg_tags(group)
    return {
        "name": group["AutoScalingGroupName"],
        "arn": group.get("AutoScalingGroupARN"),
        "exists": True,
        "capacity": capacity_of(group),
        "suspended_processes": suspended(group),
        "health_check_type": group.get("HealthCheckType"),
        "health_check_grace_period": group.get("HealthCheckGracePeriod"),
        "fleet_state": tags.get(fleet_spec.TAG_FLEET_STATE),
        "rollback_until": tags.get(fleet_spec.TAG_ROLLBACK_UNTIL),
        "tags": tags,
    }


def target_group_facts(ctx):
    group = ctx.target_group or {}
    return {
        "name": group.get("TargetGroupName") or ctx.names.get("target_group"),
        "arn": group.get("TargetGroupArn"),
        "exists": bool(group),
    }


def launch_template_facts(ctx):
    template = ctx.launch_template or {}
    return {
        "name": template.get("LaunchTemplateName") or ctx.names.get("launch_template"),
        "id": template.get("LaunchTemplateId"),
        "version": str(template.get("DefaultVersionNumber")) if template.get("DefaultVersionNumber") else None,
        "exists": bool(template),
    }


def listener_facts(ctx):
    return {
        "listener_arn": (ctx.target or {}).get("listener_arn"),
        "rule_arn": (ctx.target or {}).get("rule_arn"),
        "weight": None if ctx.params["state"] == "absent" and not ctx.check_mode else weight_of(ctx),
        "weights": ctx.weights,
    }


def diff(result_value):
    """before/after of what a person checks: existence, state, capacity, weight, suspended processes."""
    previous = result_value["previous"] or {}
    group = result_value["auto_scaling_group"] or {}
    before = {
        "exists": previous.get("exists", False),
        "fleet_state": previous.get("state"),
        "capacity": previous.get("capacity"),
        "listener_weight": previous.get("weight"),
        "suspended_processes": previous.get("suspended_processes", []),
    }
    after = {
        "exists": result_value["state"] != "absent",
        "fleet_state": group.get("fleet_state"),
        "capacity": group.get("capacity"),
        "listener_weight": result_value["listener"]["weight"],
        "suspended_processes": group.get("suspended_processes", []),
    }
    return {"before": before, "after": after}
