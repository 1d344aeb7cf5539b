# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The deployment state of an app, read only (cattle.immutable.deployment_info).

What it reads, and where from (docs/fleets.md is the contract for fleets):
- the forward weights of each stage's listener or rule (_traffic/listeners.py);
- every fleet: the Auto Scaling groups tagged cattle:app (and cattle:stage), their
  target group, launch template version and its AMI, instances and target health;
- the stage pointers /<prefix>/<app>/<stage> (SSM), for drift.

A fleet's status comes from the listener first: `live` when its target group has
weight > 0; otherwise `disabled` (tag cattle:fleet-state=disabled), `retired` (desired
capacity 0: an interrupted retirement), `pending` (active at weight 0: green before the
switch, or left for inspection) or `unattached` (in no forward action).

Drift: instances whose AMI differs from their fleet's launch template version, and live
fleets whose AMI differs from the AMI their target stage points to.
"""

from datetime import datetime, timezone

from ansible_collections.cattle.immutable.plugins.module_utils._aws import autoscaling as autoscaling_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ssm as ssm_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import client_factory
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import iso8601, parse_iso8601, utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners

STATUS_LIVE = "live"
STATUS_DISABLED = "disabled"
STATUS_RETIRED = "retired"
STATUS_PENDING = "pending"
STATUS_UNATTACHED = "unattached"
IN_SERVICE = "InService"
RESOLVE_SSM = "resolve:ssm:"
INSTANCE_CHUNK = 200


class InfoError(CattleError):
    """Input that cannot be right, or a listener that is not there; the message names it."""


def instance_images(ec2, instance_ids):
    """{instance id: AMI id} (terminated instances that AWS no longer lists are left out)."""
    images = {}
    ids = sorted(set(instance_ids))
    for start in range(0, len(ids), INSTANCE_CHUNK):
        filters = [{"Name": "instance-id", "Values": ids[start:start + INSTANCE_CHUNK]}]
        for instance in ec2_calls.describe_instances(ec2, filters, "describe the fleets' instances"):
            images[instance["InstanceId"]] = instance.get("ImageId")
    return images


# ---------------------------------------------------------------------------------------
# Inputs


def validate_params(params):
    """Raise InfoError (or app_definition.AppDefinitionError) before any AWS call."""
    try:
        naming.validate_app(params["app"])
        naming.validate_prefix(params["prefix"])
        for option in ("stage", "target_stage"):
            if params.get(option) is not None:
                naming.validate_stage(params[option], option=option)
    except naming.NamingError as error:
        raise InfoError(str(error)) from error
    port = params.get("port")
    if port is not None and not 1 <= port <= 65535:
        raise InfoError(f"port must be between 1 and 65535, got {port}")
    priority = params.get("rule_priority")
    if priority is not None and not 1 <= priority <= 50000:
        raise InfoError(f"rule_priority must be between 1 and 50000, got {priority}")
    if params.get("load_balancer_name") and port is None:
        raise InfoError("load_balancer_name needs port (the listener's port)")
    with_definition = params.get("definition") is not None
    for option in ("port", "rule_priority"):
        if with_definition and params.get(option) is not None:
            raise InfoError(f"{option} comes from the app definition's load_balancer; give it only with a listener")
    if params.get("rule_priority") is not None and params.get("rule_arn"):
        raise InfoError("rule_priority and rule_arn both name a rule; give one")


def views(params, definition):
    """One view per listener to read: {stage, region, coordinates}.

    With a definition: each stage (or only params['stage']) at its own load balancer and
    region. Without: the listener given, for params['stage'] (None: every stage's fleets).
    """
    if definition is None:
        coordinates = {key: params.get(key) for key in ("listener_arn", "load_balancer_name", "port", "rule_arn",
                                                        "rule_priority")}
        return [{"stage": params.get("stage"), "region": None, "coordinates": coordinates}]
    stages = [params["stage"]] if params.get("stage") else list(definition["stages"])
    found = []
    for stage in stages:
        stage_def = app_definition.stage_definition(definition, stage)
        balancer = stage_def["load_balancer"]
        coordinates = {"load_balancer_name": balancer["name"], "port": balancer["listener_port"],
                       "rule_priority": balancer.get("rule_priority")}
        found.append({"stage": stage, "region": stage_def["region"], "coordinates": coordinates})
    return found


# ---------------------------------------------------------------------------------------
# Pure helpers: statuses, counts, drift.


def fleet_status(weight, desired, fleet_state):
    """live / disabled / retired / pending / unattached (see the module docstring)."""
    if weight is not None and weight > 0:
        return STATUS_LIVE
    if fleet_state == fleet_spec.STATE_DISABLED:
        return STATUS_DISABLED
    if desired == 0:
        return STATUS_RETIRED
    if weight is None:
        return STATUS_UNATTACHED
    return STATUS_PENDING


def traffic_share(weights, arn):
    """Percent of the listener's traffic going to `arn` (None when it is not in the forward action)."""
    if arn not in weights:
        return None
    return round(listeners.traffic_shares(weights)[arn], 2)


def fleet_target_group(group, weights, names):
    """The fleet's target group ARN among those attached to its group."""
    arns = group.get("TargetGroupARNs") or []
    if len(arns) <= 1:
        return arns[0] if arns else None
    in_listener = [arn for arn in arns if arn in weights]
    if len(in_listener) == 1:
        return in_listener[0]
    named = [arn for arn in arns if listeners.target_group_name(arn) == names.get("target_group")]
    return (named or in_listener or arns)[0]


def template_reference(group):
    """{LaunchTemplateId/Name, Version} the group launches from (also in a mixed instances policy)."""
    reference = group.get("LaunchTemplate")
    if not reference:
        policy = group.get("MixedInstancesPolicy") or {}
        reference = (policy.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
    return reference or {}


def instance_rows(group, images, health, expected_image):
    """Each instance of the group with its AMI, lifecycle, target health and drift flag."""
    states = {target["id"]: target for target in health}
    rows = []
    for instance in sorted(group.get("Instances") or [], key=lambda item: item["InstanceId"]):
        instance_id = instance["InstanceId"]
        image = images.get(instance_id)
        target = states.get(instance_id) or {}
        rows.append({
            "instance_id": instance_id,
            "lifecycle_state": instance.get("LifecycleState"),
            "health_status": instance.get("HealthStatus"),
            "launch_template_version": (instance.get("LaunchTemplate") or {}).get("Version"),
            "image_id": image,
            "target_state": target.get("state"),
            "target_reason": target.get("reason"),
            "drifted": bool(image and expected_image and image != expected_image),
        })
    return rows


def counts(group, rows, health):
    healthy_ids = {target["id"] for target in health if target["state"] == listeners.HEALTHY}
    own = {row["instance_id"] for row in rows}
    return {
        "min": group.get("MinSize"),
        "max": group.get("MaxSize"),
        "desired": group.get("DesiredCapacity"),
        "instances": len(rows),
        "in_service": sum(1 for row in rows if row["lifecycle_state"] == IN_SERVICE),
        "healthy": len(own & healthy_ids),
        "registered": len(listeners.healthy_and_registered(health)[1]),
    }


def created_at(group, tags):
    stamp = parse_iso8601(tags.get(fleet_spec.TAG_CREATED_AT))
    if stamp is None and isinstance(group.get("CreatedTime"), datetime):
        stamp = group["CreatedTime"]
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp


def rollback_facts(tags, now):
    until = tags.get(fleet_spec.TAG_ROLLBACK_UNTIL)
    when = parse_iso8601(until)
    return {"rollback_until": until, "rollback_window_over": None if when is None else now >= when}


def instance_drift(fleets):
    """Instances whose AMI differs from their fleet's launch template version."""
    drift = []
    for fleet in fleets:
        for row in fleet["instances"]:
            if row["drifted"]:
                drift.append({
                    "instance_id": row["instance_id"],
                    "fleet_id": fleet["fleet_id"],
                    "stage": fleet["stage"],
                    "image_id": row["image_id"],
                    "expected_image_id": fleet["image_id"],
                })
    return drift


def pointer_drift(fleets, pointers, target_stage=None):
    """Live fleets not on the AMI their target stage points to (unset pointers say nothing)."""
    drift = []
    for fleet in fleets:
        if fleet["status"] != STATUS_LIVE:
            continue
        stage = target_stage or fleet["stage"]
        pointer = pointers.get(stage) or {}
        wanted = pointer.get("image_id")
        running = sorted({image for image in [fleet["image_id"]] + [row["image_id"] for row in fleet["instances"]] if image})
        if wanted and running != [wanted]:
            drift.append({
                "fleet_id": fleet["fleet_id"],
                "stage": fleet["stage"],
                "image_id": fleet["image_id"],
                "target_stage": stage,
                "pointer": pointer.get("name"),
                "pointer_image_id": wanted,
            })
    return drift


def inconsistencies(fleets, listener_views):
    """Inconsistencies a person should look at (none of them is drift)."""
    found = []
    for fleet in fleets:
        if fleet["status"] == STATUS_LIVE and fleet["fleet_state"] == fleet_spec.STATE_DISABLED:
            found.append(f"fleet {fleet['name']} is tagged disabled but has weight {fleet['weight']} in the listener")
        if fleet["status"] == STATUS_LIVE and fleet["counts"]["healthy"] < fleet["counts"]["desired"]:
            found.append(
                f"live fleet {fleet['name']} has {fleet['counts']['healthy']} of {fleet['counts']['desired']} "
                "desired instances healthy"
            )
    for view in listener_views:
        for group in view["target_groups"]:
            if group["fleet_id"] is None and group["weight"] > 0:
                found.append(
                    f"target group {group['name']} gets {group['share']}% of the traffic of stage "
                    f"{view['stage']} but belongs to no fleet of the app"
                )
    return found


# ---------------------------------------------------------------------------------------
# Reading


class Reader:
    """The clients of one region and what was read through them."""

    def __init__(self, make_client, region):
        self.ec2 = make_client("ec2", region)
        self.autoscaling = make_client("autoscaling", region)
        self.elbv2 = make_client("elbv2", region)
        self.ssm = make_client("ssm", region)
        self.templates = {}

    def listener(self, view):
        coordinates = view["coordinates"]
        try:
            target = listeners.find_forward_target(self.elbv2, **coordinates)
            weights = listeners.forward_weights(target["actions"], listeners.target_text(target))
        except listeners.ListenerError as error:
            where = f"stage {view['stage']}: " if view["stage"] else ""
            raise InfoError(where + str(error).replace("; " + listeners.UNCHANGED, "")) from None
        return target, weights

    def groups(self, app, stage):
        tags = {naming.TAG_APP: app}
        if stage:
            tags[fleet_spec.TAG_STAGE] = stage
        return autoscaling_calls.describe_groups_tagged(self.autoscaling, tags)

    def template_image(self, reference):
        """(template facts, AMI id) of the version a group launches from."""
        template_id = reference.get("LaunchTemplateId")
        version = str(reference.get("Version") or "$Default")
        if not template_id:
            return {"id": None, "name": reference.get("LaunchTemplateName"), "version": version}, None
        key = (template_id, version)
        if key not in self.templates:
            found = ec2_calls.describe_launch_template_version(self.ec2, template_id, version) or {}
            image = (found.get("LaunchTemplateData") or {}).get("ImageId")
            if image and image.startswith(RESOLVE_SSM):
                image = (ssm_calls.get_parameter(self.ssm, image[len(RESOLVE_SSM):]) or {}).get("Value")
            facts = {
                "id": template_id,
                "name": found.get("LaunchTemplateName") or reference.get("LaunchTemplateName"),
                "version": str(found.get("VersionNumber") or version),
            }
            self.templates[key] = (facts, image)
        return self.templates[key]

    def health(self, tg_arn):
        if not tg_arn:
            return []
        try:
            return listeners.target_health(self.elbv2, tg_arn)
        except listeners.ListenerError:
            return []  # the group is being deleted: no targets

    def pointer(self, app, stage, prefix):
        name = naming.stage_parameter_name(app, stage, prefix)
        parameter = ssm_calls.get_parameter(self.ssm, name) or {}
        return {"name": name, "image_id": parameter.get("Value"), "version": parameter.get("Version")}


def listener_view(view, target, weights, fleets_by_tg):
    groups = []
    for arn, weight in weights.items():
        fleet = fleets_by_tg.get(arn)
        groups.append({
            "arn": arn,
            "name": listeners.target_group_name(arn),
            "weight": weight,
            "share": traffic_share(weights, arn),
            "fleet_id": fleet["fleet_id"] if fleet else None,
            "fleet_name": fleet["name"] if fleet else None,
        })
    return {
        "stage": view["stage"],
        "load_balancer_arn": target["load_balancer_arn"],
        "listener_arn": target["listener_arn"],
        "rule_arn": target["rule_arn"],
        "weights": dict(weights),
        "target_groups": groups,
    }


def fleet_facts(reader, group, weights, images, now):
    """One fleet as deployment_info reports it."""
    tags = fleet_spec.asg_tags(group)
    fleet = tags.get(fleet_spec.TAG_FLEET) or fleet_spec.adopted_fleet_id(group["AutoScalingGroupName"])
    stage = tags.get(fleet_spec.TAG_STAGE)
    app = tags.get(naming.TAG_APP)
    names = fleet_spec.names(app, stage, fleet) if app and stage else {}
    tg_arn = fleet_target_group(group, weights, names)
    template, image = reader.template_image(template_reference(group))
    template["image_id"] = image
    health = reader.health(tg_arn)
    rows = instance_rows(group, images, health, image)
    weight = weights.get(tg_arn) if tg_arn else None
    start = created_at(group, tags)
    facts = {
        "fleet_id": fleet,
        "name": group["AutoScalingGroupName"],
        "stage": stage,
        "status": fleet_status(weight, group.get("DesiredCapacity"), tags.get(fleet_spec.TAG_FLEET_STATE)),
        "fleet_state": tags.get(fleet_spec.TAG_FLEET_STATE),
        "weight": weight,
        "share": traffic_share(weights, tg_arn),
        "image_id": image,
        "tagged_image_id": tags.get(fleet_spec.TAG_IMAGE),
        "auto_scaling_group": {"name": group["AutoScalingGroupName"], "arn": group.get("AutoScalingGroupARN")},
        "target_group": {"arn": tg_arn, "name": listeners.target_group_name(tg_arn) if tg_arn else None},
        "launch_template": template,
        "counts": counts(group, rows, health),
        "instances": rows,
        "created_at": iso8601(start) if start else None,
        "age_seconds": int((now - start).total_seconds()) if start else None,
        "deployment_id": tags.get(fleet_spec.TAG_DEPLOYMENT),
        "adopted": tags.get(fleet_spec.TAG_ADOPTED) == "true",
        "suspended_processes": sorted(p["ProcessName"] for p in group.get("SuspendedProcesses") or []),
    }
    facts.update(rollback_facts(tags, now))
    return facts


def read_region(reader, params, region_views, now):
    """(listener views, fleets, pointers) of the views that share one region."""
    app = params["app"]
    listener_reads = [(view,) + reader.listener(view) for view in region_views]
    stages = {view["stage"] for view in region_views}
    groups = reader.groups(app, None if None in stages or len(stages) > 1 else next(iter(stages)))
    if None not in stages:
        groups = [group for group in groups if fleet_spec.asg_tags(group).get(fleet_spec.TAG_STAGE) in stages]
    weights_of = {view["stage"]: weights for view, _target, weights in listener_reads}
    instance_ids = [instance["InstanceId"] for group in groups for instance in group.get("Instances") or []]
    images = instance_images(reader.ec2, instance_ids) if instance_ids else {}
    fleets = []
    for group in groups:
        stage = fleet_spec.asg_tags(group).get(fleet_spec.TAG_STAGE)
        weights = weights_of.get(stage, weights_of.get(None, {}))
        fleets.append(fleet_facts(reader, group, weights, images, now))
    by_tg = {fleet["target_group"]["arn"]: fleet for fleet in fleets if fleet["target_group"]["arn"]}
    listener_facts = [listener_view(view, target, weights, by_tg) for view, target, weights in listener_reads]
    pointer_stages = {params.get("target_stage")} if params.get("target_stage") else (
        {fleet["stage"] for fleet in fleets if fleet["status"] == STATUS_LIVE and fleet["stage"]} | (stages - {None}))
    pointers = {stage: reader.pointer(app, stage, params["prefix"]) for stage in sorted(pointer_stages)}
    return listener_facts, fleets, pointers


def run(params, make_client, now=None):
    """The module's result. make_client(service, region) -> a boto3 client (region None: the module's)."""
    now = now or utc_now()
    validate_params(params)
    # None when the listener is given directly.
    definition = app_definition.requested_definition(params, required=False)
    all_views = views(params, definition)
    regions = []
    for view in all_views:
        if view["region"] not in regions:
            regions.append(view["region"])
    listener_facts, fleets, pointers = [], [], {}
    for region in regions:
        reader = Reader(make_client, region)
        found = read_region(reader, params, [view for view in all_views if view["region"] == region], now)
        listener_facts.extend(found[0])
        fleets.extend(found[1])
        pointers.update(found[2])
    fleets.sort(key=lambda fleet: (fleet["stage"] or "", fleet["status"] != STATUS_LIVE, fleet["created_at"] or ""))
    drift = {"instances": instance_drift(fleets), "fleets": pointer_drift(fleets, pointers, params.get("target_stage"))}
    return {
        "changed": False,
        "app": params["app"],
        "listeners": listener_facts,
        "fleets": fleets,
        "live": [fleet["fleet_id"] for fleet in fleets if fleet["status"] == STATUS_LIVE],
        "pointers": pointers,
        "drift": drift,
        "drifted": bool(drift["instances"] or drift["fleets"]),
        "inconsistencies": inconsistencies(fleets, listener_facts),
    }


def run_module(module):
    """What is deployed; inconsistencies found are also shown as warnings."""
    try:
        result = run(module.params, client_factory(module))
    except app_definition.AppDefinitionError as error:
        raise InfoError(str(error)) from error
    result["warnings"] = list(result["inconsistencies"])
    return result
