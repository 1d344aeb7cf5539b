# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What one run of cattle.immutable.fleet works with: its inputs, checked, and what exists.

Everything here runs before the first write: the app's definition and the options are
validated, the AMI checked, the listener, the stage's fleets and this fleet's resources
found. A refusal (Refusal) therefore always means nothing was changed. fleet_states.py
makes the changes; fleets.py runs both and builds the result.
"""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cattle.immutable.plugins.module_utils._aws import autoscaling as autoscaling_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import elbv2 as elbv2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._common import errors
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError
from ansible_collections.cattle.immutable.plugins.module_utils._common.journal import Journal
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners

UNCHANGED = errors.NOTHING_CHANGED
FLEET_ID_CHARS = set("0123456789abcdef")
# The options listeners.py names in its refusals, and the definition's fields they come from.
LISTENER_FIELDS = {
    "load_balancer_name": "load_balancer.name",
    "port": "load_balancer.listener_port",
    "listener_arn": "load_balancer.listener_port",
    "rule_priority": "load_balancer.rule_priority",
}


class FleetError(CattleError):
    """What the fleet module reports as failed; `result` says what was done and which fleet."""


class Refusal(FleetError, errors.Refusal):
    """Refused before any write."""


def refusal_or_failure(ctx, message):
    """A Refusal while nothing was written, else a FleetError saying what was done."""
    if not ctx.changes.changed:
        return Refusal("{0}; {1}".format(message, UNCHANGED))
    return FleetError("{0}. Done: {1}".format(message, ctx.changes.done()))


def resolve_definition(params):
    """(normalised app definition, stage definition); Refusal naming the field."""
    try:
        definition = app_definition.requested_definition(params)
        naming.validate_stage(params["stage"])
        return definition, app_definition.stage_definition(definition, params["stage"])
    except (app_definition.AppDefinitionError, naming.NamingError) as error:
        raise Refusal("{0}; {1}".format(error, UNCHANGED))


def validate_params(params, stage_def):
    """Refuse what cannot be right before any AWS call."""
    try:
        if params.get("image_id"):
            naming.validate_image_id(params["image_id"], option="image_id")
    except naming.NamingError as error:
        raise Refusal("{0}; {1}".format(error, UNCHANGED))
    for option in ("wait_timeout", "rollback_window"):
        if params.get(option) is not None and params[option] < 0:
            raise Refusal("{0} must not be negative, got {1}; {2}".format(option, params[option], UNCHANGED))
    validate_lock(params)
    fleet = params.get("fleet_id")
    if fleet is not None and not is_fleet_id(fleet):
        raise Refusal("fleet_id '{0}' is not a fleet id (12 lowercase hexadecimal digits); {1}".format(fleet, UNCHANGED))
    validate_desired(params.get("desired_capacity"), stage_def)
    if params.get("region") and params["region"] != stage_def["region"]:
        raise Refusal(
            "region {0} differs from the app's region {1} ({2}.region); {3}".format(
                params["region"], stage_def["region"], app_definition.APPS_PATH + "." + stage_def["app"], UNCHANGED
            )
        )
    # standbys first: given with the default state, it is what the user got wrong.
    validate_standbys(params)
    if params["state"] == "present" and not (params.get("image_id") or fleet or params.get("adopt_asg")):
        raise Refusal("state=present needs image_id (or fleet_id of an existing fleet, or adopt_asg); " + UNCHANGED)


def is_fleet_id(text):
    """12 lowercase hexadecimal digits (fleet_spec.fleet_id)."""
    return len(text) == fleet_spec.FLEET_ID_LENGTH and set(text) <= FLEET_ID_CHARS


def validate_standbys(params):
    """standbys selects fleets itself: only with state=absent, and instead of naming one fleet."""
    if not params.get("standbys"):
        if params["state"] != "present" and not (params.get("image_id") or params.get("fleet_id")
                                                 or params.get("adopt_asg")):
            raise Refusal("state={0} needs image_id or fleet_id (or, for absent, standbys); {1}".format(
                params["state"], UNCHANGED))
        return
    if params["state"] != "absent":
        raise Refusal("standbys works with state=absent only, got state={0}; {1}".format(params["state"], UNCHANGED))
    named = [option for option in ("image_id", "fleet_id", "adopt_asg") if params.get(option)]
    if named:
        raise Refusal("standbys chooses the fleets itself: do not give {0} with it; {1}".format(
            " or ".join(named), UNCHANGED))


def lock_reference(params):
    """The option lock with its defaults: {run_id, table, lease_seconds, region, acquisition}; None without it."""
    lock = params.get("lock")
    if not lock:
        return None
    defaults = {"table": locking.DEFAULT_TABLE, "lease_seconds": locking.DEFAULT_LEASE_SECONDS}
    reference = dict((key, lock.get(key)) for key in ("run_id", "table", "lease_seconds", "region", "acquisition"))
    for key, value in defaults.items():
        if reference[key] is None:
            reference[key] = value
    return reference


def validate_lock(params):
    lock = lock_reference(params)
    if lock is None:
        return
    try:
        locking.validate_renewal(params["app"], lock["table"], lock["run_id"], lock["lease_seconds"])
        lock_request(params)
    except locking.LockError as error:
        raise Refusal("lock: {0}; {1}".format(error, UNCHANGED))


def lock_request(params):
    """deploy_lock's acquire request when the option lock asks to take the lock (acquire=true), else None."""
    lock = params.get("lock") or {}
    if not lock.get("acquire"):
        return None
    options = ("run_id", "owner", "reason", "lease_seconds", "force", "table", "create_table", "wait_timeout",
               "acquisition")
    return locking.acquire_request(dict((key, lock.get(key)) for key in options), params["app"])


def validate_desired(desired, stage_def):
    if desired is None:
        return
    bounds = stage_def["capacity"]
    if desired < 1:
        raise Refusal(
            "desired_capacity must be at least 1, got {0}: a fleet without instances cannot prove its health "
            "(state=absent removes a fleet); {1}".format(desired, UNCHANGED)
        )
    if desired > bounds["max"]:
        raise Refusal(
            "desired_capacity {0} is above the app's capacity.max {1}; {2}".format(desired, bounds["max"], UNCHANGED)
        )
    if desired < bounds["min"]:
        raise Refusal(
            "desired_capacity {0} is below the app's capacity.min {1}; {2}".format(desired, bounds["min"], UNCHANGED)
        )


def checked_image(ec2, image_id, app):
    """The AMI, refused when it is missing, not available, revoked or another app's."""
    image = ec2_calls.describe_image(ec2, image_id)
    if image is None:
        raise Refusal("image_id {0}: no such AMI in this region; {1}".format(image_id, UNCHANGED))
    tags = boto3_tag_list_to_ansible_dict(image.get("Tags") or [])
    if image.get("State") != "available":
        raise Refusal("image_id {0}: its state is '{1}', not 'available'; {2}".format(image_id, image.get("State"), UNCHANGED))
    if naming.TAG_REVOKED in tags:
        raise Refusal(
            "image_id {0}: it was revoked ({1}: {2}); {3}".format(image_id, naming.TAG_REVOKED, tags[naming.TAG_REVOKED], UNCHANGED)
        )
    owner = tags.get(naming.TAG_APP)
    if owner and owner != app:
        raise Refusal("image_id {0}: it is an image of app '{1}', not '{2}'; {3}".format(image_id, owner, app, UNCHANGED))
    return image


def image_serves_conflicts(image, stage_def):
    """How the definition's health check disagrees with what the image says it serves (its
    cattle:app-port and cattle:health-path tags); [] when they agree or the image says nothing."""
    tags = boto3_tag_list_to_ansible_dict(image.get("Tags") or [])
    check = stage_def["health_check"]
    conflicts = []
    port = tags.get(naming.TAG_APP_PORT)
    checked_port = stage_def["port"] if check["port"] in (None, "traffic-port") else check["port"]
    if port and str(checked_port) != port:
        conflicts.append("the health check goes to port {0}, the image's app listens on {1}".format(checked_port, port))
    path = tags.get(naming.TAG_HEALTH_PATH)
    if path and check["path"] != path:
        conflicts.append("the health check asks {0}, the image's app answers health at {1}".format(check["path"], path))
    return conflicts


def refuse_image_conflicts(ctx):
    """Refusal before the first write: a fleet whose health check the image's app cannot pass would
    churn until the timeout (override: accept_image_mismatch=true, recorded in the result)."""
    conflicts = image_serves_conflicts(ctx.image, ctx.stage_def)
    if conflicts and not ctx.params.get("accept_image_mismatch"):
        raise Refusal(
            "image_id {0} does not serve what the definition of {1}/{2} checks: {3} ({4} and {5} tags); its "
            "instances would never turn healthy. Fix {6}, or pass accept_image_mismatch=true; {7}".format(
                ctx.image["ImageId"], ctx.app, ctx.stage, "; ".join(conflicts), naming.TAG_APP_PORT,
                naming.TAG_HEALTH_PATH, ctx.field_path("health_check"), UNCHANGED,
            )
        )
    return conflicts


class Context:
    """Everything one run knows: inputs, clients, what it found, what it changes."""

    def __init__(self, params, clients, definition, stage_def, check_mode, progress_path=None):
        self.params = params
        self.clients = clients
        # The app's normalised definition, for the paths errors name (field_path).
        self.definition = definition
        self.stage_def = stage_def
        self.app = stage_def["app"]
        self.stage = stage_def["stage"]
        self.changes = Journal(check_mode)
        self.progress_path = progress_path
        # A locking.LeaseKeeper of the app's deploy lock when the run holds it (option lock).
        self.lease = None
        self.image = None
        # How the definition disagrees with what the image serves, accepted by accept_image_mismatch.
        self.image_mismatch = []
        # The VPC of a new fleet, as the check of its references found it (fleet_references).
        self.vpc_id = None
        self.fleet_id = None
        self.names = None
        self.adopted = False
        self.target = None
        self.weights = {}
        self.app_groups = []
        self.group = None
        self.target_group = None
        self.launch_template = None
        self.launch_template_ours = False
        self.previous = None
        self.adoptions = []
        self.kept = []
        # What state=absent deleted and how long it waited for the group to go (states.delete_resources).
        self.deletion = None

    # Clients are made on first use: a boto3 client costs time to build (EC2's above all).
    @property
    def ec2(self):
        return self.clients["ec2"]

    @property
    def autoscaling(self):
        return self.clients["autoscaling"]

    @property
    def elbv2(self):
        return self.clients["elbv2"]

    @property
    def check_mode(self):
        return self.changes.check_mode

    @property
    def label(self):
        return self.names["fleet"] if self.names else self.app

    def field_path(self, field):
        """The definition's path of a field this stage uses, as errors name it (apps.web.stages.prod.subnets)."""
        return app_definition.field_path(self.definition, self.stage, field)

    def set_fleet(self, fleet, adopted=False):
        self.fleet_id = fleet
        self.names = fleet_spec.names(self.app, self.stage, fleet)
        self.adopted = adopted


def find_listener(ctx):
    balancer = ctx.stage_def["load_balancer"]
    try:
        ctx.target = remembered_listener(ctx, balancer) or listeners.find_forward_target(
            ctx.elbv2,
            load_balancer_name=balancer["name"],
            port=balancer["listener_port"],
            rule_priority=balancer["rule_priority"],
        )
        ctx.weights = listeners.forward_weights(ctx.target["actions"], listeners.target_text(ctx.target))
    except listeners.ListenerError as error:
        raise listener_refusal(ctx, error)


def listener_refusal(ctx, error):
    """The listener's refusal naming the definition's field instead of the listeners.py option it starts with."""
    option, problem = str(error).partition(": ")[::2]
    field = LISTENER_FIELDS.get(option)
    if field is None:
        return Refusal("{0}: {1}".format(ctx.field_path("load_balancer"), error))
    return Refusal("{0}: {1}".format(ctx.field_path(field), problem))


def remembered_listener(ctx, balancer):
    """The listener a fleet of the stage was created behind (its cattle:listener tag), if it still fits.

    Saves the DescribeLoadBalancers of a lookup by name; a stale tag costs one call more.
    """
    remembered = [fleet_spec.asg_tags(group).get(fleet_spec.TAG_LISTENER) for group in ctx.app_groups]
    arns = [arn for arn in remembered if arn and ":listener/" in arn]
    if not arns:
        return None
    return listeners.find_known_listener(
        ctx.elbv2, arns[0], balancer["name"], balancer["listener_port"], balancer["rule_priority"]
    )


def find_app_groups(ctx):
    tags = {naming.TAG_APP: ctx.app, fleet_spec.TAG_STAGE: ctx.stage}
    ctx.app_groups = autoscaling_calls.describe_groups_tagged(ctx.autoscaling, tags)


def group_of_fleet(ctx, fleet):
    for group in ctx.app_groups:
        if fleet_spec.asg_tags(group).get(fleet_spec.TAG_FLEET) == fleet:
            return group
    return None


def identify_fleet(ctx):
    """Which fleet this run is about: adopted group, image + inputs, or fleet_id."""
    params = ctx.params
    if params.get("adopt_asg"):
        identify_adopted(ctx, params["adopt_asg"])
        return
    if params.get("image_id"):
        fleet = fleet_spec.fleet_id(ctx.stage_def, params["image_id"])
        if params.get("fleet_id") and params["fleet_id"] != fleet:
            raise Refusal(
                "fleet_id {0} does not match image_id and the app's launch inputs, which make fleet {1}; {2}".format(
                    params["fleet_id"], fleet, UNCHANGED
                )
            )
        ctx.set_fleet(fleet)
    else:
        ctx.set_fleet(params["fleet_id"])
    ctx.group = group_of_fleet(ctx, ctx.fleet_id)
    if ctx.group is not None and fleet_spec.asg_tags(ctx.group).get(fleet_spec.TAG_ADOPTED) == "true":
        ctx.adopted = True
        ctx.names = adopted_names(ctx.group)


def identify_adopted(ctx, asg_name):
    group = autoscaling_calls.describe_group(ctx.autoscaling, asg_name)
    if group is None:
        raise Refusal("adopt_asg: there is no Auto Scaling group {0}; {1}".format(asg_name, UNCHANGED))
    tags = fleet_spec.asg_tags(group)
    for key, wanted in ((naming.TAG_APP, ctx.app), (fleet_spec.TAG_STAGE, ctx.stage)):
        if tags.get(key) not in (None, wanted):
            raise Refusal(
                "adopt_asg: {0} belongs to {1}={2}, not {3}; {4}".format(asg_name, key, tags[key], wanted, UNCHANGED)
            )
    ctx.set_fleet(tags.get(fleet_spec.TAG_FLEET) or fleet_spec.adopted_fleet_id(asg_name), adopted=True)
    ctx.names = adopted_names(group)
    ctx.group = group


def adopted_names(group):
    name = group["AutoScalingGroupName"]
    template = (group.get("LaunchTemplate") or {}).get("LaunchTemplateName")
    return {"fleet": name, "asg": name, "launch_template": template, "target_group": None}


def find_target_group(ctx):
    """The fleet's target group: attached to its group, else by its name, else in the listener by tag."""
    arns = (ctx.group or {}).get("TargetGroupARNs") or []
    if ctx.adopted and ctx.params.get("adopt_target_group"):
        ctx.target_group = find_adopted_target_group(ctx, ctx.params["adopt_target_group"])
    elif ctx.adopted:
        ctx.target_group = adopted_group_target_group(ctx, arns)
    elif arns:
        ctx.target_group = own_target_group(ctx, arns)
    elif not creates_without_looking(ctx):
        ctx.target_group = elbv2_calls.describe_target_group(ctx.elbv2, name=ctx.names["target_group"])
    if ctx.target_group is None and ctx.params["state"] == "absent":
        ctx.target_group = target_group_in_listener(ctx)
    if ctx.target_group is not None and ctx.names.get("target_group") is None:
        ctx.names["target_group"] = ctx.target_group["TargetGroupName"]


def own_target_group(ctx, arns):
    """The attached group of the fleet's name; its ARN says enough (no describe call)."""
    for arn in arns:
        if target_group_name_of(arn) == ctx.names["target_group"]:
            return {"TargetGroupArn": arn, "TargetGroupName": ctx.names["target_group"]}
    return elbv2_calls.describe_target_group(ctx.elbv2, name=ctx.names["target_group"])


def target_group_name_of(arn):
    """arn:...:targetgroup/NAME/ID -> NAME."""
    return arn.split(":targetgroup/", 1)[-1].split("/", 1)[0]


def find_adopted_target_group(ctx, name_or_arn):
    key = {"arn": name_or_arn} if name_or_arn.startswith("arn:") else {"name": name_or_arn}
    group = elbv2_calls.describe_target_group(ctx.elbv2, **key)
    if group is None:
        raise Refusal("adopt_target_group: there is no target group {0}; {1}".format(name_or_arn, UNCHANGED))
    return group


def adopted_group_target_group(ctx, arns):
    if len(arns) == 1:
        return {"TargetGroupArn": arns[0], "TargetGroupName": target_group_name_of(arns[0])}
    if ctx.params["state"] == "absent":
        return target_group_in_listener(ctx)
    raise Refusal(
        "adopt_asg: {0} has {1} target groups; name the one to adopt with adopt_target_group; {2}".format(
            ctx.names["asg"], len(arns) or "no", UNCHANGED
        )
    )


def target_group_in_listener(ctx):
    """A target group of the forward action tagged with this fleet (found when its group is gone)."""
    if not ctx.weights:
        return None
    tags = elbv2_calls.target_group_tags(ctx.elbv2, list(ctx.weights))
    for arn, group_tags in tags.items():
        if group_tags.get(fleet_spec.TAG_FLEET) == ctx.fleet_id and group_tags.get(naming.TAG_APP) == ctx.app:
            return elbv2_calls.describe_target_group(ctx.elbv2, arn=arn)
    return None


def find_launch_template(ctx):
    """From the group's reference (no call), else by the fleet's name (a leftover, or a lost create)."""
    reference = (ctx.group or {}).get("LaunchTemplate") or {}
    if reference.get("LaunchTemplateId"):
        ctx.launch_template = {
            "LaunchTemplateId": reference["LaunchTemplateId"],
            "LaunchTemplateName": reference.get("LaunchTemplateName"),
            "DefaultVersionNumber": reference.get("Version"),
        }
        ctx.launch_template_ours = not ctx.adopted
    elif ctx.names.get("launch_template") and not ctx.adopted and not creates_without_looking(ctx):
        ctx.launch_template = ec2_calls.describe_launch_template(ctx.ec2, name=ctx.names["launch_template"])
        tags = boto3_tag_list_to_ansible_dict((ctx.launch_template or {}).get("Tags") or [])
        ctx.launch_template_ours = tags.get(naming.TAG_MANAGED_BY) == naming.MANAGED_BY_VALUE


def creates_without_looking(ctx):
    """Whether a new fleet's launch template and target group are created without a lookup first.

    Their names are the fleet's, so a leftover (an interrupted run, a lost answer) makes
    the create fail with "already exists" and is adopted then: one call instead of two.
    Check mode still looks, to say exactly what would be created.
    """
    return (ctx.params["state"] == "present" and ctx.group is None and not ctx.adopted
            and not ctx.check_mode and bool(ctx.params.get("image_id")))


def weight_of(ctx):
    if ctx.target_group is None:
        return None
    return ctx.weights.get(ctx.target_group["TargetGroupArn"])


def current_state(ctx):
    """What the fleet looked like before this run (returned as `previous`)."""
    group = ctx.group
    if group is None and ctx.target_group is None and ctx.launch_template is None:
        return {"exists": False}
    tags = fleet_spec.asg_tags(group or {})
    return {
        "exists": group is not None,
        "state": tags.get(fleet_spec.TAG_FLEET_STATE) if group else None,
        "capacity": capacity_of(group),
        "in_listener": weight_of(ctx) is not None,
        "weight": weight_of(ctx),
        "suspended_processes": suspended(group),
        "rollback_until": tags.get(fleet_spec.TAG_ROLLBACK_UNTIL),
        "image_id": tags.get(fleet_spec.TAG_IMAGE),
    }


def capacity_of(group):
    if group is None:
        return None
    return {"min": group["MinSize"], "max": group["MaxSize"], "desired": group["DesiredCapacity"]}


def suspended(group):
    return sorted(process["ProcessName"] for process in (group or {}).get("SuspendedProcesses") or [])


def refuse_if_serving(ctx, doing):
    weight = weight_of(ctx)
    if weight:
        raise Refusal(
            "fleet {0} serves traffic (weight {1} in {2}): refusing to {3} a serving fleet; move traffic away "
            "with cattle.immutable.traffic first; {4}".format(
                ctx.label, weight, listeners.target_text(ctx.target), doing, UNCHANGED
            )
        )


def live_desired(ctx):
    """The largest desired capacity of the app's other fleets that get traffic, or None."""
    weighted = set(arn for arn, weight in ctx.weights.items() if weight > 0)
    capacities = [
        group["DesiredCapacity"]
        for group in ctx.app_groups
        if group is not ctx.group and weighted.intersection(group.get("TargetGroupARNs") or [])
    ]
    return max(capacities) if capacities else None


def choose_desired(ctx):
    """(desired, where it came from): option, this fleet, the live fleet, or the definition."""
    if ctx.params.get("desired_capacity") is not None:
        return ctx.params["desired_capacity"], "option"
    if ctx.group is not None and ctx.group["DesiredCapacity"] > 0:
        return fleet_spec.clamp_desired(ctx.stage_def, ctx.group["DesiredCapacity"]), "fleet"
    live = live_desired(ctx)
    if live:
        return fleet_spec.clamp_desired(ctx.stage_def, live), "live_fleet"
    return fleet_spec.clamp_desired(ctx.stage_def, ctx.stage_def["capacity"]["desired"]), "definition"


def locate(ctx):
    """Everything the run needs to know, found before the first write."""
    find_app_groups(ctx)
    find_listener(ctx)
    identify_fleet(ctx)
    find_target_group(ctx)
    find_launch_template(ctx)
    ctx.previous = current_state(ctx)
