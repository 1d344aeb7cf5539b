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

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

IMDS_V2 = "v2.0"
AS_BUILT = "as-built"
CHOICES = (IMDS_V2, AS_BUILT)


class ImdsErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code(["InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"])


# A new AMI may not be visible to every endpoint at once: "not found" is retried too.
@ImdsErrorHandler.common_error_handler("set ImdsSupport v2.0 on the image")
@AWSRetry.jittered_backoff(catch_extra_error_codes=["ThrottlingException", "InvalidAMIID.NotFound"])
def set_imds_v2(ec2, image_id):
    ec2.modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": IMDS_V2})


def needs_change(image, wanted):
    return wanted == IMDS_V2 and image.get("imds_support") != IMDS_V2


def ensure_imds_support(ec2, image, region, wanted, check_mode):
    """Set ImdsSupport on one image (a snake_case DescribeImages entry) when it lacks it.

    Returns what was there before and after: {image_id, region, before, after, changed}.
    """
    before = image.get("imds_support") or None
    changed = needs_change(image, wanted)
    if changed and not check_mode:
        set_imds_v2(ec2, image["image_id"])
    return {
        "image_id": image["image_id"],
        "region": region,
        "before": before,
        "after": IMDS_V2 if changed else before,
        "changed": changed,
    }
