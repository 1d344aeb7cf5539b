# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""An app, defined once as data: the schema, its validation and per-stage views.

Playbooks keep apps in one variable, `cattle_apps` (app name -> definition); docs/apps.md
describes every field. `validate_definition` checks one definition without any AWS call
and returns it normalised (defaults filled in, lists in a stable order); a bad value
raises AppDefinitionError whose message starts with the field's path, for example
`apps.web.capacity.max: must be >= min (2), got 1`. `stage_definition` merges a stage's
overrides over the base, so `prod` may use its own load balancer or capacity.
"""

import copy
import re

from ansible_collections.cattle.immutable.plugins.module_utils._common import naming

APPS_PATH = "apps"
USER_DATA_MAX_BYTES = 16384
TARGET_GROUP_PROTOCOLS = ("HTTP", "HTTPS")
VOLUME_TYPES = ("gp3", "gp2", "io1", "io2", "st1", "sc1", "standard")
# Target tracking metric names people write, and what Auto Scaling calls them.
SCALING_METRICS = {
    "cpu": "ASGAverageCPUUtilization",
    "network_in": "ASGAverageNetworkIn",
    "network_out": "ASGAverageNetworkOut",
    "request_count": "ALBRequestCountPerTarget",
}

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_SUBNET = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_SECURITY_GROUP = re.compile(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_VPC = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_PROFILE_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_PROFILE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]{1,128}$")
_LOAD_BALANCER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
_POLICY_NAME = re.compile(r"^[^:]{1,255}$")
_MATCHER = re.compile(r"^\d{3}(?:-\d{3})?(?:,\d{3}(?:-\d{3})?)*$")
_KMS_KEY = re.compile(r"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)/\S+|alias/\S+|[0-9a-f-]{36})$")


class AppDefinitionError(ValueError):
    """A definition that cannot be right; `path` names the field, the message starts with it."""

    def __init__(self, path, problem):
        super(AppDefinitionError, self).__init__("{0}: {1}".format(path, problem))
        self.path = path
        self.problem = problem


# ---------------------------------------------------------------------------------------
# Scalar checks: each returns the normalised value or raises naming the path.


def _type_name(value):
    return "null" if value is None else type(value).__name__


def check_string(value, path, pattern=None, what=None, max_length=None):
    if not isinstance(value, str) or not value:
        raise AppDefinitionError(path, "must be a non-empty string, got {0}".format(_type_name(value)))
    if max_length and len(value) > max_length:
        raise AppDefinitionError(path, "must be at most {0} characters, got {1}".format(max_length, len(value)))
    if pattern is not None and not pattern.match(value):
        raise AppDefinitionError(path, "'{0}' is not {1}".format(value, what))
    return value


def check_int(value, path, minimum=None, maximum=None):
    # bool is an int in Python; `capacity.max: true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.match(r"^-?\d+$", value.strip()):
            value = int(value)
        else:
            raise AppDefinitionError(path, "must be an integer, got {0}".format(_type_name(value)))
    if minimum is not None and value < minimum:
        raise AppDefinitionError(path, "must be >= {0}, got {1}".format(minimum, value))
    if maximum is not None and value > maximum:
        raise AppDefinitionError(path, "must be <= {0}, got {1}".format(maximum, value))
    return value


def check_number(value, path, above=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise AppDefinitionError(path, "must be a number, got {0}".format(_type_name(value)))
    if above is not None and value <= above:
        raise AppDefinitionError(path, "must be > {0}, got {1}".format(above, value))
    return float(value)


def check_bool(value, path):
    if not isinstance(value, bool):
        raise AppDefinitionError(path, "must be true or false, got {0}".format(_type_name(value)))
    return value


def check_choice(value, path, choices):
    if value not in choices:
        raise AppDefinitionError(path, "must be one of {0}, got {1!r}".format(", ".join(choices), value))
    return value


def check_id_list(value, path, pattern, what):
    """A non-empty list of AWS ids without duplicates, sorted (order carries no meaning)."""
    if not isinstance(value, list) or not value:
        raise AppDefinitionError(path, "must be a non-empty list of {0}s".format(what))
    for index, item in enumerate(value):
        check_string(item, "{0}[{1}]".format(path, index), pattern, "a {0}".format(what))
    duplicates = sorted({item for item in value if value.count(item) > 1})
    if duplicates:
        raise AppDefinitionError(path, "lists {0} more than once".format(", ".join(duplicates)))
    return sorted(value)


def check_mapping(value, path):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AppDefinitionError(path, "must be a mapping, got {0}".format(_type_name(value)))
    return value


def check_known_keys(value, path, known):
    unknown = sorted(str(key) for key in value if key not in known)
    if unknown:
        raise AppDefinitionError(
            "{0}.{1}".format(path, unknown[0]), "unknown field (known: {0})".format(", ".join(sorted(known)))
        )


def check_fields(value, path, fields, required=()):
    """Each field of a mapping through its check, with defaults; unknown and missing fields refused."""
    value = check_mapping(value, path)
    check_known_keys(value, path, fields)
    result = {}
    for key, (check, default) in fields.items():
        field_path = "{0}.{1}".format(path, key)
        if value.get(key) is None:
            if key in required:
                raise AppDefinitionError(field_path, "is required")
            result[key] = default
        else:
            result[key] = check(value[key], field_path)
    return result


# ---------------------------------------------------------------------------------------
# Sections of a definition.


def check_region(value, path):
    return check_string(value, path, _REGION, "an AWS region name (for example eu-west-1)")


def check_vpc(value, path):
    return check_string(value, path, _VPC, "a VPC id (vpc- and 8 or 17 hexadecimal digits)")


def check_subnets(value, path):
    return check_id_list(value, path, _SUBNET, "subnet id")


def check_security_groups(value, path):
    return check_id_list(value, path, _SECURITY_GROUP, "security group id")


def check_instance_type(value, path):
    return check_string(value, path, _INSTANCE_TYPE, "an instance type (family.size, for example t3.micro)")


def check_instance_profile(value, path):
    check_string(value, path)
    if not (_PROFILE_NAME.match(value) or _PROFILE_ARN.match(value)):
        raise AppDefinitionError(path, "'{0}' is neither an instance profile name nor its ARN".format(value))
    return value


def check_user_data(value, path):
    if not isinstance(value, str):
        raise AppDefinitionError(path, "must be a string, got {0}".format(_type_name(value)))
    size = len(value.encode("utf-8"))
    if size > USER_DATA_MAX_BYTES:
        raise AppDefinitionError(path, "is {0} bytes; AWS allows {1}".format(size, USER_DATA_MAX_BYTES))
    return value


def check_root_volume(value, path):
    return check_fields(
        value,
        path,
        {
            "size": (lambda v, p: check_int(v, p, 1, 16384), None),
            "type": (lambda v, p: check_choice(v, p, VOLUME_TYPES), "gp3"),
            "kms_key_id": (lambda v, p: check_string(v, p, _KMS_KEY, "a KMS key id, alias or ARN"), None),
        },
    )


def check_capacity(value, path):
    capacity = check_fields(
        value,
        path,
        {
            "min": (lambda v, p: check_int(v, p, 0), None),
            "max": (lambda v, p: check_int(v, p, 1), None),
            "desired": (lambda v, p: check_int(v, p, 0), None),
        },
        required=("min", "max"),
    )
    if capacity["max"] < capacity["min"]:
        raise AppDefinitionError(
            path + ".max", "must be >= min ({0}), got {1}".format(capacity["min"], capacity["max"])
        )
    if capacity["desired"] is None:
        capacity["desired"] = max(capacity["min"], 1)
    if not capacity["min"] <= capacity["desired"] <= capacity["max"]:
        raise AppDefinitionError(
            path + ".desired",
            "must be between min ({0}) and max ({1}), got {2}".format(capacity["min"], capacity["max"], capacity["desired"]),
        )
    return capacity


def check_scaling_policy(value, path):
    return check_fields(
        value,
        path,
        {
            "name": (lambda v, p: check_string(v, p, _POLICY_NAME, "a policy name (1-255 characters, no ':')"), None),
            "metric": (lambda v, p: check_choice(v, p, sorted(SCALING_METRICS)), None),
            "target": (lambda v, p: check_number(v, p, above=0), None),
            "disable_scale_in": (check_bool, False),
            "warmup": (lambda v, p: check_int(v, p, 0), None),
        },
        required=("name", "metric", "target"),
    )


def check_scaling_policies(value, path):
    if not isinstance(value, list):
        raise AppDefinitionError(path, "must be a list, got {0}".format(_type_name(value)))
    policies = [check_scaling_policy(item, "{0}[{1}]".format(path, index)) for index, item in enumerate(value)]
    names = [policy["name"] for policy in policies]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise AppDefinitionError(path, "names {0} more than once".format(", ".join(duplicates)))
    return sorted(policies, key=lambda policy: policy["name"])


def check_port(value, path):
    return check_int(value, path, 1, 65535)


def check_health_check_port(value, path):
    if value == "traffic-port":
        return value
    return str(check_port(value, path))


def check_health_check(value, path):
    check = check_fields(
        value,
        path,
        {
            "path": (lambda v, p: check_string(v, p, re.compile(r"^/\S*$"), "a path starting with /", 1024), "/"),
            "port": (check_health_check_port, "traffic-port"),
            "protocol": (lambda v, p: check_choice(v, p, TARGET_GROUP_PROTOCOLS), None),
            "interval": (lambda v, p: check_int(v, p, 5, 300), 30),
            "timeout": (lambda v, p: check_int(v, p, 2, 120), 5),
            "healthy_threshold": (lambda v, p: check_int(v, p, 2, 10), 5),
            "unhealthy_threshold": (lambda v, p: check_int(v, p, 2, 10), 2),
            "matcher": (lambda v, p: check_string(v, p, _MATCHER, "HTTP codes such as 200, 200-299 or 200,302"), "200"),
        },
    )
    if check["timeout"] >= check["interval"]:
        raise AppDefinitionError(
            path + ".timeout", "must be less than interval ({0}), got {1}".format(check["interval"], check["timeout"])
        )
    return check


def check_load_balancer(value, path):
    return check_fields(
        value,
        path,
        {
            "name": (lambda v, p: check_string(v, p, _LOAD_BALANCER_NAME, "a load balancer name"), None),
            "listener_port": (check_port, None),
            "rule_priority": (lambda v, p: check_int(v, p, 1, 50000), None),
        },
        required=("name", "listener_port"),
    )


def check_tags(value, path):
    tags = check_mapping(value, path)
    result = {}
    for key, tag_value in tags.items():
        key_path = "{0}.{1}".format(path, key)
        check_string(key, key_path, max_length=128)
        if key.startswith("aws:") or key.startswith(naming.TAG_PREFIX):
            raise AppDefinitionError(
                key_path, "keys starting with aws: or {0} are reserved".format(naming.TAG_PREFIX)
            )
        if not isinstance(tag_value, (str, int, float)) or isinstance(tag_value, bool):
            raise AppDefinitionError(key_path, "must be a string, got {0}".format(_type_name(tag_value)))
        if len(str(tag_value)) > 256:
            raise AppDefinitionError(key_path, "must be at most 256 characters")
        result[key] = str(tag_value)
    return result


# What playbooks/validate.yml tests on an instance of a new image (docs/image-testing.md).
IMAGE_TEST_CHECKS_MAX = 20
IMAGE_TEST_BODY_PATTERN_MAX = 512
IMAGE_TEST_COMMAND_MAX = 4096


def check_http_check(value, path):
    check = check_fields(
        value,
        path,
        {
            "path": (lambda v, p: check_string(v, p, re.compile(r"^/\S*$"), "a path starting with /", 1024), None),
            "status": (lambda v, p: check_int(v, p, 100, 599), 200),
            "body": (check_pattern, None),
        },
        required=("path",),
    )
    return check


def check_pattern(value, path):
    value = check_string(value, path, max_length=IMAGE_TEST_BODY_PATTERN_MAX)
    try:
        re.compile(value)
    except re.error as error:
        raise AppDefinitionError(path, "is not a regular expression: {0}".format(error))
    return value


def check_bounded_list(value, path, check_item):
    if not isinstance(value, list):
        raise AppDefinitionError(path, "must be a list, got {0}".format(_type_name(value)))
    if len(value) > IMAGE_TEST_CHECKS_MAX:
        raise AppDefinitionError(path, "must have at most {0} entries, got {1}".format(IMAGE_TEST_CHECKS_MAX, len(value)))
    return [check_item(item, "{0}[{1}]".format(path, index)) for index, item in enumerate(value)]


def check_image_tests(value, path):
    return check_fields(
        value,
        path,
        {
            "http_checks": (lambda v, p: check_bounded_list(v, p, check_http_check), []),
            "commands": (
                lambda v, p: check_bounded_list(v, p, lambda c, q: check_string(c, q, max_length=IMAGE_TEST_COMMAND_MAX)),
                [],
            ),
        },
    )


# Every field a definition (or a stage's overrides) may have: check and default.
FIELDS = {
    "region": (check_region, None),
    "vpc_id": (check_vpc, None),
    "subnets": (check_subnets, None),
    "security_groups": (check_security_groups, None),
    "instance_type": (check_instance_type, None),
    "instance_profile": (check_instance_profile, None),
    "user_data": (check_user_data, None),
    "root_volume": (check_root_volume, None),
    "capacity": (check_capacity, None),
    "scaling_policies": (check_scaling_policies, []),
    "port": (check_port, 80),
    "protocol": (lambda v, p: check_choice(v, p, TARGET_GROUP_PROTOCOLS), "HTTP"),
    "health_check": (check_health_check, None),
    "grace_period": (lambda v, p: check_int(v, p, 0, 7200), 300),
    "load_balancer": (check_load_balancer, None),
    "deregistration_delay": (lambda v, p: check_int(v, p, 0, 3600), 300),
    "tags": (check_tags, {}),
    "image_tests": (check_image_tests, None),
}
REQUIRED = ("region", "subnets", "security_groups", "instance_type", "capacity", "load_balancer")
# Sections merged field by field when a stage overrides part of them.
MERGED_SECTIONS = ("root_volume", "capacity", "health_check", "load_balancer", "tags")


def check_body(value, path):
    """A definition without its stages: every field checked, defaults filled in."""
    body = check_fields(value, path, FIELDS, REQUIRED)
    if body["root_volume"] is None:
        body["root_volume"] = check_root_volume({}, path + ".root_volume")
    if body["health_check"] is None:
        body["health_check"] = check_health_check({}, path + ".health_check")
    if body["image_tests"] is None:
        body["image_tests"] = check_image_tests({}, path + ".image_tests")
    if body["health_check"]["protocol"] is None:
        body["health_check"]["protocol"] = body["protocol"]
    return body


# ---------------------------------------------------------------------------------------
# Stages and their overrides.


def check_stages(value, path):
    """A list of stage names, or a mapping stage -> overrides; -> {stage: overrides}, in order."""
    if isinstance(value, list):
        value = stage_list_as_mapping(value, path)
    value = check_mapping(value, path)
    if not value:
        raise AppDefinitionError(path, "must name at least one stage")
    stages = {}
    for stage, overrides in value.items():
        try:
            naming.validate_stage(stage, option="stage")
        except naming.NamingError as error:
            raise AppDefinitionError("{0}.{1}".format(path, stage), str(error))
        overrides = check_mapping(overrides, "{0}.{1}".format(path, stage))
        check_known_keys(overrides, "{0}.{1}".format(path, stage), FIELDS)
        stages[stage] = overrides
    return stages


def stage_list_as_mapping(stages, path):
    duplicates = sorted({str(stage) for stage in stages if stages.count(stage) > 1})
    if duplicates:
        raise AppDefinitionError(path, "lists {0} more than once".format(", ".join(duplicates)))
    return dict((stage, None) for stage in stages)


def merge_overrides(base, overrides):
    """The raw definition of one stage: overrides win; listed sections merge field by field."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if key in MERGED_SECTIONS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = dict(merged[key], **value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# ---------------------------------------------------------------------------------------
# Public API.


def app_path(name, path=None):
    return path if path is not None else "{0}.{1}".format(APPS_PATH, name)


def validate_definition(definition, name, path=None):
    """The normalised definition of app `name`, or AppDefinitionError naming the field.

    The result has every field with its default, `name`, and `stages` as an ordered
    {stage: overrides} mapping; every stage's merged definition has been checked too.
    """
    path = app_path(name, path)
    try:
        naming.validate_app(name, option="app name")
    except naming.NamingError as error:
        raise AppDefinitionError(path, str(error))
    raw = check_mapping(definition, path)
    if not raw:
        raise AppDefinitionError(path, "is empty; see docs/apps.md for the fields")
    body_raw = dict((key, value) for key, value in raw.items() if key != "stages")
    normalised = check_body(body_raw, path)
    stages = check_stages(raw.get("stages", list(naming.DEFAULT_STAGES)), path + ".stages")
    for stage, overrides in stages.items():
        if overrides:
            check_body(merge_overrides(body_raw, overrides), "{0}.stages.{1}".format(path, stage))
    normalised["stages"] = stages
    normalised["name"] = name
    normalised["_raw"] = body_raw
    normalised["_path"] = path
    return normalised


def validate_apps(apps, path=APPS_PATH):
    """Every definition in an apps mapping (name -> definition), normalised."""
    apps = check_mapping(apps, path)
    return dict((name, validate_definition(definition, name, "{0}.{1}".format(path, name)))
                for name, definition in apps.items())


def find_app(apps, name, path=APPS_PATH):
    """The normalised definition of one app in an apps mapping; a clear error for an unknown app."""
    apps = check_mapping(apps, path)
    if name not in apps:
        known = ", ".join(sorted(str(key) for key in apps)) or "none"
        raise AppDefinitionError(
            "{0}.{1}".format(path, name), "unknown app '{0}' (defined apps: {1})".format(name, known)
        )
    return validate_definition(apps[name], name, "{0}.{1}".format(path, name))


def requested_definition(params, required=True):
    """The normalised definition of params["app"] from its `definition` option (None when it
    is optional and not given). Errors name a field by its place in cattle_apps
    (`apps.web.capacity`)."""
    definition = params.get("definition")
    if definition is None:
        if required:
            raise AppDefinitionError("definition", "is required: the app's definition, usually cattle_apps[app]")
        return None
    return validate_definition(given_fields(definition), params["app"])


def given_fields(definition):
    """The definition without the fields the module's argument spec filled in with None."""
    if not isinstance(definition, dict):
        return definition
    return dict((key, value) for key, value in definition.items() if value is not None)


def user_data_values(definition):
    """Every user_data string of a definition and of its stages' overrides."""
    if not isinstance(definition, dict):
        return []
    found = [definition.get("user_data")]
    stages = definition.get("stages")
    if isinstance(stages, dict):
        found.extend(overrides.get("user_data") for overrides in stages.values() if isinstance(overrides, dict))
    return [value for value in found if isinstance(value, str) and value]


def stage_definition(definition, stage):
    """What one stage of a normalised definition runs: the base with the stage's overrides.

    The result has no `stages`; it has `app` and `stage`.
    """
    stages = definition["stages"]
    path = "{0}.stages".format(definition["_path"])
    if stage not in stages:
        raise AppDefinitionError(path, "has no stage '{0}' (stages: {1})".format(stage, ", ".join(stages)))
    path = "{0}.{1}".format(path, stage)
    merged = check_body(merge_overrides(definition["_raw"], stages[stage]), path)
    merged["app"] = definition["name"]
    merged["stage"] = stage
    return merged


def field_path(definition, stage, field):
    """Where the value a stage uses for `field` is written, for messages about that value.

    `field` may be dotted (`root_volume.kms_key_id`). `apps.web.stages.prod.subnets` when
    the stage overrides it, else `apps.web.subnets`; a section the stage overrides in part
    names the stage only for the keys it overrides.
    """
    overrides = definition["stages"].get(stage) or {}
    section, key = field.partition(".")[::2]
    overridden = section in overrides and (not key or key in (overrides[section] or {}))
    where = "{0}.stages.{1}".format(definition["_path"], stage) if overridden else definition["_path"]
    return "{0}.{1}".format(where, field)


def public_definition(definition):
    """A normalised definition without private keys, for return values."""
    return dict((key, value) for key, value in definition.items() if not key.startswith("_"))
