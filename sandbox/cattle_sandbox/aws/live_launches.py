"""Launches of AMIs with content run for real (live_instances.py holds the stand-ins).

- RunInstances, and an Auto Scaling launch (moto makes both through InstanceBackend.run_instances):
  when the AMI has content and no stand-in waits for this call (Packer's build instance,
  image_content.py), each instance launched boots as a stand-in from the content, with its
  user data and its metadata options (HttpTokens from the request, else the launch
  template, else required for an AMI whose ImdsSupport is v2.0: "instances launched from
  this AMI will have HttpTokens automatically set to required", EC2 User Guide,
  "Configure the AMI").
- The sandbox's instance quota (fidelity setting live_instance_limit) is checked before
  anything is created: RunInstances beyond it fails with InstanceLimitExceeded ("You've
  reached the limit on the number of instances you can run concurrently", EC2 API
  Reference, "Error codes"); an Auto Scaling launch beyond it launches what fits and records
  a Failed scaling activity whose message is EC2's refusal followed by "Launching EC2
  instance failed." (EC2 Auto Scaling User Guide, "Troubleshoot Amazon EC2 Auto Scaling:
  EC2 instance launch failures"). The group stays below its desired capacity until its
  capacity changes again: the sandbox has no background loop that retries launches.
- TerminateInstances, a scale-in, deleting a group (moto ends all three in
  terminate_instances): the instances' stand-ins stop and go.
"""

import base64
import binascii
from datetime import datetime, timezone
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import InstanceBackend

from ..live_instances import InstanceQuotaExceeded
from .fidelity import Fidelity
from .patching import patch

LAUNCH_FAILED = "Launching EC2 instance failed."
IMDS_V2 = "v2.0"


@patch(InstanceBackend, "run_instances")
def run_instances(fidelity: Fidelity, original: Any, backend: InstanceBackend, image_id: str, count: int,
                  user_data: Any, security_group_names: list[str], **kwargs: Any) -> Any:
    content = content_to_boot(fidelity, image_id)
    if content is not None:
        try:
            fidelity.live_instances.check_quota(count, fidelity.settings.live_instance_limit)
        except InstanceQuotaExceeded as error:
            raise EC2ClientError("InstanceLimitExceeded", str(error)) from None
    reservation = original(backend, image_id, count, user_data, security_group_names, **kwargs)
    if content is not None:
        http_tokens = _http_tokens(backend, image_id, kwargs)
        for instance in reservation.instances:
            data = _user_data(instance.user_data)
            document = metadata_document(instance, http_tokens, data)
            fidelity.live_instances.launch(instance.id, image_id, content, document, data)
    return reservation


@patch(InstanceBackend, "terminate_instances")
def terminate_instances(fidelity: Fidelity, original: Any, backend: InstanceBackend, instance_ids: list[str]) -> Any:
    terminated = original(backend, instance_ids)
    fidelity.live_instances.terminate([instance.id for instance, _previous in terminated])
    return terminated


def launch_within_quota(fidelity: Fidelity, image_id: str | None, count_needed: int) -> tuple[int, str | None]:
    """(how many of count_needed an Auto Scaling group launches, the refusal of the rest or None):
    only launches of an AMI with content count against the quota."""
    if content_to_boot(fidelity, image_id) is None:
        return count_needed, None
    limit = fidelity.settings.live_instance_limit
    fitting = min(count_needed, fidelity.live_instances.available(limit))
    if fitting == count_needed:
        return count_needed, None
    return fitting, f"{InstanceQuotaExceeded(count_needed, limit)} {LAUNCH_FAILED}"


def content_to_boot(fidelity: Fidelity, image_id: str | None) -> str | None:
    """The AMI's content when its instances boot as stand-ins; None for virtual instances."""
    if not image_id or fidelity.image_store.binding_pending():
        return None
    return fidelity.image_store.content_path(image_id)


def _http_tokens(backend: InstanceBackend, image_id: str, kwargs: dict[str, Any]) -> str:
    requested = (kwargs.get("metadata_options") or {}).get("HttpTokens")
    if requested:
        return requested
    if kwargs.get("launch_template"):
        template = backend._get_template_from_args(kwargs["launch_template"]).data  # type: ignore[attr-defined]
        from_template = (template.get("MetadataOptions") or {}).get("HttpTokens")
        if from_template:
            return from_template
    ami = backend.amis.get(image_id)  # type: ignore[attr-defined]
    return "required" if getattr(ami, "imds_support", None) == IMDS_V2 else "optional"


def _user_data(value: Any) -> bytes | None:
    """The user data moto keeps (base64: a Base64EncodedString, or text from a launch template) as bytes."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    raw = value if isinstance(value, bytes) else str(value).encode()
    if not raw:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw


def metadata_document(instance: Any, http_tokens: str, user_data: bytes | None) -> dict[str, Any]:
    """What the metadata service tells this instance about itself (imds.metadata_tree)."""
    return {
        "instance_id": instance.id,
        "image_id": instance.image_id,
        "instance_type": instance.instance_type,
        "availability_zone": instance.placement.zone or f"{instance.region_name}a",
        "region": instance.region_name,
        "private_ip": instance.private_ip or "",
        "hostname": instance.private_dns_name,
        "launch_time": _iso(instance.launch_time),
        "launch_index": instance.ami_launch_index,
        "account_id": instance.ec2_backend.account_id,
        "security_groups": [group.name for group in instance.security_groups],
        "http_tokens": http_tokens,
        "user_data": base64.b64encode(user_data).decode() if user_data is not None else None,
    }


def _iso(moment: Any) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(moment)
