# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one way the collection waits: rounds of a check within a deadline, with a pause
between rounds that never reaches past the deadline.

A loop reads: check; done -> return; `waiter.expired()` -> fail saying how far it got;
`waiter.pause()`. The check runs once more at the deadline, so a wait of 0 seconds still
looks once. A fleet's health gate backs off (a quarter second growing to five); a wait on
one resource polls at a fixed interval.

Inside `with Waiter(...) as waiting:` the deadline also bounds the retries of every AWS
call the loop makes (_aws/common.py asks `retry_pause`): a throttled call inside a wait
gives up when its next backoff would end past the deadline, instead of sleeping minutes
beyond it.
"""

import time

# Never spin: the shortest pause, even when the caller asks for less.
MIN_SLEEP = 0.05

# The waits in progress (`with Waiter(...)`), innermost last.
_IN_PROGRESS = []


def retry_pause(pause):
    """`pause` when a retry after it still starts before the deadline of every wait in
    progress, else None (the caller's deadline comes first: stop retrying)."""
    if all(waiting.leaves(pause) for waiting in _IN_PROGRESS):
        return pause
    return None


class Waiter:
    """Rounds within `timeout` seconds; the pause starts at `interval` and grows by `backoff`
    a round up to `max_interval` (a fixed interval with the defaults)."""

    def __init__(self, timeout, interval, backoff=1.0, max_interval=None, sleep=time.sleep, clock=time.monotonic):
        self.clock = clock
        self.sleep = sleep
        self.started = clock()
        self.deadline = self.started + timeout
        self.delay = interval
        self.backoff = backoff
        self.max_interval = interval if max_interval is None else max_interval
        self.rounds = 0

    def __enter__(self):
        _IN_PROGRESS.append(self)
        return self

    def __exit__(self, *exc_info):
        _IN_PROGRESS.remove(self)
        return False

    def leaves(self, seconds):
        """Whether `seconds` from now is still before the deadline."""
        return self.clock() + seconds < self.deadline

    def elapsed(self):
        return self.clock() - self.started

    def remaining(self):
        return max(0.0, self.deadline - self.clock())

    def expired(self):
        return self.clock() >= self.deadline

    def pause(self, limit=None):
        """Sleep the current interval, but not past the deadline nor longer than `limit`
        seconds (a lease renewal due sooner, say; at least MIN_SLEEP then)."""
        self.rounds += 1
        remaining = self.deadline - self.clock()
        if limit is not None:
            remaining = min(remaining, max(limit, MIN_SLEEP))
        if remaining > 0:
            self.sleep(min(self.delay, remaining))
        self.delay = min(self.delay * self.backoff, self.max_interval)
