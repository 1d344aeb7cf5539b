"""The fleet module's lock.release: which failures give the lock back, and what the result says."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import fleet as fleets
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import FleetError
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import validate_lock
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking


class RecordedLock:
    """A taken lock whose release is recorded, or fails with `error`."""

    def __init__(self, error=None):
        self.error = error
        self.releases = 0

    def release(self):
        self.releases += 1
        if self.error:
            raise self.error
        return {"released": True}


def lock_params(**lock):
    return {"app": "web", "lock": dict({"run_id": "run-1", "acquire": True, "release": True, "owner": "ci"}, **lock)}


def test_a_failure_after_the_lock_was_taken_gives_it_back_and_says_so():
    taken = RecordedLock()
    error = fleets.failure_with_lock(lock_params(), FleetError("drain timed out", failure="timeout"), taken, False)
    assert taken.releases == 1
    assert str(error) == "drain timed out; the deploy lock was released"
    assert (error.result["lock_held"], error.result["lock_released"], error.result["failure"]) == (False, True, "timeout")


def test_a_refusal_stays_a_refusal_after_the_release():
    error = fleets.failure_with_lock(lock_params(), Refusal("bad fleet id; nothing was changed"), RecordedLock(), False)
    assert isinstance(error, Refusal) and str(error).startswith("bad fleet id; nothing was changed")


def test_a_lost_lock_is_another_runs_and_is_not_released():
    taken = RecordedLock()
    error = fleets.failure_with_lock(lock_params(), FleetError("lost it", failure="lock"), taken, False)
    assert taken.releases == 0 and str(error) == "lost it"
    assert (error.result["lock_held"], error.result["lock_released"]) == (False, False)


def test_a_lock_never_taken_is_not_released():
    error = fleets.failure_with_lock(lock_params(), Refusal("held by bob", failure="lock_not_taken"), None, False)
    assert (error.result["lock_held"], error.result["lock_released"]) == (False, False)


def test_a_release_that_fails_says_the_run_still_holds_the_lock():
    taken = RecordedLock(error=locking.LockError("held by another run"))
    error = fleets.failure_with_lock(lock_params(), FleetError("drain timed out"), taken, False)
    assert str(error) == "drain timed out; the deploy lock was not released: held by another run"
    assert (error.result["lock_held"], error.result["lock_released"]) == (True, False)


@pytest.mark.parametrize("params, check_mode", [
    (lock_params(release=False), False),  # the caller releases it
    (lock_params(), True),  # check mode took nothing
])
def test_without_release_or_in_check_mode_nothing_is_released(params, check_mode):
    taken = RecordedLock()
    error = fleets.failure_with_lock(params, FleetError("drain timed out"), taken, check_mode)
    assert taken.releases == 0 and str(error) == "drain timed out" and "lock_released" not in error.result
    assert error.result["lock_held"] is not check_mode


def test_without_acquire_release_gives_back_the_lock_an_earlier_task_took():
    taken = RecordedLock()
    error = fleets.failure_with_lock(lock_params(acquire=False), FleetError("drain timed out"), taken, False)
    assert taken.releases == 1 and (error.result["lock_held"], error.result["lock_released"]) == (False, True)


def test_without_acquire_a_failure_before_the_lock_was_known_leaves_it_held_for_the_caller():
    error = fleets.failure_with_lock(lock_params(acquire=False), Refusal("apps.web: bad; nothing was changed"), None, False)
    assert (error.result["lock_held"], error.result["lock_released"]) == (True, False)


def test_release_without_acquire_is_a_valid_request():
    validate_lock(lock_params(acquire=False))
