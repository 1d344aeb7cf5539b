"""A record of every security group deleted, with the ingress it had when it was deleted.

Packer's amazon-ebs builder creates a temporary security group for its build instance and
deletes it when the build ends, so a test that reads the group afterwards finds nothing.
The sandbox notes, for every DeleteSecurityGroup that succeeds: when, the group's id, name,
description, VPC and tags, and its ingress rules as stored right before the delete. This
changes no AWS behaviour; it is what a test reads back (control API
`GET /_sandbox/deleted-security-groups`).
"""

import itertools
import threading
import time
from typing import Any

from moto.ec2.models import EC2Backend

from .fidelity import Fidelity
from .patching import bound_arguments, patch


class DeletedGroupLog:
    """Thread-safe list of deleted groups; cleared when the sandbox resets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._sequence = itertools.count(1)

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(dict(record, sequence=next(self._sequence)))

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._sequence = itertools.count(1)


LOG = DeletedGroupLog()


@patch(EC2Backend, "delete_security_group")
def delete_security_group(fidelity: Fidelity, original: Any, backend: EC2Backend, *args: Any, **kwargs: Any) -> Any:
    arguments = bound_arguments(original, (backend, *args), kwargs)
    group = _group(backend, arguments.get("group_id"), arguments.get("name"))
    snapshot = describe_group(group) if group is not None else None
    result = original(backend, *args, **kwargs)
    if snapshot is not None:
        LOG.add(dict(snapshot, deleted_at=time.time()))
    return result


def _group(backend: EC2Backend, group_id: str | None, name: str | None) -> Any:
    if group_id:
        return backend.get_security_group_from_id(group_id)
    if name:
        return backend.get_security_group_by_name_or_id(name)
    return None


def describe_group(group: Any) -> dict[str, Any]:
    return {
        "group_id": group.id,
        "group_name": group.name,
        "description": group.description,
        "vpc_id": group.vpc_id,
        "tags": {tag["key"]: tag["value"] for tag in group.get_tags()},
        "ingress": [_rule(rule) for rule in group.ingress_rules],
    }


def _rule(rule: Any) -> dict[str, Any]:
    """One permission as DescribeSecurityGroupRules shows it: protocol, ports and one source."""
    return {
        "protocol": rule.ip_protocol,
        "from_port": None if rule.from_port is None else int(rule.from_port),
        "to_port": None if rule.to_port is None else int(rule.to_port),
        "cidr_ipv4": rule.ip_range.get("CidrIp"),
        "cidr_ipv6": rule.ip_range.get("CidrIpv6"),
        "source_group": (rule.source_group or {}).get("GroupId"),
        "prefix_list_id": rule.prefix_list_id,
    }
