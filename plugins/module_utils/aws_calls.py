# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS calls more than one module makes: one call each, retried, errors as AnsibleAWSError.

RETRY is the retry policy of every call we make. AWSRetry knows EC2's and the query APIs'
throttling codes; JSON APIs such as SSM answer ThrottlingException, added here.
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

RETRY = AWSRetry.jittered_backoff(catch_extra_error_codes=["ThrottlingException"])


class ParameterErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code(["ParameterNotFound", "ParameterVersionNotFound"])


class ImageErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code(["InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"])


class SnapshotErrorHandler(AWSErrorHandler):
    _CUSTOM_EXCEPTION = AnsibleAWSError

    @classmethod
    def _is_missing(cls):
        return is_boto3_error_code("InvalidSnapshot.NotFound")


@ParameterErrorHandler.list_error_handler("read an SSM parameter", None)
@RETRY
def get_parameter(ssm, name):
    """The parameter (`name`, `name:version` or `name:label`), or None when there is none."""
    return ssm.get_parameter(Name=name)["Parameter"]


@ImageErrorHandler.deletion_error_handler("deregister the image")
@RETRY
def deregister_image(ec2, image_id):
    """True when deregistered now, False when it was already gone."""
    ec2.deregister_image(ImageId=image_id)
    return True


# AWS refuses to delete a snapshot for a short while after its AMI is deregistered.
@SnapshotErrorHandler.deletion_error_handler("delete the snapshot")
@AWSRetry.jittered_backoff(catch_extra_error_codes=["ThrottlingException", "InvalidSnapshot.InUse"])
def delete_snapshot(ec2, snapshot_id):
    """True when deleted now, False when it was already gone (which counts as deleted)."""
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    return True


def image_snapshot_ids(image):
    """Every EBS snapshot in an image's (snake_case) block device mappings, in mapping order."""
    snapshots = []
    for mapping in image.get("block_device_mappings") or []:
        snapshot_id = (mapping.get("ebs") or {}).get("snapshot_id")
        if snapshot_id and snapshot_id not in snapshots:
            snapshots.append(snapshot_id)
    return snapshots
