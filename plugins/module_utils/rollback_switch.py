# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""cattle.immutable.rollback_switch: all of a stage's traffic back to its standby fleet, in one write.

A rollback is urgent, so this reads only what the write needs, once each: the stage's Auto
Scaling groups (their tags say which fleet is a standby, since when, and which AMI it runs),
the listener (by the `cattle:listener` tag a fleet carries, else by the definition's name and
port), the standby's AMI (revoked?) and, as the health guard, its targets. Then one listener
write. Every refusal comes before it and changes nothing. With `lock` it first takes the app's
deploy lock (_lock/locking.py, as deploy_lock does) in the same run: each module run costs most of a
second of Ansible's own work, and traffic waits for all of them. Disabling the fleets that
served and making the standby active again are the playbook's next tasks
(cattle.immutable.fleet): they can wait until traffic is back.
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cattle.immutable.plugins.module_utils import deployment_info as deployment
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import client_factory
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import iso8601
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import Context
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import FleetError
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import find_app_groups
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import find_listener
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import resolve_definition
from ansible_collections.cattle.immutable.plugins.module_utils._lock import fencing
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import switch_plan
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import write as listener_write

UNCHANGED = listeners.UNCHANGED
FLEET_FIELDS = ("fleet_id", "name", "status", "weight", "image_id", "target_group", "created_at", "fleet_state")


class RollbackRefused(Exception):
    """Refused before the write: nothing was changed. The message names the input."""


class SwitchFailed(Exception):
    """What stopped the run (`cause`), and whether it holds the deploy lock it took (for the caller to release)."""

    def __init__(self, cause, lock_held, failure=None):
        super(SwitchFailed, self).__init__(str(cause))
        self.cause = cause
        self.lock_held = lock_held
        self.failure = failure


class Clients(dict):
    """boto3 clients of one region, each made when first used.

    fleets.Clients does the same; importing it would bring the whole fleet module's code into
    this module's payload, which Ansible scans and ships on every run: time before the write.
    """

    def __init__(self, make_client, region):
        super(Clients, self).__init__()
        self.make_client, self.region = make_client, region

    def __missing__(self, service):
        self[service] = self.make_client(service, self.region)
        return self[service]


# ---------------------------------------------------------------------------------------
# The stage's fleets, from their groups' tags and the listener's weights (no other call).


def fleet_of(ctx, group):
    """One fleet as switch_plan.rollback_choice and the playbook read it."""
    tags = fleet_spec.asg_tags(group)
    fleet = tags.get(fleet_spec.TAG_FLEET) or fleet_spec.adopted_fleet_id(group["AutoScalingGroupName"])
    tg_arn = deployment.fleet_target_group(group, ctx.weights, fleet_spec.names(ctx.app, ctx.stage, fleet))
    weight = ctx.weights.get(tg_arn) if tg_arn else None
    created = deployment.created_at(group, tags)
    return {
        "fleet_id": fleet,
        "name": group["AutoScalingGroupName"],
        "status": deployment.fleet_status(weight, group.get("DesiredCapacity"), tags.get(fleet_spec.TAG_FLEET_STATE)),
        "fleet_state": tags.get(fleet_spec.TAG_FLEET_STATE),
        "weight": weight,
        "image_id": tags.get(fleet_spec.TAG_IMAGE),
        "target_group": {"arn": tg_arn, "name": listeners.target_group_name(tg_arn) if tg_arn else None},
        "created_at": iso8601(created) if created else None,
        "launch_template": deployment.template_reference(group),
    }


def choose(ctx, fleets, standby_fleet_id):
    """(standby, fleets that serve now); RollbackRefused saying why there is no standby."""
    try:
        standby, serving = switch_plan.rollback_choice(fleets, standby_fleet_id, "{0}/{1}".format(ctx.app, ctx.stage))
    except ValueError as error:
        raise RollbackRefused("{0}; {1}".format(error, UNCHANGED))
    if standby["target_group"]["arn"] not in ctx.weights:
        raise RollbackRefused("{0}/{1}: the standby {2} is not in the forward action of {3}; {4}".format(
            ctx.app, ctx.stage, standby["name"], listeners.target_text(ctx.target), UNCHANGED))
    return standby, serving


# ---------------------------------------------------------------------------------------
# The standby's AMI: which, and whether it was revoked.


def standby_image(ctx, standby):
    """The AMI the standby runs: its cattle:image-id tag, or (an adopted group) its launch template's."""
    if standby["image_id"]:
        return standby["image_id"]
    reference = standby["launch_template"]
    if not reference.get("LaunchTemplateId"):
        return None
    version = ec2_calls.describe_launch_template_version(
        ctx.ec2, reference["LaunchTemplateId"], str(reference.get("Version") or "$Default")) or {}
    return (version.get("LaunchTemplateData") or {}).get("ImageId")


def revocation(ctx, image_id):
    """The AMI's cattle:revoked tag ('' when not revoked, or when the AMI is gone: its instances still run)."""
    image = ec2_calls.describe_image(ctx.ec2, image_id) if image_id and image_id.startswith("ami-") else None
    return boto3_tag_list_to_ansible_dict((image or {}).get("Tags") or []).get(naming.TAG_REVOKED, "")


def refuse_revoked(ctx, standby, revoked, allowed):
    if revoked and not allowed:
        raise RollbackRefused(
            "{0}/{1}: the standby {2} runs {3}, which was revoked ({4}: {5}); give allow_revoked=true to roll back "
            "to it anyway, or standby_fleet_id of another standby; {6}".format(
                ctx.app, ctx.stage, standby["name"], standby["image_id"], naming.TAG_REVOKED, revoked, UNCHANGED))


# ---------------------------------------------------------------------------------------
# The write.


def rollback_weights(ctx, standby):
    """All traffic to the standby, weight 0 for every other group of the forward action (they stay in it)."""
    pairs = switch_plan.rollback_weights(ctx.weights, standby["target_group"]["arn"])
    return dict((pair["target_group"], pair["weight"]) for pair in pairs)


def switch(ctx, wanted, min_healthy):
    """(changed, new weights, health) after the guarded write (none in check mode, or when already there)."""
    written = listener_write.guarded_write(ctx.elbv2, ctx.target, ctx.weights, wanted, min_healthy, ctx.check_mode)
    return written["changed"], written["weights"], written["health"]


def refuse_other_region(params, stage_def):
    if params.get("region") and params["region"] != stage_def["region"]:
        raise RollbackRefused("region {0} differs from the region of {1}/{2}, {3}; {4}".format(
            params["region"], stage_def["app"], stage_def["stage"], stage_def["region"], UNCHANGED))


# ---------------------------------------------------------------------------------------
# The deploy lock (option lock): taken before anything else is read.


def lock_request(params):
    """deploy_lock's request from the option lock (None without it); LockError for a bad one."""
    lock = params.get("lock")
    return locking.acquire_request(lock, params["app"]) if lock else None


def take_lock(ctx, request):
    """The acquire result (in check mode only read); LockHeld or LockError refuse, nothing changed."""
    if request is None:
        return None
    return locking.run(ctx.clients["dynamodb"], request, check_mode=ctx.check_mode)


def fence_listener_writes(ctx, request, lock):
    """From here on the listener write is fenced with the acquisition just taken (not in check mode)."""
    if lock is None or ctx.check_mode:
        return
    keeper = locking.LeaseKeeper(ctx.clients["dynamodb"], request["table"], ctx.app, request["run_id"],
                                 request["lease_seconds"], token=lock["acquisition"])
    ctx.clients["elbv2"] = fencing.fenced(ctx.clients["elbv2"], keeper, fencing.LISTENER_WRITES)


def prepare(params, make_client, check_mode):
    """(context, lock request): every input checked before the first call."""
    listeners.required_healthy(params["min_healthy"], 1)
    try:
        definition, stage_def = resolve_definition(params)
    except FleetError as error:
        raise RollbackRefused(str(error))
    refuse_other_region(params, stage_def)
    try:
        request = lock_request(params)
    except locking.LockError as error:
        raise RollbackRefused("lock: {0}; {1}".format(error, UNCHANGED))
    return Context(params, Clients(make_client, stage_def["region"]), definition, stage_def, check_mode), request


def run(params, make_client, check_mode):
    """The module's result. Refusals before the lock raise RollbackRefused, locking.LockHeld or
    locking.LockError (nothing changed, no lock held); anything after it SwitchFailed."""
    ctx, request = prepare(params, make_client, check_mode)
    lock = take_lock(ctx, request)
    fence_listener_writes(ctx, request, lock)
    try:
        return switch_to_standby(ctx, params, lock)
    except (RollbackRefused, listeners.ListenerError, AnsibleAWSError) as error:
        raise SwitchFailed(error, lock_held=lock is not None and not check_mode)
    except locking.LockError as error:
        # The fencing renewal refused the write: the lock was lost, or its lease is too short for it.
        raise SwitchFailed(error, lock_held=isinstance(error, locking.LeaseTooShort),
                           failure=locking.fence_failure_kind(error))


def run_module(module):
    """The rollback_switch module's run; every failure says whether the run holds the lock it took."""
    try:
        return run(module.params, client_factory(module), module.check_mode)
    except SwitchFailed as failed:
        raise failure(failed.cause, failed.lock_held, failed.failure) from failed
    except (locking.LockError, locking.TableNotReady) as error:
        raise locking.lock_failure(error, lock_held=False) from error
    except (RollbackRefused, listeners.ListenerError, AnsibleAWSError) as error:
        raise failure(error, False) from error


def failure(cause, lock_held, kind=None):
    if isinstance(cause, AnsibleAWSError):
        return CattleError(cause.message, aws_error=cause, lock_held=lock_held)
    if kind is not None:
        return CattleError("{0}; nothing was written".format(cause), lock_held=lock_held, failure=kind)
    return CattleError(str(cause), lock_held=lock_held)


def switch_to_standby(ctx, params, lock):
    try:
        find_app_groups(ctx)
        find_listener(ctx)
    except FleetError as error:
        raise RollbackRefused(str(error))
    fleets = [fleet_of(ctx, group) for group in ctx.app_groups]
    standby, serving = choose(ctx, fleets, params.get("standby_fleet_id"))
    standby["image_id"] = standby_image(ctx, standby)
    revoked = revocation(ctx, standby["image_id"])
    refuse_revoked(ctx, standby, revoked, params["allow_revoked"])
    previous = ctx.weights
    changed, new, health = switch(ctx, rollback_weights(ctx, standby), params["min_healthy"])
    return result(ctx, standby, serving, revoked, (previous, new, changed, health), lock)


def public(fleet):
    return dict((key, fleet[key]) for key in FLEET_FIELDS)


def result(ctx, standby, serving, revoked, write, lock):
    previous, new, changed, health = write
    answer = listener_write.result(ctx.target, previous, new, changed, health)
    answer.update({
        "app": ctx.app,
        "stage": ctx.stage,
        "standby": dict(public(standby), revoked=revoked),
        "serving": [public(fleet) for fleet in serving],
        "lock": lock,
        "msg": "{0}/{1}: {2}".format(ctx.app, ctx.stage, answer["msg"]),
    })
    return answer
