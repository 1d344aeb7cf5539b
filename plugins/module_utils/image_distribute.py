# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Distributing an AMI: copies in other regions, tags on them, and launch permissions.

The work is split in a plan, made from reads only and checked as a whole before anything
changes, and its application. A copy keeps the source's name, which is unique per region,
so a CopyImage whose answer was lost collides on the name and the copy it made is adopted.
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import Waiter
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError, Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._images import catalog as image_utils

TAG_COPIED_FROM = naming.TAG_PREFIX + "copied-from"
ACCOUNT_ID_PATTERN = re.compile(r"^[0-9]{12}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]+$")
AWS_MANAGED_EBS_KEY = "alias/aws/ebs"
WAIT_INTERVAL = 2


class DistributionError(ValueError):
    """An input or a state that forbids the distribution; the message names it."""


# ---------------------------------------------------------------- lookups (the AWS calls are _aws/ec2.py's)


def find_own(ec2, filters):
    return image_utils.find_images(ec2, filters, ["self"])


# ---------------------------------------------------------------- inputs


def validate_inputs(params, source_region):
    """Checks that need no AWS call; returns the target regions, deduplicated, in order."""
    naming.validate_image_id(params["image_id"], "image_id")
    naming.validate_app(params["app"])
    if not source_region:
        raise DistributionError("region: the source region is not known; set region or AWS_REGION")
    regions = []
    for region in params["regions"]:
        if not isinstance(region, str) or not REGION_PATTERN.match(region):
            raise DistributionError(f"regions: '{region}' is not a region name")
        if region == source_region:
            raise DistributionError(f"regions: '{region}' is the source region; the image is already there")
        if region not in regions:
            regions.append(region)
    permissions = params.get("launch_permissions") or {}
    for user_id in permissions.get("user_ids") or []:
        if not ACCOUNT_ID_PATTERN.match(str(user_id)):
            raise DistributionError(f"launch_permissions.user_ids: '{user_id}' is not an account id (12 digits)")
    for region, key in (params.get("kms_key_ids") or {}).items():
        if not key:
            raise DistributionError(f"kms_key_ids: region '{region}' has an empty key")
        # A key for a region the image does not go to is a typo in one of the two lists.
        if region != source_region and region not in regions:
            raise DistributionError(f"kms_key_ids: region '{region}' is neither the source region ({source_region}) "
                                    f"nor one of regions ({', '.join(regions) or 'none'})")
    if params["wait_timeout"] < 1:
        raise DistributionError(f"wait_timeout: {params['wait_timeout']} must be at least 1 second")
    return regions


def is_aws_managed_key(key):
    return key is None or key == AWS_MANAGED_EBS_KEY or key.endswith(":" + AWS_MANAGED_EBS_KEY)


def copy_tags(source, source_region):
    """The tags a copy carries: the source's user tags and where it was copied from.

    Stage tags stay behind: a stage pointer is per region, and a copy holds a stage only
    once it is promoted in its own region.
    """
    tags = {
        key: value
        for key, value in source.get("tags", {}).items()
        if not key.startswith("aws:") and not key.startswith(naming.TAG_STAGE_PREFIX)
    }
    tags[TAG_COPIED_FROM] = f"{source_region}:{source['image_id']}"
    return tags


def copy_description(source, source_region):
    return f"{source_region}:{source['image_id']} copied by cattle.immutable"


def encryption_keys(ec2, source):
    """(encrypted, [key ids of encrypted snapshots, None when AWS does not say])."""
    encrypted = False
    for mapping in source.get("block_device_mappings") or []:
        if (mapping.get("ebs") or {}).get("encrypted"):
            encrypted = True
    keys = []
    for snapshot in ec2_calls.describe_snapshots(ec2, image_utils.image_snapshot_ids(source)):
        if snapshot.get("Encrypted"):
            encrypted = True
            keys.append(snapshot.get("KmsKeyId"))
    return encrypted, keys


# ---------------------------------------------------------------- plan


def find_existing_copy(ec2, source, app, source_region):
    """The copy of the source in this region, or None; fails if its name is another's."""
    fingerprint = source.get("tags", {}).get(naming.TAG_FINGERPRINT)
    candidates = []
    if fingerprint:
        candidates = find_own(ec2, image_utils.image_filters(app=app, fingerprint=fingerprint))
    if not candidates:
        named = find_own(ec2, image_utils.image_filters(name=source["name"]))
        for image in named:
            tags = image.get("tags", {})
            ours = tags.get(naming.TAG_APP) == app or (
                not tags.get(naming.TAG_APP) and image.get("description") == copy_description(source, source_region)
            )
            if not ours:
                raise DistributionError(
                    f"regions: the name '{source['name']}' is taken by {image['image_id']}, which is not a copy "
                    f"of {source['image_id']} for app '{app}'"
                )
            candidates.append(image)
    copied_from = f"{source_region}:{source['image_id']}"
    candidates.sort(key=lambda image: image.get("tags", {}).get(TAG_COPIED_FROM) == copied_from, reverse=True)
    return candidates[0] if candidates else None


def load_source(ec2, image_id, app):
    source = image_utils.find_image_by_id(ec2, image_id)
    if source is None:
        raise DistributionError(f"image_id: '{image_id}' does not exist in the source region")
    found_app = source.get("tags", {}).get(naming.TAG_APP)
    if found_app != app:
        raise DistributionError(
            f"image_id: '{image_id}' belongs to app '{found_app}', not to app '{app}' (tag {naming.TAG_APP})"
        )
    if image_utils.is_revoked(source):
        raise DistributionError(f"image_id: '{image_id}' is revoked (tag {naming.TAG_REVOKED}); it is not distributed")
    if source.get("state") != "available":
        raise DistributionError(f"image_id: '{image_id}' is {source.get('state')}, not available")
    return source


def check_encryption(params, source_region, regions, encrypted, source_keys):
    """Refuses what AWS would refuse or what would share an image nobody can launch."""
    if not encrypted:
        return
    keys = params.get("kms_key_ids") or {}
    missing = [region for region in regions if region not in keys]
    if missing:
        raise DistributionError(
            "kms_key_ids: the image is encrypted and needs a customer managed KMS key for region(s) "
            + ", ".join(missing)
        )
    if not (params.get("launch_permissions") or {}).get("user_ids"):
        return
    known_source_keys = [key for key in source_keys if key] or ([keys[source_region]] if source_region in keys else [])
    problems = []
    if not known_source_keys or any(is_aws_managed_key(key) for key in known_source_keys):
        problems.append(source_region)
    problems.extend(region for region in regions if is_aws_managed_key(keys[region]))
    if problems:
        raise DistributionError(
            "kms_key_ids: an encrypted image shared with other accounts needs a customer managed KMS key "
            f"(not {AWS_MANAGED_EBS_KEY}, and known); it is missing or AWS managed for region(s) " + ", ".join(problems)
        )


def permission_change(current, user_ids, purge):
    wanted = sorted(set(user_ids))
    added = [user_id for user_id in wanted if user_id not in current]
    removed = [user_id for user_id in current if user_id not in wanted] if purge else []
    return added, removed


def make_plan(module, params, source_region, regions):
    """Everything to do, from reads only; raises DistributionError before any change."""
    app = params["app"]
    source_ec2 = module.client("ec2", region=source_region)
    source = load_source(source_ec2, params["image_id"], app)
    encrypted, source_keys = encryption_keys(source_ec2, source)
    check_encryption(params, source_region, regions, encrypted, source_keys)
    desired_tags = copy_tags(source, source_region)
    plan = {"source": source, "encrypted": encrypted, "regions": {}}
    plan["clients"] = {source_region: source_ec2}
    for region in regions:
        ec2 = module.client("ec2", region=region)
        plan["clients"][region] = ec2
        existing = find_existing_copy(ec2, source, app, source_region)
        entry = {"existing": existing, "tags": desired_tags}
        if existing is not None:
            have = existing.get("tags", {})
            entry["missing_tags"] = compare_aws_tags(have, desired_tags, purge_tags=False)[0]
            # A copy without its app tag was made by a run that did not finish (a lost answer).
            entry["reused"] = have.get(naming.TAG_APP) == app
        plan["regions"][region] = entry
    return plan


# ---------------------------------------------------------------- apply


def wait_available(ec2, image_id, timeout, region):
    with Waiter(timeout, WAIT_INTERVAL) as waiting:
        while True:
            image = image_utils.find_image_by_id(ec2, image_id)
            state = image.get("state") if image else "missing"
            if state == "available":
                return
            if state in ("failed", "invalid", "error", "deregistered"):
                raise DistributionError(f"regions: the copy {image_id} in {region} is {state}")
            if waiting.expired():
                raise DistributionError(
                    f"wait_timeout: the copy {image_id} in {region} is still {state} after {timeout} s"
                )
            waiting.pause()


def copy_to(ec2, plan, region, params, source_region):
    """The copy's id, made now or adopted after a CopyImage whose answer was lost."""
    source = plan["source"]
    kms_key_id = (params.get("kms_key_ids") or {}).get(region) if plan["encrypted"] else None
    image_id = ec2_calls.copy_image(
        ec2, source_region, source["image_id"], source["name"], copy_description(source, source_region), kms_key_id
    )
    if image_id is None:
        existing = find_existing_copy(ec2, source, params["app"], source_region)
        if existing is None:
            raise DistributionError(f"regions: the name '{source['name']}' is taken in {region} by an image not found")
        image_id = existing["image_id"]
    return image_id


def apply_permissions(ec2, image_id, params, check_mode, planned_new=False):
    permissions = params.get("launch_permissions")
    if not permissions:
        return None
    current = [] if planned_new else ec2_calls.describe_launch_permission_user_ids(ec2, image_id)
    added, removed = permission_change(current, [str(u) for u in permissions.get("user_ids") or []], permissions["purge"])
    if (added or removed) and not check_mode:
        ec2_calls.modify_launch_permission(ec2, image_id, added, removed)
    return {"added": added, "removed": removed}


def run_module(module):
    """Refusals before the first copy say nothing was changed; later failures do not."""
    source_region = module.region
    try:
        regions = validate_inputs(module.params, source_region)
        plan = make_plan(module, module.params, source_region, regions)
    except (naming.NamingError, DistributionError) as error:
        raise Refusal(error) from error
    try:
        return distribute(plan, module.params, source_region, regions, module.check_mode)
    except (naming.NamingError, DistributionError) as error:
        raise CattleError(str(error)) from error


def distribute(plan, params, source_region, regions, check_mode):
    source = plan["source"]
    result = {"images": {source_region: source["image_id"]}, "copied": [], "reused": [], "launch_permissions": {}}
    changed = False
    for region in regions:
        ec2 = plan["clients"][region]
        entry = plan["regions"][region]
        existing = entry["existing"]
        if existing is not None and entry["reused"]:
            result["reused"].append(region)
            image_id = existing["image_id"]
            if entry["missing_tags"]:
                changed = True
                if not check_mode:
                    ec2_calls.create_tags(ec2, [image_id], entry["missing_tags"])
        else:
            changed = True
            result["copied"].append(region)
            if check_mode:
                image_id = existing["image_id"] if existing else None
            else:
                image_id = existing["image_id"] if existing else copy_to(ec2, plan, region, params, source_region)
                ec2_calls.create_tags(ec2, [image_id], entry["tags"])
        result["images"][region] = image_id
    if params["wait"] and not check_mode:
        for region in result["copied"] + result["reused"]:
            wait_available(plan["clients"][region], result["images"][region], params["wait_timeout"], region)
    if params.get("launch_permissions"):
        for region in [source_region] + regions:
            image_id = result["images"][region]
            change = apply_permissions(
                plan["clients"][region], image_id, params, check_mode, planned_new=image_id is None
            )
            result["launch_permissions"][region] = change
            if change["added"] or change["removed"]:
                changed = True
    result["encrypted"] = plan["encrypted"]
    result["changed"] = changed
    return result
