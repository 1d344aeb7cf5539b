"""Instances that run: one launched from an AMI with content boots as a stand-in.

RunInstances, or an Auto Scaling group's launch, of an AMI that has content (image_store.py)
starts a stand-in booted from that content in its own network namespace, with the
instance's user data run at boot as cloud-init runs a script (standin/user_data.py) and the
metadata service answering at 169.254.169.254 (imds.py). Terminating the instance
(TerminateInstances, a scale-in, deleting its group) stops and removes the stand-in. An
instance of an AMI without content stays virtual, as moto makes it: module tests stay fast.

Boots and teardowns run in worker threads: RunInstances answers at once (on AWS too an
instance starts `pending`), and no sandbox lock is held while a stand-in boots. Nothing here
imports moto: the aws package's patches (aws/live_launches.py) call it.
"""

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import imds
from .image_store import link_or_copy
from .standin import StandIn, find_prepared, paths

BOOT_WORKERS = 4
LIVE_BOOT_TIMEOUT = 120
QUOTA_MESSAGE = (
    "You have requested more instances ({requested}) than your current instance limit of {limit} allows "
    "for the specified instance type."
)

log = logging.getLogger("cattle_sandbox.instances")


class InstanceQuotaExceeded(Exception):
    """AWS's InstanceLimitExceeded: more live stand-ins than the sandbox's instance quota allows."""

    def __init__(self, requested: int, limit: int):
        super().__init__(QUOTA_MESSAGE.format(requested=requested, limit=limit))
        self.requested = requested
        self.limit = limit


@dataclass
class LiveInstance:
    instance_id: str
    image_id: str
    document: dict[str, Any]
    user_data: bytes | None
    state: str = "booting"  # booting, running, failed, stopping, stopped
    standin: Any = None
    error: str | None = None
    boot_seconds: float | None = None
    teardown_seconds: float | None = None
    launched_at: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    future: Future | None = None

    def describe(self) -> dict[str, Any]:
        standin = self.standin
        return {
            "instance_id": self.instance_id,
            "image_id": self.image_id,
            "state": self.state,
            "name": getattr(standin, "name", None) if standin and standin.network else None,
            "address": getattr(standin, "address", None) if standin and standin.network else None,
            "error": self.error,
            "boot_seconds": self.boot_seconds,
            "boot_phases": dict(standin.boot_phases) if standin else {},
            "teardown_seconds": self.teardown_seconds,
            "memory_current_bytes": self.memory_current_bytes(),
        }

    def memory_current_bytes(self) -> int | None:
        """What its stand-in's cgroup uses now (StandIn.memory_current); None unless it runs."""
        if self.state != "running" or self.standin is None:
            return None
        return self.standin.memory_current()


class LiveInstances:
    """The stand-ins that play this sandbox's instances. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._instances: dict[str, LiveInstance] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._metadata = imds.MetadataService()

    # -- what the patches call --------------------------------------------------------------

    def check_quota(self, requested: int, limit: int) -> None:
        """Raises InstanceQuotaExceeded when `requested` more would pass `limit` live stand-ins."""
        if self.live_count() + requested > limit:
            raise InstanceQuotaExceeded(requested, limit)

    def available(self, limit: int) -> int:
        return max(0, limit - self.live_count())

    def launch(self, instance_id: str, image_id: str, content: str, document: dict[str, Any],
               user_data: bytes | None) -> None:
        """Boots a stand-in for the instance from `content` (a link is taken now, so deregistering
        the AMI meanwhile does not pull the file away, as on AWS)."""
        pinned = pin_content(content, instance_id)
        record = LiveInstance(instance_id, image_id, document, user_data)
        with self._lock:
            self._instances[instance_id] = record
            record.future = self._pool().submit(self._boot, record, pinned)

    def terminate(self, instance_ids: list[str]) -> None:
        """Stops the stand-ins of these instances (after their boot, if one is under way)."""
        with self._lock:
            records = [self._instances[iid] for iid in instance_ids if iid in self._instances]
            for record in records:
                if record.state in ("booting", "running", "failed"):
                    record.state = "stopping"
                    record.future = self._pool().submit(self._stop, record)

    def stop_all(self) -> None:
        """Stops every stand-in and waits for it (sandbox reset and stop)."""
        with self._lock:
            self.terminate(list(self._instances))
            futures = [record.future for record in self._instances.values() if record.future]
        for future in futures:
            future.exception()  # waits; errors are logged by the worker
        with self._lock:
            self._instances.clear()
        self._metadata.stop()

    # -- what tests and the control API read ----------------------------------------------

    def live_count(self) -> int:
        with self._lock:
            return sum(1 for record in self._instances.values() if record.state in ("booting", "running", "failed"))

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [record.describe() for record in self._instances.values()]

    def knows(self, instance_id: str) -> bool:
        """Whether the instance is (or was) played by a stand-in rather than virtual."""
        with self._lock:
            return instance_id in self._instances

    def address_of(self, instance_id: str) -> str | None:
        """The stand-in's address while it runs; None before and after."""
        standin = self.standin_of(instance_id)
        return standin.address if standin is not None else None

    def standin_of(self, instance_id: str) -> Any:
        with self._lock:
            record = self._instances.get(instance_id)
            return record.standin if record and record.state == "running" else None

    # -- the workers ------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=BOOT_WORKERS, thread_name_prefix="instance")
        return self._executor

    def _boot(self, record: LiveInstance, content: Path) -> None:
        with record.lock:
            if record.state != "booting":  # terminated before its turn came: nothing to boot
                content.unlink(missing_ok=True)
                return
            try:
                self._metadata.start()
                standin = StandIn(find_prepared(), image=content, personalize=True, wait_for_ssh=False,
                                  wait_for_system=False, user_data=record.user_data,
                                  boot_timeout=LIVE_BOOT_TIMEOUT,
                                  before_boot=lambda booting: imds.register(booting.address, record.document))
                record.standin = standin
                standin.start()
                record.boot_seconds = standin.boot_seconds
                with self._lock:
                    if record.state == "booting":
                        record.state = "running"
                log.info("instance %s runs as stand-in %s (%s)", record.instance_id, standin.name, standin.address)
            except Exception as error:  # a failed boot is the instance's state, not the API call's
                record.error = str(error)
                with self._lock:
                    if record.state == "booting":
                        record.state = "failed"
                log.error("instance %s: its stand-in failed to boot: %s", record.instance_id, error)
            finally:
                content.unlink(missing_ok=True)

    def _stop(self, record: LiveInstance) -> None:
        with record.lock:  # after the boot, when one is under way
            standin = record.standin
            try:
                if standin is not None and standin.network is not None:
                    imds.unregister(standin.address)
                if standin is not None:
                    record.teardown_seconds = standin.stop()
            except Exception as error:
                record.error = f"teardown: {error}"
                log.error("instance %s: %s", record.instance_id, record.error)
            finally:
                record.state = "stopped"


def pin_content(content: str, instance_id: str) -> Path:
    """A link to the AMI's content that lives until the boot has extracted it."""
    target = paths.run_root() / f"launch-{os.getpid()}-{instance_id}.tar.zst"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    link_or_copy(Path(content), target)
    return target
