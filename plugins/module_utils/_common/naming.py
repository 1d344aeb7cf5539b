# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Names, tags and paths every cattle.immutable module agrees on.

One place decides what a valid app or stage is, which tag keys mark our resources and
how resource names are built within AWS's length limits; docs/naming.md explains it.
"""

import hashlib
import re

TAG_PREFIX = "cattle:"
TAG_MANAGED_BY = TAG_PREFIX + "managed-by"
TAG_APP = TAG_PREFIX + "app"
TAG_FINGERPRINT = TAG_PREFIX + "fingerprint"
TAG_SOURCE_AMI = TAG_PREFIX + "source-ami"
TAG_BUILT_AT = TAG_PREFIX + "built-at"
TAG_PACKER_VERSION = TAG_PREFIX + "packer-version"
TAG_VCS_REVISION = TAG_PREFIX + "vcs-revision"
TAG_VALIDATION = TAG_PREFIX + "validation"
TAG_LYNIS_SCORE = TAG_PREFIX + "lynis-score"
# What the image serves (its validation report's `serves`): a fleet's health check must agree.
TAG_APP_UNIT = TAG_PREFIX + "app-unit"
TAG_APP_PORT = TAG_PREFIX + "app-port"
TAG_HEALTH_PATH = TAG_PREFIX + "health-path"
TAG_REVOKED = TAG_PREFIX + "revoked"
TAG_STAGE_PREFIX = TAG_PREFIX + "stage:"
TAG_FLEET = TAG_PREFIX + "fleet"
TAG_DEPLOYMENT = TAG_PREFIX + "deployment"
# The test from outside (playbooks/validate.yml): `passed <time>` or `failed <time>: why`,
# the digest of its evidence, and, on the test's own resources, the image under test.
TAG_TESTED = TAG_PREFIX + "tested"
TAG_TESTED_DIGEST = TAG_PREFIX + "tested-digest"
TAG_IMAGE_TEST = TAG_PREFIX + "image-test"
MANAGED_BY_VALUE = "cattle.immutable"

DEFAULT_PREFIX = "cattle"
DEFAULT_STAGES = ("dev", "staging", "prod")

APP_MAX_LENGTH = 20
STAGE_MAX_LENGTH = 12
TARGET_GROUP_NAME_MAX = 32
AMI_NAME_MAX = 128
AMI_ID_PATTERN = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")

# Lowercase so one spelling maps to one resource; hyphens inside only, as target group
# and load balancer names demand.
_APP_PATTERN = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9]*$")
_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$")


class NamingError(ValueError):
    """An input that breaks the naming convention; the message names the input."""


def validate_app(app, option="app"):
    if not isinstance(app, str) or not app:
        raise NamingError(f"{option} must be a non-empty string")
    if len(app) > APP_MAX_LENGTH:
        raise NamingError(f"{option} '{app}' is longer than {APP_MAX_LENGTH} characters")
    if not _APP_PATTERN.match(app) or "--" in app:
        raise NamingError(
            f"{option} '{app}' is not a valid app name: use lowercase letters, digits and single "
            "hyphens, starting with a letter and not ending with a hyphen"
        )
    return app


def validate_stage(stage, option="stage"):
    if not isinstance(stage, str) or not stage:
        raise NamingError(f"{option} must be a non-empty string")
    if len(stage) > STAGE_MAX_LENGTH or not _STAGE_PATTERN.match(stage):
        raise NamingError(
            f"{option} '{stage}' is not a valid stage name: lowercase letters and digits, "
            f"starting with a letter, at most {STAGE_MAX_LENGTH} characters"
        )
    return stage


def validate_prefix(prefix, option="prefix"):
    if not isinstance(prefix, str) or not _PREFIX_PATTERN.match(prefix.strip("/")):
        raise NamingError(
            f"{option} '{prefix}' is not a valid parameter prefix: letters, digits, '_', '.', '-' "
            "in '/'-separated segments"
        )
    return prefix.strip("/")


def validate_image_id(image_id, option="image_ids"):
    if not isinstance(image_id, str) or not AMI_ID_PATTERN.match(image_id):
        raise NamingError(
            f"{option}: '{image_id}' is not an AMI id (ami- followed by 8 or 17 hexadecimal digits)"
        )
    return image_id


def stage_tag_key(stage):
    return TAG_STAGE_PREFIX + validate_stage(stage)


def stage_parameter_name(app, stage, prefix=DEFAULT_PREFIX):
    """The SSM parameter that points a stage of an app at one AMI id."""
    return "/{0}/{1}/{2}".format(validate_prefix(prefix), validate_app(app), validate_stage(stage))


def image_name(app, fingerprint):
    """AMI name for a build: deterministic, so a retried or lost create collides on the name."""
    validate_app(app)
    if not re.match(r"^[0-9a-f]{12,64}$", fingerprint or ""):
        raise NamingError(f"fingerprint '{fingerprint}' must be 12 to 64 lowercase hexadecimal digits")
    return f"{app}-{fingerprint[:16]}"


def short_hash(text, length=8):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def bounded_name(parts, max_length):
    """Join parts with '-'; when too long, cut and end with a hash of the full name.

    Keeps names readable where they fit and unique where they do not.
    """
    full = "-".join(parts)
    if len(full) <= max_length:
        return full
    suffix = short_hash(full)
    head = full[: max_length - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


def target_group_name(app, stage, fleet_id):
    """Target group names are at most 32 characters: letters, digits and inner hyphens."""
    return bounded_name([validate_app(app), validate_stage(stage), fleet_id], TARGET_GROUP_NAME_MAX)


def fleet_name(app, stage, fleet_id):
    """ASG and launch template name of one fleet (both allow far more than we use)."""
    return "-".join([validate_app(app), validate_stage(stage), fleet_id])


def app_tag_filter(app):
    return {"tag:" + TAG_APP: validate_app(app)}
