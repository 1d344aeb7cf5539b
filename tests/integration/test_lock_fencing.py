"""The deploy lock fences the writes of deploy, rollback and terminate (docs/deploy-lock.md).

Each fenced write is preceded by a renewal conditional on the run's acquisition id and made
only when the lease left exceeds the write's worst case. Through the modules and playbooks
over the sandbox: a takeover before the renewal stops the write; one that lands between
the renewal and the write (the write held back by the sandbox) is detected at the next
renewal and the run fails naming the new holder; a lease too short for the write refuses it.
"""

import threading
import time

import pytest

from fixtures.ansible import module_play
from fixtures.deploy_site import LOCK_TABLE, fleet_name, published
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking

pytestmark = pytest.mark.sandbox

# Client settings that make a listener write's worst case 7 s (one attempt of 2 + 5 s).
SHORT_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5, "retries": {"total_max_attempts": 1}}


def take_lock(site, run_id, force=False, lease=900):
    """The lock of the site's app taken as run_id (forced over a live holder with force), as deploy_lock does."""
    site.ensure_lock_table()
    request = {"app": site.app, "table": LOCK_TABLE, "run_id": run_id, "owner": run_id + "@ci", "reason": "test",
               "lease_seconds": lease, "force": force, "create_table": False, "wait_timeout": 0,
               "state": locking.STATE_ACQUIRED}
    return locking.run(site.dynamodb, request)


def once_counted(aws, call, count, action, timeout=240):
    """Runs action() from a thread as soon as the sandbox has counted `count` calls of `call`."""
    outcome = {}

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if aws.control.counters().get(call, 0) >= count:
                outcome["value"] = action()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch)
    thread.start()

    def join():
        thread.join()
        return outcome

    return join


def traffic_play(site, weights, lock, **args):
    args.update(listener_arn=site.listener, lock=dict(lock, app=site.app),
                target_groups=[{"target_group": name, "weight": weight} for name, weight in weights.items()])
    return module_play("traffic", "traffic", args)


@pytest.fixture
def deployed(site, aws_env):
    site.deploy(aws_env, image_id=site.images[0])
    return site


def half_weights(site):
    """A write the health guard lets through: the live fleet's weight halved (its share stays all)."""
    return {name: weight // 2 for name, weight in site.weights_by_name().items()}


def test_a_run_whose_lock_was_taken_over_before_the_renewal_writes_nothing(deployed, playbook, aws):
    site = deployed
    mine = take_lock(site, "run-1")
    take_lock(site, "intruder", force=True)
    before = site.weights_by_name()
    aws.control.reset_counters()

    run = playbook(traffic_play(site, half_weights(site), {"run_id": "run-1", "acquisition": mine["acquisition"]}))

    assert run.failed, run.explain()
    result = run.result("traffic")
    assert result["failure"] == "lock"
    assert "run run-1 does not hold the deploy lock of app 'web': it is held by intruder@ci (run intruder" in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert "elasticloadbalancing:ModifyListener" not in aws.control.counters()
    assert site.weights_by_name() == before


def test_a_lease_shorter_than_the_writes_worst_case_is_refused_and_the_real_settings_decide(deployed, playbook, aws):
    site = deployed
    mine = take_lock(site, "run-1", lease=60)
    lock = {"run_id": "run-1", "acquisition": mine["acquisition"], "lease_seconds": 60}
    before = site.weights_by_name()
    aws.control.reset_counters()

    # The SDK's defaults (3 attempts of 60 + 60 s, standard backoff): 373 s of worst case, 60 s of lease.
    refused = playbook(traffic_play(site, half_weights(site), lock))

    assert refused.failed, refused.explain()
    result = refused.result("traffic")
    assert result["failure"] == "lease"
    assert "not writing modify_listener" in result["msg"] and "of its 60 s lease left" in result["msg"]
    assert "worst case of 373 s" in result["msg"] and "nothing was changed" in result["msg"]
    assert aws.control.counters().get("elasticloadbalancing:ModifyListener") is None
    assert site.weights_by_name() == before
    held = site.lock()
    assert held["run_id"]["S"] == "run-1" and held["token"]["S"] == mine["acquisition"]

    # The same write with short client timeouts (aws_config) fits the lease: renewed once, then made.
    aws.control.reset_counters()
    written = playbook(traffic_play(site, half_weights(site), lock, aws_config=SHORT_TIMEOUTS))

    assert not written.failed, written.explain()
    counters = aws.control.counters()
    assert (counters["dynamodb:UpdateItem"], counters["elasticloadbalancing:ModifyListener"]) == (1, 1)
    assert site.weights_by_name() == half_weights_of(before)


def half_weights_of(weights):
    return {name: weight // 2 for name, weight in weights.items()}


def test_a_takeover_between_the_renewal_and_the_write_is_detected_and_the_deploy_stops_naming_the_new_holder(
        deployed, aws_env, aws):
    site = deployed
    blue, green = fleet_name(site, site.images[0]), fleet_name(site, site.images[1])
    # The deploy writes the listener three times: green at weight 0, then the canary's 50 % and 100 %.
    # The sandbox holds the 50 % write back 4 s after the renewal that fenced it; meanwhile another
    # run forces its way in. The held-back write still lands (a request already sent), but the run
    # learns it at the renewal before its next write: it stops there, naming the new holder.
    aws.control.add_fault(service="elbv2", action="ModifyListener", kind="delay", delay=4, match=site.listener,
                          after=1, count=1)
    aws.control.reset_counters()
    intruder = once_counted(aws, "elasticloadbalancing:ModifyListener", 2,
                            lambda: take_lock(site, "intruder", force=True))

    run = site.run("deploy.yml", aws_env, image_id=site.images[1], strategy="canary", canary_steps=[50, 100])

    took = intruder().get("value")
    assert took is not None and took["took_over"] is True and took["takeover"] == "forced"
    assert run.failed, run.explain()
    message = run.result("Fail with the reason")["msg"]
    assert "does not hold the deploy lock of app 'web': it is held by intruder@ci (run intruder" in message
    assert "traffic and fleets left as they are for the run that took the lock over" in message
    # The 50 % write landed; nothing after it: no 100 % step, no restore, no release of another's lock.
    writes = site.listener_writes()
    assert writes[-1]["weights"][site.arn_of(green)] == 50 and writes[-1]["weights"][site.arn_of(blue)] == 50
    assert aws.control.counters()["elasticloadbalancing:ModifyListener"] == 2
    held = site.lock()
    assert held["run_id"]["S"] == "intruder" and held["token"]["S"] == took["acquisition"]
    stats = published(run, "cattle_deployment")
    assert stats["result"] == "failed" and stats["phase"] == "switch" and stats["traffic_restored"] is False
    # The takeover is in the lock's history.
    history = took["lock"]["history"]
    assert history[-1]["kind"] == "forced" and history[-1]["run_id"] == "intruder"
    assert history[-1]["from_owner"] == "tester@ci"
