# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""image_build's imds_support: instances launched from the image require IMDSv2.

Current Packer sets an AMI's ImdsSupport itself (``imds_support = "v2.0"`` in the
template); Packer 1.6.6 cannot, so image_build sets it after the build with
ModifyImageAttribute, on every image of its result that lacks it. AWS keeps ImdsSupport
once set (there is no way back), which makes the call idempotent by nature: an image that
has it is left alone.
"""

from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls

IMDS_V2 = ec2_calls.IMDS_V2
AS_BUILT = "as-built"
CHOICES = (IMDS_V2, AS_BUILT)


def needs_change(image, wanted):
    return wanted == IMDS_V2 and image.get("imds_support") != IMDS_V2


def ensure_imds_support(ec2, image, region, wanted, check_mode):
    """Set ImdsSupport on one image (a snake_case DescribeImages entry) when it lacks it.

    Returns what was there before and after: {image_id, region, before, after, changed}.
    """
    before = image.get("imds_support") or None
    changed = needs_change(image, wanted)
    if changed and not check_mode:
        ec2_calls.set_imds_support_v2(ec2, image["image_id"])
    return {
        "image_id": image["image_id"],
        "region": region,
        "before": before,
        "after": IMDS_V2 if changed else before,
        "changed": changed,
    }
