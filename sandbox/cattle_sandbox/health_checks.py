"""Load balancer health checks of targets that run (live instances), made for real over HTTP.

A target that is a live instance (live_instances.py) is checked the way an Application Load
Balancer checks it (Elastic Load Balancing User Guide for Application Load Balancers,
"Health checks for Application Load Balancer target groups"):
- every HealthCheckIntervalSeconds, an HTTP GET of HealthCheckPath on HealthCheckPort (the
  traffic port by default) that fails when no answer comes within HealthCheckTimeoutSeconds;
  "Each health check request is independent and the result lasts for the entire interval";
- "After your target is registered, it must pass one health check to be considered
  healthy": a new target is `initial` (Elb.InitialHealthChecking) until one check passes,
  or until UnhealthyThresholdCount checks in a row fail;
- "If the health checks exceed UnhealthyThresholdCount consecutive failures, the load
  balancer takes the target out of service. When the health checks exceed
  HealthyThresholdCount consecutive successes, the load balancer puts the target back in
  service";
- the reason codes of its "Health check reason codes" table: Target.ResponseCodeMismatch
  ("Health checks did not return an expected HTTP code"), Target.Timeout ("Request timed
  out"), Target.FailedHealthChecks ("Health checks failed", a refused or reset connection).
Checks start when the target group comes into use (a listener or rule forwards to it: AWS
never checks a group nothing uses) and stop when the target is deregistered. Nothing here
imports moto: aws/target_health.py tells it which targets to watch and how.
"""

import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

TICK_SECONDS = 0.1
CHECK_WORKERS = 8

INITIAL = ("Elb.InitialHealthChecking", "Initial health checks in progress")
MISMATCH = "Target.ResponseCodeMismatch"
TIMEOUT = ("Target.Timeout", "Request timed out")
FAILED = ("Target.FailedHealthChecks", "Health checks failed")

log = logging.getLogger("cattle_sandbox.health")


@dataclass(frozen=True)
class CheckSettings:
    """A target group's health check, as DescribeTargetGroups shows it."""

    protocol: str
    port: int
    path: str
    matcher: str  # "200", "200,302", "200-299"
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reason: str | None = None
    description: str | None = None


@dataclass
class WatchedTarget:
    """One (target group, target) pair and what its checks have said so far."""

    settings: Callable[[], CheckSettings]
    address: Callable[[], str | None]
    active: Callable[[], bool]
    state: str = "initial"
    reason: str | None = INITIAL[0]
    description: str | None = INITIAL[1]
    passes: int = 0
    failures: int = 0
    checks: int = 0
    next_check: float = 0.0
    running: bool = False
    history: list[str] = field(default_factory=list)

    def record(self, result: CheckResult, settings: CheckSettings) -> None:
        """Moves the state as the AWS rules above say."""
        self.checks += 1
        self.history = (self.history + ["pass" if result.passed else result.reason or "fail"])[-20:]
        if result.passed:
            self.passes, self.failures = self.passes + 1, 0
            if self.state == "initial" or (self.state == "unhealthy" and self.passes >= settings.healthy_threshold):
                self.state, self.reason, self.description = "healthy", None, None
            return
        self.passes, self.failures = 0, self.failures + 1
        if self.state == "unhealthy" or self.failures >= settings.unhealthy_threshold:
            self.state, self.reason, self.description = "unhealthy", result.reason, result.description


class HealthChecker:
    """Checks every watched target on its group's interval, in worker threads. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[tuple[str, str], WatchedTarget] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def watch(self, key: tuple[str, str], settings: Callable[[], CheckSettings], address: Callable[[], str | None],
              active: Callable[[], bool]) -> None:
        """Starts checking (group, target) when `active()` (the group in use); idempotent."""
        with self._lock:
            if key not in self._watched:
                self._watched[key] = WatchedTarget(settings, address, active)
        self._ensure_running()

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def health(self, key: tuple[str, str]) -> tuple[str, str | None, str | None] | None:
        """(state, reason, description) of a watched target; None when it is not watched."""
        with self._lock:
            watched = self._watched.get(key)
            return None if watched is None else (watched.state, watched.reason, watched.description)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"target_group": group, "target_id": target, "state": watched.state, "reason": watched.reason,
                     "checks": watched.checks, "recent": list(watched.history)}
                    for (group, target), watched in self._watched.items()]

    def stop(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._watched.clear()
        self._stopping.clear()

    # -- the loop -----------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        with self._lock:
            if self._thread is None:
                self._pool = ThreadPoolExecutor(max_workers=CHECK_WORKERS, thread_name_prefix="health-check")
                self._thread = threading.Thread(target=self._run, name="health-checks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(TICK_SECONDS):
            for key, watched in self._due(time.monotonic()):
                self._pool.submit(self._check, key, watched)

    def _due(self, now: float) -> list[tuple[tuple[str, str], WatchedTarget]]:
        due = []
        with self._lock:
            for key, watched in self._watched.items():
                if watched.running or now < watched.next_check or not _safely(watched.active, False):
                    continue
                watched.running = True
                due.append((key, watched))
        return due

    def _check(self, key: tuple[str, str], watched: WatchedTarget) -> None:
        started = time.monotonic()
        try:
            settings = watched.settings()
            result = check_once(watched.address(), settings)
            with self._lock:
                if self._watched.get(key) is watched:
                    watched.record(result, settings)
                watched.next_check = started + settings.interval
        except Exception as error:  # a check that cannot even be made is logged, and tried again
            log.error("health check of %s: %s", key, error)
            watched.next_check = started + 1.0
        finally:
            watched.running = False


def check_once(address: str | None, settings: CheckSettings) -> CheckResult:
    """One health check request: GET path on address:port within the timeout."""
    if address is None:
        return CheckResult(False, *FAILED)  # not booted yet: nothing answers
    connection_class = http.client.HTTPSConnection if settings.protocol == "HTTPS" else http.client.HTTPConnection
    connection = connection_class(address, settings.port, timeout=settings.timeout)
    try:
        connection.request("GET", settings.path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
        status = connection.getresponse().status
    except (socket.timeout, TimeoutError):
        return CheckResult(False, *TIMEOUT)
    except (OSError, http.client.HTTPException):
        return CheckResult(False, *FAILED)
    finally:
        connection.close()
    if matches(status, settings.matcher):
        return CheckResult(True)
    return CheckResult(False, MISMATCH, f"Health checks failed with these codes: [{status}]")


def matches(status: int, matcher: str) -> bool:
    """ALB's Matcher HttpCode: "200", "200,202", "200-299"."""
    for part in (matcher or "200").split(","):
        low, _dash, high = part.strip().partition("-")
        if int(low) <= status <= int(high or low):
            return True
    return False


def _safely(function: Callable[[], Any], default: Any) -> Any:
    try:
        return function()
    except Exception:  # the group may be gone between ticks
        return default
