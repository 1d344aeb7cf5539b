# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What keeps an AMI in use: the references image_info reports and image_prune respects.

An AMI is in use when any of these names it:
- a launch template version (any version, not only $Default/$Latest), directly or as
  C(resolve:ssm:<parameter>);
- an Auto Scaling group, through its launch template version ($Default/$Latest resolved)
  or its launch configuration;
- an instance that is not terminated;
- a stage pointer, an SSM parameter under /<prefix>/<app>/.

The AWS calls are _aws's (ec2, autoscaling, ssm); the pure functions here turn their
answers into references per AMI.
"""

from ansible_collections.cattle.immutable.plugins.module_utils._aws import autoscaling as autoscaling_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ssm as ssm_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming

RESOLVE_SSM = "resolve:ssm:"
LIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
DESCRIBE_INSTANCES_FILTER_MAX = 200
LAUNCH_CONFIGURATION_NAMES_MAX = 50
REFERENCE_KINDS = ("launch_templates", "auto_scaling_groups", "instances", "stage_pointers")


# ---------------------------------------------------------------------------------------
# AWS calls (the calls themselves are _aws's)


def list_live_instances(ec2, image_ids):
    filters = [
        {"Name": "image-id", "Values": list(image_ids)},
        {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES},
    ]
    return ec2_calls.describe_instances(ec2, filters, "list instances started from the images")


def list_parameters_under(ssm, path):
    """Every parameter below `path`, at any depth."""
    return ssm_calls.get_parameters_by_path(ssm, path, recursive=True, empty_when_not_found=False,
                                            purpose="list stage pointers")


def read_parameter_value(ssm, selector):
    """The value of `name`, `name:version` or `name:label`; None when it does not exist."""
    parameter = ssm_calls.get_parameter(ssm, selector)
    return parameter["Value"] if parameter else None


# ---------------------------------------------------------------------------------------
# Pure logic


def chunks(items, size):
    items = list(items)
    return [items[start:start + size] for start in range(0, len(items), size)]


def pointer_path(prefix, app):
    return "/{0}/{1}/".format(naming.validate_prefix(prefix), naming.validate_app(app))


def pointers_by_name(parameters):
    """{parameter name: AMI id} for the parameters whose value is an AMI id."""
    return {p["Name"]: p["Value"] for p in parameters if naming.AMI_ID_PATTERN.match(p.get("Value", ""))}


def ssm_selector(image_reference):
    """The parameter a C(resolve:ssm:...) ImageId names, or None for a plain AMI id."""
    if isinstance(image_reference, str) and image_reference.startswith(RESOLVE_SSM):
        return image_reference[len(RESOLVE_SSM):]
    return None


def resolve_image_reference(image_reference, parameter_values):
    """The AMI id a launch template's ImageId stands for (None when it can't be resolved)."""
    selector = ssm_selector(image_reference)
    if selector is None:
        return image_reference
    return parameter_values.get(selector)


def template_version_entries(template, versions):
    """One entry per version: who it is, and the ImageId it names as written."""
    return [
        {
            "name": template["LaunchTemplateName"],
            "id": template["LaunchTemplateId"],
            "version": version["VersionNumber"],
            "image_reference": version.get("LaunchTemplateData", {}).get("ImageId"),
        }
        for version in versions
    ]


def unresolved_selectors(entries, parameter_values):
    selectors = {ssm_selector(entry["image_reference"]) for entry in entries}
    return sorted(selector for selector in selectors if selector and selector not in parameter_values)


def group_launch_template(group):
    """The launch template specification of an ASG, direct or in a mixed instances policy."""
    if group.get("LaunchTemplate"):
        return group["LaunchTemplate"]
    policy = group.get("MixedInstancesPolicy") or {}
    return (policy.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")


def version_number(specification, template):
    """$Default, $Latest, empty (= $Default) or a number, as the version number it means."""
    version = str(specification.get("Version") or "$Default")
    if version == "$Latest":
        return template["LatestVersionNumber"]
    if version == "$Default":
        return template["DefaultVersionNumber"]
    return int(version)


def find_template(specification, templates):
    for template in templates:
        if specification.get("LaunchTemplateId") == template["LaunchTemplateId"]:
            return template
        if specification.get("LaunchTemplateName") == template["LaunchTemplateName"]:
            return template
    return None


def group_image(group, templates, version_images, configuration_images):
    """(AMI id, how) the ASG launches from, or (None, None) when it can't be told."""
    specification = group_launch_template(group)
    if specification:
        template = find_template(specification, templates)
        if template is None:
            return None, None
        number = version_number(specification, template)
        how = "launch template {0} v{1}".format(template["LaunchTemplateName"], number)
        return version_images.get((template["LaunchTemplateId"], number)), how
    name = group.get("LaunchConfigurationName")
    if name:
        return configuration_images.get(name), "launch configuration {0}".format(name)
    return None, None


def empty_usage():
    usage = {kind: [] for kind in REFERENCE_KINDS}
    usage["in_use"] = False
    return usage


def usage_by_image(image_ids, template_entries, groups, instances, pointers):
    """{image id: usage} from the already resolved references.

    template_entries carry `image_id` (resolved); groups are (group, image id, how).
    """
    usage = {image_id: empty_usage() for image_id in image_ids}
    for entry in template_entries:
        if entry.get("image_id") in usage:
            usage[entry["image_id"]]["launch_templates"].append(
                {"name": entry["name"], "id": entry["id"], "version": entry["version"]}
            )
    for group, image_id, how in groups:
        if image_id in usage:
            usage[image_id]["auto_scaling_groups"].append({"name": group["AutoScalingGroupName"], "via": how})
    for instance in instances:
        if instance.get("ImageId") in usage:
            usage[instance["ImageId"]]["instances"].append(
                {"id": instance["InstanceId"], "state": instance.get("State", {}).get("Name")}
            )
    for name, image_id in sorted(pointers.items()):
        if image_id in usage:
            usage[image_id]["stage_pointers"].append(name)
    for item in usage.values():
        item["in_use"] = any(item[kind] for kind in REFERENCE_KINDS)
    return usage


def usage_reasons(usage):
    """Words for why an image is in use, e.g. 'in use: launch template web-lt v3'."""
    reasons = ["stage pointer {0}".format(name) for name in usage["stage_pointers"]]
    reasons += ["in use: launch template {0} v{1}".format(t["name"], t["version"]) for t in usage["launch_templates"]]
    reasons += [
        "in use: auto scaling group {0} ({1})".format(g["name"], g["via"]) for g in usage["auto_scaling_groups"]
    ]
    reasons += ["in use: instance {0} ({1})".format(i["id"], i["state"]) for i in usage["instances"]]
    return reasons


# ---------------------------------------------------------------------------------------
# Putting it together


def read_stage_pointers(ssm, apps, prefix):
    pointers = {}
    for app in sorted(set(apps)):
        pointers.update(pointers_by_name(list_parameters_under(ssm, pointer_path(prefix, app))))
    return pointers


def read_template_versions(ec2):
    templates = ec2_calls.describe_launch_templates(ec2)
    entries = []
    for template in templates:
        entries += template_version_entries(template, ec2_calls.describe_launch_template_versions(ec2, template["LaunchTemplateId"]))
    return templates, entries


def resolve_template_images(ssm, entries, pointers):
    """Adds `image_id` to every entry, reading parameters that are not stage pointers."""
    parameter_values = dict(pointers)
    for selector in unresolved_selectors(entries, parameter_values):
        parameter_values[selector] = read_parameter_value(ssm, selector)
    for entry in entries:
        entry["image_id"] = resolve_image_reference(entry["image_reference"], parameter_values)
    return entries


def read_configuration_images(autoscaling, groups):
    names = sorted({group["LaunchConfigurationName"] for group in groups if group.get("LaunchConfigurationName")})
    images = {}
    for batch in chunks(names, LAUNCH_CONFIGURATION_NAMES_MAX):
        for configuration in autoscaling_calls.describe_launch_configurations(autoscaling, batch):
            images[configuration["LaunchConfigurationName"]] = configuration.get("ImageId")
    return images


def read_group_images(autoscaling, templates, entries):
    groups = autoscaling_calls.describe_groups(autoscaling)
    version_images = {(entry["id"], entry["version"]): entry["image_id"] for entry in entries}
    configuration_images = read_configuration_images(autoscaling, groups)
    result = []
    for group in groups:
        image_id, how = group_image(group, templates, version_images, configuration_images)
        result.append((group, image_id, how))
    return result


def read_live_instances(ec2, image_ids):
    instances = []
    for batch in chunks(image_ids, DESCRIBE_INSTANCES_FILTER_MAX):
        instances += list_live_instances(ec2, batch)
    return instances


def find_usage(clients, image_ids, apps, prefix):
    """{image id: usage dict} for the given AMIs.

    clients: dict with `ec2`, `autoscaling` and `ssm` clients. apps: whose stage pointers
    (/<prefix>/<app>/...) count.
    """
    image_ids = sorted(set(image_ids))
    if not image_ids:
        return {}
    pointers = read_stage_pointers(clients["ssm"], apps, prefix)
    templates, entries = read_template_versions(clients["ec2"])
    resolve_template_images(clients["ssm"], entries, pointers)
    groups = read_group_images(clients["autoscaling"], templates, entries)
    instances = read_live_instances(clients["ec2"], image_ids)
    return usage_by_image(image_ids, entries, groups, instances, pointers)
