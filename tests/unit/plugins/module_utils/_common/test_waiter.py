"""The one wait primitive: rounds within a deadline, pauses that never pass it."""

from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import MIN_SLEEP, Waiter


def test_a_fixed_interval_is_cut_short_at_the_deadline(clock):
    waiting = Waiter(5, 2, sleep=clock.sleep, clock=clock)
    while not waiting.expired():
        waiting.pause()
    assert clock.sleeps == [2, 2, 1] and waiting.rounds == 3 and waiting.elapsed() == 5


def test_a_backoff_grows_to_its_ceiling(clock):
    waiting = Waiter(60, 0.5, backoff=2, max_interval=4.0, sleep=clock.sleep, clock=clock)
    for expected in (0.5, 1.0, 2.0, 4.0, 4.0, 4.0):
        assert waiting.delay == expected
        waiting.pause()
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_limit_shortens_one_pause_but_never_to_a_spin(clock):
    waiting = Waiter(60, 5, sleep=clock.sleep, clock=clock)
    waiting.pause(limit=1.5)
    waiting.pause(limit=0)
    waiting.pause()
    assert clock.sleeps == [1.5, MIN_SLEEP, 5]


def test_a_zero_timeout_is_expired_at_once_and_never_sleeps(clock):
    waiting = Waiter(0, 1, sleep=clock.sleep, clock=clock)
    waiting.pause()
    assert waiting.expired() and waiting.remaining() == 0 and clock.sleeps == []
