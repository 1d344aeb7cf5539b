# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a fleet is made of, without any AWS call: identity, names, tags, request bodies.

A fleet is one launch template, one Auto Scaling group and one target group of an app's
stage. Its id is a hash of every input that decides what its instances are and how they
are checked (the identity inputs below), so the same inputs give the same fleet and any
change gives a new one. Capacity, scaling policies, grace period, deregistration delay
and tags are settings of a fleet, changed in place. docs/fleets.md is the contract.
"""

import base64
import hashlib
import json

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming

# Bump only with a migration note: it changes every fleet id.
IDENTITY_VERSION = 1
FLEET_ID_LENGTH = 12
DEFAULT_ROOT_DEVICE = "/dev/xvda"

TAG_STAGE = naming.TAG_PREFIX + "stage"
TAG_FLEET = naming.TAG_FLEET
TAG_DEPLOYMENT = naming.TAG_DEPLOYMENT
TAG_IMAGE = naming.TAG_PREFIX + "image-id"
TAG_FLEET_STATE = naming.TAG_PREFIX + "fleet-state"
TAG_ROLLBACK_UNTIL = naming.TAG_PREFIX + "rollback-until"
TAG_DISABLED_AT = naming.TAG_PREFIX + "disabled-at"
TAG_CREATED_AT = naming.TAG_PREFIX + "created-at"
TAG_ADOPTED = naming.TAG_PREFIX + "adopted"
# The listener the fleet was created behind: later runs look it up by ARN in one call.
TAG_LISTENER = naming.TAG_PREFIX + "listener"

STATE_ACTIVE = "active"
STATE_DISABLED = "disabled"
# Tags of the group alone (where a fleet is in its life, what it serves behind); they are
# not propagated to instances.
LIFECYCLE_TAGS = (TAG_FLEET_STATE, TAG_ROLLBACK_UNTIL, TAG_DISABLED_AT, TAG_CREATED_AT, TAG_ADOPTED, TAG_LISTENER)

# Processes a disabled fleet suspends (no scaling) and those it keeps (unhealthy
# instances are still replaced, so a rollback finds a full, healthy fleet).
PINNED_PROCESSES = ("AlarmNotification", "ScheduledActions")
METADATA_OPTIONS = {
    "HttpTokens": "required",
    "HttpEndpoint": "enabled",
    "HttpPutResponseHopLimit": 1,
    "InstanceMetadataTags": "disabled",
}


def identity_inputs(stage_def, image_id):
    """Every input that decides what a fleet's instances are and how their health is checked."""
    return {
        "version": IDENTITY_VERSION,
        "image_id": image_id,
        "instance_type": stage_def["instance_type"],
        "instance_profile": stage_def["instance_profile"],
        "user_data": stage_def["user_data"],
        "security_groups": sorted(stage_def["security_groups"]),
        "root_volume": stage_def["root_volume"],
        "metadata_options": METADATA_OPTIONS,
        "subnets": sorted(stage_def["subnets"]),
        "port": stage_def["port"],
        "protocol": stage_def["protocol"],
        "health_check": stage_def["health_check"],
    }


def fleet_id(stage_def, image_id):
    """The first 12 hexadecimal digits of the SHA-256 of the identity inputs (canonical JSON)."""
    canonical = json.dumps(identity_inputs(stage_def, image_id), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:FLEET_ID_LENGTH]


def adopted_fleet_id(asg_name):
    """A stable id for a group this collection did not create (the first blue)."""
    return naming.short_hash("adopted:" + asg_name, FLEET_ID_LENGTH)


def names(app, stage, fleet):
    return {
        "fleet": naming.fleet_name(app, stage, fleet),
        "asg": naming.fleet_name(app, stage, fleet),
        "launch_template": naming.fleet_name(app, stage, fleet),
        "target_group": naming.target_group_name(app, stage, fleet),
    }


def identity_tags(app, stage, fleet):
    return {
        naming.TAG_MANAGED_BY: naming.MANAGED_BY_VALUE,
        naming.TAG_APP: app,
        TAG_STAGE: stage,
        TAG_FLEET: fleet,
    }


def resource_tags(stage_def, fleet, image_id=None, deployment_id=None):
    """The tags of a fleet's resources and instances: the app's own tags under ours."""
    tags = dict(stage_def["tags"])
    tags.update(identity_tags(stage_def["app"], stage_def["stage"], fleet))
    if image_id:
        tags[TAG_IMAGE] = image_id
    if deployment_id:
        tags[TAG_DEPLOYMENT] = deployment_id
    return tags


def listener_tag(target):
    """{cattle:listener: listener ARN} for a new group; empty when there is none or it is too long for a tag."""
    arn = (target or {}).get("listener_arn")
    return {TAG_LISTENER: arn} if arn and len(arn) <= 256 else {}


def asg_tag_list(asg_name, tags):
    """CreateOrUpdateTags entries; lifecycle tags stay on the group, the rest go to instances."""
    return [
        {
            "ResourceId": asg_name,
            "ResourceType": "auto-scaling-group",
            "Key": key,
            "Value": value,
            "PropagateAtLaunch": key not in LIFECYCLE_TAGS,
        }
        for key, value in sorted(tags.items())
    ]


def asg_tags(group):
    return dict((tag["Key"], tag["Value"]) for tag in group.get("Tags") or [])


# ---------------------------------------------------------------------------------------
# Request bodies.


def image_root_size(image):
    """The size of the AMI's root volume, from its block device mappings (None when it has none)."""
    root = image.get("RootDeviceName") or DEFAULT_ROOT_DEVICE
    for mapping in image.get("BlockDeviceMappings") or []:
        if mapping.get("DeviceName") == root:
            return (mapping.get("Ebs") or {}).get("VolumeSize")
    return None


def root_block_device(stage_def, image):
    """The root volume: always encrypted; the definition's size, else the AMI's, stated explicitly."""
    volume = stage_def["root_volume"]
    ebs = {"Encrypted": True, "DeleteOnTermination": True, "VolumeType": volume["type"]}
    size = volume["size"] if volume["size"] is not None else image_root_size(image)
    if size is not None:
        ebs["VolumeSize"] = size
    if volume["kms_key_id"] is not None:
        ebs["KmsKeyId"] = volume["kms_key_id"]
    return {"DeviceName": image.get("RootDeviceName") or DEFAULT_ROOT_DEVICE, "Ebs": ebs}


def instance_profile_spec(profile):
    return {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}


def launch_template_data(stage_def, image, tags):
    """LaunchTemplateData: IMDSv2 only, encrypted root volume, no key pair, tagged instances and volumes."""
    tag_list = ansible_dict_to_boto3_tag_list(dict((k, v) for k, v in tags.items() if k not in LIFECYCLE_TAGS))
    data = {
        "ImageId": image["ImageId"],
        "InstanceType": stage_def["instance_type"],
        "SecurityGroupIds": sorted(stage_def["security_groups"]),
        "MetadataOptions": dict(METADATA_OPTIONS),
        "BlockDeviceMappings": [root_block_device(stage_def, image)],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tag_list},
            {"ResourceType": "volume", "Tags": tag_list},
        ],
    }
    if stage_def["instance_profile"]:
        data["IamInstanceProfile"] = instance_profile_spec(stage_def["instance_profile"])
    if stage_def["user_data"]:
        data["UserData"] = base64.b64encode(stage_def["user_data"].encode("utf-8")).decode("ascii")
    return data


def target_group_request(stage_def, name, vpc_id, tags):
    check = stage_def["health_check"]
    return {
        "Name": name,
        "Protocol": stage_def["protocol"],
        "Port": stage_def["port"],
        "VpcId": vpc_id,
        "TargetType": "instance",
        "HealthCheckEnabled": True,
        "HealthCheckProtocol": check["protocol"],
        "HealthCheckPort": check["port"],
        "HealthCheckPath": check["path"],
        "HealthCheckIntervalSeconds": check["interval"],
        "HealthCheckTimeoutSeconds": check["timeout"],
        "HealthyThresholdCount": check["healthy_threshold"],
        "UnhealthyThresholdCount": check["unhealthy_threshold"],
        "Matcher": {"HttpCode": check["matcher"]},
        "Tags": ansible_dict_to_boto3_tag_list(tags),
    }


def asg_request(stage_def, name, launch_template, tg_arn, capacity, tags):
    return {
        "AutoScalingGroupName": name,
        "LaunchTemplate": launch_template,
        "MinSize": capacity["min"],
        "MaxSize": capacity["max"],
        "DesiredCapacity": capacity["desired"],
        "VPCZoneIdentifier": ",".join(sorted(stage_def["subnets"])),
        "TargetGroupARNs": [tg_arn],
        "HealthCheckType": "ELB",
        "HealthCheckGracePeriod": stage_def["grace_period"],
        "Tags": asg_tag_list(name, tags),
    }


def scaling_policy_request(asg_name, policy, resource_label=None):
    metric = {"PredefinedMetricType": app_definition.SCALING_METRICS[policy["metric"]]}
    if resource_label:
        metric["ResourceLabel"] = resource_label
    request = {
        "AutoScalingGroupName": asg_name,
        "PolicyName": policy["name"],
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingConfiguration": {
            "PredefinedMetricSpecification": metric,
            "TargetValue": float(policy["target"]),
            "DisableScaleIn": policy["disable_scale_in"],
        },
    }
    if policy["warmup"] is not None:
        request["EstimatedInstanceWarmup"] = policy["warmup"]
    return request


def request_count_label(load_balancer_arn, tg_arn):
    """ALBRequestCountPerTarget's ResourceLabel: app/<lb>/<id>/targetgroup/<tg>/<id>."""
    lb_part = load_balancer_arn.split(":loadbalancer/", 1)[-1]
    tg_part = tg_arn.split(":", 5)[-1]
    return "{0}/{1}".format(lb_part, tg_part)


def policy_matches(existing, request):
    """Whether a described policy already is what the request would put."""
    wanted = request["TargetTrackingConfiguration"]
    current = existing.get("TargetTrackingConfiguration") or {}
    return (
        existing.get("PolicyType") == request["PolicyType"]
        and current.get("PredefinedMetricSpecification") == wanted["PredefinedMetricSpecification"]
        and float(current.get("TargetValue", -1)) == wanted["TargetValue"]
        and bool(current.get("DisableScaleIn", False)) == wanted["DisableScaleIn"]
        and existing.get("EstimatedInstanceWarmup") == request.get("EstimatedInstanceWarmup")
    )


# ---------------------------------------------------------------------------------------
# Capacity.


def capacity_for(stage_def, desired, pinned=False):
    """min/max/desired of the group: the definition's bounds, or all three at desired when pinned."""
    if pinned:
        return {"min": desired, "max": desired, "desired": desired}
    bounds = stage_def["capacity"]
    return {"min": min(bounds["min"], desired), "max": max(bounds["max"], desired), "desired": desired}


def clamp_desired(stage_def, desired):
    """A capacity found on a live fleet, kept within what the definition allows now."""
    bounds = stage_def["capacity"]
    return max(bounds["min"], 1, min(bounds["max"], desired))
