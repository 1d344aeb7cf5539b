"""cattle.immutable.deploy_lock through real ansible-playbook runs (DynamoDB served by the sandbox)."""

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from fixtures.ansible import module_play, run_playbook
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking

pytestmark = pytest.mark.sandbox

TABLE = "cattle-deploy-locks"
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:CreateTable")


def lock_play(**args):
    return module_play("lock", "deploy_lock", args)


def lock_args(**args):
    args.setdefault("app", "web")
    args.setdefault("run_id", "run-1")
    args.setdefault("owner", "alice@ci")
    return args


def lock(playbook, **args):
    run = playbook(lock_play(**lock_args(**args)))
    assert not run.failed, run.explain()
    return run.result("lock")


def refused(playbook, **args):
    run = playbook(lock_play(**lock_args(**args)))
    assert run.failed, run.explain()
    return run.result("lock")


@pytest.fixture
def dynamodb(boto3_client):
    return boto3_client("dynamodb")


@pytest.fixture
def table(dynamodb):
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "app", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "app", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return TABLE


def item_of(dynamodb, app="web"):
    return locking.from_item(dynamodb.get_item(TableName=TABLE, Key={"app": {"S": app}}, ConsistentRead=True).get("Item"))


def iso(seconds_ago):
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def plant(dynamodb, run_id="run-old", owner="dead@ci", reason="deploy ami-1", acquired_ago=3600, renewed_ago=1200, lease=900,
          **extra):
    """A lock as another run left it; an old renewed_at simulates a dead holder."""
    record = {"app": "web", "owner": owner, "run_id": run_id, "reason": reason, "acquired_at": iso(acquired_ago),
              "renewed_at": iso(renewed_ago), "lease_seconds": lease, "token": "planted", **extra}
    dynamodb.put_item(TableName=TABLE, Item=locking.to_item(record))
    return item_of(dynamodb)


def writes_in(counters):
    return {call: count for call, count in counters.items() if call in WRITES}


def test_acquires_a_free_lock_creating_the_table(playbook, dynamodb):
    result = lock(playbook, reason="deploy ami-0123456789abcdef0", lease_seconds=600, create_table=True)
    assert result["changed"] is True and result["acquired"] is True and result["table_created"] is True
    assert result["previous"] is None and result["took_over"] is False
    held = item_of(dynamodb)
    assert (held["owner"], held["run_id"], held["reason"], held["lease_seconds"]) == (
        "alice@ci", "run-1", "deploy ami-0123456789abcdef0", 600)
    assert held["acquired_at"] == held["renewed_at"] == result["lock"]["acquired_at"]
    description = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert description["TableStatus"] == "ACTIVE"
    assert description["KeySchema"] == [{"AttributeName": "app", "KeyType": "HASH"}]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_a_missing_table_is_not_created_unless_asked(playbook, aws, dynamodb):
    result = refused(playbook)
    assert "lock table 'cattle-deploy-locks' does not exist" in result["msg"]
    assert "create_table=true" in result["msg"] and "nothing was changed" in result["msg"]
    assert dynamodb.list_tables()["TableNames"] == []


def test_acquiring_a_free_lock_is_one_call(playbook, aws, table):
    aws.control.reset_counters()
    lock(playbook)
    assert aws.control.counters() == {"dynamodb:PutItem": 1}


def test_a_second_run_is_refused_at_once_naming_holder_and_age(playbook, aws, dynamodb, table):
    lock(playbook, run_id="run-1", owner="alice@ci", reason="deploy ami-1")
    before = item_of(dynamodb)
    aws.control.reset_counters()
    result = refused(playbook, run_id="run-2", owner="bob@laptop")
    message = result["msg"]
    assert "the deploy lock of app 'web' is held by alice@ci (run run-1, reason \"deploy ami-1\")" in message
    assert "acquired " in message and " ago at " + before["acquired_at"] in message
    assert "last renewed" in message and "lease 900 s" in message and "nothing was changed" in message
    assert result["holder"]["run_id"] == "run-1" and result["holder"]["age_seconds"] >= 0
    assert writes_in(aws.control.counters()) == {"dynamodb:PutItem": 1}  # the conditional write that failed
    assert item_of(dynamodb) == before


def test_the_same_acquisition_acquiring_again_renews_without_a_change(playbook, dynamodb, table):
    plant(dynamodb, run_id="run-1", owner="alice@ci", acquired_ago=100, renewed_ago=50, lease=900)
    before = item_of(dynamodb)
    result = lock(playbook, run_id="run-1", lease_seconds=1200, acquisition="planted")
    assert result["changed"] is False and result["renewed"] is True and result["acquired"] is False
    assert result["acquisition"] == "planted"
    after = item_of(dynamodb)
    assert after["acquired_at"] == before["acquired_at"]
    assert after["renewed_at"] > before["renewed_at"] and after["lease_seconds"] == 1200
    assert result["previous"]["renewed_at"] == before["renewed_at"]
    assert result["lock"]["renewed_at"] == after["renewed_at"]


def test_a_run_id_holds_the_lock_once(playbook, aws, dynamodb, table):
    first = lock(playbook, run_id="run-1", owner="alice@ci", reason="deploy")
    token = first["acquisition"]
    assert token and token != "run-1" and item_of(dynamodb)["token"] == token
    # The same run id without the acquisition id taking the lock returned is another acquisition: refused.
    aws.control.reset_counters()
    second = refused(playbook, run_id="run-1", owner="bob@laptop", reason="deploy again")
    message = second["msg"]
    assert "is held by alice@ci (run run-1, reason \"deploy\")" in message
    assert "this run id but another acquisition" in message and "nothing was changed" in message
    assert second["holder"]["run_id"] == "run-1" and "token" not in second["holder"]
    assert writes_in(aws.control.counters()) == {"dynamodb:PutItem": 1}
    assert item_of(dynamodb)["token"] == token and item_of(dynamodb)["owner"] == "alice@ci"
    wrong = refused(playbook, run_id="run-1", acquisition="not-" + token)
    assert "this run id but another acquisition" in wrong["msg"]
    # Renewal and release under the run id with another acquisition id fail too; with its own they work.
    renewal = refused(playbook, run_id="run-1", state="renewed", acquisition="not-" + token)
    assert "another acquisition with the same run id" in renewal["msg"]
    again = lock(playbook, run_id="run-1", acquisition=token)
    assert again["renewed"] is True and again["changed"] is False and again["acquisition"] == token
    refused(playbook, run_id="run-1", state="released", acquisition="not-" + token)
    released = lock(playbook, run_id="run-1", state="released", acquisition=token)
    assert released["released"] is True and item_of(dynamodb) is None


def test_takeovers_are_recorded_in_a_bounded_history(playbook, dynamodb, table):
    plant(dynamodb, run_id="run-old", owner="dead@ci", reason="deploy ami-1", renewed_ago=1200, lease=900)
    expired = lock(playbook, run_id="rollback-1", owner="ops@ci", reason="rollback")
    entry = expired["lock"]["history"][-1]
    assert len(expired["lock"]["history"]) == 1
    assert (entry["owner"], entry["run_id"], entry["kind"]) == ("ops@ci", "rollback-1", "expired")
    assert (entry["from_owner"], entry["from_run_id"], entry["from_reason"]) == ("dead@ci", "run-old", "deploy ami-1")
    assert entry["from_idle_seconds"] >= 1200 and entry["at"] == expired["lock"]["acquired_at"]
    forced = lock(playbook, run_id="run-3", owner="carol@ci", force=True)
    history = forced["lock"]["history"]
    assert [(e["run_id"], e["kind"], e["from_run_id"]) for e in history] == [
        ("rollback-1", "expired", "run-old"), ("run-3", "forced", "rollback-1")]
    assert forced["took_over_from"]["history"] == expired["lock"]["history"]
    # A renewal keeps the history; the record keeps at most HISTORY_LIMIT takeovers, the newest last.
    assert lock(playbook, run_id="run-3", acquisition=forced["acquisition"])["lock"]["history"] == history
    old = [{"at": iso(3600), "run_id": f"run-{n}", "kind": "forced"} for n in range(locking.HISTORY_LIMIT)]
    plant(dynamodb, run_id="run-9", renewed_ago=1200, history=json.dumps(old))
    bounded = lock(playbook, run_id="run-10")["lock"]["history"]
    assert len(bounded) == locking.HISTORY_LIMIT
    assert [e["run_id"] for e in bounded] == [f"run-{n}" for n in range(1, locking.HISTORY_LIMIT)] + ["run-10"]


def test_renew_state_renews_only_a_held_lock(playbook, dynamodb, table):
    plant(dynamodb, run_id="run-1", renewed_ago=60)
    renewed = lock(playbook, run_id="run-1", state="renewed")
    assert renewed["changed"] is False and renewed["renewed"] is True
    assert renewed["lock"]["idle_seconds"] <= 1
    other = refused(playbook, run_id="run-2", state="renewed")
    assert "run run-2 does not hold the deploy lock of app 'web': it is held by dead@ci (run run-1" in other["msg"]
    dynamodb.delete_item(TableName=TABLE, Key={"app": {"S": "web"}})
    free = refused(playbook, run_id="run-1", state="renewed")
    assert "the lock is free" in free["msg"]
    assert item_of(dynamodb) is None  # renewing never takes a free lock


def test_an_expired_lease_is_taken_over_saying_from_whom(playbook, dynamodb, table):
    plant(dynamodb, run_id="run-old", owner="dead@ci", reason="deploy ami-1", renewed_ago=1200, lease=900)
    result = lock(playbook, run_id="rollback-1", owner="ops@ci", reason="rollback")
    assert result["changed"] is True and result["took_over"] is True and result["takeover"] == "expired"
    gone = result["took_over_from"]
    assert (gone["run_id"], gone["owner"], gone["reason"], gone["expired"]) == ("run-old", "dead@ci", "deploy ami-1", True)
    assert gone["idle_seconds"] >= 1200
    assert "took over the deploy lock of app 'web' from dead@ci (run run-old" in result["msg"]
    assert "lease had run out" in result["msg"]
    held = item_of(dynamodb)
    assert (held["run_id"], held["owner"], held["reason"]) == ("rollback-1", "ops@ci", "rollback")


def test_the_dead_holder_cannot_renew_or_release_after_a_takeover(playbook, dynamodb, table):
    plant(dynamodb, run_id="run-old", renewed_ago=1200, lease=900)
    lock(playbook, run_id="rollback-1", owner="ops@ci")
    renew = refused(playbook, run_id="run-old", state="renewed")
    assert "it is held by ops@ci (run rollback-1" in renew["msg"]
    release = refused(playbook, run_id="run-old", state="released")
    assert "run run-old cannot release the deploy lock of app 'web': it is held by ops@ci" in release["msg"]
    assert item_of(dynamodb)["run_id"] == "rollback-1"


def test_force_takes_over_a_live_lock(playbook, dynamodb, table):
    plant(dynamodb, run_id="run-live", owner="alice@ci", renewed_ago=5, lease=900)
    result = lock(playbook, run_id="run-2", force=True)
    assert result["took_over"] is True and result["takeover"] == "forced"
    assert result["took_over_from"]["run_id"] == "run-live" and result["took_over_from"]["expired"] is False
    assert "(force=true)" in result["msg"]
    assert item_of(dynamodb)["run_id"] == "run-2"


def test_release_by_the_owner_then_again_is_no_change(playbook, aws, dynamodb, table):
    lock(playbook, run_id="run-1")
    released = lock(playbook, run_id="run-1", state="released")
    assert released["changed"] is True and released["released"] is True
    assert released["previous"]["run_id"] == "run-1" and released["lock"] is None
    assert item_of(dynamodb) is None
    aws.control.reset_counters()
    again = lock(playbook, run_id="run-1", state="released")
    assert again["changed"] is False and again["released"] is False and "not held" in again["msg"]
    assert writes_in(aws.control.counters()) == {"dynamodb:DeleteItem": 1}  # conditional, deleted nothing


def test_release_by_another_run_is_refused_unless_forced(playbook, dynamodb, table):
    lock(playbook, run_id="run-1", owner="alice@ci", reason="deploy")
    before = item_of(dynamodb)
    result = refused(playbook, run_id="run-2", state="released")
    assert "run run-2 cannot release the deploy lock of app 'web': it is held by alice@ci (run run-1" in result["msg"]
    assert "force=true releases it anyway" in result["msg"] and "nothing was changed" in result["msg"]
    assert item_of(dynamodb) == before
    forced = lock(playbook, run_id="run-2", state="released", force=True)
    assert forced["changed"] is True and forced["previous"]["run_id"] == "run-1"
    assert "held by alice@ci" in forced["msg"] and item_of(dynamodb) is None


def test_releasing_when_the_table_is_missing_is_no_change(playbook, dynamodb):
    result = lock(playbook, state="released")
    assert result["changed"] is False
    assert dynamodb.list_tables()["TableNames"] == []


def test_locks_of_two_apps_are_independent(playbook, dynamodb, table):
    lock(playbook, app="web", run_id="run-1")
    other = lock(playbook, app="api", run_id="run-2")
    assert other["acquired"] is True
    assert item_of(dynamodb, "api")["run_id"] == "run-2" and item_of(dynamodb, "web")["run_id"] == "run-1"


def test_check_mode_reads_and_writes_nothing(playbook, aws, dynamodb, table):
    aws.control.reset_counters()
    run = playbook(lock_play(**lock_args()), check=True)
    assert not run.failed, run.explain()
    result = run.result("lock")
    assert result["changed"] is True and result["acquired"] is True and result["lock"]["run_id"] == "run-1"
    assert item_of(dynamodb) is None
    plant(dynamodb, run_id="run-old", renewed_ago=1200, lease=900)
    takeover = playbook(lock_play(**lock_args()), check=True).result("lock")
    assert takeover["took_over"] is True and takeover["took_over_from"]["run_id"] == "run-old"
    held = playbook(lock_play(**lock_args(force=False, run_id="run-2")), check=True)
    release = playbook(lock_play(**lock_args(state="released", run_id="run-old")), check=True).result("lock")
    assert release["changed"] is True and release["previous"]["run_id"] == "run-old"
    assert not held.failed  # run-old's lease ran out: run-2 would take it over too
    assert item_of(dynamodb)["run_id"] == "run-old"
    assert writes_in(aws.control.counters()) == {"dynamodb:PutItem": 1}  # plant() only


def test_check_mode_on_a_held_lock_fails_like_the_real_run(playbook, dynamodb, table):
    plant(dynamodb, run_id="run-live", renewed_ago=5)
    run = playbook(lock_play(**lock_args(run_id="run-2")), check=True)
    assert run.failed and "is held by dead@ci (run run-live" in run.result("lock")["msg"]


def test_check_mode_with_a_missing_table_creates_nothing(playbook, dynamodb):
    run = playbook(lock_play(**lock_args(create_table=True)), check=True)
    assert not run.failed, run.explain()
    assert run.result("lock")["table_created"] is True
    assert dynamodb.list_tables()["TableNames"] == []


def test_throttling_is_retried_by_the_module(playbook, aws, aws_env, tmp_path, dynamodb, table):
    # botocore's own retries are off, so every retry seen here is the module's.
    aws.control.add_fault(service="dynamodb", action="PutItem", kind="throttle", count=2)
    aws.control.add_fault(service="dynamodb", action="DeleteItem", kind="throttle", count=1)
    aws.control.reset_counters()
    env = dict(aws_env, AWS_MAX_ATTEMPTS="1")
    for state in ("acquired", "released"):
        path = tmp_path / f"{state}.yml"
        path.write_text(lock_play(**lock_args(state=state)))
        run = run_playbook(path, env)
        assert not run.failed, run.explain()
    counters = aws.control.counters()
    assert (counters["dynamodb:PutItem"], counters["dynamodb:DeleteItem"]) == (3, 2)
    assert item_of(dynamodb) is None


def test_a_lost_answer_is_recognized_as_our_own_acquisition(playbook, aws, dynamodb, table):
    aws.control.add_fault(service="dynamodb", action="PutItem", kind="lose_response", count=1)
    result = lock(playbook)
    assert result["changed"] is True and result["acquired"] is True and result["renewed"] is False
    assert item_of(dynamodb)["run_id"] == "run-1"


def test_two_playbooks_at_once_exactly_one_wins(aws, aws_env, tmp_path, dynamodb, table):
    runs = {}

    def deploy(run_id):
        path = tmp_path / f"{run_id}.yml"
        path.write_text(lock_play(**lock_args(run_id=run_id, owner=run_id)))
        runs[run_id] = run_playbook(path, aws_env)

    threads = [threading.Thread(target=deploy, args=(f"run-{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [run_id for run_id, run in runs.items() if not run.failed]
    assert len(winners) == 1, {run_id: run.explain() for run_id, run in runs.items()}
    loser = next(run for run_id, run in runs.items() if run_id not in winners)
    assert f"is held by {winners[0]} (run {winners[0]}" in loser.result("lock")["msg"]
    assert item_of(dynamodb)["run_id"] == winners[0]


def contend(aws, make_request, count):
    """`count` threads run locking.run at once, each with its own client; (results, errors) by index."""
    results, errors = {}, {}
    barrier = threading.Barrier(count)

    def one(index):
        client = aws.client("dynamodb")
        barrier.wait()
        try:
            results[index] = locking.run(client, make_request(index))
        except locking.LockError as error:
            errors[index] = error

    threads = [threading.Thread(target=one, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def request(index, **overrides):
    base = {"app": "web", "run_id": f"run-{index}", "owner": f"owner-{index}", "reason": "race", "lease_seconds": 900,
            "force": False, "table": TABLE, "create_table": False, "wait_timeout": 30, "state": "acquired"}
    base.update(overrides)
    return base


def test_many_concurrent_acquirers_exactly_one_wins(aws, dynamodb, table):
    results, errors = contend(aws, request, 16)
    assert len(results) == 1 and len(errors) == 15
    winner = next(iter(results))
    assert item_of(dynamodb)["run_id"] == f"run-{winner}"
    assert all(f"held by owner-{winner} (run run-{winner}" in str(error) for error in errors.values())


def test_many_concurrent_takers_of_a_dead_lock_exactly_one_wins(aws, dynamodb, table):
    plant(dynamodb, run_id="run-dead", renewed_ago=1200, lease=900)
    results, errors = contend(aws, request, 12)
    assert len(results) == 1 and len(errors) == 11
    winner = next(iter(results))
    assert results[winner]["took_over_from"]["run_id"] == "run-dead"
    assert item_of(dynamodb)["run_id"] == f"run-{winner}"


def test_concurrent_forced_takeovers_never_take_over_the_same_holder_twice(aws, dynamodb, table):
    # force overrides the holder a run observed first; compare-and-swap lets only one run replace
    # each holder, so the takeovers form one chain from the planted holder to the final one.
    plant(dynamodb, run_id="run-live", renewed_ago=1, lease=900)
    results, errors = contend(aws, lambda index: request(index, force=True), 6)
    assert results and len(results) + len(errors) == 6
    replaced = [result["took_over_from"]["run_id"] for result in results.values()]
    assert len(replaced) == len(set(replaced))
    final = item_of(dynamodb)["run_id"]
    assert set(replaced) | {final} == {"run-live"} | {f"run-{index}" for index in results}
    assert all("held by owner-" in str(error) for error in errors.values())


def test_throttling_on_every_call_still_gives_exactly_one_winner(aws, dynamodb, table):
    aws.control.add_fault(service="dynamodb", action="*", kind="throttle", probability=0.3, seed=7)
    results, errors = contend(aws, request, 6)
    assert len(results) == 1 and len(errors) == 5


BAD_INPUTS = {
    "negative lease": ({"lease_seconds": -5}, "lease_seconds must be between 1 and 604800, got -5"),
    "empty app": ({"app": ""}, "app must be a non-empty string"),
    "bad app": ({"app": "Web_1"}, "app 'Web_1' is not a valid app name"),
    "empty run id": ({"run_id": ""}, "run_id must be a non-empty string"),
    "bad table": ({"table": "a/b"}, "table 'a/b' is not a DynamoDB table name"),
    "negative timeout": ({"wait_timeout": -1}, "wait_timeout must not be negative, got -1"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_before_any_call(playbook, aws, table, case):
    args, message = BAD_INPUTS[case]
    aws.control.reset_counters()
    result = refused(playbook, **args)
    assert message in result["msg"] and result["msg"].endswith("nothing was changed")
    assert aws.control.counters() == {}
