# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""cattle.immutable.image_info: find golden AMIs by id, name, tags, or app and stage, and
say what uses them (_images/catalog.py reads the images, _images/usage.py their users)."""

from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._images import catalog as image_utils
from ansible_collections.cattle.immutable.plugins.module_utils._images import usage as usage_utils


def run_module(module):
    try:
        validate_params(module.params)
    except naming.NamingError as error:
        raise CattleError("{0}; nothing was looked up".format(error)) from error
    return dict(find(module), changed=False)


def validate_params(params):
    for image_id in params["image_ids"] or []:
        naming.validate_image_id(image_id)
    if params["app"] is not None:
        naming.validate_app(params["app"])
    if params["stage"] is not None:
        naming.stage_parameter_name(params["app"], params["stage"], params["prefix"])
    if params["include_usage"]:
        naming.validate_prefix(params["prefix"])


def find(module):
    """The images that match, newest first, and what was left out or not found."""
    params = module.params
    ec2 = module.client("ec2")
    result = {}
    image_ids = list(params["image_ids"] or [])
    if params["stage"] is not None:
        pointer = image_utils.read_stage_pointer(module.client("ssm"), params["app"], params["stage"], params["prefix"])
        result["stage_pointer"] = pointer
        if pointer["image_id"] is None:
            return dict(result, images=[], missing_image_ids=[], excluded_images=[])
        image_ids.append(pointer["image_id"])
    filters = image_utils.image_filters(
        image_ids=image_ids,
        name=params["name"],
        tags=params["tags"],
        app=params["app"],
        extra=params["filters"],
        fingerprint=params["fingerprint"],
    )
    matched = image_utils.find_images(ec2, filters, params["owners"], params["include_deprecated"])
    found = {image["image_id"] for image in matched}
    images, excluded = image_utils.split_excluded(
        matched, utc_now(), params["include_revoked"], params["include_deprecated"]
    )
    if params["include_usage"]:
        add_usage(module, images)
    result["images"] = images
    result["excluded_images"] = excluded
    result["missing_image_ids"] = [image_id for image_id in params["image_ids"] or [] if image_id not in found]
    return result


def image_apps(images):
    """The valid cattle:app values of the images: whose stage pointers to read."""
    apps = set()
    for image in images:
        app = image.get("tags", {}).get(naming.TAG_APP)
        try:
            apps.add(naming.validate_app(app))
        except naming.NamingError:
            continue
    return apps


def add_usage(module, images):
    clients = {name: module.client(name) for name in ("ec2", "autoscaling", "ssm")}
    usage = usage_utils.find_usage(
        clients, [image["image_id"] for image in images], image_apps(images), module.params["prefix"]
    )
    for image in images:
        image["usage"] = usage[image["image_id"]]
