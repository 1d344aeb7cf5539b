# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Promoting an AMI through the stages of an app, and revoking one.

A stage is a pointer: the SSM parameter /<prefix>/<app>/<stage> whose value is the AMI
id, plus the tag cattle:stage:<stage> on the AMI. Every write of a pointer carries a
compact JSON record (who, when, what it named before, forced or not, why) in the
parameter's Description, so the parameter history is the promotion history.

Every gate is evaluated before the first write: a refusal (`Refusal`) leaves AWS as it
was. A failure after a write says what had already been done.
"""

import getpass
import json
import time
from datetime import datetime, timedelta, timezone

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ssm as ssm_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._common.journal import Journal
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import iso8601, utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import Waiter
from ansible_collections.cattle.immutable.plugins.module_utils._images import catalog as image_utils

IMAGE_AVAILABLE = "available"
VALIDATION_PASSED = "passed"
POINTER_DATA_TYPE = "aws:ec2:image"
DESCRIPTION_MAX = 1024
TAG_VALUE_MAX = 256
BY_MAX = 128
ACTION_PROMOTE = "promote"
ACTION_REVERT = "revert"
# How far ahead of our clock DeprecateAt must be: the request's way to AWS and clock skew.
DEPRECATION_LEAD = timedelta(seconds=30)


# ---------------------------------------------------------------------------------------
# AWS calls, made by _aws/ec2.py and _aws/ssm.py; the SSM ones' failures name the stage pointer.


def deprecate_image_soon(ec2, image_id, clock=utc_now):
    """Deprecate the image from the earliest time AWS accepts, as of each attempt's clock()."""
    ec2_calls.enable_image_deprecation(ec2, image_id, lambda: earliest_deprecation_time(clock()))


def write_parameter(ssm, name, image_id, description):
    """The version of the stage pointer `name` that names `image_id` (`description` its record)."""
    return ssm_calls.put_parameter(ssm, name, image_id, description, data_type=POINTER_DATA_TYPE,
                                   purpose="write the stage pointer")


def parameter_history(ssm, name):
    """Every version of the stage pointer `name`; [] when it was never written."""
    return ssm_calls.get_parameter_history(ssm, name, purpose="read the stage pointer history")


def parameters_under(ssm, path):
    """The parameters directly under `path`, the app's stage pointers among them."""
    return ssm_calls.get_parameters_by_path(ssm, path, purpose="list the stage pointers of the app")


# ---------------------------------------------------------------------------------------
# Time, waits and small helpers.


def poll(check, timeout, sleep=time.sleep, clock=time.monotonic):
    """check()'s first truthy result, or its last result once `timeout` seconds have passed."""
    with Waiter(timeout, 0.5, backoff=2, max_interval=4.0, sleep=sleep, clock=clock) as waiting:
        while True:
            result = check()
            if result or waiting.expired():
                return result
            waiting.pause()


def wait_for_image(ec2, image_id, timeout):
    """The AMI, or None when it is still not visible after `timeout` seconds.

    DescribeImages is eventually consistent: an AMI created a moment ago may not be
    listed yet, so "not found" is only believed after a short bounded wait.
    """
    found = poll(lambda: ec2_calls.describe_images_by_id(ec2, [image_id]), timeout)
    return found[0] if found else None


def earliest_deprecation_time(now):
    """The first whole minute at least DEPRECATION_LEAD after `now`.

    EnableImageDeprecation refuses a time in the past and rounds seconds to the nearest
    minute, so "now", or even 20 s ahead, can round down into the past. A whole minute
    is not rounded.
    """
    earliest = now + DEPRECATION_LEAD
    minute = earliest.replace(second=0, microsecond=0)
    return minute if minute == earliest else minute + timedelta(minutes=1)


def image_tags(image):
    return boto3_tag_list_to_ansible_dict(image.get("Tags", []))


def stage_of_parameter(name):
    return name.rsplit("/", 1)[-1]


def app_parameter_path(app, prefix):
    return "/{0}/{1}".format(naming.validate_prefix(prefix), naming.validate_app(app))


def stage_before(stage, stages):
    position = list(stages).index(stage)
    return stages[position - 1] if position > 0 else None


def pointer_summary(name, version):
    return {"name": name, "version": version}


# ---------------------------------------------------------------------------------------
# Validating the request (no AWS call).


def validate_request(params):
    """Raise naming.NamingError or Refusal for a request that cannot be right."""
    naming.validate_app(params["app"])
    naming.validate_image_id(params["image_id"], option="image_id")
    naming.validate_prefix(params["prefix"])
    validate_stages(params["stages"])
    for option in ("min_lynis_score", "history_size", "wait_timeout"):
        if params[option] < 0:
            raise Refusal(f"{option} must not be negative, got {params[option]}")
    if params["state"] == "present":
        validate_target_stage(params["stage"], params["stages"])


def validate_stages(stages):
    if not stages:
        raise Refusal("stages must name at least one stage")
    for stage in stages:
        naming.validate_stage(stage, option="stages")
    duplicates = sorted({stage for stage in stages if stages.count(stage) > 1})
    if duplicates:
        raise Refusal(f"stages lists {', '.join(duplicates)} more than once")


def validate_target_stage(stage, stages):
    naming.validate_stage(stage)
    if stage not in stages:
        raise Refusal(f"stage '{stage}' is not one of stages [{', '.join(stages)}]")


# ---------------------------------------------------------------------------------------
# History records in the parameter Description.


def history_record(action, by, at, previous, forced, reason, untested=False):
    """Compact JSON of one pointer write, cut to fit the 1024-character Description.

    `untested` (only written when true) marks a promotion past the first stage of an
    image that had not passed its test from outside (require_tested=false).
    """
    record = {
        "action": action,
        "by": (by or "")[:BY_MAX],
        "at": at,
        "previous": previous,
        "forced": bool(forced),
        "reason": reason,
    }
    if untested:
        record["untested"] = True
    if len(_compact_json(record)) > DESCRIPTION_MAX:
        record["reason"] = _longest_fitting_reason(record)
    return _compact_json(record)


def _longest_fitting_reason(record):
    """The reason cut (with "...") to the longest prefix whose record fits; JSON escapes count."""
    reason = record["reason"] or ""
    shortest, longest = 0, len(reason)
    while shortest < longest:
        middle = (shortest + longest + 1) // 2
        if len(_compact_json(dict(record, reason=reason[:middle] + "..."))) <= DESCRIPTION_MAX:
            shortest = middle
        else:
            longest = middle - 1
    return reason[:shortest] + "..." if shortest else None


def _compact_json(record):
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def parse_record(description):
    """Our record from a Description; {} for a write made by someone else."""
    try:
        record = json.loads(description or "")
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def history_entry(parameter):
    record = parse_record(parameter.get("Description"))
    modified = parameter.get("LastModifiedDate")
    return {
        "version": parameter.get("Version"),
        "image_id": parameter.get("Value"),
        "action": record.get("action"),
        "by": record.get("by"),
        "at": record.get("at") or (modified.isoformat() if modified else None),
        "previous": record.get("previous"),
        "forced": bool(record.get("forced", False)),
        "untested": bool(record.get("untested", False)),
        "reason": record.get("reason"),
    }


def recent_history(ssm, name, size):
    """The last `size` writes of a pointer, newest first."""
    if size == 0:
        return []
    versions = sorted(parameter_history(ssm, name), key=lambda parameter: parameter.get("Version", 0))
    return [history_entry(parameter) for parameter in reversed(versions[-size:])]


# ---------------------------------------------------------------------------------------
# Verified pointer writes (the run's Journal reports what was done when a later write fails).


def write_pointer_verified(ssm, name, image_id, description, timeout):
    """Put the pointer, then read it back until our version (or a later one) is visible."""
    version = write_parameter(ssm, name, image_id, description)
    current = poll(lambda: _pointer_at_least(ssm, name, version), timeout)
    if not current:
        raise AnsibleAWSError(message=f"wrote {name} version {version} but could not read it back within {timeout} s")
    if current["Value"] != image_id:
        raise AnsibleAWSError(
            message=f"{name} names {current['Value']} at version {current['Version']}: another write came after ours "
            f"(version {version}, {image_id})"
        )
    return version


def _pointer_at_least(ssm, name, version):
    parameter = ssm_calls.get_parameter(ssm, name)
    if parameter and parameter.get("Version", 0) >= version:
        return parameter
    return None


# ---------------------------------------------------------------------------------------
# Promotion.


def promotion_refusals(image, tags, params, skipped_stage):
    """Why the image may not be promoted, as short reasons; empty when every gate passes."""
    reasons = app_refusals(tags, params["app"])
    if image.get("State") != IMAGE_AVAILABLE:
        reasons.append(f"its state is '{image.get('State')}', not '{IMAGE_AVAILABLE}'")
    if naming.TAG_REVOKED in tags:
        reasons.append(f"it was revoked ({naming.TAG_REVOKED}: {tags[naming.TAG_REVOKED]})")
    if params["require_validation"]:
        reasons.extend(validation_refusals(tags, params["min_lynis_score"]))
    if untested_past_first_stage(tags, params):
        reasons.append(
            f"it has not passed its test from outside ({naming.TAG_TESTED}: {tags.get(naming.TAG_TESTED) or 'missing'}), "
            f"which '{params['stage']}' requires: run playbooks/validate.yml, or require_tested=false"
        )
    if skipped_stage and not params["force"]:
        reasons.append(
            f"it has not been promoted to '{skipped_stage}' (no tag {naming.stage_tag_key(skipped_stage)}), "
            f"which comes before '{params['stage']}'; force=true skips a stage"
        )
    return reasons


def untested_past_first_stage(tags, params, required=True):
    """Whether this promotion goes past the first stage with an image whose test did not pass.

    With required=True only when require_tested asks for the test; else whatever it says.
    """
    if params["stages"].index(params["stage"]) == 0 or (required and not params["require_tested"]):
        return False
    return (tags.get(naming.TAG_TESTED) or "").split(" ")[0] != VALIDATION_PASSED


def app_refusals(tags, app):
    owner = tags.get(naming.TAG_APP)
    if owner == app:
        return []
    if owner is None:
        return [f"it has no {naming.TAG_APP} tag, so it is not an image of app '{app}'"]
    return [f"it belongs to app '{owner}' ({naming.TAG_APP}), not '{app}'"]


def validation_refusals(tags, min_score):
    verdict = tags.get(naming.TAG_VALIDATION)
    if verdict != VALIDATION_PASSED:
        return [f"its validation did not pass ({naming.TAG_VALIDATION}: {verdict or 'missing'})"]
    raw_score = tags.get(naming.TAG_LYNIS_SCORE)
    try:
        score = float(raw_score)
    except (TypeError, ValueError):
        return [f"it has no Lynis score ({naming.TAG_LYNIS_SCORE}: {raw_score or 'missing'})"]
    if score < min_score:
        return [f"its Lynis score {raw_score} is below min_lynis_score {min_score}"]
    return []


def find_image_or_refuse(ec2, image_id, timeout):
    image = wait_for_image(ec2, image_id, timeout)
    if image is None:
        raise Refusal(f"image_id {image_id}: no such AMI (not visible after waiting {timeout} s)")
    return image


def promote(ec2, ssm, params, check_mode):
    image_id, stage = params["image_id"], params["stage"]
    image = find_image_or_refuse(ec2, image_id, params["wait_timeout"])
    tags = image_tags(image)
    previous_stage = stage_before(stage, params["stages"])
    skipped = previous_stage if previous_stage and naming.stage_tag_key(previous_stage) not in tags else None
    reasons = promotion_refusals(image, tags, params, skipped)
    if reasons:
        raise Refusal(f"image_id {image_id} cannot be promoted to '{stage}': {'; '.join(reasons)}")
    pointer = image_utils.read_stage_pointer(ssm, params["app"], stage, params["prefix"])
    writes = Journal(check_mode, explain_failures=True)
    untested = untested_past_first_stage(tags, params, required=False)
    version = apply_promotion(ec2, ssm, params, pointer, tags, writes, forced=skipped is not None, untested=untested)
    return {
        "changed": writes.changed,
        "image_id": image_id,
        "stage": stage,
        "previous": pointer["image_id"] if pointer["image_id"] != image_id else previous_of_current(ssm, pointer),
        "forced": skipped is not None,
        "untested": untested,
        "skipped_stage": skipped,
        "parameter": pointer_summary(pointer["name"], version),
        "actions": writes.actions,
        "history": recent_history(ssm, pointer["name"], params["history_size"]),
    }


def apply_promotion(ec2, ssm, params, pointer, tags, writes, forced, untested=False):
    """Write what is missing: the pointer first (the tag is the evidence it happened), then the tag."""
    image_id, stage, name = params["image_id"], params["stage"], pointer["name"]
    now = iso8601(utc_now())
    version = pointer["version"]
    if pointer["image_id"] != image_id:
        record = history_record(ACTION_PROMOTE, params["promoted_by"], now, pointer["image_id"], forced,
                                params["reason"], untested)
        versions = []
        writes.run(
            f"point {name} at {image_id} (was {pointer['image_id'] or 'unset'})",
            lambda: versions.append(write_pointer_verified(ssm, name, image_id, record, params["wait_timeout"])),
        )
        version = versions[0] if versions else version
    stage_tag = naming.stage_tag_key(stage)
    if pointer["image_id"] != image_id or stage_tag not in tags:
        writes.run(f"tag {image_id} {stage_tag}={now}", ec2_calls.create_tags, ec2, [image_id], {stage_tag: now})
    return version


def previous_of_current(ssm, pointer):
    """For a pointer that already names the image: what it named before (from our record)."""
    if pointer["version"] is None:
        return None
    newest = recent_history(ssm, pointer["name"], 1)
    return newest[0]["previous"] if newest else None


# ---------------------------------------------------------------------------------------
# Revocation.


def revoke(ec2, ssm, params, check_mode):
    image_id = params["image_id"]
    image = find_image_or_refuse(ec2, image_id, params["wait_timeout"])
    tags = image_tags(image)
    reasons = app_refusals(tags, params["app"])
    if reasons:
        raise Refusal(f"image_id {image_id} cannot be revoked for app '{params['app']}': {reasons[0]}")
    pointers = pointers_naming(ssm, image_id, params["app"], params["prefix"])
    moves, stranded, good = plan_moves(ec2, ssm, pointers, image_id, params["app"])
    if stranded and not params["force"]:
        raise Refusal(
            f"image_id {image_id} cannot be revoked: no earlier good image to move "
            f"{', '.join(entry['parameter']['name'] for entry in stranded)} back to "
            "(every earlier value is revoked, gone or not available); force=true revokes it anyway and "
            "leaves those pointers naming it"
        )
    writes = Journal(check_mode, explain_failures=True)
    revoked_tag = apply_revocation(ec2, ssm, params, image, tags, moves, good, writes)
    return {
        "changed": writes.changed,
        "image_id": image_id,
        "revoked": revoked_tag,
        "moved": moves,
        "stranded": stranded,
        "actions": writes.actions,
    }


def pointers_naming(ssm, image_id, app, prefix):
    """The stage pointers of the app whose value is this image."""
    return [
        parameter
        for parameter in parameters_under(ssm, app_parameter_path(app, prefix))
        if parameter.get("Value") == image_id and _is_stage_name(stage_of_parameter(parameter["Name"]))
    ]


def _is_stage_name(text):
    try:
        naming.validate_stage(text)
    except naming.NamingError:
        return False
    return True


def plan_moves(ec2, ssm, pointers, image_id, app):
    """For each pointer, the most recent earlier value that is still a good image of the app."""
    candidates_by_name = {p["Name"]: earlier_values(ssm, p["Name"], image_id) for p in pointers}
    all_candidates = sorted({value for values in candidates_by_name.values() for value in values})
    good = good_images(ec2, all_candidates, app)
    moves, stranded = [], []
    for parameter in pointers:
        name = parameter["Name"]
        target = next((value for value in candidates_by_name[name] if value in good), None)
        entry = {"stage": stage_of_parameter(name), "parameter": pointer_summary(name, parameter.get("Version"))}
        if target is None:
            stranded.append(entry)
        else:
            moves.append(dict(entry, **{"from": image_id, "to": target}))
    return moves, stranded, good


def earlier_values(ssm, name, image_id):
    """Distinct values the pointer held, newest first, leaving out the revoked image."""
    versions = sorted(parameter_history(ssm, name), key=lambda parameter: parameter.get("Version", 0), reverse=True)
    values = []
    for parameter in versions:
        value = parameter.get("Value")
        if value != image_id and value not in values:
            values.append(value)
    return values


def good_images(ec2, image_ids, app):
    """{image_id: tags} of those ids that exist, are available, belong to app and are not revoked."""
    valid_ids = [image_id for image_id in image_ids if naming.AMI_ID_PATTERN.match(image_id or "")]
    if not valid_ids:
        return {}
    good = {}
    for image in ec2_calls.describe_images_by_id(ec2, valid_ids):
        tags = image_tags(image)
        if image.get("State") == IMAGE_AVAILABLE and tags.get(naming.TAG_APP) == app and naming.TAG_REVOKED not in tags:
            good[image["ImageId"]] = tags
    return good


def apply_revocation(ec2, ssm, params, image, tags, moves, good, writes):
    """Revoked tag first (no promotion takes it from then on), pointers back, stage tags off, deprecated."""
    image_id = image["ImageId"]
    now = utc_now()
    revoked_tag = tags.get(naming.TAG_REVOKED) or f"{iso8601(now)} {params['reason']}"[:TAG_VALUE_MAX]
    if naming.TAG_REVOKED not in tags:
        writes.run(f"tag {image_id} {naming.TAG_REVOKED}", ec2_calls.create_tags, ec2, [image_id],
                   {naming.TAG_REVOKED: revoked_tag})
    for move in moves:
        move_pointer_back(ec2, ssm, params, move, good[move["to"]], iso8601(now), writes)
    stage_tags = sorted(key for key in tags if key.startswith(naming.TAG_STAGE_PREFIX))
    if stage_tags:
        writes.run(f"remove {', '.join(stage_tags)} from {image_id}", ec2_calls.delete_tags, ec2, [image_id], stage_tags)
    deprecate_as_soon_as_allowed(ec2, image, writes)
    return revoked_tag


def deprecate_as_soon_as_allowed(ec2, image, writes):
    """Deprecate the image as soon as AWS allows, unless its deprecation time is already that soon."""
    if deprecated_by(image, earliest_deprecation_time(utc_now())):
        return
    lead = int(DEPRECATION_LEAD.total_seconds())
    description = f"deprecate {image['ImageId']} from the first whole minute at least {lead} s away"
    writes.run(description, deprecate_image_soon, ec2, image["ImageId"])


def move_pointer_back(ec2, ssm, params, move, target_tags, at, writes):
    name, target = move["parameter"]["name"], move["to"]
    reason = f"revoked {move['from']}: {params['reason']}"
    record = history_record(ACTION_REVERT, params["promoted_by"], at, move["from"], params["force"], reason)
    versions = []
    writes.run(
        f"point {name} back at {target} (was {move['from']})",
        lambda: versions.append(write_pointer_verified(ssm, name, target, record, params["wait_timeout"])),
    )
    if versions:
        move["parameter"]["version"] = versions[0]
    stage_tag = naming.stage_tag_key(move["stage"])
    if stage_tag not in target_tags:
        writes.run(f"tag {target} {stage_tag}={at}", ec2_calls.create_tags, ec2, [target], {stage_tag: at})


def deprecated_by(image, when):
    """Whether the image's deprecation time is set and not later than `when`."""
    text = image.get("DeprecationTime")
    if not text:
        return False
    try:
        deprecation = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return False
    return deprecation <= when


# ---------------------------------------------------------------------------------------
# The module's entry point.


def current_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_module(module):
    """Promote or revoke; every gate and bad name refused before the first write."""
    params = dict(module.params)
    params["promoted_by"] = params["promoted_by"] or current_user()
    try:
        validate_request(params)
        if params["state"] == "revoked":
            return revoke(module.client("ec2"), module.client("ssm"), params, module.check_mode)
        return promote(module.client("ec2"), module.client("ssm"), params, module.check_mode)
    except naming.NamingError as error:
        raise Refusal(error) from error
