# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The changes of cattle.immutable.fleet, one state each, in the order that keeps traffic safe.

- present: launch template, target group, the target group into the listener's forward
  action at weight 0 (traffic unchanged, health checks start), then the Auto Scaling
  group, then wait until every desired instance is InService and a healthy target.
- disabled: still in the forward action at weight 0, capacity pinned, scaling suspended
  (unhealthy instances are still replaced), the rollback window tagged on the group.
- absent: scale to 0 while still in the forward action, wait out the draining, then out
  of the listener, then delete group, target group and launch template.

Each write goes through ctx.changes, which lists it (and only lists it in check mode); a
failure after a write says what had been done.
"""

from datetime import timedelta

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cattle.immutable.plugins.module_utils._aws import autoscaling as autoscaling_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import elbv2 as elbv2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import iso8601
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import references as fleet_references
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import wait as fleet_wait
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import FleetError
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import UNCHANGED
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import checked_image, refuse_image_conflicts
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import choose_desired
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import creates_without_looking
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import refusal_or_failure
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import refuse_if_serving
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import suspended
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import weight_of
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners

AWS_DEFAULT_DEREGISTRATION_DELAY = "300"
DRAINING_LEFT = "the fleet is scaled to 0 and still in the listener at weight 0; re-run state=absent to finish"


def fleet_tags(ctx):
    return fleet_spec.resource_tags(ctx.stage_def, ctx.fleet_id, ctx.params.get("image_id"), ctx.params.get("deployment_id"))


def check_ours(ctx, kind, name, tags):
    if tags.get(fleet_spec.TAG_FLEET) != ctx.fleet_id:
        raise FleetError(
            "{0} {1} exists but is not part of fleet {2} (its {3} tag is {4!r}); rename or remove it. Done: {5}".format(
                kind, name, ctx.fleet_id, fleet_spec.TAG_FLEET, tags.get(fleet_spec.TAG_FLEET), ctx.changes.done()
            )
        )


def ensure_launch_template(ctx):
    """{"LaunchTemplateId", "Version"} for the group (None in check mode when it would be created)."""
    if ctx.launch_template is not None:
        if not ctx.adopted:
            check_ours(ctx, "launch template", ctx.names["launch_template"],
                       boto3_tag_list_to_ansible_dict(ctx.launch_template.get("Tags") or []))
        return template_reference(ctx.launch_template)
    tags = fleet_tags(ctx)
    data = fleet_spec.launch_template_data(ctx.stage_def, ctx.image, tags)
    created = ctx.changes.run(
        "create launch template {0} ({1}, IMDSv2 required, encrypted root volume)".format(
            ctx.names["launch_template"], ctx.image["ImageId"]),
        ec2_calls.create_launch_template, ctx.ec2, ctx.names["launch_template"], data,
        ansible_dict_to_boto3_tag_list(tags),
    )
    if ctx.check_mode:
        return None
    if created is None:
        created = adopt_launch_template(ctx)
    ctx.launch_template, ctx.launch_template_ours = created, True
    return template_reference(created)


def adopt_launch_template(ctx):
    found = ec2_calls.describe_launch_template(ctx.ec2, name=ctx.names["launch_template"])
    if found is None:
        raise FleetError("launch template {0} was reported to exist but cannot be found; re-run. Done: {1}".format(
            ctx.names["launch_template"], ctx.changes.done()))
    check_ours(ctx, "launch template", ctx.names["launch_template"], boto3_tag_list_to_ansible_dict(found.get("Tags") or []))
    ctx.adoptions.append("launch template {0}".format(ctx.names["launch_template"]))
    return found


def template_reference(template):
    return {"LaunchTemplateId": template["LaunchTemplateId"], "Version": str(template.get("DefaultVersionNumber") or 1)}


def ensure_target_group(ctx):
    """The fleet's target group (None in check mode when it would be created)."""
    if ctx.target_group is None and ctx.adoptions and creates_without_looking(ctx):
        # The launch template was left by an interrupted run: the target group may be too.
        ctx.target_group = elbv2_calls.describe_target_group(ctx.elbv2, name=ctx.names["target_group"])
    if ctx.target_group is not None:
        if ctx.group is None:
            # Found by name only: a leftover of an earlier run, or someone else's.
            tags = elbv2_calls.target_group_tags(ctx.elbv2, [ctx.target_group["TargetGroupArn"]])
            check_ours(ctx, "target group", ctx.names["target_group"], tags.get(ctx.target_group["TargetGroupArn"], {}))
        return ctx.target_group
    name = ctx.names["target_group"]
    if ctx.check_mode:
        ctx.changes.note("create target group {0}".format(name))
        return None
    request = fleet_spec.target_group_request(ctx.stage_def, name, fleet_references.vpc_of(ctx), fleet_tags(ctx))
    created = ctx.changes.run("create target group {0}".format(name), elbv2_calls.create_target_group, ctx.elbv2, request)
    if created is None:
        created = elbv2_calls.describe_target_group(ctx.elbv2, name=name)
        tags = elbv2_calls.target_group_tags(ctx.elbv2, [created["TargetGroupArn"]]) if created else {}
        check_ours(ctx, "target group", name, tags.get((created or {}).get("TargetGroupArn"), {}))
        ctx.adoptions.append("target group {0}".format(name))
    ctx.target_group = created
    return created


def ensure_deregistration_delay(ctx, created):
    if ctx.target_group is None:
        return
    wanted = str(ctx.stage_def["deregistration_delay"])
    if created:
        current = AWS_DEFAULT_DEREGISTRATION_DELAY
    else:
        attributes = elbv2_calls.target_group_attributes(ctx.elbv2, ctx.target_group["TargetGroupArn"])
        current = attributes.get("deregistration_delay.timeout_seconds")
    if current != wanted:
        ctx.changes.run(
            "set the deregistration delay of {0} to {1} s (was {2})".format(ctx.names["target_group"], wanted, current),
            elbv2_calls.set_deregistration_delay, ctx.elbv2, ctx.target_group["TargetGroupArn"], wanted,
        )


def ensure_in_listener(ctx):
    """The target group in the forward action; added at weight 0, so traffic is unchanged."""
    arn = (ctx.target_group or {}).get("TargetGroupArn")
    if arn is not None and arn in ctx.weights:
        return
    where = listeners.target_text(ctx.target)
    if arn is None:
        ctx.changes.note("add target group {0} to {1} at weight 0".format(ctx.names["target_group"], where))
        return
    new_weights = check_listener_room(ctx, arn)
    written = ctx.changes.run(
        "add target group {0} to {1} at weight 0".format(ctx.names["target_group"], where),
        listeners.write_weights, ctx.elbv2, ctx.target, new_weights,
    )
    ctx.weights = written if written is not None else new_weights


def check_listener_room(ctx, key):
    """The weights with the fleet's group added at 0; refused when AWS would refuse them (at most 5 groups)."""
    new_weights = listeners.with_weight(ctx.weights, key, 0)
    where = listeners.target_text(ctx.target)
    try:
        listeners.validate_weights(new_weights, allow_all_zero=True, name="the forward action of " + where)
    except listeners.ListenerError as error:
        raise refusal_or_failure(ctx, "cannot add fleet {0} to the listener: {1}".format(
            ctx.label, str(error).rsplit("; ", 1)[0]))
    return new_weights


def ensure_group(ctx, template, desired):
    if ctx.group is None:
        create_group(ctx, template, desired)
    else:
        update_group(ctx, desired)


def create_group(ctx, template, desired):
    name = ctx.names["asg"]
    tags = dict(fleet_tags(ctx))
    tags.update({fleet_spec.TAG_FLEET_STATE: fleet_spec.STATE_ACTIVE, fleet_spec.TAG_CREATED_AT: iso8601(utc_now())})
    tags.update(fleet_spec.listener_tag(ctx.target))
    capacity = fleet_spec.capacity_for(ctx.stage_def, desired)
    description = "create Auto Scaling group {0} (desired {1}, min {2}, max {3}, health check ELB)".format(
        name, capacity["desired"], capacity["min"], capacity["max"])
    if ctx.check_mode:
        ctx.changes.note(description)
        return
    request = fleet_spec.asg_request(ctx.stage_def, name, template, ctx.target_group["TargetGroupArn"], capacity, tags)
    created = ctx.changes.run(description, autoscaling_calls.create_group, ctx.autoscaling, request)
    if created is None:
        ctx.group = autoscaling_calls.describe_group(ctx.autoscaling, name)
        check_ours(ctx, "Auto Scaling group", name, fleet_spec.asg_tags(ctx.group or {}))
        ctx.adoptions.append("Auto Scaling group {0}".format(name))


def update_group(ctx, desired):
    """Capacity, health check and target group of an existing group; re-enables a disabled one."""
    group, name = ctx.group, ctx.names["asg"]
    settings = {}
    if not ctx.adopted:
        wanted = fleet_spec.capacity_for(ctx.stage_def, desired)
        settings.update(capacity_changes(group, wanted))
        if group.get("HealthCheckType") != "ELB":
            settings["HealthCheckType"] = "ELB"
        if group.get("HealthCheckGracePeriod") != ctx.stage_def["grace_period"]:
            settings["HealthCheckGracePeriod"] = ctx.stage_def["grace_period"]
    elif group["DesiredCapacity"] != desired:
        wanted = {"min": min(group["MinSize"], desired), "max": max(group["MaxSize"], desired), "desired": desired}
        settings.update(capacity_changes(group, wanted))
    if settings:
        ctx.changes.run("update {0}: {1}".format(name, settings_text(settings)),
                        autoscaling_calls.update_group, ctx.autoscaling, name, **settings)
        written(ctx, settings=settings)
    arn = ctx.target_group["TargetGroupArn"]
    if arn not in (group.get("TargetGroupARNs") or []):
        ctx.changes.run("attach target group {0} to {1}".format(ctx.names["target_group"], name),
                        autoscaling_calls.attach_target_group, ctx.autoscaling, name, arn)
        written(ctx, settings={"TargetGroupARNs": (group.get("TargetGroupARNs") or []) + [arn]})
    resume_pinned(ctx)


def capacity_changes(group, wanted):
    settings = {}
    for key, field in (("min", "MinSize"), ("max", "MaxSize"), ("desired", "DesiredCapacity")):
        if group[field] != wanted[key]:
            settings[field] = wanted[key]
    return settings


def settings_text(settings):
    return ", ".join("{0} {1}".format(key, value) for key, value in sorted(settings.items()))


def resume_pinned(ctx):
    name = ctx.names["asg"]
    pinned = [process for process in fleet_spec.PINNED_PROCESSES if process in suspended(ctx.group)]
    if pinned:
        ctx.changes.run("resume {0} on {1}".format(", ".join(pinned), name),
                        autoscaling_calls.resume_processes, ctx.autoscaling, name, pinned)
        written(ctx, resumed=pinned)
    tags = fleet_spec.asg_tags(ctx.group)
    wanted = dict(fleet_tags(ctx)) if not ctx.adopted else dict(fleet_spec.identity_tags(ctx.app, ctx.stage, ctx.fleet_id))
    # cattle:deployment names the run that created the fleet; a later run reusing it is no change.
    wanted.pop(fleet_spec.TAG_DEPLOYMENT, None)
    if ctx.adopted:
        wanted[fleet_spec.TAG_ADOPTED] = "true"
    if not ctx.params.get("image_id"):
        wanted.pop(fleet_spec.TAG_IMAGE, None)
    wanted[fleet_spec.TAG_FLEET_STATE] = fleet_spec.STATE_ACTIVE
    update_group_tags(ctx, tags, wanted, remove=(fleet_spec.TAG_ROLLBACK_UNTIL, fleet_spec.TAG_DISABLED_AT))


def update_group_tags(ctx, current, wanted, remove=()):
    name = ctx.names["asg"]
    changed = dict((key, value) for key, value in wanted.items() if current.get(key) != value)
    if changed:
        ctx.changes.run("tag {0}: {1}".format(name, ", ".join("{0}={1}".format(k, v) for k, v in sorted(changed.items()))),
                        autoscaling_calls.tag_group, ctx.autoscaling, fleet_spec.asg_tag_list(name, changed))
        written(ctx, tags=changed)
    stale = [key for key in remove if key in current]
    if stale:
        ctx.changes.run("remove tags {0} from {1}".format(", ".join(stale), name),
                        autoscaling_calls.untag_group, ctx.autoscaling, name, stale)
        written(ctx, untagged=stale)


def written(ctx, settings=None, suspended_now=(), resumed=(), tags=None, untagged=()):
    """Keep ctx.group as our writes left it, so the result needs no DescribeAutoScalingGroups after them."""
    if ctx.check_mode or ctx.group is None:
        return
    group = ctx.group
    group.update(settings or {})
    processes = [p for p in group.get("SuspendedProcesses") or [] if p["ProcessName"] not in resumed]
    known = set(p["ProcessName"] for p in processes)
    processes.extend({"ProcessName": name, "SuspensionReason": "User suspended"}
                     for name in suspended_now if name not in known)
    group["SuspendedProcesses"] = processes
    kept = [tag for tag in group.get("Tags") or [] if tag["Key"] not in set(untagged) | set(tags or {})]
    group["Tags"] = kept + fleet_spec.asg_tag_list(group["AutoScalingGroupName"], tags or {})


def ensure_policies(ctx, created):
    """The definition's target tracking policies, exactly (own fleets only)."""
    if ctx.adopted or (created and not ctx.stage_def["scaling_policies"]):
        return
    name = ctx.names["asg"]
    existing = {} if created else dict((p["PolicyName"], p) for p in autoscaling_calls.describe_policies(ctx.autoscaling, name))
    for policy in ctx.stage_def["scaling_policies"]:
        label = None
        tg_arn = (ctx.target_group or {}).get("TargetGroupArn")
        if policy["metric"] == "request_count" and tg_arn:
            label = fleet_spec.request_count_label(ctx.target["load_balancer_arn"], tg_arn)
        request = fleet_spec.scaling_policy_request(name, policy, label)
        current = existing.pop(policy["name"], None)
        if current is None or not fleet_spec.policy_matches(current, request):
            ctx.changes.run("put scaling policy {0} on {1}".format(policy["name"], name),
                            autoscaling_calls.put_policy, ctx.autoscaling, request)
    for policy_name in sorted(existing):
        ctx.changes.run("delete scaling policy {0} from {1}".format(policy_name, name),
                        autoscaling_calls.delete_policy, ctx.autoscaling, name, policy_name)


def wait_calls(ctx):
    name, arn = ctx.names["asg"], ctx.target_group["TargetGroupArn"]
    return {
        "group": lambda: autoscaling_calls.describe_group(ctx.autoscaling, name),
        "targets": lambda: fleet_wait.target_states(ctx.elbv2, arn),
        "activities": lambda: autoscaling_calls.recent_activities(ctx.autoscaling, name),
        "lease": ctx.lease,
    }


def lock_lost(ctx, error, left):
    """The run's deploy lock was taken over (or released) by another run: stop, say what is left."""
    return FleetError(
        "fleet {0}: stopped, this run lost the deploy lock: {1}. Another run may be changing the app now; "
        "{2}. Done: {3}".format(ctx.label, error, left, ctx.changes.done()),
        failure="lock",
    )


def renew_lease(ctx, left):
    """A phase boundary: renew the deploy lock if a renewal is due; FleetError when the run lost it."""
    if ctx.lease is None or ctx.check_mode:
        return
    try:
        ctx.lease.renew_if_due()
    except locking.LockError as error:
        raise lock_lost(ctx, error, left)


WAIT_FAILURES = {fleet_wait.WaitTimeout: "timeout", fleet_wait.LaunchFailed: "launch",
                 fleet_wait.HealthReplaced: "health"}


def wait_for_health(ctx, desired):
    progress = fleet_wait.Progress(ctx.progress_path, ctx.label)
    try:
        return fleet_wait.wait_healthy(wait_calls(ctx), ctx.label, desired, ctx.params["wait_timeout"], progress)
    except locking.LockError as error:
        raise lock_lost(ctx, error, "traffic unchanged: the fleet has weight {0} in {1} and was left as it is".format(
            weight_of(ctx) or 0, listeners.target_text(ctx.target)))
    except (fleet_wait.WaitTimeout, fleet_wait.LaunchFailed, fleet_wait.HealthReplaced) as error:
        raise FleetError(
            "{0}. Traffic unchanged: the fleet has weight {1} in {2}. The fleet was left in place for inspection "
            "(state=absent removes it). Done: {3}".format(
                error, weight_of(ctx) or 0, listeners.target_text(ctx.target), ctx.changes.done()
            ),
            failure=WAIT_FAILURES[type(error)],
        )


def refuse_if_deleting(ctx, doing):
    """A group AWS is deleting refuses every change ("pending delete"): say so before the first write."""
    if autoscaling_calls.being_deleted(ctx.group):
        raise Refusal("fleet {0} is being deleted (its Auto Scaling group is {1!r}): cannot {2} it; once it is gone, "
                      "run again; {3}".format(ctx.label, autoscaling_calls.DELETE_IN_PROGRESS, doing, UNCHANGED))


def ensure_present(ctx):
    refuse_if_deleting(ctx, "create or update")
    if ctx.adopted:
        return ensure_adopted_present(ctx)
    if ctx.params.get("image_id"):
        ctx.image = checked_image(ctx.ec2, ctx.params["image_id"], ctx.app)
        ctx.image_mismatch = refuse_image_conflicts(ctx)
    elif ctx.group is None:
        raise Refusal("fleet {0} of {1}/{2} does not exist; give image_id to create it; {3}".format(
            ctx.fleet_id, ctx.app, ctx.stage, UNCHANGED))
    if ctx.group is None:
        # What AWS would check only when the group is created, checked before the first write.
        fleet_references.verify(ctx)
    desired, source = choose_desired(ctx)
    if (ctx.target_group or {}).get("TargetGroupArn") not in ctx.weights:
        check_listener_room(ctx, ctx.names["target_group"])
    template = ensure_launch_template(ctx) if ctx.group is None else None
    found_target_group = ctx.target_group is not None
    ensure_target_group(ctx)
    if not ctx.check_mode:
        ensure_deregistration_delay(ctx, created=not found_target_group and not ctx.adoptions)
    ensure_in_listener(ctx)
    created_group = ctx.group is None
    ensure_group(ctx, template, desired)
    ensure_policies(ctx, created_group)
    return dict(desired_capacity=desired, desired_source=source, health=gate(ctx, desired))


def ensure_adopted_present(ctx):
    """Take over a group this collection did not create: tags, listener, optional capacity; nothing else."""
    desired, source = ctx.group["DesiredCapacity"], "fleet"
    if ctx.params.get("desired_capacity") is not None:
        desired, source = ctx.params["desired_capacity"], "option"
    ensure_in_listener(ctx)
    update_group(ctx, desired)
    tag_adopted_target_group(ctx)
    return dict(desired_capacity=desired, desired_source=source, health=gate(ctx, desired))


def gate(ctx, desired):
    if ctx.params["wait"] and not ctx.check_mode and desired > 0:
        return wait_for_health(ctx, desired)
    return None


def tag_adopted_target_group(ctx):
    arn = ctx.target_group["TargetGroupArn"]
    current = elbv2_calls.target_group_tags(ctx.elbv2, [arn]).get(arn, {})
    wanted = dict(fleet_spec.identity_tags(ctx.app, ctx.stage, ctx.fleet_id))
    wanted[fleet_spec.TAG_ADOPTED] = "true"
    changed = dict((key, value) for key, value in wanted.items() if current.get(key) != value)
    if changed:
        ctx.changes.run("tag target group {0} as fleet {1}".format(ctx.names["target_group"], ctx.fleet_id),
                        elbv2_calls.tag_target_group, ctx.elbv2, arn, ansible_dict_to_boto3_tag_list(changed))


def ensure_disabled(ctx):
    if ctx.group is None:
        raise Refusal("fleet {0} of {1}/{2} does not exist: nothing to disable; {3}".format(
            ctx.fleet_id, ctx.app, ctx.stage, UNCHANGED))
    if ctx.target_group is None:
        raise Refusal("fleet {0} has no target group: it cannot stay registered and health-checked; {1}".format(
            ctx.label, UNCHANGED))
    refuse_if_deleting(ctx, "disable")
    refuse_if_serving(ctx, "disable")
    ensure_in_listener(ctx)
    desired = ctx.params.get("desired_capacity") or ctx.group["DesiredCapacity"]
    pin_capacity(ctx, desired)
    missing = [process for process in fleet_spec.PINNED_PROCESSES if process not in suspended(ctx.group)]
    if missing:
        ctx.changes.run("suspend {0} on {1}".format(", ".join(missing), ctx.names["asg"]),
                        autoscaling_calls.suspend_processes, ctx.autoscaling, ctx.names["asg"], missing)
        written(ctx, suspended_now=missing)
    tag_disabled(ctx)
    return {"desired_capacity": desired, "desired_source": "option" if ctx.params.get("desired_capacity") else "fleet"}


def pin_capacity(ctx, desired):
    settings = capacity_changes(ctx.group, {"min": desired, "max": desired, "desired": desired})
    if settings:
        ctx.changes.run("pin {0} at {1} instances (min = max = desired)".format(ctx.names["asg"], desired),
                        autoscaling_calls.update_group, ctx.autoscaling, ctx.names["asg"], **settings)
        written(ctx, settings=settings)


def tag_disabled(ctx):
    tags = fleet_spec.asg_tags(ctx.group)
    if tags.get(fleet_spec.TAG_FLEET_STATE) == fleet_spec.STATE_DISABLED and fleet_spec.TAG_ROLLBACK_UNTIL in tags:
        return
    now = utc_now()
    until = now + timedelta(seconds=ctx.params["rollback_window"])
    wanted = {
        fleet_spec.TAG_FLEET_STATE: fleet_spec.STATE_DISABLED,
        fleet_spec.TAG_DISABLED_AT: iso8601(now),
        fleet_spec.TAG_ROLLBACK_UNTIL: iso8601(until),
    }
    update_group_tags(ctx, tags, wanted)


def ensure_absent(ctx):
    if ctx.group is None and ctx.target_group is None and ctx.launch_template is None:
        return {}
    refuse_if_serving(ctx, "remove")
    if not autoscaling_calls.being_deleted(ctx.group):
        scale_to_zero(ctx)
    if not ctx.check_mode:
        wait_for_drain(ctx)
    renew_lease(ctx, DRAINING_LEFT)
    remove_from_listener(ctx)
    delete_resources(ctx)
    return {}


def scale_to_zero(ctx):
    if ctx.group is None:
        return
    settings = capacity_changes(ctx.group, {"min": 0, "max": 0, "desired": 0})
    if settings:
        ctx.changes.run("scale {0} to 0 (still in the listener at weight 0 while it drains)".format(ctx.names["asg"]),
                        autoscaling_calls.update_group, ctx.autoscaling, ctx.names["asg"], **settings)


def wait_for_drain(ctx):
    name = ctx.names["asg"] if ctx.group is not None else None
    arn = (ctx.target_group or {}).get("TargetGroupArn")
    delay = ctx.stage_def["deregistration_delay"]
    if arn:
        # Drained = no target left. Instances still terminating go with the group (ForceDelete).
        calls = {"targets": lambda: fleet_wait.target_states(ctx.elbv2, arn)}
    else:
        calls = {"targets": lambda: [],
                 "group": (lambda: autoscaling_calls.describe_group(ctx.autoscaling, name)) if name else (lambda: None)}
    calls["lease"] = ctx.lease
    progress = fleet_wait.Progress(ctx.progress_path, ctx.label)
    try:
        fleet_wait.wait_drained(calls, ctx.label, delay, ctx.params["wait_timeout"], progress)
    except locking.LockError as error:
        raise lock_lost(ctx, error, DRAINING_LEFT)
    except fleet_wait.WaitTimeout as error:
        raise FleetError("{0}. The fleet is scaled to 0 and still in the listener at weight 0; re-run to finish. "
                         "Done: {1}".format(error, ctx.changes.done()), failure="timeout")


def remove_from_listener(ctx):
    arn = (ctx.target_group or {}).get("TargetGroupArn")
    if arn is None or arn not in ctx.weights:
        return
    new_weights = listeners.without_group(ctx.weights, arn)
    where = listeners.target_text(ctx.target)
    try:
        listeners.validate_weights(new_weights, allow_all_zero=True, name="the forward action of " + where)
    except listeners.ListenerError as error:
        raise FleetError("cannot take fleet {0} out of the listener: {1}. Done: {2}".format(
            ctx.label, error, ctx.changes.done()))
    written = ctx.changes.run("remove target group {0} from {1}".format(ctx.names["target_group"], where),
                              listeners.write_weights, ctx.elbv2, ctx.target, new_weights)
    ctx.weights = written if written is not None else new_weights


def delete_resources(ctx):
    """The group, then (once AWS has really deleted it) its target group and launch template."""
    deletion = {"auto_scaling_group": None, "waited_seconds": None, "target_group": None, "launch_template": None}
    ctx.deletion = deletion
    if ctx.group is not None:
        delete_group(ctx, deletion)
    if ctx.target_group is not None:
        deleted = ctx.changes.run("delete target group {0}".format(ctx.target_group["TargetGroupName"]),
                                  elbv2_calls.delete_target_group, ctx.elbv2, ctx.target_group["TargetGroupArn"])
        deletion["target_group"] = outcome_of(ctx, deleted)
    template = ctx.launch_template
    if template is not None:
        if ctx.launch_template_ours:
            deleted = ctx.changes.run("delete launch template {0}".format(template["LaunchTemplateName"]),
                                      ec2_calls.delete_launch_template, ctx.ec2, template["LaunchTemplateId"])
            deletion["launch_template"] = outcome_of(ctx, deleted)
        else:
            deletion["launch_template"] = "kept"
            ctx.kept.append("launch template {0} (not created by cattle.immutable)".format(template["LaunchTemplateName"]))


def outcome_of(ctx, deleted):
    """A deletion call's answer as the result says it: True deleted, None it was gone already."""
    if ctx.check_mode:
        return "would be deleted"
    return "deleted" if deleted else "absent"


GROUP_OUTCOMES = {autoscaling_calls.DELETE_STARTED: "deleted", autoscaling_calls.ALREADY_DELETING: "was being deleted",
                  autoscaling_calls.GROUP_ABSENT: "absent"}


def delete_group(ctx, deletion):
    """DeleteAutoScalingGroup returns while AWS goes on deleting ("Delete in progress"): wait until the group
    is gone, since its instances are still terminating. A group already being deleted is waited for, not
    deleted again."""
    name = ctx.names["asg"]
    if autoscaling_calls.being_deleted(ctx.group):
        answer = autoscaling_calls.ALREADY_DELETING
        ctx.changes.note("wait for Auto Scaling group {0}, already being deleted".format(name))
    else:
        answer = ctx.changes.run("delete Auto Scaling group {0}".format(name),
                                 autoscaling_calls.delete_group, ctx.autoscaling, name, force=True)
    if ctx.check_mode:
        deletion["auto_scaling_group"] = "would be deleted"
        return
    deletion["auto_scaling_group"] = GROUP_OUTCOMES[answer]
    if answer == autoscaling_calls.GROUP_ABSENT:
        return
    calls = {"group": lambda: autoscaling_calls.describe_group(ctx.autoscaling, name), "lease": ctx.lease}
    progress = fleet_wait.Progress(ctx.progress_path, ctx.label)
    left = ("Auto Scaling group {0} is being deleted; its target group and launch template were kept: "
            "re-run state=absent to finish".format(name))
    try:
        deletion["waited_seconds"] = fleet_wait.wait_deleted(
            calls, ctx.label, name, ctx.params["wait_timeout"], progress,
            just_asked=answer == autoscaling_calls.DELETE_STARTED)
    except locking.LockError as error:
        raise lock_lost(ctx, error, left)
    except fleet_wait.WaitTimeout as error:
        raise FleetError("{0}. {1}. Done: {2}".format(error, left, ctx.changes.done()), failure="timeout")
