# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Waiting on a fleet: the health gate of `present`; the drain and the group's deletion of `absent`.

Polls back off from a quarter second to five seconds: one DescribeAutoScalingGroups and
one DescribeTargetHealth a round at most, far inside ELB's describe budget (a bucket of
40 calls refilled at 10 a second), so several fleets can be waited on at once.

A run that holds the app's deploy lock passes a lease keeper: it is renewed when a wait
begins (the first poll that does not end it) and then once a third of the lease has passed,
not at every poll; no pause outlasts the next renewal. A wait that ends at its first poll
renews nothing.

Progress goes to a file when the action plugin gives one (`progress_path`); the plugin
prints each line as it appears, since a module itself answers only once.
"""

import time

from ansible_collections.cattle.immutable.plugins.module_utils._common import waiter
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners

FIRST_DELAY = 0.25
MAX_DELAY = 5.0
MIN_SLEEP = waiter.MIN_SLEEP
BACKOFF = 1.5
HEARTBEAT_SECONDS = 15
HEALTHY = "healthy"
IN_SERVICE = "InService"
FAILED = "Failed"
# While instances are missing, DescribeScalingActivities every other round (fail fast, few calls).
FAILURE_CHECK_EVERY = 2
# The cause Auto Scaling gives a termination after the load balancer's health check failed.
ELB_HEALTH_CAUSE = "ELB system health check failure"


class WaitTimeout(Exception):
    """The fleet did not get there in time; the message says how far it got and why."""


class HealthReplaced(Exception):
    """Auto Scaling kept replacing instances the load balancer found unhealthy (HealthCheckType ELB)."""


class LaunchFailed(Exception):
    """Auto Scaling reports launches that failed; the message gives its reasons."""


class Progress:
    """Appends progress lines to a file the action plugin follows; silent without one."""

    def __init__(self, path, label, clock=time.monotonic):
        self.path = path
        self.label = label
        self.clock = clock
        self.last_key = None
        self.last_time = None

    def say(self, text, key=None, force=False):
        """Writes `text` when `key` (default: the text) changed, or as a heartbeat, or when forced."""
        now = self.clock()
        key = text if key is None else key
        repeated = key == self.last_key and self.last_time is not None and now - self.last_time < HEARTBEAT_SECONDS
        if repeated and not force:
            return
        self.last_key, self.last_time = key, now
        if not self.path:
            return
        try:
            with open(self.path, "a") as stream:
                stream.write("{0}: {1}\n".format(self.label, text))
        except (IOError, OSError):
            # Progress is a courtesy: a full disk must not fail a deployment.
            self.path = None


def fleet_waiter(timeout, sleep=time.sleep, clock=time.monotonic):
    """The fleet's waits back off: a quarter second at first, growing to five."""
    return waiter.Waiter(timeout, FIRST_DELAY, BACKOFF, MAX_DELAY, sleep=sleep, clock=clock)


def keep_lease(calls, first=False):
    """Renew the deploy lock (calls["lease"], a locking.LeaseKeeper, if any) when a wait begins
    (`first`: the task may have started late in the lease) and then whenever a renewal is due.

    Returns how long the next pause may last so that the next renewal is not late, or None.
    locking.LockError (the run lost its lock) goes to the caller, which stops waiting.
    """
    lease = calls.get("lease")
    if lease is None:
        return None
    if first:
        lease.renew_now()
    else:
        lease.renew_if_due()
    return lease.seconds_until_due()


# ---------------------------------------------------------------------------------------
# The health gate.


def instance_ids(group, lifecycle=None):
    return sorted(
        instance["InstanceId"]
        for instance in (group or {}).get("Instances") or []
        if lifecycle is None or instance.get("LifecycleState") == lifecycle
    )


def health_snapshot(group, targets, desired):
    """How far a fleet is: in-service instances, which of them are healthy targets, and why not."""
    in_service = instance_ids(group, IN_SERVICE)
    by_id = dict((target["id"], target) for target in targets)
    healthy = [instance for instance in in_service if (by_id.get(instance) or {}).get("state") == HEALTHY]
    return {
        "group": group,
        "desired": desired,
        "instances": instance_ids(group),
        "in_service": in_service,
        "healthy": healthy,
        "targets": by_id,
        "ready": len(healthy) >= desired and desired > 0,
    }


def progress_text(snapshot, elapsed):
    return "healthy {0}/{1} (in service {2}/{1}), {3:.0f} s".format(
        len(snapshot["healthy"]), snapshot["desired"], len(snapshot["in_service"]), elapsed
    )


def progress_key(snapshot):
    return (len(snapshot["healthy"]), len(snapshot["in_service"]), len(snapshot["instances"]))


def not_healthy_reasons(snapshot, limit=5):
    """'i-1: unhealthy (Target.FailedHealthChecks: Health checks failed)' for each laggard."""
    reasons = []
    for instance in snapshot["instances"]:
        if instance in snapshot["healthy"]:
            continue
        target = snapshot["targets"].get(instance)
        if target is None:
            reasons.append("{0}: not registered in the target group yet".format(instance))
        else:
            detail = ": ".join(part for part in (target.get("reason"), target.get("description")) if part)
            reasons.append("{0}: {1}{2}".format(instance, target.get("state"), " ({0})".format(detail) if detail else ""))
    if len(reasons) > limit:
        reasons = reasons[:limit] + ["and {0} more".format(len(reasons) - limit)]
    return reasons


def launch_failures(activities, since=None):
    """Status messages of failed launches, newest first, when the newest activity is a failure.

    A failure followed by a success is history, not a reason to stop waiting.
    """
    launches = [activity for activity in activities if "Launching" in (activity.get("Description") or "")]
    if not launches or launches[0].get("StatusCode") != FAILED:
        return []
    failed = [activity for activity in launches if activity.get("StatusCode") == FAILED]
    if since is not None:
        failed = [activity for activity in failed if _after(activity.get("StartTime"), since)] or failed[:1]
    messages = []
    for activity in failed:
        message = activity.get("StatusMessage") or activity.get("Description")
        if message not in messages:
            messages.append(message)
    return messages


def health_replacements(activities, since=None):
    """Instances Auto Scaling terminated because the load balancer found them unhealthy, newest first."""
    return [
        activity for activity in activities
        if (activity.get("Description") or "").startswith("Terminating")
        and ELB_HEALTH_CAUSE in (activity.get("Cause") or "")
        and (since is None or _after(activity.get("StartTime"), since))
    ]


def check_replacements(calls, fleet, snapshot, seen, since):
    """Raises HealthReplaced once Auto Scaling has replaced as many instances as the fleet wants for
    failing the load balancer's health check: the app does not pass it, and waiting out the timeout
    would only watch the churn. Reads the activities only after an instance the wait saw has left
    the group, so a healthy wait makes no extra call."""
    current = set(snapshot["instances"])
    gone = seen - current
    seen.update(current)
    if not gone or snapshot["desired"] < 1:
        return
    replaced = health_replacements(calls["activities"](), since)
    if len(replaced) >= snapshot["desired"]:
        raise HealthReplaced(
            "fleet {0}: instances replaced {1} time{2} after failing the load balancer's health check "
            "(HealthCheckType ELB); {3}".format(
                fleet, len(replaced), "" if len(replaced) == 1 else "s",
                "; ".join(not_healthy_reasons(snapshot)) or "no instance in service now",
            )
        )


def _after(start_time, since):
    if start_time is None or not hasattr(start_time, "timestamp"):
        return True
    return start_time.timestamp() >= since - 60


def wait_healthy(calls, fleet, desired, timeout, progress, poller=None):
    """Wait until `desired` in-service instances of the group are healthy targets, by instance id.

    calls: {"group": () -> group, "targets": () -> targets, "activities": () -> activities,
    optionally "lease": a locking.LeaseKeeper renewed while waiting}.
    Raises LaunchFailed as soon as Auto Scaling reports failed launches, HealthReplaced once it has
    replaced `desired` instances the load balancer found unhealthy, WaitTimeout at the deadline.
    """
    poller = poller or fleet_waiter(timeout)
    wall_start = time.time()
    seen = set()
    while True:
        group = calls["group"]()
        snapshot = health_snapshot(group, calls["targets"](), desired)
        progress.say(progress_text(snapshot, poller.elapsed()), key=progress_key(snapshot))
        if snapshot["ready"]:
            return snapshot
        check_replacements(calls, fleet, snapshot, seen, wall_start)
        if len(snapshot["instances"]) < desired and poller.rounds % FAILURE_CHECK_EVERY == 0:
            failures = launch_failures(calls["activities"](), wall_start)
            if failures:
                raise LaunchFailed(
                    "fleet {0}: launches failed ({1} of {2} instances running): {3}".format(
                        fleet, len(snapshot["instances"]), desired, "; ".join(failures)
                    )
                )
        if poller.expired():
            raise WaitTimeout(
                "fleet {0}: {1}/{2} instances healthy after {3:.0f} s (wait_timeout {4}); {5}".format(
                    fleet, len(snapshot["healthy"]), desired, poller.elapsed(), timeout,
                    "; ".join(not_healthy_reasons(snapshot)) or "no instances yet",
                )
            )
        poller.pause(keep_lease(calls, first=poller.rounds == 0))


# ---------------------------------------------------------------------------------------
# The drain.


def wait_drained(calls, fleet, delay_seconds, timeout, progress, poller=None):
    """Wait until the group has no instances and the target group lists no target (draining done).

    calls: {"targets": () -> targets, optionally "group": () -> group or None (then its instances
    must be gone too) and "lease": a locking.LeaseKeeper renewed while waiting}.
    """
    poller = poller or fleet_waiter(timeout)
    while True:
        targets = calls["targets"]()
        instances = instance_ids(calls["group"]()) if not targets and "group" in calls else None
        if not targets and not instances:
            progress.say("drained, {0:.0f} s".format(poller.elapsed()), force=True)
            return
        progress.say(drain_text(targets, instances, delay_seconds, poller.elapsed()),
                     key=(len(targets), len(instances or [])))
        if poller.expired():
            raise WaitTimeout(
                "fleet {0}: still draining after {1:.0f} s (wait_timeout {2}, deregistration delay {3} s): {4}".format(
                    fleet, poller.elapsed(), timeout, delay_seconds, drain_detail(targets, instances)
                )
            )
        poller.pause(keep_lease(calls, first=poller.rounds == 0))


def drain_text(targets, instances, delay_seconds, elapsed):
    if targets:
        return "draining {0} target(s) (deregistration delay {1} s), {2:.0f} s".format(
            len(targets), delay_seconds, elapsed
        )
    return "waiting for {0} instance(s) to terminate, {1:.0f} s".format(len(instances or []), elapsed)


def drain_detail(targets, instances):
    if targets:
        return ", ".join("{0} {1}".format(target["id"], target["state"]) for target in targets)
    return "instances still in the group: " + ", ".join(instances or [])


# ---------------------------------------------------------------------------------------
# The deletion of the Auto Scaling group, which AWS carries on after DeleteAutoScalingGroup answers.

# AWS takes tens of seconds to minutes: poll from half a second, backing off to ten.
DELETE_FIRST_DELAY = 0.5
DELETE_MAX_DELAY = 10.0


def deletion_waiter(timeout, sleep=time.sleep, clock=time.monotonic):
    return waiter.Waiter(timeout, DELETE_FIRST_DELAY, BACKOFF, DELETE_MAX_DELAY, sleep=sleep, clock=clock)


def wait_deleted(calls, fleet, group_name, timeout, progress, just_asked=True, poller=None):
    """Wait until DescribeAutoScalingGroups no longer lists the group; the seconds it took.

    calls: {"group": () -> the group or None, optionally "lease": a locking.LeaseKeeper}.
    just_asked: the deletion was asked for a moment ago, so the first look waits one pause
    (it would find the group still there). Raises WaitTimeout at the deadline.
    """
    poller = poller or deletion_waiter(timeout)
    if just_asked:
        poller.pause(keep_lease(calls, first=True))
    while True:
        group = calls["group"]()
        if group is None:
            progress.say("Auto Scaling group {0} deleted, {1:.0f} s".format(group_name, poller.elapsed()), force=True)
            return round(poller.elapsed(), 1)
        status = group.get("Status") or "not being deleted"
        progress.say("Auto Scaling group {0}: {1}, {2:.0f} s".format(group_name, status, poller.elapsed()),
                     key=("deleting", status))
        if poller.expired():
            raise WaitTimeout(
                "fleet {0}: Auto Scaling group {1} still exists after {2:.0f} s (wait_timeout {3}), its status: "
                "{4}".format(fleet, group_name, poller.elapsed(), timeout, status))
        poller.pause(keep_lease(calls, first=poller.rounds == 0 and not just_asked))


def target_states(elbv2, tg_arn):
    """Every target the group lists, with state and reason (listeners.target_health)."""
    return listeners.target_health(elbv2, tg_arn)
