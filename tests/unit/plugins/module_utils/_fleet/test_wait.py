"""The fleet waits renew the deploy lock: when renewals are due, and how long a pause may last."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._fleet import wait as fleet_wait
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from fixtures.clock import FakeLeaseKeeper


def unhealthy_calls(lease):
    group = {"Instances": [{"InstanceId": "i-0", "LifecycleState": "InService"}]}
    return {
        "group": lambda: group,
        "targets": lambda: [{"id": "i-0", "state": "initial"}],
        "activities": lambda: [],
        "lease": lease,
    }


def test_a_long_wait_renews_once_per_interval_and_never_sleeps_past_a_renewal(clock):
    lease = FakeLeaseKeeper(clock, every=2)
    poller = fleet_wait.fleet_waiter(30, sleep=clock.sleep, clock=clock)
    with pytest.raises(fleet_wait.WaitTimeout):
        fleet_wait.wait_healthy(unhealthy_calls(lease), "web-prod-x", 1, 30, fleet_wait.Progress(None, "x", clock), poller)
    # Backoff would reach 5 s pauses; the 2 s renewal interval caps them.
    assert max(clock.sleeps) <= 2
    # Renewed as the wait began (the task may have started late in the lease), then every 2 s.
    assert lease.renewals[0] == 0
    gaps = [later - earlier for earlier, later in zip(lease.renewals, lease.renewals[1:])]
    assert gaps and all(2 <= gap < 2.5 for gap in gaps)
    # Fewer renewals than polls: not one per poll.
    assert len(lease.renewals) < poller.rounds


def test_a_lost_lock_stops_the_wait_at_the_next_renewal(clock):
    lease = FakeLeaseKeeper(clock, every=1, lost_at=3)
    poller = fleet_wait.fleet_waiter(600, sleep=clock.sleep, clock=clock)
    with pytest.raises(locking.LockError, match="held by bob@ci"):
        fleet_wait.wait_drained({"targets": lambda: [{"id": "i-0", "state": "draining"}], "lease": lease},
                                "web-prod-x", 300, 600, fleet_wait.Progress(None, "x", clock), poller)
    assert clock.now < 4.5


def test_without_a_lease_the_pause_is_the_backoff(clock):
    poller = fleet_wait.fleet_waiter(60, sleep=clock.sleep, clock=clock)
    poller.pause(fleet_wait.keep_lease({}))
    poller.pause(fleet_wait.keep_lease({"lease": None}))
    assert clock.sleeps == [fleet_wait.FIRST_DELAY, fleet_wait.FIRST_DELAY * fleet_wait.BACKOFF]


def test_a_wait_that_ends_at_its_first_poll_renews_nothing(clock):
    lease = FakeLeaseKeeper(clock, every=2)
    calls = {"targets": lambda: [], "lease": lease}
    fleet_wait.wait_drained(calls, "web-prod-x", 0, 60, fleet_wait.Progress(None, "x", clock),
                            fleet_wait.fleet_waiter(60, sleep=clock.sleep, clock=clock))
    assert lease.renewals == []


def test_a_due_renewal_never_makes_the_poll_spin(clock):
    poller = fleet_wait.fleet_waiter(60, sleep=clock.sleep, clock=clock)
    poller.pause(0)
    assert clock.sleeps == [fleet_wait.MIN_SLEEP]


def test_the_lease_keeper_says_how_long_until_its_next_renewal():
    ticks = iter([0, 40, 100])
    keeper = locking.LeaseKeeper(None, "cattle-deploy-locks", "web", "run-1", 300, clock=lambda: next(ticks))
    assert keeper.seconds_until_due() == 60
    assert keeper.seconds_until_due() == 0
