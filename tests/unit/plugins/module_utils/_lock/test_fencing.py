"""Fencing a write: the worst case of one client call, and the renewal with its margin before it (no AWS)."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._lock import fencing
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking

from .test_locking import FakeTable, record


@pytest.mark.parametrize(
    "retries, attempts",
    [
        (None, 5),  # botocore's legacy mode (_retry.json)
        ({"mode": "legacy"}, 5),
        ({"mode": "standard"}, 3),
        ({"mode": "adaptive"}, 3),
        ({"mode": "standard", "total_max_attempts": 1}, 1),  # AWS_MAX_ATTEMPTS=1
        ({"mode": "legacy", "max_attempts": 2}, 3),  # max_attempts counts retries only
    ],
)
def test_attempts_follow_the_clients_retry_settings(retries, attempts):
    assert fencing.total_attempts(retries) == attempts


def test_the_worst_case_is_every_attempt_timing_out_with_the_longest_backoff():
    # standard: 3 attempts of 60 + 60 s, then pauses of at most 1 + 5 and 2 + 5 s (x-amz-retry-after)
    assert fencing.call_worst_case(60, 60, {"mode": "standard"}) == 3 * 120 + 6 + 7
    # legacy: 5 attempts, pauses of at most 1, 2, 4, 8 s
    assert fencing.call_worst_case(10, 20, {"mode": "legacy"}) == 5 * 30 + 15
    # standard's pause stops growing at 20 s
    assert fencing.longest_backoff("standard", 10) == 25
    assert fencing.call_worst_case(1, 2, {"mode": "standard", "total_max_attempts": 1}) == 3


class Config:
    def __init__(self, connect_timeout, read_timeout, retries):
        self.connect_timeout, self.read_timeout, self.retries = connect_timeout, read_timeout, retries


class Meta:
    def __init__(self, config):
        self.config = config


class Elbv2:
    """A client that records which operations it was asked to make."""

    def __init__(self, config):
        self.meta = Meta(config)
        self.calls = []

    def modify_listener(self, **kwargs):
        self.calls.append(("modify_listener", kwargs))
        return {"Listeners": []}

    def describe_listeners(self, **kwargs):
        self.calls.append(("describe_listeners", kwargs))
        return {"Listeners": []}


def keeper(table, lease, ticks, token="t1"):
    times = iter(ticks)
    return locking.LeaseKeeper(table, "cattle-deploy-locks", "web", "run-b", lease, clock=lambda: next(times),
                               token=token)


def test_a_fenced_write_is_renewed_first_and_made_when_the_lease_left_covers_its_worst_case():
    table = FakeTable(record(run_id="run-b", renewed_ago=200))
    client = Elbv2(Config(1, 2, {"mode": "standard", "total_max_attempts": 1}))
    fenced = fencing.FencedClient(client, keeper(table, 10, [0, 5, 5.4, 5.5]), fencing.LISTENER_WRITES)
    fenced.describe_listeners(ListenerArns=["arn"])  # a read: not fenced
    assert table.updates == 0
    fenced.modify_listener(ListenerArn="arn")
    assert table.updates == 1 and [call[0] for call in client.calls] == ["describe_listeners", "modify_listener"]


def test_the_margin_refuses_a_write_whose_worst_case_the_lease_left_does_not_cover():
    table = FakeTable(record(run_id="run-b", renewed_ago=200))
    # 3 s of worst case; the renewal itself took 8 of the 10 s lease (from 100 to 108): 2 s left, not enough.
    client = Elbv2(Config(1, 2, {"mode": "standard", "total_max_attempts": 1}))
    fenced = fencing.FencedClient(client, keeper(table, 10, [0, 100, 107, 108]), fencing.LISTENER_WRITES)
    with pytest.raises(locking.LeaseTooShort) as refused:
        fenced.modify_listener(ListenerArn="arn")
    assert client.calls == [] and table.updates == 1
    message = str(refused.value)
    assert "not writing modify_listener" in message and "2.0 s of its 10 s lease left" in message
    assert "worst case of 3 s" in message and "longer lease" in message


def test_a_lease_exactly_at_the_worst_case_is_refused():
    margin = locking.LeaseKeeper(FakeTable(record(run_id="run-b")), "t", "web", "run-b", 3,
                                 clock=iter([0, 0, 0, 0]).__next__, token="t1")
    with pytest.raises(locking.LeaseTooShort):
        margin.fence("modify_listener", 3.0)


def test_a_fenced_write_of_a_run_that_lost_its_lock_is_not_made():
    table = FakeTable(record(run_id="run-c", owner="carol@ci"))
    client = Elbv2(Config(1, 2, {"mode": "standard"}))
    fenced = fencing.FencedClient(client, keeper(table, 900, [0, 1, 2, 3]))
    with pytest.raises(locking.LockError) as lost:
        fenced.modify_listener(ListenerArn="arn")
    assert not isinstance(lost.value, locking.LeaseTooShort)
    assert "held by carol@ci (run run-c" in str(lost.value) and client.calls == []


def test_another_acquisition_under_the_same_run_id_does_not_pass_the_fence():
    table = FakeTable(dict(record(run_id="run-b"), token="t2"))
    client = Elbv2(Config(1, 2, {"mode": "standard"}))
    with pytest.raises(locking.LockError, match="another acquisition with the same run id"):
        fencing.FencedClient(client, keeper(table, 900, [0, 1, 2, 3], token="t1")).modify_listener(ListenerArn="arn")
    assert client.calls == []


def test_without_a_keeper_the_client_is_not_wrapped():
    client = Elbv2(Config(1, 2, None))
    assert fencing.fenced(client, None) is client


@pytest.mark.parametrize("operation, fenced", [
    ("modify_listener", True), ("delete_auto_scaling_group", True), ("describe_target_health", False),
    ("list_tags", False), ("get_paginator", False), ("can_paginate", False),
])
def test_every_write_is_fenced_when_no_operations_are_named(operation, fenced):
    assert fencing.FencedClient(None, None).fences(operation) is fenced
