# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""EC2 calls: images, their snapshots and their tags; the subnets, security groups,
instance type offerings and launch templates of a fleet; instances. One function per call.

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

LAUNCH_TEMPLATE_EXISTS = "InvalidLaunchTemplateName.AlreadyExistsException"
LAUNCH_TEMPLATE_MISSING = ("InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound",
                           "InvalidLaunchTemplateId.Malformed")

ErrorHandler = common.error_handler()
InstanceErrorHandler = common.error_handler(["InvalidInstanceID.NotFound"])
ImageErrorHandler = common.error_handler(IMAGE_MISSING)
SnapshotErrorHandler = common.error_handler(SNAPSHOT_MISSING)
LaunchTemplateErrorHandler = common.error_handler(LAUNCH_TEMPLATE_MISSING)


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
def copy_image(ec2, source_region, source_image_id, name, description, kms_key_id=None):
    """The new AMI's id, or None when the name is already taken in the region.

    With kms_key_id the copy is encrypted with that key.
    """
    request = {"SourceRegion": source_region, "SourceImageId": source_image_id, "Name": name,
               "Description": description}
    if kms_key_id:
        request.update(Encrypted=True, KmsKeyId=kms_key_id)
    return _copy_image(ec2, common.with_client_token(request))


@common.RETRY
def _copy_image(ec2, request):
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


# ---------------------------------------------------------------------------------------
# What a fleet launches into: subnets, security groups, instance types, launch templates


# Subnets and security groups by filter, not by id: an unknown id is left out of the
# answer instead of failing the call, so a refusal can name every missing one.
@ErrorHandler.common_error_handler("describe the subnets")
@common.RETRY
def describe_subnets(ec2, subnet_ids):
    return ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": list(subnet_ids)}])["Subnets"]


@ErrorHandler.common_error_handler("describe the security groups")
@common.RETRY
def describe_security_groups(ec2, group_ids):
    return ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": list(group_ids)}])["SecurityGroups"]


@ErrorHandler.common_error_handler("describe the instance type offerings")
@common.RETRY
def zones_offering(ec2, instance_type, zones):
    """The Availability Zones among `zones` where `instance_type` is offered."""
    filters = [{"Name": "instance-type", "Values": [instance_type]}, {"Name": "location", "Values": sorted(zones)}]
    paginator = ec2.get_paginator("describe_instance_type_offerings")
    offerings = paginator.paginate(LocationType="availability-zone", Filters=filters).build_full_result()
    return set(offering["Location"] for offering in offerings["InstanceTypeOfferings"])


@LaunchTemplateErrorHandler.list_error_handler("describe the launch template", None)
@common.RETRY
def describe_launch_template(ec2, name=None, template_id=None):
    request = {"LaunchTemplateIds": [template_id]} if template_id else {"LaunchTemplateNames": [name]}
    templates = ec2.describe_launch_templates(**request)["LaunchTemplates"]
    return templates[0] if templates else None


@LaunchTemplateErrorHandler.list_error_handler("describe the launch template version", None)
@common.RETRY
def describe_launch_template_version(ec2, template_id, version):
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[str(version)])
    found = versions["LaunchTemplateVersions"]
    return found[0] if found else None


@ErrorHandler.common_error_handler("create the launch template")
def create_launch_template(ec2, name, data, tags):
    """The new template, or None when one of that name exists (a lost answer, or a rerun)."""
    request = {"LaunchTemplateName": name, "LaunchTemplateData": data,
               "TagSpecifications": [{"ResourceType": "launch-template", "Tags": tags}]}
    return _create_launch_template(ec2, common.with_client_token(request))


@common.RETRY
def _create_launch_template(ec2, request):
    try:
        return ec2.create_launch_template(**request)["LaunchTemplate"]
    except is_boto3_error_code(LAUNCH_TEMPLATE_EXISTS):
        return None


@LaunchTemplateErrorHandler.deletion_error_handler("delete the launch template")
@common.RETRY
def delete_launch_template(ec2, template_id):
    ec2.delete_launch_template(LaunchTemplateId=template_id)
    return True


@ErrorHandler.common_error_handler("list launch templates")
@common.RETRY
def describe_launch_templates(ec2, tags=None):
    """Every launch template of the account and region carrying every one of `tags` ({key: value};
    all without), all pages."""
    filters = [{"Name": "tag:" + key, "Values": [value]} for key, value in sorted((tags or {}).items())]
    paginator = ec2.get_paginator("describe_launch_templates")
    return paginator.paginate(**({"Filters": filters} if filters else {})).build_full_result()["LaunchTemplates"]


@LaunchTemplateErrorHandler.list_error_handler("list launch template versions", [])
@common.RETRY
def describe_launch_template_versions(ec2, template_id):
    """Every version of the template, all pages; [] when the template is gone."""
    paginator = ec2.get_paginator("describe_launch_template_versions")
    return paginator.paginate(LaunchTemplateId=template_id).build_full_result()["LaunchTemplateVersions"]


# ---------------------------------------------------------------------------------------
# Instances


def describe_instances(ec2, filters, purpose="describe the instances"):
    """The instances the filters match, all pages; a failure reads "Failed to <purpose>"."""
    return ErrorHandler.common_error_handler(purpose)(_describe_instances)(ec2, filters)


@common.RETRY
def _describe_instances(ec2, filters):
    paginator = ec2.get_paginator("describe_instances")
    reservations = paginator.paginate(Filters=filters).build_full_result()["Reservations"]
    return [instance for reservation in reservations for instance in reservation["Instances"]]


@ErrorHandler.common_error_handler("launch the test instance")
def run_instance(ec2, request):
    """The one instance a RunInstances request (MinCount = MaxCount = 1) launched."""
    return _run_instance(ec2, common.with_client_token(request))


@common.RETRY_UNTIL_INSTANCE_PROFILE_USABLE
def _run_instance(ec2, request):
    return ec2.run_instances(**request)["Instances"][0]


@InstanceErrorHandler.list_error_handler("describe the instance", None)
@common.RETRY
def describe_instance(ec2, instance_id):
    """The instance, or None when AWS does not know it (any more)."""
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instances = [instance for reservation in reservations for instance in reservation["Instances"]]
    return instances[0] if instances else None


@InstanceErrorHandler.deletion_error_handler("terminate the instance")
@common.RETRY
def terminate_instance(ec2, instance_id):
    ec2.terminate_instances(InstanceIds=[instance_id])
    return True
