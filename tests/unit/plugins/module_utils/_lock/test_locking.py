"""The deploy lock's decisions and records (no AWS involved)."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._common import timestamps
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking

NOW = datetime(2026, 6, 30, 12, 0, 0, tzinfo=timezone.utc)


def stamp(seconds_ago):
    return timestamps.iso8601(NOW - timedelta(seconds=seconds_ago))


def record(run_id="run-a", owner="alice@ci", reason="deploy ami-1", acquired_ago=600, renewed_ago=30, lease=300):
    return {
        "app": "web",
        "owner": owner,
        "run_id": run_id,
        "reason": reason,
        "acquired_at": stamp(acquired_ago),
        "renewed_at": stamp(renewed_ago),
        "lease_seconds": lease,
        "token": "t1",
    }


def request(**overrides):
    base = {
        "app": "web",
        "run_id": "run-b",
        "owner": "bob@laptop",
        "reason": "deploy",
        "lease_seconds": 900,
        "force": False,
        "table": "cattle-deploy-locks",
        "create_table": False,
        "wait_timeout": 120,
        "state": "acquired",
    }
    base.update(overrides)
    return base


def test_a_free_lock_is_acquired():
    assert locking.plan_acquire(None, "run-b", False, NOW) == ("acquire", None)


def test_our_own_acquisition_is_renewed_not_taken_again():
    assert locking.plan_acquire(record(run_id="run-b"), "run-b", False, NOW, token="t1") == ("renew", None)


@pytest.mark.parametrize("token", [None, "", "t2"])
def test_the_same_run_id_without_its_acquisition_is_another_run(token):
    # A run id holds the lock once: only the acquisition's token makes acquiring again a renewal.
    with pytest.raises(locking.LockHeld) as refused:
        locking.plan_acquire(record(run_id="run-b"), "run-b", False, NOW, token=token)
    assert "held by alice@ci (run run-b" in str(refused.value)
    assert "this run id but another acquisition" in str(refused.value)
    assert locking.plan_acquire(record(run_id="run-b", renewed_ago=301), "run-b", False, NOW, token) == (
        "takeover", "expired")
    assert locking.plan_acquire(record(run_id="run-b"), "run-b", True, NOW, token) == ("takeover", "forced")


def test_a_live_lock_of_another_run_is_refused_naming_holder_and_age():
    with pytest.raises(locking.LockHeld) as refused:
        locking.plan_acquire(record(), "run-b", False, NOW)
    message = str(refused.value)
    for fact in ("alice@ci", "run run-a", 'reason "deploy ami-1"', "acquired 10 min ago", "last renewed 30 s ago",
                 "lease 300 s", "in 4 min 30 s", "force=true"):
        assert fact in message
    assert refused.value.holder["run_id"] == "run-a"


def test_an_expired_lease_may_be_taken_over():
    assert locking.plan_acquire(record(renewed_ago=301, lease=300), "run-b", False, NOW) == ("takeover", "expired")


def test_a_lease_exactly_at_its_end_still_holds():
    with pytest.raises(locking.LockHeld):
        locking.plan_acquire(record(renewed_ago=300, lease=300), "run-b", False, NOW)


def test_force_takes_over_a_live_lock():
    assert locking.plan_acquire(record(), "run-b", True, NOW) == ("takeover", "forced")


def test_expiry_uses_the_holders_lease_not_the_takers():
    holder = record(renewed_ago=400, lease=600)
    assert not locking.is_expired(holder, NOW)


def test_an_unreadable_renewal_time_is_never_presumed_dead():
    holder = dict(record(), renewed_at="yesterday-ish")
    assert not locking.is_expired(holder, NOW)
    with pytest.raises(locking.LockHeld, match="only force=true"):
        locking.plan_acquire(holder, "run-b", False, NOW)


@pytest.mark.parametrize(
    "current, run_id, force, plan",
    [(None, "run-a", False, "free"), (record(), "run-a", False, "release"), (record(), "run-b", True, "force")],
)
def test_release_plans(current, run_id, force, plan):
    assert locking.plan_release(current, run_id, force, NOW) == plan


def test_releasing_another_runs_lock_is_refused():
    with pytest.raises(locking.LockHeld, match="run run-b cannot release .* held by alice@ci"):
        locking.plan_release(record(), "run-b", False, NOW)


def test_item_round_trip():
    original = record()
    item = locking.to_item(original)
    assert item["lease_seconds"] == {"N": "300"}
    assert locking.from_item(item) == original


def test_items_written_by_hand_are_read_with_missing_fields_as_none():
    parsed = locking.from_item({"app": {"S": "web"}, "run_id": {"S": "x"}})
    assert parsed["owner"] is None and parsed["lease_seconds"] is None
    assert not locking.is_expired(parsed, NOW)
    assert locking.from_item(None) is None


def test_a_new_record_is_acquired_and_renewed_now_with_a_fresh_token():
    first = locking.new_record(request(), NOW)
    second = locking.new_record(request(), NOW)
    assert first["acquired_at"] == first["renewed_at"] == "2026-06-30T12:00:00Z"
    assert (first["owner"], first["run_id"], first["lease_seconds"]) == ("bob@laptop", "run-b", 900)
    assert first["token"] != second["token"]
    assert locking.same_write(dict(first), first) and not locking.same_write(second, first)
    assert not locking.same_write(None, first)


def test_the_view_of_a_holder_has_its_age_and_hides_the_token():
    view = locking.holder_view(record(acquired_ago=600, renewed_ago=30), NOW)
    assert (view["age_seconds"], view["idle_seconds"], view["expired"]) == (600, 30, False)
    assert "token" not in view


@pytest.mark.parametrize("seconds, text", [(5, "5 s"), (119, "119 s"), (600, "10 min"), (150, "2 min 30 s"), (7300, "2 h 1 min"), (None, "an unknown time")])
def test_durations_read_well(seconds, text):
    assert locking.duration_text(seconds) == text


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"app": ""}, "app must be a non-empty string"),
        ({"app": "Web"}, "app 'Web' is not a valid app name"),
        ({"run_id": ""}, "run_id must be a non-empty string"),
        ({"run_id": "   "}, "run_id must be a non-empty string"),
        ({"owner": "x" * 300}, "owner is longer than 256"),
        ({"lease_seconds": -5}, "lease_seconds must be between 1 and 604800, got -5"),
        ({"lease_seconds": 0}, "lease_seconds must be between 1"),
        ({"table": "ab"}, "table 'ab' is not a DynamoDB table name"),
        ({"table": "locks/prod"}, "table 'locks/prod'"),
        ({"wait_timeout": -1}, "wait_timeout must not be negative"),
    ],
)
def test_bad_input_is_refused_naming_the_option(overrides, fragment):
    with pytest.raises(locking.LockError) as refused:
        locking.validate_request(request(**overrides))
    assert fragment in str(refused.value)


def test_good_input_passes():
    locking.validate_request(request(reason=None))


class FakeTable:
    """Just enough of a DynamoDB client for the lease keeper: conditional UpdateItem."""

    def __init__(self, item):
        self.item = item
        self.updates = 0

    def update_item(self, **kwargs):
        self.updates += 1
        values = kwargs["ExpressionAttributeValues"]
        mine, token = values[":mine"]["S"], values.get(":token", {}).get("S")
        if self.item is None or self.item["run_id"] != mine or (token and self.item["token"] != token):
            error = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}}
            if self.item is not None:
                error["Item"] = locking.to_item(self.item)
            raise locking_client_error(error)
        old = locking.to_item(self.item)
        self.item = dict(self.item, renewed_at=kwargs["ExpressionAttributeValues"][":now"]["S"])
        return {"Attributes": old}

    def get_item(self, **_kwargs):
        return {"Item": locking.to_item(self.item)} if self.item else {}


def locking_client_error(response):
    from botocore.exceptions import ClientError

    return ClientError(response, "UpdateItem")


def test_the_lease_keeper_renews_once_per_third_of_a_lease():
    table = FakeTable(record(run_id="run-b", renewed_ago=200))
    ticks = iter([0, 10, 99, 100, 150, 250, 260])
    keeper = locking.LeaseKeeper(table, "cattle-deploy-locks", "web", "run-b", 300, clock=lambda: next(ticks))
    renewals = [keeper.renew_if_due() for _poll in range(3)]  # at 10 (no), 99 (no), 100 (yes, sets last=150)
    assert renewals == [False, False, True]
    assert table.updates == 1
    assert keeper.renew_if_due() is True  # 250 - 150 >= 100
    assert table.updates == 2


def test_the_lease_keeper_stops_a_run_that_lost_its_lock():
    table = FakeTable(record(run_id="run-c", owner="carol@ci"))
    keeper = locking.LeaseKeeper(table, "cattle-deploy-locks", "web", "run-b", 3, clock=iter([0, 5]).__next__)
    with pytest.raises(locking.LockError, match="run run-b does not hold the deploy lock of app 'web': it is held by carol@ci"):
        keeper.renew_if_due()


def test_provisioned_throughput_exceeded_is_retried(monkeypatch):
    from botocore.exceptions import ClientError

    monkeypatch.setattr("time.sleep", lambda _seconds: None)
    answers = [ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "GetItem"),
               {"Item": locking.to_item(record())}]

    class Client:
        def get_item(self, **_kwargs):
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    assert locking.read_lock(Client(), "cattle-deploy-locks", "web")["run_id"] == "run-a"
    assert answers == []


class RenewingHolder:
    """A table whose holder renews its lease between each of our reads and conditional puts,
    `renewals` times, and then lets the put through; `intruder` takes the lock over instead."""

    def __init__(self, holder, renewals=1, intruder=None):
        self.item, self.renewals, self.intruder = holder, renewals, intruder
        self.puts = 0

    def put_item(self, **kwargs):
        self.puts += 1
        if self.intruder is not None and self.puts == 2:
            self.item = self.intruder
        elif self.puts > 1 and self.renewals:
            self.renewals -= 1
            self.item = dict(self.item, renewed_at=stamp(self.puts))
        values = kwargs.get("ExpressionAttributeValues") or {}
        free = kwargs["ConditionExpression"].startswith("attribute_not_exists") and self.item is None
        observed = (values.get(":holder", {}).get("S") == self.item["run_id"]
                    and values.get(":renewed", {}).get("S") == self.item["renewed_at"]) if values else False
        if not (free or observed):
            error = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"},
                     "Item": locking.to_item(self.item)}
            raise locking_client_error(error)
        self.item = locking.from_item(kwargs["Item"])
        return {}


def test_a_forced_takeover_goes_through_while_the_holder_keeps_renewing():
    table = RenewingHolder(record(), renewals=2)
    result = locking.acquire(table, request(force=True), NOW)
    assert result["takeover"] == "forced" and table.item["run_id"] == "run-b" and table.puts == 4


def test_force_never_throws_out_a_run_that_took_the_lock_in_between():
    table = RenewingHolder(record(), intruder=record(run_id="run-c", owner="carol@ci", renewed_ago=0))
    with pytest.raises(locking.LockHeld, match="carol@ci"):
        locking.acquire(table, request(force=True), NOW)
    assert table.item["run_id"] == "run-c"


def test_a_takeover_appends_to_the_history_it_found_keeping_the_last_ones():
    before = dict(record(run_id="run-a", renewed_ago=400), history=json.dumps(
        [{"run_id": f"run-{n}", "kind": "forced"} for n in range(locking.HISTORY_LIMIT)]))
    taker = request(run_id="run-b", owner="bob@laptop")
    taken = locking.with_takeover(locking.new_record(taker, NOW), before, taker, locking.TAKEOVER_EXPIRED, NOW)
    history = locking.history_of(taken)
    assert len(history) == locking.HISTORY_LIMIT and history[0]["run_id"] == "run-1"
    assert history[-1] == {"at": stamp(0), "owner": "bob@laptop", "run_id": "run-b", "kind": "expired",
                           "from_owner": "alice@ci", "from_run_id": "run-a", "from_reason": "deploy ami-1",
                           "from_acquired_at": stamp(600), "from_idle_seconds": 400}
    assert locking.holder_view(taken, NOW)["history"] == history


def test_an_unreadable_history_reads_as_none():
    assert locking.history_of({"history": "{not json"}) == [] and locking.history_of({"history": '{"a": 1}'}) == []
    assert locking.history_of(None) == []
