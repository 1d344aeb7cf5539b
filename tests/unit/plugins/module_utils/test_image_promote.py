"""Revocation's deprecation time (no AWS involved)."""

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import image_promote as promotion


def at(minute, second, microsecond=0):
    return datetime(2026, 6, 30, 12, minute, second, microsecond, tzinfo=timezone.utc)


def nearest_minute(moment):
    """How AWS stores DeprecateAt: seconds rounded to the nearest minute."""
    rounded = moment.replace(second=0, microsecond=0)
    return rounded + timedelta(minutes=1) if moment - rounded >= timedelta(seconds=30) else rounded


@pytest.mark.parametrize(
    "now, expected",
    [
        (at(0, 0), at(1, 0)),
        (at(0, 10), at(1, 0)),
        (at(0, 29, 999999), at(1, 0)),
        (at(0, 30), at(1, 0)),
        (at(0, 30, 1), at(2, 0)),
        (at(0, 50), at(2, 0)),
    ],
)
def test_deprecation_time_is_the_first_whole_minute_half_a_minute_ahead(now, expected):
    assert promotion.earliest_deprecation_time(now) == expected


@pytest.mark.parametrize("second", range(60))
def test_after_aws_rounding_the_deprecation_time_is_never_in_the_past(second):
    now = at(0, second, 500000)
    sent = promotion.earliest_deprecation_time(now)
    assert nearest_minute(sent) == sent
    assert sent - now >= promotion.DEPRECATION_LEAD
    assert sent - now < promotion.DEPRECATION_LEAD + timedelta(minutes=1)


class RecordingEC2:
    def __init__(self):
        self.requests = []

    def enable_image_deprecation(self, **request):
        self.requests.append(request)


def test_the_deprecation_time_is_taken_when_the_call_is_made():
    ec2 = RecordingEC2()
    promotion.deprecate_image_soon(ec2, "ami-00000001", clock=lambda: at(7, 40))
    assert ec2.requests == [{"ImageId": "ami-00000001", "DeprecateAt": at(9, 0)}]


@pytest.mark.parametrize(
    "deprecation_time, done",
    [
        (None, False),
        ("2026-06-30T12:01:00.000Z", True),  # what the first revocation sent at 12:00:10
        ("2026-06-30T12:00:00.000Z", True),
        ("2026-06-30T12:02:00.000Z", False),
        ("2027-01-01T00:00:00.000Z", False),  # scheduled for later: revocation brings it forward
    ],
)
def test_an_image_deprecated_as_soon_as_allowed_is_not_deprecated_again(deprecation_time, done):
    image = {"ImageId": "ami-00000001", "DeprecationTime": deprecation_time}
    assert promotion.deprecated_by(image, promotion.earliest_deprecation_time(at(0, 20))) is done
