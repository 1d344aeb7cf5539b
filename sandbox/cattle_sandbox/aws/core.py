"""The sandbox's state and the operations of its control API.

One lock serialises everything that touches moto's models: moto is not written for
concurrent requests, and a test's control call (say, failing an Auto Scaling group's
launches) must not interleave with an API call halfway through.
"""

import logging
import threading
from typing import Any

from moto.ec2.models import ec2_backends
from moto.elbv2.models import FakeTargetGroup, elbv2_backends
from moto.moto_api._internal import moto_api_backend

from . import autoscaling, images, listener_writes, security_groups
from .calls import RequestCounters
from .faults import FaultInjector
from .fidelity import DEFAULT_LAUNCH_FAILURE, Fidelity, FidelitySettings, health_override

log = logging.getLogger("cattle_sandbox.aws")


# How often Auto Scaling looks at its instances' load balancer health (AWS: "periodically").
HEALTH_REVIEW_SECONDS = 1.0


class SandboxCore:
    def __init__(self, settings: FidelitySettings):
        self.lock = threading.RLock()
        self.fidelity = Fidelity(settings)
        self.fidelity.moto_lock = self.lock
        self.faults = FaultInjector()
        self.counters = RequestCounters()
        self._stopping = threading.Event()
        self._background: threading.Thread | None = None

    # -- what AWS does on its own --------------------------------------------------------

    def start_background(self) -> None:
        """Auto Scaling's review of ELB health, while live instances exist (autoscaling.py)."""
        self._stopping.clear()
        self._background = threading.Thread(target=self._review_health, name="sandbox-autoscaling", daemon=True)
        self._background.start()

    def stop_background(self) -> None:
        self._stopping.set()
        if self._background is not None:
            self._background.join(timeout=10)
            self._background = None

    def _review_health(self) -> None:
        while not self._stopping.wait(HEALTH_REVIEW_SECONDS):
            if self.fidelity.live_instances.live_count() == 0:
                continue
            with self.lock:
                try:
                    autoscaling.replace_unhealthy_instances(self.fidelity)
                except Exception:  # a group changing under the review; the next one sees it settled
                    log.exception("reviewing Auto Scaling instance health failed")

    def reset(self) -> None:
        """moto's state, fidelity settings and test state, faults and counters back to the start."""
        with self.lock:
            moto_api_backend.reset()
            self.fidelity.reset()
            self.faults.clear()
            self.counters.reset()
            listener_writes.LOG.clear()
            security_groups.LOG.clear()

    def forget_test_state(self) -> None:
        """After a reset through moto's own /moto-api/reset: what tests set refers to nothing now."""
        self.fidelity.forget_test_state()
        listener_writes.LOG.clear()  # the listeners it names are gone
        security_groups.LOG.clear()

    # -- target health ------------------------------------------------------------------

    def set_target_health(
        self,
        target_group: str,
        target_ids: list[str] | None,
        state: str,
        reason: str | None = None,
        description: str | None = None,
    ) -> None:
        override = health_override(state, reason, description)
        with self.lock:
            if target_group.startswith("arn:") and _target_group(target_group) is None:
                raise LookupError(f"no target group {target_group}")
            self.fidelity.set_health_override(target_group, _id_list(target_ids), override)

    def clear_target_health(self, target_group: str | None = None, target_ids: list[str] | None = None) -> int:
        return self.fidelity.clear_health_overrides(target_group, _id_list(target_ids))

    # -- listener writes ---------------------------------------------------------------------

    def listener_writes(self, unguarded_only: bool = False) -> list[dict[str, Any]]:
        """Every listener/rule write since the reset (see listener_writes.py), oldest first."""
        return listener_writes.LOG.unguarded() if unguarded_only else listener_writes.LOG.writes()

    def deleted_security_groups(self) -> list[dict[str, Any]]:
        """Every security group deleted since the reset, with its ingress then (security_groups.py)."""
        return security_groups.LOG.records()

    # -- Auto Scaling launch failures ------------------------------------------------------

    def fail_asg_launches(
        self, asg_name: str, reason: str | None = None, remove_running: bool = True
    ) -> dict[str, Any]:
        if not asg_name:
            raise ValueError("asg_name is required")
        with self.lock:
            self.fidelity.fail_launches(asg_name, reason or DEFAULT_LAUNCH_FAILURE)
            removed: list[str] = []
            if remove_running:
                for group in autoscaling.groups_named(asg_name):
                    removed += autoscaling.remove_running_instances(group)
            return {"removed_instances": removed}

    def clear_asg_launch_failures(self, asg_name: str | None = None) -> dict[str, Any]:
        with self.lock:
            cleared = self.fidelity.clear_launch_failures(asg_name)
            for name in cleared:
                for group in autoscaling.groups_named(name):
                    autoscaling.relaunch(group)
            return {"cleared": cleared}

    # -- stand-ins and image content -------------------------------------------------------

    def bind_standin(self, root: str, instance_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            if instance_id is not None and not _instance_exists(instance_id):
                raise LookupError(f"no instance {instance_id} in the sandbox")
            return self.fidelity.image_store.bind(root, instance_id)

    def image_content(self, image_id: str) -> dict[str, Any]:
        """The AMI's content (where its tarball is); LookupError saying why there is none."""
        if not isinstance(image_id, str) or not image_id:
            raise ValueError(f"image_id must be an AMI id, not {image_id!r}")
        with self.lock:
            found = self.fidelity.image_store.describe(image_id)
            if found is not None:
                return found
            if _image_exists(image_id):
                raise LookupError(
                    f"AMI {image_id} has no content to boot from: it was not made by CreateImage "
                    "or CopyImage in this sandbox (RegisterImage gives an AMI no file system; "
                    "import_image_content gives it one)"
                )
            raise LookupError(f"no AMI {image_id} in the sandbox")

    def import_image_content(self, image_id: str, path: str) -> dict[str, Any]:
        """Gives a registered AMI (RegisterImage: no file system) the content tarball at path,
        as if its snapshot held it. ValueError for a path that is no content tarball or an AMI
        that has content already; LookupError for an unknown AMI. Nothing changes on refusal."""
        if not isinstance(image_id, str) or not image_id:
            raise ValueError(f"image_id must be an AMI id, not {image_id!r}")
        with self.lock:
            if not _image_exists(image_id):
                raise LookupError(f"no AMI {image_id} in the sandbox")
            return self.fidelity.image_store.content_imported(image_id, path).describe(image_id)

    def routed_requests(self, since: int = 0) -> list[dict[str, Any]]:
        """Requests the load balancers' listeners answered after sequence `since` (load_balancer.py)."""
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ValueError(f"since must be a sequence number >= 0, not {since!r}")
        return self.fidelity.traffic.requests.since(since)

    def live_instances(self) -> list[dict[str, Any]]:
        """The stand-ins playing instances of AMIs with content (live_instances.py), oldest first."""
        return self.fidelity.live_instances.describe()

    # -- AMI deprecation -----------------------------------------------------------------

    def set_image_deprecation_time(self, image_id: str, deprecation_time: str) -> dict[str, Any]:
        """Sets DeprecationTime, past times included: what an AMI looks like once its deprecation
        time has passed (EnableImageDeprecation refuses a past time, as AWS does)."""
        if not isinstance(deprecation_time, str) or not deprecation_time:
            raise ValueError(f"deprecation_time must be an ISO 8601 time, not {deprecation_time!r}")
        with self.lock:
            ami = _image(image_id)
            if ami is None:
                raise LookupError(f"no AMI {image_id} in the sandbox")
            ami.deprecation_time = images.stored_deprecation_time(deprecation_time)
            return {"image_id": image_id, "deprecation_time": ami.deprecation_time}


def _instance_exists(instance_id: str) -> bool:
    return any(
        instance.id == instance_id
        for _account, _region, backend in ec2_backends.iter_backends()
        for instance in backend.all_instances()
    )


def _image_exists(image_id: str) -> bool:
    return _image(image_id) is not None


def _image(image_id: str) -> Any:
    for _account, _region, backend in ec2_backends.iter_backends():
        if image_id in backend.amis:
            return backend.amis[image_id]
    return None


def _target_group(arn: str) -> FakeTargetGroup | None:
    for _account, _region, backend in elbv2_backends.iter_backends():
        if arn in backend.target_groups:
            return backend.target_groups[arn]
    return None


def _id_list(target_ids: Any) -> list[str] | None:
    if target_ids is None:
        return None
    if isinstance(target_ids, str):
        return [target_ids]
    if not isinstance(target_ids, list) or not all(isinstance(item, str) for item in target_ids):
        raise ValueError(f"target_ids must be a list of target ids or null, not {target_ids!r}")
    return target_ids
