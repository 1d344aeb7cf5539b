# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""EC2 calls for images, their snapshots and their tags: one function per call.

Each is retried (common.py) and fails as AnsibleAWSError "Failed to <what it does>".
Images and snapshots are in boto3's shape (CamelCase keys, tags as a list); the
snake_case image facts are images.py's.

"Not there" is, for an image, InvalidAMIID.NotFound or InvalidAMIID.Unavailable (an AMI
on its way out); for a snapshot, InvalidSnapshot.NotFound.
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common

IMAGE_MISSING = ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")
SNAPSHOT_MISSING = ("InvalidSnapshot.NotFound",)
DESCRIBE_IMAGES = "describe images"
IMDS_V2 = "v2.0"

ImageErrorHandler = common.error_handler(IMAGE_MISSING)
SnapshotErrorHandler = common.error_handler(SNAPSHOT_MISSING)


# ---------------------------------------------------------------------------------------
# Images


def describe_images(ec2, request, purpose=DESCRIBE_IMAGES):
    """The images a DescribeImages request (Filters, Owners, IncludeDeprecated) matches; [] for none.

    The collection's one DescribeImages call. A failure reads "Failed to <purpose>", so
    it says what the lookup was for.
    """
    # Not amazon.aws's ec2.describe_images: every failure of it reads "Failed to describe images".
    return ImageErrorHandler.common_error_handler(purpose)(_describe_images)(ec2, request)


@common.RETRY
def _describe_images(ec2, request):
    # Without MaxResults, DescribeImages answers every match at once: there is no page to follow.
    return ec2.describe_images(**request)["Images"]


def describe_images_by_id(ec2, image_ids, include_deprecated=False, purpose=DESCRIBE_IMAGES):
    """The images among `image_ids` that exist, in any order; [] for none.

    An image-id filter rather than ImageIds: one unknown id must not fail the lookup of
    the others. include_deprecated: AWS leaves out deprecated AMIs of other owners without it.
    """
    request = {"Filters": [{"Name": "image-id", "Values": list(image_ids)}]}
    if include_deprecated:
        request["IncludeDeprecated"] = True
    return describe_images(ec2, request, purpose)


def describe_image(ec2, image_id):
    """The image with this id, or None when there is none."""
    images = describe_images_by_id(ec2, [image_id], purpose="describe the image")
    return images[0] if images else None


@ImageErrorHandler.common_error_handler("copy the image")
@common.RETRY
def copy_image(ec2, source_region, source_image_id, name, description, kms_key_id=None):
    """The new AMI's id, or None when the name is already taken in the region.

    With kms_key_id the copy is encrypted with that key.
    """
    request = {"SourceRegion": source_region, "SourceImageId": source_image_id, "Name": name,
               "Description": description}
    if kms_key_id:
        request.update(Encrypted=True, KmsKeyId=kms_key_id)
    try:
        return ec2.copy_image(**request)["ImageId"]
    except is_boto3_error_code("InvalidAMIName.Duplicate"):
        return None


@ImageErrorHandler.deletion_error_handler("deregister the image")
@common.RETRY
def deregister_image(ec2, image_id):
    """True when deregistered now, False when it was already gone."""
    ec2.deregister_image(ImageId=image_id)
    return True


@ImageErrorHandler.common_error_handler("deprecate the image")
@common.RETRY
def enable_image_deprecation(ec2, image_id, deprecation_time):
    """Deprecate the image at deprecation_time(), which is called on each attempt: a retry
    after a backoff must not send a time that has passed meanwhile."""
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=deprecation_time())


@ImageErrorHandler.common_error_handler("read the image's launch permissions")
@common.RETRY
def describe_launch_permission_user_ids(ec2, image_id):
    """The account ids the image is shared with, sorted."""
    answer = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
    return sorted(p["UserId"] for p in answer.get("LaunchPermissions", []) if p.get("UserId"))


@ImageErrorHandler.common_error_handler("change the image's launch permissions")
@common.RETRY
def modify_launch_permission(ec2, image_id, add=(), remove=()):
    """Share the image with the accounts `add`, and stop sharing it with `remove`."""
    permission = {}
    if add:
        permission["Add"] = [{"UserId": user_id} for user_id in add]
    if remove:
        permission["Remove"] = [{"UserId": user_id} for user_id in remove]
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission=permission)


@ImageErrorHandler.common_error_handler("set ImdsSupport v2.0 on the image")
@common.RETRY_UNTIL_NEW_IMAGE_VISIBLE
def set_imds_support_v2(ec2, image_id):
    """Instances launched from the image will require IMDSv2 (AWS keeps this once set)."""
    ec2.modify_image_attribute(ImageId=image_id, ImdsSupport={"Value": IMDS_V2})


# ---------------------------------------------------------------------------------------
# Snapshots


@SnapshotErrorHandler.common_error_handler("describe the image's snapshots")
@common.RETRY
def describe_snapshots(ec2, snapshot_ids):
    """The snapshots with these ids; [] when there are no ids."""
    if not snapshot_ids:
        return []
    return ec2.describe_snapshots(SnapshotIds=list(snapshot_ids))["Snapshots"]


@SnapshotErrorHandler.deletion_error_handler("delete the snapshot")
@common.RETRY_WHILE_SNAPSHOT_IN_USE
def delete_snapshot(ec2, snapshot_id):
    """True when deleted now, False when it was already gone (which counts as deleted)."""
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    return True


# ---------------------------------------------------------------------------------------
# Tags of images and snapshots


@ImageErrorHandler.common_error_handler("tag the image")
def create_tags(ec2, resource_ids, tags, just_created=False):
    """Set `tags` (a dict) on the images and snapshots `resource_ids`.

    just_created: they were created a moment ago, so "not found" is retried too.
    """
    retry = common.RETRY_UNTIL_NEW_IMAGE_VISIBLE if just_created else common.RETRY
    retry(_create_tags)(ec2, resource_ids, tags)


def _create_tags(ec2, resource_ids, tags):
    ec2.create_tags(Resources=list(resource_ids), Tags=ansible_dict_to_boto3_tag_list(tags))


@ImageErrorHandler.common_error_handler("remove tags from the image")
@common.RETRY
def delete_tags(ec2, resource_ids, keys):
    """Remove the tags with these keys, whatever their values, from `resource_ids`."""
    ec2.delete_tags(Resources=list(resource_ids), Tags=[{"Key": key} for key in keys])
