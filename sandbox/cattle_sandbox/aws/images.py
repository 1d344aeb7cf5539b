"""AMIs as AWS keeps them.

- An AMI name is unique per account and region: CreateImage, RegisterImage and
  CopyImage with a name in use fail with InvalidAMIName.Duplicate (moto accepts it,
  which hides the "lost CreateImage response" case: a retry would make a second AMI).
- RegisterImage keeps ImdsSupport; DescribeImages and DescribeImageAttribute return it.
- ModifyImageAttribute sets ImdsSupport (ImdsSupport={"Value": "v2.0"}, or
  Attribute="imdsSupport" with Value="v2.0"; moto ignores both). AWS accepts only v2.0
  and has no way back, so any other value is refused.
- EnableImageDeprecation / DisableImageDeprecation (missing in moto) set and clear the
  DeprecationTime that DescribeImages returns; DeprecateAt is rounded and bounded as AWS
  documents (see DEPRECATE_AT_RULES).
- CreateImage accepts a TagSpecification for the snapshot (moto answers 500) and tags
  the AMI's snapshot, as AWS does.
- AMIs made by CreateImage, CopyImage or RegisterImage with an EBS root are EBS-backed
  (moto says "standard", which Packer's amazon-ebs refuses as a source AMI); RegisterImage
  keeps the architecture, virtualization type, root device name and root snapshot given
  (moto drops them). Volume sizes and types stay moto's.
"""

import datetime
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.responses.amis import AmisResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

from .fidelity import Fidelity
from .patching import add_method, bound_arguments, patch

IMDS_V2 = "v2.0"  # the only ImdsSupport value AWS has (and, once set, keeps)
# DEPRECATE_AT_RULES: the EnableImageDeprecation API reference, parameter DeprecateAt
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html):
# "If you specify a value for seconds, Amazon EC2 rounds the seconds to the nearest minute."
# "You can't specify a date in the past. The upper limit for DeprecateAt is 10 years from
# now, except for public AMIs, where the upper limit is 2 years from the creation date."
# The limits are checked on the rounded time (the strict reading: a time a few seconds
# ahead may round down into the past). The page names no error code: ours is a guess.
DEPRECATION_YEARS_AHEAD = 10
PUBLIC_DEPRECATION_YEARS_AFTER_CREATION = 2


def _image_named(backend: AmiBackend, name: str | None) -> Ami | None:
    account_id = backend.account_id  # type: ignore[attr-defined]
    for ami in backend.amis.values():
        if name is not None and ami.name == name and ami.owner_id == account_id:
            return ami
    return None


def _refuse_taken_name(fidelity: Fidelity, backend: AmiBackend, name: str | None) -> None:
    taken_by = _image_named(backend, name) if fidelity.settings.reject_duplicate_image_names else None
    if taken_by is not None:
        raise EC2ClientError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {taken_by.id}")


@patch(AmiBackend, "create_image")
def create_image(fidelity: Fidelity, original: Any, backend: AmiBackend, *args: Any, **kwargs: Any) -> Ami:
    arguments = bound_arguments(original, (backend, *args), kwargs)
    _refuse_taken_name(fidelity, backend, arguments["name"])
    specifications = arguments.get("tag_specifications") or []
    for_image = [spec for spec in specifications if spec.get("ResourceType") != "snapshot"]
    for_snapshot = [spec for spec in specifications if spec.get("ResourceType") == "snapshot"]
    ami = original(
        backend, arguments["instance_id"], arguments["name"], arguments["description"], tag_specifications=for_image
    )
    for spec in for_snapshot:
        ami.ebs_snapshot.add_tags({tag["Key"]: tag["Value"] for tag in spec.get("Tags", [])})
    ami.root_device_type = "ebs"
    return ami


@patch(AmiBackend, "register_image")
def register_image(fidelity: Fidelity, original: Any, backend: AmiBackend, *args: Any, **kwargs: Any) -> Ami:
    _refuse_taken_name(fidelity, backend, bound_arguments(original, (backend, *args), kwargs).get("name"))
    return original(backend, *args, **kwargs)


@patch(AmiBackend, "copy_image")
def copy_image(fidelity: Fidelity, original: Any, backend: AmiBackend, *args: Any, **kwargs: Any) -> Ami:
    arguments = bound_arguments(original, (backend, *args), kwargs)
    name = arguments.get("name") or _source_image_name(
        backend, arguments["source_image_id"], arguments["source_region"]
    )
    _refuse_taken_name(fidelity, backend, name)
    ami = original(backend, *args, **kwargs)
    ami.root_device_type = "ebs"
    return ami


def _source_image_name(backend: AmiBackend, image_id: str, region: str) -> str | None:
    source_backend = ec2_backends[backend.account_id][region]  # type: ignore[attr-defined]
    return source_backend.describe_images(ami_ids=[image_id])[0].name


@patch(AmisResponse, "register_image")
def register_image_response(fidelity: Fidelity, original: Any, response: AmisResponse) -> ActionResult:
    result = original(response)
    ami = response.ec2_backend.amis[result.result["ImageId"]]  # type: ignore[attr-defined]
    imds_support = response._get_param("ImdsSupport")
    if imds_support:
        _set_imds_support(ami, imds_support)
    _keep_registered_layout(response, ami)
    return result


def _set_imds_support(ami: Ami, value: str) -> None:
    ami.imds_support = value  # DescribeImages reads this
    ami.imds = value  # DescribeImageAttribute(imdsSupport) reads this


@patch(AmisResponse, "modify_image_attribute")
def modify_image_attribute_response(fidelity: Fidelity, original: Any, response: AmisResponse) -> ActionResult:
    requested = _requested_imds_support(response)
    if requested is not None:
        if requested != IMDS_V2:
            # AWS documents v2.0 as the only value; its error code for others is a guess.
            raise EC2ClientError(
                "InvalidParameterValue", f"Value ({requested}) for parameter ImdsSupport is invalid. Use {IMDS_V2}."
            )
        ami = response.ec2_backend.describe_images(ami_ids=[response._get_param("ImageId")])[0]
        response.error_on_dryrun()
        _set_imds_support(ami, IMDS_V2)
    return original(response)


def _requested_imds_support(response: AmisResponse) -> str | None:
    """ImdsSupport.Value, or Value when Attribute is imdsSupport; None when neither is given."""
    structured = response._get_param("ImdsSupport")
    if isinstance(structured, dict) and structured.get("Value") is not None:
        return str(structured["Value"])
    if response._get_param("Attribute") == "imdsSupport":
        return str(response._get_param("Value"))
    return None


def _keep_registered_layout(response: AmisResponse, ami: Ami) -> None:
    for attribute, parameter in (("architecture", "Architecture"), ("virtualization_type", "VirtualizationType")):
        value = response._get_param(parameter)
        if value:
            setattr(ami, attribute, value)
    root_name = response._get_param("RootDeviceName")
    mappings = response._get_param("BlockDeviceMappings", [])
    root = next((m for m in mappings if m.get("DeviceName") == root_name and "Ebs" in m), None)
    if root is None:
        return
    ami.root_device_name = root_name
    ami.root_device_type = "ebs"
    snapshot_id = root["Ebs"].get("SnapshotId")
    if snapshot_id:
        # The AMI is made from that snapshot: moto's auto-created one must go, or prune
        # tests would find a snapshot no AMI of theirs references.
        backend = response.ec2_backend  # type: ignore[attr-defined]
        auto_created = ami.ebs_snapshot
        ami.ebs_snapshot = backend.get_snapshot(snapshot_id)
        backend.snapshots.pop(auto_created.id, None)


@add_method(AmisResponse, "enable_image_deprecation")
def enable_image_deprecation(fidelity: Fidelity, response: AmisResponse) -> ActionResult:
    image_id = response._get_param("ImageId")
    deprecate_at = _parse_time(response._get_param("DeprecateAt"))
    response.error_on_dryrun()
    ami = response.ec2_backend.describe_images(ami_ids=[image_id])[0]
    ami.deprecation_time = _iso(accepted_deprecation_time(deprecate_at, utcnow(), ami))
    return ActionResult({"Return": True})


def stored_deprecation_time(value: str) -> str:
    """Any time, in the past too, as DescribeImages shows a deprecation time (the control API's)."""
    try:
        return _iso(_nearest_minute(_parse_time(value)))
    except ValueError:
        raise ValueError(f"deprecation_time must be an ISO 8601 time, not {value!r}") from None


def accepted_deprecation_time(requested: datetime.datetime, now: datetime.datetime, ami: Ami) -> datetime.datetime:
    """DeprecateAt as AWS keeps it (DEPRECATE_AT_RULES): rounded, neither past nor too far ahead."""
    rounded = _nearest_minute(requested)
    if rounded < now:
        raise _invalid_deprecation(f"The deprecation time {_iso(rounded)} (rounded to the minute) is in the past.")
    latest, limit = _latest_deprecation(now, ami)
    if rounded > latest:
        raise _invalid_deprecation(f"The deprecation time {_iso(rounded)} is later than {limit} ({_iso(latest)}).")
    return rounded


def _latest_deprecation(now: datetime.datetime, ami: Ami) -> tuple[datetime.datetime, str]:
    if ami.is_public:
        created = _parse_time(ami.creation_date)
        years = PUBLIC_DEPRECATION_YEARS_AFTER_CREATION
        return _years_after(created, years), f"{years} years after the creation of public AMI {ami.id}"
    return _years_after(now, DEPRECATION_YEARS_AHEAD), f"{DEPRECATION_YEARS_AHEAD} years from now"


def _invalid_deprecation(message: str) -> EC2ClientError:
    return EC2ClientError("InvalidParameterValue", message)


def _years_after(moment: datetime.datetime, years: int) -> datetime.datetime:
    """The same day and time `years` later; 29 February becomes 28 February in a common year."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


@add_method(AmisResponse, "disable_image_deprecation")
def disable_image_deprecation(fidelity: Fidelity, response: AmisResponse) -> ActionResult:
    image_id = response._get_param("ImageId")
    response.error_on_dryrun()
    ami = response.ec2_backend.describe_images(ami_ids=[image_id])[0]
    ami.deprecation_time = None
    return ActionResult({"Return": True})


def _parse_time(value: Any) -> datetime.datetime:
    """A naive UTC datetime, the way moto keeps times."""
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def _nearest_minute(moment: datetime.datetime) -> datetime.datetime:
    """AWS rounds DeprecateAt's seconds to the nearest minute."""
    rounded = moment.replace(second=0, microsecond=0)
    if moment.second * 1_000_000 + moment.microsecond >= 30_000_000:
        rounded += datetime.timedelta(minutes=1)
    return rounded


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
