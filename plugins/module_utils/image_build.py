# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""image_build: reuse, adopt or build the golden AMI of one set of inputs, and tag it.

The AMI name is ``naming.image_name(app, fingerprint)``, so one set of inputs maps to one
name. An image with that name is:

- complete when it is ``available`` and carries ``cattle:built-at``: image_build writes
  that tag last, in the same CreateTags call as the other provenance tags, and templates
  must not set it. A complete image is reused; Packer does not run.
- left behind otherwise (a build whose answer was lost, or that died after CreateImage):
  adopted when it is available and the build's validation report is on the controller,
  else deregistered with its snapshots and built again. Never a second image.
"""

import json
import os

from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError
from ansible_collections.cattle.immutable.plugins.module_utils._aws import ec2 as ec2_calls
from ansible_collections.cattle.immutable.plugins.module_utils._build import fingerprint as build_fingerprint
from ansible_collections.cattle.immutable.plugins.module_utils._build import imds as build_imds
from ansible_collections.cattle.immutable.plugins.module_utils._build import packer as build_packer
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import iso8601, utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import Waiter
from ansible_collections.cattle.immutable.plugins.module_utils._images import catalog as image_utils

COMPLETE_MARKER = naming.TAG_BUILT_AT
VALIDATION_RESULTS = ("passed", "failed")
CONTRACT_VARIABLES = ("app", "ami_name", "fingerprint", "source_ami", "validation_report", "manifest_path")
RESERVED_VARIABLES = ("app", "ami_name", "fingerprint", "validation_report", "manifest_path")
NOTHING_CHANGED = "nothing was built or changed"
SETTLE_INTERVAL = 2.0


class BuildError(CattleError):
    """A refused or failed build; `result` goes into the failed task's result."""


# Lookups


def find_image_by_name(ec2, name):
    found = image_utils.find_images(ec2, {"name": name}, ["self"])
    return found[0] if found else None


# Inputs


def refuse(message, **details):
    raise BuildError("{0}; {1}".format(message, NOTHING_CHANGED), **details)


def validate_inputs(params):
    try:
        naming.validate_app(params["app"])
        if params["fingerprint"] is not None:
            naming.image_name(params["app"], params["fingerprint"])
        if (params["vars"] or {}).get("source_ami") is not None:
            naming.validate_image_id(params["vars"]["source_ami"], "vars.source_ami")
    except naming.NamingError as e:
        refuse(str(e))
    problem = build_packer.template_problem(params["template"])
    if problem:
        refuse(problem)
    reserved = sorted(set(params["vars"] or {}) & set(RESERVED_VARIABLES))
    if reserved:
        refuse("vars must not set {0}: image_build passes them to the template".format(", ".join(reserved)))
    has_source_var = (params["vars"] or {}).get("source_ami") is not None
    if has_source_var == bool(params["source_ami_filter"]):
        refuse("give the base image either as vars.source_ami or as source_ami_filter (exactly one)")
    missing = build_fingerprint.missing_paths(list(params["var_files"] or []) + fingerprint_paths(params))
    if missing:
        refuse("these var_files or fingerprint_paths do not exist: " + ", ".join(missing))


def fingerprint_paths(params):
    if params["fingerprint_paths"] is None:
        return [params["template"]]
    return list(params["fingerprint_paths"])


def find_packer(module):
    path = module.params["packer_path"]
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            refuse("packer_path {0} is not an executable file".format(path))
        return path
    found = module.get_bin_path("packer")
    if not found:
        refuse("Packer was not found on PATH: install it or set packer_path")
    return found


def resolve_source_ami(ec2, params, region):
    """The base AMI id: vars.source_ami (checked to exist), or the source_ami_filter's pick."""
    given = (params["vars"] or {}).get("source_ami")
    if given is not None:
        image = image_utils.find_image_by_id(ec2, given)
        if image is None:
            refuse("the source AMI {0} (vars.source_ami) does not exist in {1} or is not visible".format(given, region))
        return given
    query = params["source_ami_filter"]
    filters = dict(query["filters"])
    filters.setdefault("state", "available")
    found = image_utils.find_images(ec2, filters, query["owners"])
    if not found:
        refuse("source_ami_filter matched no available AMI in {0}".format(region))
    if len(found) > 1 and not query["most_recent"]:
        refuse("source_ami_filter matched {0} AMIs; narrow it or set most_recent".format(len(found)))
    return found[0]["image_id"]


def compute_fingerprint(params, packer_version, source_ami):
    if params["fingerprint"] is not None:
        return params["fingerprint"]
    ignored = set(params["fingerprint_ignore_vars"]) | {params["endpoint_variable"], "source_ami"}
    variables = {key: value for key, value in (params["vars"] or {}).items() if key not in ignored}
    try:
        return build_fingerprint.compute_fingerprint(
            app=params["app"],
            packer_version=packer_version,
            source_ami=source_ami,
            variables=variables,
            only=params["only"],
            var_files=params["var_files"],
            paths=fingerprint_paths(params),
            excludes=params["fingerprint_exclude"],
        )
    except build_fingerprint.FingerprintError as e:
        refuse(str(e))


def plan_build(module, ec2):
    """Everything decided before AWS is changed: Packer, versions, source AMI, fingerprint, paths."""
    params = module.params
    validate_inputs(params)
    packer = find_packer(module)
    try:
        version = build_packer.packer_version(module.run_command, packer, build_packer.packer_environment(os.environ))
    except build_packer.PackerError as e:
        refuse(str(e))
    source_ami = resolve_source_ami(ec2, params, module.region)
    fingerprint = compute_fingerprint(params, version, source_ami)
    ami_name = naming.image_name(params["app"], fingerprint)
    build_dir = os.path.join(params["work_dir"] or build_packer.cache_dir(), "builds", ami_name)
    return {
        "app": params["app"],
        "packer": packer,
        "packer_version": version,
        "source_ami": source_ami,
        "fingerprint": fingerprint,
        "ami_name": ami_name,
        "build_dir": build_dir,
        "manifest_path": os.path.join(build_dir, "manifest.json"),
        "validation_report": os.path.join(build_dir, "validation-report.json"),
        "log_path": params["log_path"] or build_packer.default_log_path(params["app"]),
    }


# Existing images


def is_complete(image):
    return image is not None and image["state"] == "available" and COMPLETE_MARKER in image["tags"]


def settle(ec2, name, timeout):
    """The image with this name once it is no longer pending (bounded wait), or None."""
    with Waiter(timeout, SETTLE_INTERVAL) as waiting:
        image = find_image_by_name(ec2, name)
        while image is not None and image["state"] == "pending" and not waiting.expired():
            waiting.pause()
            image = find_image_by_name(ec2, name)
        if image is not None and image["state"] == "pending":
            raise BuildError("AMI {0} ({1}) is still pending after {2} s".format(image["image_id"], name, timeout))
        return image


def check_fingerprint_tag(image, fingerprint):
    tagged = image["tags"].get(naming.TAG_FINGERPRINT)
    if tagged is not None and tagged != fingerprint:
        raise BuildError(
            "AMI {0} is named {1} but tagged with fingerprint {2}, not {3}; resolve the clash by hand, {4}".format(
                image["image_id"], image["name"], tagged, fingerprint, NOTHING_CHANGED
            )
        )


def read_validation_report(path):
    """(report, problem): the report as a dict, or None and why not (None when there is none)."""
    if not os.path.exists(path):
        return None, None
    try:
        with open(path, "r") as handle:
            report = json.load(handle)
    except (IOError, OSError, ValueError) as e:
        return None, "the validation report {0} cannot be read: {1}".format(path, e)
    if not isinstance(report, dict) or report.get("result") not in VALIDATION_RESULTS:
        return None, "the validation report {0} has no result of {1}".format(path, " or ".join(VALIDATION_RESULTS))
    return report, None


def remove_image(ec2, image):
    """Deregister an image left behind, then delete its snapshots."""
    ec2_calls.deregister_image(ec2, image["image_id"])
    snapshots = image_utils.image_snapshot_ids(image)
    for snapshot_id in snapshots:
        ec2_calls.delete_snapshot(ec2, snapshot_id)
    return {"image_id": image["image_id"], "name": image["name"], "state": image["state"], "snapshot_ids": snapshots}


def wait_until_available(ec2, image_id, timeout, interval=SETTLE_INTERVAL):
    """An AMI Packer reported, once visible and available; a new AMI may not be listed at once."""
    with Waiter(timeout, interval) as waiting:
        while True:
            image = image_utils.find_image_by_id(ec2, image_id)
            if image is not None and image["state"] == "available":
                return image
            if image is not None and image["state"] not in ("pending",):
                raise BuildError("AMI {0} is {1}, not available".format(image_id, image["state"]))
            if waiting.expired():
                seen = "not visible" if image is None else "still " + image["state"]
                raise BuildError("AMI {0} reported by Packer is {1} after {2} s".format(image_id, seen, timeout))
            waiting.pause()


# Tags


def validation_tags(report):
    if report is None:
        return {}
    tags = {naming.TAG_VALIDATION: report["result"]}
    score = report.get("lynis_score")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        tags[naming.TAG_LYNIS_SCORE] = str(int(score))
    tags.update(serves_tags(report.get("serves")))
    return tags


def serves_tags(serves):
    """The app's unit, port and health path, as the image's validation report states them."""
    if not isinstance(serves, dict):
        return {}
    fields = ((naming.TAG_APP_UNIT, "unit"), (naming.TAG_APP_PORT, "port"), (naming.TAG_HEALTH_PATH, "health_path"))
    return dict((tag, str(serves[key])) for tag, key in fields if serves.get(key) not in (None, ""))


def provenance_tags(plan, vcs_revision, report):
    tags = {
        naming.TAG_APP: plan["app"],
        naming.TAG_MANAGED_BY: naming.MANAGED_BY_VALUE,
        naming.TAG_FINGERPRINT: plan["fingerprint"],
        naming.TAG_SOURCE_AMI: plan["source_ami"],
        naming.TAG_PACKER_VERSION: plan["packer_version"],
    }
    if vcs_revision:
        tags[naming.TAG_VCS_REVISION] = vcs_revision
    tags.update(validation_tags(report))
    tags[COMPLETE_MARKER] = iso8601(utc_now())
    return tags


def snapshot_tags(plan):
    return {
        naming.TAG_APP: plan["app"],
        naming.TAG_MANAGED_BY: naming.MANAGED_BY_VALUE,
        naming.TAG_FINGERPRINT: plan["fingerprint"],
    }


def tag_image(ec2, image, tags, plan):
    """Snapshots first; the AMI's tags, with the completion marker, in one last call.

    The image may have been created a moment ago: "not found" is retried.
    """
    snapshots = image_utils.image_snapshot_ids(image)
    if snapshots:
        ec2_calls.create_tags(ec2, snapshots, snapshot_tags(plan), just_created=True)
    ec2_calls.create_tags(ec2, [image["image_id"]], tags, just_created=True)


# Results


def build_metadata(plan, image_tags=None, duration=None, build=None, packer_ran=False):
    tags = image_tags or {}
    build = build or {}
    return {
        "packer_version": tags.get(naming.TAG_PACKER_VERSION, plan["packer_version"]),
        "source_ami": tags.get(naming.TAG_SOURCE_AMI, plan["source_ami"]),
        "fingerprint": plan["fingerprint"],
        "built_at": tags.get(COMPLETE_MARKER),
        "duration_seconds": duration,
        "name": build.get("name"),
        "builder_type": build.get("builder_type"),
        "packer_run_uuid": build.get("packer_run_uuid"),
        "custom_data": build.get("custom_data"),
        "packer_ran": packer_ran,
        "manifest_path": plan["manifest_path"] if build else None,
    }


def result(outcome, plan, region, images, tags, metadata, removed, log_path, changed, imds=None):
    primary = images.get(region) or (sorted(images.items())[0][1] if images else None)
    imds = imds or []
    return {
        "changed": changed or any(entry["changed"] for entry in imds),
        "outcome": outcome,
        "image_id": primary,
        "images": images,
        "ami_name": plan["ami_name"],
        "fingerprint": plan["fingerprint"],
        "source_ami": plan["source_ami"],
        "tags": tags,
        "build": metadata,
        "removed_images": removed,
        "log_path": log_path,
        "imds_support": imds,
    }


def ensure_imds(module, ec2, image, region):
    """ImdsSupport as the imds_support option wants it (before the image is tagged complete)."""
    return build_imds.ensure_imds_support(ec2, image, region, module.params["imds_support"], module.check_mode)


def reuse_result(module, ec2, plan, image):
    region = module.region
    metadata = build_metadata(plan, image["tags"])
    imds = [ensure_imds(module, ec2, image, region)]
    return result("reused", plan, region, {region: image["image_id"]}, image["tags"], metadata, [], None, False,
                  imds)


# Building


def clear_build_files(plan):
    if not os.path.isdir(plan["build_dir"]):
        os.makedirs(plan["build_dir"])
    for path in (plan["manifest_path"], plan["validation_report"]):
        if os.path.exists(path):
            os.remove(path)


def endpoint_url(params):
    return params["endpoint_url"] or os.environ.get("AWS_ENDPOINT_URL_EC2") or os.environ.get("AWS_ENDPOINT_URL")


def template_variables(params, plan):
    variables = dict(params["vars"] or {})
    variables.update({name: plan[name] for name in CONTRACT_VARIABLES})
    endpoint = endpoint_url(params)
    if params["endpoint_variable"] and endpoint:
        variables[params["endpoint_variable"]] = endpoint
    return variables


def connection_options(module):
    options = {key: module.params.get(key) for key in ("access_key", "secret_key", "session_token", "profile")}
    options["region"] = module.region
    return options


def run_packer(module, plan, append_log=False):
    """One Packer run; returns (exit code, seconds, timed out)."""
    params = module.params
    clear_build_files(plan)
    build_packer.prepare_log(plan["log_path"])
    scratch = build_packer.make_scratch()
    try:
        var_file = os.path.join(scratch, "image_build.pkrvars.json")
        build_packer.write_variables_file(var_file, template_variables(params, plan))
        env = build_packer.packer_environment(os.environ, connection_options(module), params["endpoint_url"])
        env = build_packer.private_packer_dirs(env, scratch)
        command = build_packer.build_command(plan["packer"], params["var_files"], var_file, params["only"])
        return build_packer.run_packer(
            module.run_command, command, params["template"], env, plan["log_path"], params["build_timeout"],
            append=append_log,
        )
    finally:
        build_packer.remove_scratch(scratch)


def packer_failure(plan, exit_code, timed_out, timeout):
    what = "did not finish within {0} s and was interrupted".format(timeout) if timed_out else (
        "failed (exit {0})".format(exit_code)
    )
    tail = build_packer.log_tail(plan["log_path"])
    message = "packer build {0}; log: {1}; last lines:\n{2}".format(what, plan["log_path"], "\n".join(tail))
    return BuildError(message, log_path=plan["log_path"], log_tail=tail, fingerprint=plan["fingerprint"])


def adopt(module, ec2, plan, image, report, removed, packer_ran):
    """Finish an image a lost build left behind: tag it from its validation report."""
    check_fingerprint_tag(image, plan["fingerprint"])
    tags = provenance_tags(plan, module.params["vcs_revision"], report)
    imds = [ensure_imds(module, ec2, image, module.region)]
    if not module.check_mode:
        tag_image(ec2, image, tags, plan)
    metadata = build_metadata(plan, tags, packer_ran=packer_ran)
    log_path = plan["log_path"] if packer_ran else None
    return result("adopted", plan, module.region, {module.region: image["image_id"]}, tags, metadata, removed,
                  log_path, True, imds)


def finish_build(module, ec2, plan, duration):
    """Packer succeeded: read its manifest, wait for the AMIs, tag them."""
    try:
        build, images = build_packer.built_image(plan["manifest_path"])
    except build_packer.PackerError as e:
        raise BuildError("{0}; Packer log: {1}".format(e, plan["log_path"]), log_path=plan["log_path"])
    report, problem = read_validation_report(plan["validation_report"])
    if problem:
        module.warn(problem + "; the AMI is not tagged as validated")
    elif report is None:
        module.warn("the build left no validation report at {0}; the AMI is not tagged as validated".format(
            plan["validation_report"]))
    tags = provenance_tags(plan, module.params["vcs_revision"], report)
    imds = []
    for region, image_id in sorted(images.items()):
        regional = ec2 if region == module.region else module.client("ec2", region=region)
        image = wait_until_available(regional, image_id, module.params["wait_timeout"])
        if image["name"] != plan["ami_name"]:
            module.warn("AMI {0} is named {1}, not {2}: the template must use var.ami_name, or the image is never "
                        "reused".format(image_id, image["name"], plan["ami_name"]))
        imds.append(ensure_imds(module, regional, image, region))
        tag_image(regional, image, tags, plan)
    metadata = build_metadata(plan, tags, duration, build, packer_ran=True)
    return metadata, images, tags, imds


def handle_leftover(module, ec2, plan, image, removed, packer_ran):
    """An image with our name: reuse, adopt, or remove it; returns a result, or None to build."""
    if is_complete(image):
        check_fingerprint_tag(image, plan["fingerprint"])
        return reuse_result(module, ec2, plan, image)
    report, problem = read_validation_report(plan["validation_report"])
    if problem:
        module.warn(problem + "; the image left behind is rebuilt")
    if image["state"] == "available" and report is not None:
        return adopt(module, ec2, plan, image, report, removed, packer_ran)
    if not module.check_mode:
        removed.append(remove_image(ec2, image))
    else:
        removed.append({"image_id": image["image_id"], "name": image["name"], "state": image["state"],
                        "snapshot_ids": image_utils.image_snapshot_ids(image)})
    return None


def build(module, ec2, plan, removed, attempts_left=1):
    """Run Packer (once more after removing what a failed run left behind) and record the AMI."""
    exit_code, duration, timed_out = run_packer(module, plan, append_log=attempts_left < 1)
    if exit_code != 0:
        if not timed_out:
            leftover = settle(ec2, plan["ami_name"], module.params["wait_timeout"])
            if leftover is not None:
                outcome = handle_leftover(module, ec2, plan, leftover, removed, packer_ran=True)
                if outcome is not None:
                    return outcome
                if attempts_left > 0:
                    module.warn("packer build failed and left {0} behind, which was removed; building again "
                                "(log of the failed run: {1})".format(leftover["image_id"], plan["log_path"]))
                    return build(module, ec2, plan, removed, attempts_left - 1)
        error = packer_failure(plan, exit_code, timed_out, module.params["build_timeout"])
        error.result["removed_images"] = removed
        raise error
    metadata, images, tags, imds = finish_build(module, ec2, plan, duration)
    return result("built", plan, module.region, images, tags, metadata, removed, plan["log_path"], True, imds)


def would_build(plan, region, removed):
    metadata = build_metadata(plan)
    return result("built", plan, region, {}, {}, metadata, removed, None, True)


def run_module(module):
    """Reuse, adopt or build the image of this task's inputs; the module's result."""
    ec2 = module.client("ec2")
    plan = plan_build(module, ec2)
    removed = []
    existing = settle(ec2, plan["ami_name"], module.params["wait_timeout"])
    if existing is not None:
        outcome = handle_leftover(module, ec2, plan, existing, removed, packer_ran=False)
        if outcome is not None:
            return outcome
    if module.check_mode:
        return would_build(plan, module.region, removed)
    return build(module, ec2, plan, removed)
