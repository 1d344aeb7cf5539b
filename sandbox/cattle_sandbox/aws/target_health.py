"""ELBv2 target health as AWS reports it, instead of moto's "always healthy".

- A registered target of a group that a listener or rule forwards to starts `initial`
  (Elb.InitialHealthChecking) and turns `healthy` `target_healthy_after` seconds after
  the later of its registration and the group coming into use.
- A target of a group nothing forwards to is `unused` (Target.NotInUse): AWS never
  health-checks it.
- An instance target in an Availability Zone that none of the group's load balancers has
  enabled is `unused` (Target.NotInUse) too, for as long as its zone is not enabled (see
  `_outside_enabled_zones`).
- A deregistered target (also an instance terminated by Auto Scaling or by the user)
  stays `draining` for the group's deregistration_delay.timeout_seconds, then is gone.
- A target that is a live instance (live_instances.py) is health-checked for real, over
  HTTP, with the group's settings (health_checks.py); other targets follow the timeline.
- A test may override the health-check outcome per target or per group.

The timestamps live on moto's model objects, so a moto reset forgets them too. This
is done on FakeTargetGroup itself, so targets that moto's Auto Scaling registers for
an attached group follow the same timeline.
"""

import time
from typing import Any

from moto.autoscaling.models import AutoScalingBackend
from moto.elbv2.exceptions import TargetGroupNotFoundError
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup, elbv2_backends

from ..health_checks import CheckSettings
from .fidelity import Fidelity
from .patching import patch

NOT_IN_USE = ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
ZONE_NOT_ENABLED = ("Target.NotInUse", "Target is in an Availability Zone that is not enabled for the load balancer")
DRAINING = ("Target.DeregistrationInProgress", "Target deregistration is in progress")
INITIAL = ("Elb.InitialHealthChecking", "Initial health checks in progress")
GONE_INSTANCE_STATES = ("shutting-down", "terminated")

# Backend calls after which the set of target groups in use may have changed.
LISTENER_CHANGES = (
    "create_listener",
    "modify_listener",
    "delete_listener",
    "create_rule",
    "modify_rule",
    "delete_rule",
    "delete_load_balancer",
)


def _registered_at(group: FakeTargetGroup) -> dict[str, float]:
    return group.__dict__.setdefault("_sandbox_registered_at", {})


def _draining(group: FakeTargetGroup) -> dict[str, tuple[dict[str, Any], float]]:
    """target id -> (target as moto stores it, monotonic time draining ends)."""
    return group.__dict__.setdefault("_sandbox_draining", {})


def _in_use_since(group: FakeTargetGroup) -> float | None:
    return group.__dict__.get("_sandbox_in_use_since")


def _backend_of(group: FakeTargetGroup) -> ELBv2Backend:
    return elbv2_backends[group.account_id][group.region_name]


def _deregistration_delay(group: FakeTargetGroup) -> float:
    return float(group.attributes.get("deregistration_delay.timeout_seconds", 300))


def _status(
    target: dict[str, Any], group: FakeTargetGroup, state: str, why: tuple[str | None, str | None]
) -> FakeHealthStatus:
    reason, description = why
    return FakeHealthStatus(
        target["Id"], target.get("Port", group.port), group.health_check_port, state, reason, description
    )


# -- registration bookkeeping ------------------------------------------------------------


@patch(FakeTargetGroup, "register")
def register(fidelity: Fidelity, original: Any, group: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    already = set(group.targets)
    original(group, targets)
    now = time.monotonic()
    for target in targets:
        # Registering a registered target changes nothing on AWS; moto re-registers
        # every Auto Scaling instance on each capacity change, so this matters.
        if target["Id"] in group.targets and target["Id"] not in already:
            _registered_at(group)[target["Id"]] = now
            _draining(group).pop(target["Id"], None)
            _watch_if_live(fidelity, group, group.targets[target["Id"]])


@patch(FakeTargetGroup, "deregister")
def deregister(fidelity: Fidelity, original: Any, group: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    leaving = [group.targets[t["Id"]] for t in targets if t["Id"] in group.targets]
    original(group, targets)
    _start_draining(fidelity, group, leaving)


@patch(FakeTargetGroup, "deregister_terminated_instances")
def deregister_terminated_instances(
    fidelity: Fidelity, original: Any, group: FakeTargetGroup, instance_ids: list[str]
) -> None:
    leaving = [target for target_id, target in group.targets.items() if target_id in instance_ids]
    original(group, instance_ids)
    _start_draining(fidelity, group, leaving)


def _watch_if_live(fidelity: Fidelity, group: FakeTargetGroup, target: dict[str, Any]) -> None:
    """Real health checks for a target that a stand-in plays, from when the group is in use."""
    target_id = target["Id"]
    if not fidelity.live_instances.knows(target_id):
        return
    fidelity.health_checker.watch(
        (group.arn, target_id),
        settings=lambda: check_settings(group, target),
        address=lambda: fidelity.live_instances.address_of(target_id),
        active=lambda: _in_use_since(group) is not None,
    )


def check_settings(group: FakeTargetGroup, target: dict[str, Any]) -> CheckSettings:
    port = group.health_check_port
    return CheckSettings(
        protocol=group.health_check_protocol or "HTTP",
        port=int(target.get("Port") or group.port) if port in (None, "traffic-port") else int(port),
        path=group.health_check_path or "/",
        matcher=(getattr(group, "matcher", None) or {}).get("HttpCode", "200"),
        interval=float(group.health_check_interval_seconds),
        timeout=float(group.health_check_timeout_seconds),
        healthy_threshold=int(group.healthy_threshold_count),
        unhealthy_threshold=int(group.unhealthy_threshold_count),
    )


def _start_draining(fidelity: Fidelity, group: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    until = time.monotonic() + _deregistration_delay(group)
    for target in targets:
        _registered_at(group).pop(target["Id"], None)
        fidelity.health_checker.forget((group.arn, target["Id"]))
        if fidelity.settings.drain_deregistered_targets:
            _draining(group)[target["Id"]] = (dict(target), until)


def _refresh_usage(backend: ELBv2Backend) -> None:
    """Remembers when each target group came into use: health checks start then."""
    now = time.monotonic()
    for group in backend.target_groups.values():
        if not backend._any_listener_using(group.arn):
            group.__dict__["_sandbox_in_use_since"] = None
        elif _in_use_since(group) is None:
            group.__dict__["_sandbox_in_use_since"] = now


def _refreshing_usage(name: str) -> None:
    @patch(ELBv2Backend, name)
    def refreshed(fidelity: Fidelity, original: Any, backend: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        result = original(backend, *args, **kwargs)
        _refresh_usage(backend)
        return result


for _name in LISTENER_CHANGES:
    _refreshing_usage(_name)


# -- what DescribeTargetHealth reports ----------------------------------------------------


@patch(FakeTargetGroup, "health_for")
def health_for(
    fidelity: Fidelity, original: Any, group: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any
) -> FakeHealthStatus:
    target_id = target["Id"]
    if target_id in group.targets:
        return _registered_health(fidelity, original, group, group.targets[target_id], ec2_backend)
    draining = _draining(group).get(target_id)
    if draining is not None:
        if time.monotonic() < draining[1]:
            return _status(draining[0], group, "draining", DRAINING)
        _finish_draining(group, target_id)
    return original(group, target, ec2_backend)


def _finish_draining(group: FakeTargetGroup, target_id: str) -> None:
    target, _until = _draining(group).pop(target_id)
    # From now on moto reports it as it reports any deregistered target: not registered.
    group.terminated_targets.pop(target_id, None)
    group.deregistered_targets[target_id] = target


def _registered_health(
    fidelity: Fidelity, original: Any, group: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any
) -> FakeHealthStatus:
    settings = fidelity.settings
    as_moto_sees_it = original(group, target, ec2_backend)
    if as_moto_sees_it.status != "healthy":
        return as_moto_sees_it  # for example a stopped instance: moto already says why
    if settings.report_unused_target_groups and not _backend_of(group)._any_listener_using(group.arn):
        return _status(target, group, "unused", NOT_IN_USE)
    if settings.report_targets_outside_enabled_zones and _outside_enabled_zones(group, target, ec2_backend):
        return _status(target, group, "unused", ZONE_NOT_ENABLED)
    override = fidelity.health_override_for(group.arn, group.name, target["Id"])
    if override is not None:
        return _status(target, group, override.state, (override.reason, override.description))
    checked = fidelity.health_checker.health((group.arn, target["Id"]))
    if checked is not None:
        state, reason, description = checked
        return _status(target, group, state, (reason, description))
    if settings.target_health_timeline and _still_initial(group, target["Id"], settings.target_healthy_after):
        return _status(target, group, "initial", INITIAL)
    return as_moto_sees_it


def _outside_enabled_zones(group: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> bool:
    """Whether an instance target sits in a zone none of the group's load balancers serves.

    AWS, Elastic Load Balancing API Reference, "TargetHealth", Reason: "Target.NotInUse - The
    target group is not used by any load balancer or the target is in an Availability Zone
    that is not enabled for its load balancer." A load balancer's zones are those of its
    subnets (SetSubnets changes them), so this is decided at every look, not at registration.
    """
    target_id = target["Id"]
    if not target_id.startswith("i-"):
        return False
    instance = ec2_backend.get_instance_by_id(target_id)
    if instance is None:
        return False
    zone = instance.placement.zone
    enabled = _enabled_zones(_backend_of(group), group.arn)
    return bool(enabled) and zone not in enabled


def _enabled_zones(backend: ELBv2Backend, group_arn: str) -> set[str]:
    """The zones of every load balancer with a listener or rule forwarding to the group."""
    zones: set[str] = set()
    for balancer in backend.load_balancers.values():
        for listener in balancer.listeners.values():
            if any(group_arn in backend._get_target_group_arns_from(action_data=action.data)
                   for rule in listener.rules.values() for action in rule.actions):
                zones.update(subnet.availability_zone for subnet in balancer.subnets)
                break
    return zones


def _still_initial(group: FakeTargetGroup, target_id: str, healthy_after: float) -> bool:
    checks_started = max(_registered_at(group).get(target_id, 0.0), _in_use_since(group) or 0.0)
    return time.monotonic() - checks_started < healthy_after


@patch(ELBv2Backend, "describe_target_health")
def describe_target_health(
    fidelity: Fidelity, original: Any, backend: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]
) -> list[FakeHealthStatus]:
    group = backend.target_groups.get(target_group_arn)
    if group is not None and not targets:
        # AWS lists draining targets along with the registered ones.
        targets = list(group.targets.values()) + _still_draining(group)
    return original(backend, target_group_arn, targets)


def _still_draining(group: FakeTargetGroup) -> list[dict[str, Any]]:
    now = time.monotonic()
    for target_id, (_target, until) in list(_draining(group).items()):
        if now >= until:
            _finish_draining(group, target_id)
    return [target for target, _until in _draining(group).values()]


# -- Auto Scaling: instances that leave a group leave its target groups ---------------------


@patch(AutoScalingBackend, "update_attached_target_groups")
def update_attached_target_groups(
    fidelity: Fidelity, original: Any, backend: AutoScalingBackend, group_name: str
) -> None:
    original(backend, group_name)
    # moto only ever registers: instances it terminated on scale-in or group deletion
    # would stay healthy targets. AWS deregisters them (they drain).
    for arn in backend.autoscaling_groups[group_name].target_group_arns:
        group = backend.elbv2_backend.target_groups.get(arn)
        if group is not None:
            _deregister_gone_instances(backend, group)


def _deregister_gone_instances(backend: AutoScalingBackend, group: FakeTargetGroup) -> None:
    gone = []
    for target_id in group.targets:
        instance = backend.ec2_backend.get_instance_by_id(target_id) if target_id.startswith("i-") else None
        if instance is not None and instance.state in GONE_INSTANCE_STATES:
            gone.append({"Id": target_id})
    if gone:
        group.deregister(gone)


@patch(AutoScalingBackend, "notify_terminate_instances")
def notify_terminate_instances(
    fidelity: Fidelity, original: Any, backend: AutoScalingBackend, instance_ids: list[str]
) -> None:
    original(backend, instance_ids)
    # moto replaces an instance terminated by the user but registers the replacement
    # only with classic ELBs; AWS registers it with the group's target groups too.
    for group_name in list(backend.autoscaling_groups):
        try:
            backend.update_attached_target_groups(group_name)
        except TargetGroupNotFoundError:
            continue  # a target group deleted before its Auto Scaling group
