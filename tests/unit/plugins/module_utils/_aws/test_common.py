"""The retry policy of every AWS call: AWSRetry's codes and backoff, within a wait's deadline."""

import pytest
from botocore.exceptions import ClientError

from ansible_collections.cattle.immutable.plugins.module_utils._aws import common
from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import Waiter


def client_error(code):
    return ClientError({"Error": {"Code": code, "Message": code}}, "DescribeThings")


class Flaky:
    """A call failing with `codes` in turn, then answering "done"."""

    def __init__(self, *codes):
        self.codes = list(codes)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.codes:
            raise client_error(self.codes.pop(0))
        return "done"


def retried(call, sleeps, **policy):
    return common.retry_policy(sleep=sleeps.append, **policy)(call)()


def test_throttling_and_5xx_are_retried_with_growing_jittered_pauses():
    call, sleeps = Flaky("RequestLimitExceeded", "ThrottlingException", "InternalError"), []

    assert retried(call, sleeps) == "done"

    assert call.calls == 4
    assert len(sleeps) == 3 and all(0 <= pause <= limit for pause, limit in zip(sleeps, (3, 6, 12)))


def test_a_code_of_the_policy_is_retried_and_any_other_fails_at_once():
    assert retried(Flaky("ResourceInUse"), [], catch_extra_error_codes=["ResourceInUse"]) == "done"

    call = Flaky("ValidationError")
    with pytest.raises(ClientError):
        retried(call, [])
    assert call.calls == 1


def test_the_last_attempt_fails_with_the_error():
    call, sleeps = Flaky(*["Throttling"] * 5), []

    with pytest.raises(ClientError):
        retried(call, sleeps, retries=3)

    assert call.calls == 3 and len(sleeps) == 2


def test_inside_a_wait_a_retry_that_would_end_past_its_deadline_is_not_made():
    call, sleeps = Flaky("Throttling"), []

    with Waiter(0, 1):
        with pytest.raises(ClientError):
            retried(call, sleeps, delay=1)

    assert call.calls == 1 and sleeps == []
    assert retried(call, sleeps, delay=1) == "done"  # the wait is over: retried again


def test_a_retry_inside_the_deadline_of_every_wait_in_progress_is_made():
    call, sleeps = Flaky("Throttling"), []

    with Waiter(600, 1), Waiter(300, 1):
        assert retried(call, sleeps, delay=1) == "done"

    assert call.calls == 2 and len(sleeps) == 1
