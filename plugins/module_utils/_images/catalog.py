# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Finding AMIs: the DescribeImages query of a search, and the images as snake_case facts."""

from datetime import datetime
from datetime import timezone

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.transformation import ansible_dict_to_boto3_filter_list

from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ssm as ssm_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming


def image_filters(image_ids=None, name=None, tags=None, app=None, extra=None, fingerprint=None):
    """The DescribeImages filters for a query, as an Ansible-style dict.

    Ids go in as an image-id filter rather than ImageIds: AWS fails the whole call on one
    unknown id, and an info module should report what it found instead.
    """
    filters = dict(extra or {})
    if image_ids:
        filters["image-id"] = list(image_ids)
    if name:
        filters["name"] = name
    for key, value in (tags or {}).items():
        filters["tag:" + key] = value
    if app:
        filters.update(naming.app_tag_filter(app))
    if fingerprint:
        filters["tag:" + naming.TAG_FINGERPRINT] = fingerprint
    return filters


def images_request(filters, owners, include_deprecated=False):
    """include_deprecated: AWS leaves out deprecated AMIs of other owners without it."""
    request = {"Filters": ansible_dict_to_boto3_filter_list(filters)}
    if owners:
        request["Owners"] = [str(owner) for owner in owners]
    if include_deprecated:
        request["IncludeDeprecated"] = True
    return request


def parse_aws_time(text):
    """An aware UTC datetime from AWS's '2026-11-26T10:00:00.000Z' (seconds are enough)."""
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def is_deprecated(image, now):
    deprecation_time = image.get("deprecation_time")
    return bool(deprecation_time) and parse_aws_time(deprecation_time) <= now


def is_revoked(image):
    return naming.TAG_REVOKED in image.get("tags", {})


def exclusion_reason(image, now, include_revoked=False, include_deprecated=False):
    """Why a query leaves the image out ('revoked', 'deprecated'), or None to keep it."""
    if is_revoked(image) and not include_revoked:
        return "revoked"
    if is_deprecated(image, now) and not include_deprecated:
        return "deprecated"
    return None


def split_excluded(images, now, include_revoked=False, include_deprecated=False):
    """(images kept, [{image_id, name, reason}] left out) for revoked and deprecated AMIs."""
    kept, excluded = [], []
    for image in images:
        reason = exclusion_reason(image, now, include_revoked, include_deprecated)
        if reason is None:
            kept.append(image)
        else:
            excluded.append({"image_id": image["image_id"], "name": image.get("name"), "reason": reason})
    return kept, excluded


def image_facts(image):
    """One image as snake_case facts with its tags as a plain dict."""
    tags = image.get("Tags", [])
    facts = camel_dict_to_snake_dict({key: value for key, value in image.items() if key != "Tags"})
    facts["tags"] = boto3_tag_list_to_ansible_dict(tags)
    return facts


def newest_first(images):
    return sorted(images, key=lambda image: (image.get("creation_date", ""), image["image_id"]), reverse=True)


def image_snapshot_ids(image):
    """Every EBS snapshot in an image's block device mappings, in mapping order."""
    snapshots = []
    for mapping in image.get("block_device_mappings") or []:
        snapshot_id = (mapping.get("ebs") or {}).get("snapshot_id")
        if snapshot_id and snapshot_id not in snapshots:
            snapshots.append(snapshot_id)
    return snapshots


def find_images(ec2_client, filters, owners, include_deprecated=False):
    """The images matching `filters` (an Ansible-style dict) and `owners`, as facts, newest first."""
    images = ec2_calls.describe_images(ec2_client, images_request(filters, owners, include_deprecated))
    return newest_first([image_facts(image) for image in images])


def find_image_by_id(ec2_client, image_id):
    """The image with this id, whoever owns it, as facts; None when there is none."""
    found = find_images(ec2_client, image_filters(image_ids=[image_id]), [])
    return found[0] if found else None


def read_stage_pointer(ssm_client, app, stage, prefix):
    """The AMI id a stage points at, with the parameter's name and version (None if unset)."""
    name = naming.stage_parameter_name(app, stage, prefix)
    parameter = ssm_calls.get_parameter(ssm_client, name)
    if parameter is None:
        return {"name": name, "image_id": None, "version": None}
    return {"name": name, "image_id": parameter["Value"], "version": parameter.get("Version")}
