# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pruning the AMIs of an app by retention, never one that is in use.

The plan is pure: every image of the app is kept for every reason that applies (a stage
pointer names it, something uses it, it is among the newest `keep` available and
unrevoked images, it is younger than `keep_days` days, it is still pending); the rest
go. Carrying out the plan deregisters the images, waits (bounded) until AWS no longer
lists them, then deletes their EBS snapshots, except a snapshot a kept image shares.
"""

import time
from datetime import timedelta

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError, Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import Waiter
from ansible_collections.cattle.immutable.plugins.module_utils._images import catalog as image_utils
from ansible_collections.cattle.immutable.plugins.module_utils._images import usage as usage_utils

IMAGE_AVAILABLE = "available"
IMAGE_PENDING = "pending"
WAIT_POLL_SECONDS = 2
DESCRIBE_IMAGES_FILTER_MAX = 200


class PruneInputError(Refusal):
    """A bad option; raised before any AWS call, the message names the option."""


class PruneError(CattleError):
    """Pruning stopped part way; `done` says what had already been deleted."""

    def __init__(self, message, done):
        super(PruneError, self).__init__(message, **done)
        self.done = done


# ---------------------------------------------------------------------------------------
# Pure logic


def validate_options(params):
    """Checks every option before any AWS call; raises PruneInputError naming the option."""
    try:
        naming.validate_app(params["app"])
        naming.validate_prefix(params["prefix"])
    except naming.NamingError as e:
        raise PruneInputError(str(e))
    if params["keep"] < 1:
        raise PruneInputError(
            "keep must be at least 1 (got {0}): pruning never removes every image of an app".format(params["keep"])
        )
    if params["keep_days"] < 0:
        raise PruneInputError("keep_days must be 0 or more (got {0})".format(params["keep_days"]))
    if params["wait_timeout"] < 0:
        raise PruneInputError("wait_timeout must be 0 or more (got {0})".format(params["wait_timeout"]))


def newest_kept_ids(images, keep):
    """Ids of the newest `keep` images that can still be launched: available, not revoked."""
    candidates = [
        image for image in image_utils.newest_first(images)
        if image.get("state") == IMAGE_AVAILABLE and not image_utils.is_revoked(image)
    ]
    return {image["image_id"] for image in candidates[:keep]}


def is_younger_than(image, days, now):
    if days == 0:
        return False
    return image_utils.parse_aws_time(image["creation_date"]) > now - timedelta(days=days)


def keep_reasons(image, usage, newest_ids, keep, keep_days, now):
    """Every reason to keep the image, most important first; empty means it can go."""
    reasons = usage_utils.usage_reasons(usage) if usage else []
    if image["image_id"] in newest_ids:
        reasons.append("newest {0}".format(keep))
    if is_younger_than(image, keep_days, now):
        reasons.append("younger than {0} days".format(keep_days))
    if image.get("state") == IMAGE_PENDING:
        reasons.append("still pending")
    return reasons


def delete_reason(image, keep, keep_days):
    parts = []
    if image_utils.is_revoked(image):
        parts.append("revoked")
    elif image.get("state") != IMAGE_AVAILABLE:
        parts.append("state {0}".format(image.get("state")))
    else:
        parts.append("not among the newest {0}".format(keep))
    if keep_days:
        parts.append("older than {0} days".format(keep_days))
    parts.append("not in use")
    return ", ".join(parts)


def plan(images, usage, keep, keep_days, now):
    """(to delete, kept) for the images of one app, newest first.

    usage: {image id: usage dict} from usage.find_usage.
    """
    newest_ids = newest_kept_ids(images, keep)
    to_delete, kept = [], []
    for image in image_utils.newest_first(images):
        reasons = keep_reasons(image, usage.get(image["image_id"]), newest_ids, keep, keep_days, now)
        if reasons:
            kept.append({"image_id": image["image_id"], "name": image.get("name"), "reason": "; ".join(reasons)})
            continue
        to_delete.append(
            {
                "image_id": image["image_id"],
                "name": image.get("name"),
                "creation_date": image.get("creation_date"),
                "snapshots": image_utils.image_snapshot_ids(image),
                "reason": delete_reason(image, keep, keep_days),
            }
        )
    return to_delete, kept


def shared_snapshots(images, kept):
    """Snapshots that kept images use too: they must stay."""
    kept_ids = {item["image_id"] for item in kept}
    shared = set()
    for image in images:
        if image["image_id"] in kept_ids:
            shared.update(image_utils.image_snapshot_ids(image))
    return shared


def without_shared_snapshots(to_delete, shared):
    for item in to_delete:
        item["snapshots"] = [snapshot for snapshot in item["snapshots"] if snapshot not in shared]
    return to_delete


def summary(app, to_delete, kept, check_mode):
    snapshot_count = sum(len(item["snapshots"]) for item in to_delete)
    if not to_delete:
        return "{0}: nothing to prune, kept {1} image(s)".format(app, len(kept))
    verb = "would delete" if check_mode else "deleted"
    return "{0}: {1} {2} image(s) and {3} snapshot(s): {4}; kept {5}".format(
        app, verb, len(to_delete), snapshot_count, ", ".join(item["image_id"] for item in to_delete), len(kept)
    )


# ---------------------------------------------------------------------------------------
# Carrying it out


def wait_until_deregistered(ec2, image_ids, timeout, sleep=time.sleep, clock=time.monotonic):
    """Polls until AWS lists none of the images; raises PruneError after `timeout` seconds."""
    with Waiter(timeout, WAIT_POLL_SECONDS, sleep=sleep, clock=clock) as waiting:
        while True:
            remaining = []
            for batch in usage_utils.chunks(image_ids, DESCRIBE_IMAGES_FILTER_MAX):
                remaining += images_still_listed(ec2, batch)
            if not remaining:
                return
            if waiting.expired():
                raise PruneError(
                    "images {0} still listed {1} s after deregistration; their snapshots were not deleted".format(
                        ", ".join(remaining), timeout
                    ),
                    done={"deregistered": list(image_ids), "snapshots_deleted": []},
                )
            waiting.pause()


def images_still_listed(ec2, image_ids):
    """The ids among `image_ids` that AWS still lists, deprecated or not."""
    found = ec2_calls.describe_images_by_id(ec2, image_ids, include_deprecated=True,
                                            purpose="check that deregistered images are gone")
    return [image["ImageId"] for image in found]


def carry_out(ec2, to_delete, wait_timeout):
    """Deregisters, waits, deletes snapshots. Returns nothing; raises PruneError on failure."""
    done = {"deregistered": [], "snapshots_deleted": []}
    try:
        for item in to_delete:
            ec2_calls.deregister_image(ec2, item["image_id"])
            done["deregistered"].append(item["image_id"])
        wait_until_deregistered(ec2, done["deregistered"], wait_timeout)
        for item in to_delete:
            for snapshot_id in item["snapshots"]:
                ec2_calls.delete_snapshot(ec2, snapshot_id)
                done["snapshots_deleted"].append(snapshot_id)
    except AnsibleAWSError as e:
        raise PruneError("{0} ({1})".format(e.message, progress_text(done)), done)


def progress_text(done):
    if not done["deregistered"]:
        return "nothing was changed"
    return "already deregistered: {0}; snapshots deleted: {1}".format(
        ", ".join(done["deregistered"]), ", ".join(done["snapshots_deleted"]) or "none"
    )


def prune(clients, params, check_mode, now=None):
    """Plans and (unless check_mode) carries out one prune; returns the module's result."""
    now = now or utc_now()
    app = params["app"]
    found = image_utils.find_images(clients["ec2"], naming.app_tag_filter(app), ["self"], include_deprecated=True)
    usage = usage_utils.find_usage(clients, [image["image_id"] for image in found], [app], params["prefix"])
    to_delete, kept = plan(found, usage, params["keep"], params["keep_days"], now)
    without_shared_snapshots(to_delete, shared_snapshots(found, kept))
    if to_delete and not check_mode:
        carry_out(clients["ec2"], to_delete, params["wait_timeout"])
    return {
        "changed": bool(to_delete),
        "deleted": to_delete,
        "kept": kept,
        "msg": summary(app, to_delete, kept, check_mode),
    }


def run_module(module):
    validate_options(module.params)
    clients = {name: module.client(name) for name in ("ec2", "autoscaling", "ssm")}
    return prune(clients, module.params, module.check_mode)
