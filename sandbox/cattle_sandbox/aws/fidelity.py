"""Where moto is more lenient or more perfect than AWS: the switches and the test-set state.

The behaviours themselves live next to the moto code they change (target_health.py,
listener_actions.py, autoscaling.py, images.py); this module holds what they read:
the settings, and what tests asked for through the control API (target health
overrides, Auto Scaling groups whose launches fail).
"""

import dataclasses
import importlib
import threading
from dataclasses import dataclass
from typing import Any

from . import patching
from .client_tokens import ClientTokens
from ..image_store import ImageStore
from ..health_checks import HealthChecker
from ..live_instances import LiveInstances

TARGET_HEALTH_STATES = ("healthy", "unhealthy", "initial")
DEFAULT_REASONS = {
    "healthy": (None, None),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "initial": ("Elb.InitialHealthChecking", "Initial health checks in progress"),
}
# The modules that change moto's behaviour (see their docstrings).
# image_content wraps images' patches of the same methods, so it comes after it;
# idempotency wraps them all, so a replayed create touches nothing.
PATCH_MODULES = ("target_health", "listener_actions", "autoscaling", "images", "image_content", "live_launches",
                 "alb_traffic", "run_command", "iam_policies", "paging", "security_groups", "asg_deletion",
                 "idempotency")
DEFAULT_LAUNCH_FAILURE = "Launching EC2 instance failed (made to fail by the sandbox)."


@dataclass
class FidelitySettings:
    """Every switch is on by default so tests meet what AWS does."""

    # Seconds a registered target of an in-use target group stays `initial`.
    target_healthy_after: float = 1.0
    # initial -> healthy timeline (off: moto's always-healthy targets).
    target_health_timeline: bool = True
    # Targets of a group no listener or rule forwards to are `unused`.
    report_unused_target_groups: bool = True
    # Instance targets in a zone none of the group's load balancers has enabled are `unused`.
    report_targets_outside_enabled_zones: bool = True
    # Deregistered targets are `draining` for deregistration_delay.timeout_seconds.
    drain_deregistered_targets: bool = True
    # CreateAutoScalingGroup with a taken name fails with AlreadyExists.
    reject_duplicate_asg_names: bool = True
    # CreateImage/RegisterImage/CopyImage with a taken name fail with InvalidAMIName.Duplicate.
    reject_duplicate_image_names: bool = True
    # Forward actions: weights 0-999 and existing target groups only.
    validate_forward_actions: bool = True
    # Instances running as stand-ins at once (AMIs with content): the account's instance quota.
    live_instance_limit: int = 16
    # Seconds the SSM agent's unit runs before its instance is a managed node (run_command.py).
    ssm_registration_seconds: float = 3.0
    # Seconds after SendCommand during which GetCommandInvocation answers InvocationDoesNotExist.
    ssm_invocation_hidden_seconds: float = 1.0
    # A deleted Auto Scaling group stays "Delete in progress" for a time drawn between these
    # (seeded by asg_delete_seed and the group's name), then is gone (asg_deletion.py); 0 and 0: at once.
    asg_delete_min_seconds: float = 0.2
    asg_delete_max_seconds: float = 0.8
    asg_delete_seed: int = 0

    def updated(self, changes: dict[str, Any]) -> "FidelitySettings":
        known = {field.name: field for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown fidelity setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return dataclasses.replace(self, **{name: _checked(known[name], value) for name, value in changes.items()})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _checked(field: dataclasses.Field, value: Any) -> Any:  # type: ignore[type-arg]
    if field.type in (bool, "bool"):
        if not isinstance(value, bool):
            raise ValueError(f"{field.name} must be true or false, not {value!r}")
        return value
    if field.type in (int, "int"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{field.name} must be a whole number >= 0, not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{field.name} must be a number of seconds >= 0, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class HealthOverride:
    state: str
    reason: str | None
    description: str | None


@dataclass(frozen=True)
class LaunchFailure:
    asg_name: str
    reason: str


class Fidelity:
    """The state the patched moto code consults while a sandbox runs."""

    def __init__(self, settings: FidelitySettings):
        self._initial = settings
        self.settings = settings
        self._lock = threading.Lock()
        self._health_overrides: dict[tuple[str, str], HealthOverride] = {}
        self._launch_failures: dict[str, LaunchFailure] = {}
        # Stand-in bindings and AMI contents (image_store.py), kept by image_content's patches.
        self.image_store = ImageStore()
        # The first answer to each client token (idempotency.py).
        self.client_tokens = ClientTokens()
        # Stand-ins playing instances of AMIs with content (live_instances.py).
        self.live_instances = LiveInstances()
        # Real HTTP health checks of targets that are live instances (health_checks.py).
        self.health_checker = HealthChecker()
        # Listeners that carry requests (alb_traffic.py, made by activate(): it is a patch module).
        self.traffic: Any = None
        # The lock that serialises moto (SandboxCore sets its own): listener threads read moto too.
        self.moto_lock: Any = threading.RLock()

    # -- lifecycle ---------------------------------------------------------------------

    def activate(self) -> None:
        for module in PATCH_MODULES:
            # Each registers its patches with `patching` when imported.
            importlib.import_module(f"{__package__}.{module}")
        patching.install()
        patching.activate(self)
        if self.traffic is None:
            self.traffic = importlib.import_module(f"{__package__}.alb_traffic").Traffic()

    def deactivate(self) -> None:
        patching.deactivate(self)
        if self.traffic is not None:
            self.traffic.stop_all()
        self.health_checker.stop()
        self.live_instances.stop_all()
        self.image_store.clear()

    def reset(self) -> None:
        """Back to the settings the sandbox started with, and nothing set by tests."""
        self.settings = self._initial
        self.forget_test_state()

    def forget_test_state(self) -> None:
        with self._lock:
            self._health_overrides.clear()
            self._launch_failures.clear()
        if self.traffic is not None:
            self.traffic.stop_all()  # their load balancers are gone
        self.health_checker.stop()
        self.live_instances.stop_all()  # their instances are gone
        self.image_store.clear()  # the AMIs and instances it refers to are gone
        self.client_tokens.clear()  # so are the resources their answers name

    def update_settings(self, changes: dict[str, Any]) -> FidelitySettings:
        self.settings = self.settings.updated(changes)
        return self.settings

    # -- target health overrides -------------------------------------------------------

    def set_health_override(self, group_key: str, target_ids: list[str] | None, override: HealthOverride) -> None:
        with self._lock:
            for target_id in target_ids or ["*"]:
                self._health_overrides[(group_key, target_id)] = override

    def clear_health_overrides(self, group_key: str | None, target_ids: list[str] | None) -> int:
        with self._lock:
            doomed = [
                key
                for key in self._health_overrides
                if (group_key is None or key[0] == group_key) and (target_ids is None or key[1] in target_ids)
            ]
            for key in doomed:
                del self._health_overrides[key]
            return len(doomed)

    def health_override_for(self, group_arn: str, group_name: str, target_id: str) -> HealthOverride | None:
        """A per-target override wins over a whole-group one; ARN and name both address a group."""
        with self._lock:
            for key in ((group_arn, target_id), (group_name, target_id), (group_arn, "*"), (group_name, "*")):
                if key in self._health_overrides:
                    return self._health_overrides[key]
        return None

    def health_overrides(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"target_group": group, "target_id": None if target == "*" else target, **dataclasses.asdict(override)}
                for (group, target), override in self._health_overrides.items()
            ]

    # -- Auto Scaling launch failures --------------------------------------------------

    def fail_launches(self, asg_name: str, reason: str) -> None:
        with self._lock:
            self._launch_failures[asg_name] = LaunchFailure(asg_name, reason)

    def clear_launch_failures(self, asg_name: str | None) -> list[str]:
        with self._lock:
            names = [asg_name] if asg_name is not None else list(self._launch_failures)
            return [name for name in names if self._launch_failures.pop(name, None) is not None]

    def launch_failure_for(self, asg_name: str) -> LaunchFailure | None:
        with self._lock:
            return self._launch_failures.get(asg_name)

    def launch_failures(self) -> list[dict[str, str]]:
        with self._lock:
            return [dataclasses.asdict(failure) for failure in self._launch_failures.values()]


def health_override(state: str, reason: str | None, description: str | None) -> HealthOverride:
    if state not in TARGET_HEALTH_STATES:
        raise ValueError(f"state must be one of {', '.join(TARGET_HEALTH_STATES)}, not {state!r}")
    default_reason, default_description = DEFAULT_REASONS[state]
    if state == "healthy":
        return HealthOverride(state, None, None)
    return HealthOverride(state, reason or default_reason, description or default_description)
