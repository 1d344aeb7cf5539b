# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A per-app deploy lock on DynamoDB conditional writes (compare-and-swap).

One item per app in a table keyed by `app` (string). Every write is conditional, so two
writers can never both believe they won:

- acquire:  PutItem if attribute_not_exists(app)
- renew:    UpdateItem if run_id = mine (AND token = my acquisition's token, when known)
- takeover: PutItem if run_id = observed holder AND renewed_at = observed renewal
            (only when the holder's lease ran out, or with force); the takeover history
            of the observed record is carried over, with this takeover appended
- release:  DeleteItem if run_id = mine (AND token = mine, when known; with force: if
            run_id = observed holder)

Each acquisition gets a token (a random nonce, not the run id) that renewals never change:
a run proves with it that the lock is still the one it acquired. A run id holds the lock
once: acquiring again with the same run id renews only when it presents the token;
without it, it is refused like any other run.

Writes that must not be made once the lock is lost are fenced (fencing.py): a conditional
renewal with the token right before each one, and a margin check of the lease left.

A failed condition returns the item that made it fail (ReturnValuesOnConditionCheckFailure),
so the common paths cost one call. Times are UTC ISO 8601 strings from the clock of the
machine the module runs on (the controller): a lease is expired when that clock says the
holder's last renewal is older than the holder's lease_seconds.

docs/deploy-lock.md is the user-facing description.
"""

import contextlib
import json
import time
import uuid

from ansible_collections.cattle.immutable.plugins.module_utils._aws import dynamodb as dynamodb_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError, Refusal
from ansible_collections.cattle.immutable.plugins.module_utils._common.timestamps import iso8601, parse_iso8601, utc_now
from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import Waiter

DEFAULT_TABLE = "cattle-deploy-locks"
DEFAULT_LEASE_SECONDS = 900
MAX_LEASE_SECONDS = 7 * 24 * 3600
KEY = "app"
# The takeovers a lock record remembers, the newest last.
HISTORY_LIMIT = 10
TEXT_LIMITS = {"run_id": 128, "owner": 256, "reason": 1024}
TABLE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# Rounds of read-decide-write when other writers keep changing the item under us.
MAX_ROUNDS = 5

STATE_ACQUIRED = "acquired"
STATE_RENEWED = "renewed"
STATE_RELEASED = "released"

TAKEOVER_EXPIRED = "expired"
TAKEOVER_FORCED = "forced"


def acquire_options():
    """The argument spec of taking the lock, shared by the modules that take it."""
    return dict(
        reason=dict(type="str", default=""),
        lease_seconds=dict(type="int", default=DEFAULT_LEASE_SECONDS),
        force=dict(type="bool", default=False),
        table=dict(type="str", default=DEFAULT_TABLE),
        create_table=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=120),
    )


def held_options():
    """The argument spec of a lock another module took and this one renews (or releases)."""
    return dict(
        run_id=dict(type="str", required=True),
        acquisition=dict(type="str"),
        table=dict(type="str", default=DEFAULT_TABLE),
        lease_seconds=dict(type="int", default=DEFAULT_LEASE_SECONDS),
        region=dict(type="str"),
    )


def keeper_of(lock, app, make_client, region):
    """The LeaseKeeper of a held lock reference (held_options(): run_id, acquisition, table,
    lease_seconds, region) of `app`, its client made in the reference's region or `region`;
    LockError for a bad reference, before any call."""
    table = lock.get("table") or DEFAULT_TABLE
    lease = lock.get("lease_seconds") or DEFAULT_LEASE_SECONDS
    validate_renewal(app, table, lock.get("run_id"), lease)
    client = make_client("dynamodb", lock.get("region") or region)
    return LeaseKeeper(client, table, app, lock["run_id"], lease, token=lock.get("acquisition"))


def fence_failure_kind(error):
    """The `failure` of a result a fenced write stopped: 'lease' (the lease left was too short,
    the run still holds the lock) or 'lock' (the run lost it)."""
    return "lease" if isinstance(error, LeaseTooShort) else "lock"


def acquire_request(lock, app):
    """The acquire request of a module's option `lock` (run_id, owner and acquire_options());
    LockError for a bad one, before any call."""
    request = dict(lock, app=app, state=STATE_ACQUIRED)
    request["token"] = request.pop("acquisition", None)
    validate_request(request)
    return request


class LockError(Exception):
    """A refusal: the lock was not changed. The message names the input or the holder."""


class LeaseTooShort(LockError):
    """The lease left after a fencing renewal does not cover a write's worst case: the write
    was not made, and the run still holds the lock."""


class LockHeld(LockError):
    """Someone else holds the lock (acquire or renew refused)."""

    def __init__(self, message, holder):
        super().__init__(message)
        self.holder = holder


class TableMissing(Exception):
    """The lock table does not exist (yet)."""


class TableNotReady(Exception):
    """The table was created (or is being created) but did not become ACTIVE in time."""


def lock_failure(error, **result):
    """The module failure of a lock not taken or changed (LockError or TableNotReady)."""
    if isinstance(error, TableNotReady):
        return CattleError("{0}; the lock was not taken, retry once the table is ACTIVE".format(error),
                           changed=True, **result)
    if isinstance(error, LockHeld):
        result["holder"] = holder_view(error.holder, utc_now())
    return Refusal(error, **result)


# ---------------------------------------------------------------------------------------
# Time


def seconds_since(text, now):
    when = parse_iso8601(text)
    return None if when is None else int((now - when).total_seconds())


def duration_text(seconds):
    if seconds is None:
        return "an unknown time"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        rest = f" {seconds % 60} s" if seconds % 60 else ""
        return f"{seconds // 60} min{rest}"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# ---------------------------------------------------------------------------------------
# The lock record: DynamoDB item <-> dict


def new_record(request, now):
    stamp = iso8601(now)
    return {
        "app": request["app"],
        "owner": request["owner"],
        "run_id": request["run_id"],
        "reason": request["reason"] or "",
        "acquired_at": stamp,
        "renewed_at": stamp,
        "lease_seconds": request["lease_seconds"],
        # This acquisition's token: renewals keep it, and it tells our own write (whose
        # answer was lost) from a later one.
        "token": uuid.uuid4().hex,
    }


def history_of(record):
    """The takeovers a record remembers (a list, the newest last); [] for none or an unreadable one."""
    try:
        history = json.loads((record or {}).get("history") or "[]")
    except ValueError:
        return []
    return history if isinstance(history, list) else []


def takeover_entry(before, request, kind, now):
    """Who took the lock over, when, from whom, and why (expired or forced)."""
    return {
        "at": iso8601(now),
        "owner": request["owner"],
        "run_id": request["run_id"],
        "kind": kind,
        "from_owner": before.get("owner"),
        "from_run_id": before.get("run_id"),
        "from_reason": before.get("reason"),
        "from_acquired_at": before.get("acquired_at"),
        "from_idle_seconds": seconds_since(before.get("renewed_at"), now),
    }


def with_takeover(record, before, request, kind, now):
    """The new record of a takeover: the history it found, this takeover appended, at most HISTORY_LIMIT."""
    history = (history_of(before) + [takeover_entry(before, request, kind, now)])[-HISTORY_LIMIT:]
    return dict(record, history=json.dumps(history, sort_keys=True, separators=(",", ":")))


def to_item(record):
    names = ("app", "owner", "run_id", "reason", "acquired_at", "renewed_at", "token", "history")
    item = {name: {"S": str(record[name])} for name in names if record.get(name) is not None}
    item["lease_seconds"] = {"N": str(int(record["lease_seconds"]))}
    return item


def from_item(item):
    """The record of a DynamoDB item; None for no item. Tolerates items written by hand."""
    if not item:
        return None
    record = {}
    for name, value in item.items():
        if "S" in value:
            record[name] = value["S"]
        elif "N" in value:
            record[name] = int(float(value["N"]))
    for name in ("owner", "run_id", "reason", "acquired_at", "renewed_at"):
        record.setdefault(name, None)
    record.setdefault("lease_seconds", None)
    return record


def is_expired(record, now):
    """Whether the holder's last renewal is older than its lease (by the given clock)."""
    idle = seconds_since(record.get("renewed_at"), now)
    lease = record.get("lease_seconds")
    if idle is None or not isinstance(lease, int):
        return False  # unreadable: never guess that a holder is dead; force exists for that
    return idle > lease


def same_write(record, written):
    """Whether the item is exactly what we wrote: our own write whose answer was lost."""
    return bool(record) and record.get("token") == written["token"]


def holder_view(record, now):
    """A lock record for return values, with its age and idle time by `now`."""
    if record is None:
        return None
    # The token stays with its run: whoever knows it can renew and release the lock.
    view = {name: value for name, value in record.items() if name != "token"}
    view["history"] = history_of(record)
    view["age_seconds"] = seconds_since(record.get("acquired_at"), now)
    view["idle_seconds"] = seconds_since(record.get("renewed_at"), now)
    view["expired"] = is_expired(record, now)
    return view


def holder_text(record, now):
    """'alice (run 42, reason "deploy web"), acquired 3 min ago, last renewed 20 s ago, lease 900 s'."""
    reason = f', reason "{record["reason"]}"' if record.get("reason") else ""
    return (
        f"{record.get('owner') or 'an unknown owner'} (run {record.get('run_id')}{reason}), "
        f"acquired {duration_text(seconds_since(record.get('acquired_at'), now))} ago "
        f"at {record.get('acquired_at')}, last renewed "
        f"{duration_text(seconds_since(record.get('renewed_at'), now))} ago, "
        f"lease {record.get('lease_seconds')} s"
    )


def held_message(app, record, now):
    idle = seconds_since(record.get("renewed_at"), now)
    lease = record.get("lease_seconds")
    if idle is not None and isinstance(lease, int):
        when = (f"it can be taken over once its lease runs out in {duration_text(max(lease - idle, 0))}, "
                "or with force=true (the playbooks: -e lock_takeover=true)")
    else:
        when = "its renewal time is unreadable, so only force=true takes it over"
    return f"the deploy lock of app '{app}' is held by {holder_text(record, now)}; {when}"


# ---------------------------------------------------------------------------------------
# Decisions (no AWS call)


def plan_acquire(current, run_id, force, now, token=None):
    """What acquiring means given the current record: (action, takeover kind).

    action is 'acquire' (free), 'renew' (this acquisition's: same run id and token) or
    'takeover'; a live lock of someone else without force raises LockHeld. The same run
    id without the token is someone else: a run id holds the lock once.
    """
    if current is None:
        return "acquire", None
    if current.get("run_id") == run_id and token and current.get("token") == token:
        return "renew", None
    if is_expired(current, now):
        return "takeover", TAKEOVER_EXPIRED
    if force:
        return "takeover", TAKEOVER_FORCED
    message = held_message(current.get("app"), current, now)
    if current.get("run_id") == run_id:
        message += ("; that is this run id but another acquisition: acquiring again with the same run_id renews "
                    "the lock only with the acquisition id that taking it returned (option acquisition)")
    raise LockHeld(message, current)


def plan_release(current, run_id, force, now, token=None):
    """'free' (nothing to release), 'release' (ours: this run id, and this acquisition when the
    token is given) or 'force' (someone else's, force=true)."""
    if current is None:
        return "free"
    if current.get("run_id") == run_id and (not token or current.get("token") == token):
        return "release"
    if force:
        return "force"
    raise LockHeld(
        f"run {run_id} cannot release the deploy lock of app '{current.get('app')}': it is held by "
        f"{holder_text(current, now)}; force=true releases it anyway",
        current,
    )


def validate_request(params):
    """Raise LockError for input that cannot be right; no AWS call is made before this."""
    try:
        naming.validate_app(params["app"])
    except naming.NamingError as e:
        raise LockError(str(e)) from e
    table = params["table"]
    if not isinstance(table, str) or not 3 <= len(table) <= 255 or not set(table) <= TABLE_NAME_CHARS:
        raise LockError(f"table '{table}' is not a DynamoDB table name (3-255 letters, digits, '_', '.', '-')")
    for option, limit in TEXT_LIMITS.items():
        value = params.get(option)
        if option != "reason" and (not isinstance(value, str) or not value.strip()):
            raise LockError(f"{option} must be a non-empty string")
        if value is not None and len(value) > limit:
            raise LockError(f"{option} is longer than {limit} characters")
    lease = params["lease_seconds"]
    if not 1 <= lease <= MAX_LEASE_SECONDS:
        raise LockError(f"lease_seconds must be between 1 and {MAX_LEASE_SECONDS}, got {lease}")
    if params["wait_timeout"] < 0:
        raise LockError(f"wait_timeout must not be negative, got {params['wait_timeout']}")


def validate_renewal(app, table, run_id, lease_seconds):
    """validate_request's rules for a lock another module renews (it has no owner, reason or wait)."""
    validate_request({"app": app, "table": table, "run_id": run_id, "owner": "renewing module", "reason": None,
                      "lease_seconds": lease_seconds, "wait_timeout": 0})


# ---------------------------------------------------------------------------------------
# The lock's DynamoDB calls, made by _aws/dynamodb.py (retried on throttling and 5xx, errors
# as AnsibleAWSError): here they read and write lock records, fail in the lock's words, and
# a missing table raises TableMissing.
# A conditional write answers (True, record) when its condition held, (False, the record
# there, or None) when not.


def _key(app):
    return {KEY: {"S": app}}


@contextlib.contextmanager
def _raising_table_missing(table):
    # The lock's own word for it: acquire may create the table, renew and release see a free lock.
    try:
        yield
    except dynamodb_calls.TableNotFound as e:
        raise TableMissing(table) from e


def read_lock(client, table, app):
    """The current record, or None when the lock is free. A strongly consistent read."""
    with _raising_table_missing(table):
        return from_item(dynamodb_calls.get_item(client, table, _key(app), purpose="read the deploy lock"))


def put_if(client, table, record, condition, values=None):
    """Write the record if the condition holds: (True, the record) or (False, the item there)."""
    with _raising_table_missing(table):
        written, there = dynamodb_calls.put_item_if(client, table, to_item(record), condition, values,
                                                    purpose="write the deploy lock")
    return written, record if written else from_item(there)


def held_condition(run_id, token, values):
    """The condition 'this run holds the lock', with the token when known; adds its :values."""
    values[":mine"] = {"S": run_id}
    if not token:
        return "run_id = :mine"
    values[":token"] = {"S": token}
    return "run_id = :mine AND #token = :token"


def renew_if_held_by(client, table, app, run_id, renewed_at, lease_seconds, token=None):
    """Set renewed_at and lease_seconds if run_id (and, given, its acquisition's token) holds the lock.

    (True, the record before the renewal) or (False, the item there).
    """
    values = {":now": {"S": renewed_at}, ":lease": {"N": str(lease_seconds)}}
    condition = held_condition(run_id, token, values)
    with _raising_table_missing(table):
        renewed, item = dynamodb_calls.update_item_if(
            client, table, _key(app), "SET renewed_at = :now, lease_seconds = :lease", condition, values,
            purpose="renew the deploy lock", names={"#token": "token"} if token else None,
        )
    return renewed, from_item(item)


def delete_if_held_by(client, table, app, run_id, renewed_at=None, token=None):
    """Delete the lock if run_id holds it (and, given, its renewal is renewed_at and its token `token`).

    (True, deleted record) or (False, item there).
    """
    values = {}
    condition = held_condition(run_id, token, values)
    if renewed_at is not None:
        condition += " AND renewed_at = :renewed"
        values[":renewed"] = {"S": renewed_at}
    with _raising_table_missing(table):
        deleted, item = dynamodb_calls.delete_item_if(client, table, _key(app), condition, values,
                                                      purpose="release the deploy lock",
                                                      names={"#token": "token"} if token else None)
    return deleted, from_item(item)


def describe_table(client, table):
    """The table description, or None when it does not exist."""
    return dynamodb_calls.describe_table(client, table, purpose="describe the lock table")


def create_table(client, table):
    """Create the lock table (key `app`, on-demand, tagged as the collection's): True when
    created now, False when someone else is creating or created it."""
    tags = {naming.TAG_MANAGED_BY: naming.MANAGED_BY_VALUE}
    return dynamodb_calls.create_table(client, table, KEY, tags, purpose="create the lock table")


# ---------------------------------------------------------------------------------------
# The lock table


def wait_until_active(client, table, timeout, sleep=time.sleep, clock=time.monotonic):
    waiting = Waiter(timeout, 0.5, backoff=2, max_interval=5.0, sleep=sleep, clock=clock)
    while True:
        status = (describe_table(client, table) or {}).get("TableStatus")
        if status == "ACTIVE":
            return
        if waiting.expired():
            raise TableNotReady(f"lock table '{table}' is still {status or 'not visible'} after {timeout} s")
        waiting.pause()


def ensure_table(client, table, timeout):
    """Create the table (key `app`, on-demand) if missing and wait for ACTIVE; True if created."""
    created = create_table(client, table)
    wait_until_active(client, table, timeout)
    return created


def missing_table_error(table):
    return LockError(
        f"lock table '{table}' does not exist in this region; create it with create_table=true "
        f"(or yourself: partition key '{KEY}' of type string)"
    )


# ---------------------------------------------------------------------------------------
# Operations. Each returns the module result; `now` is the controller clock.


def base_result(request, previous, now):
    return {
        "changed": False,
        "app": request["app"],
        "table": request["table"],
        "run_id": request["run_id"],
        "lock": None,
        "previous": holder_view(previous, now),
        "acquired": False,
        "renewed": False,
        "released": False,
        "took_over": False,
        "takeover": None,
        "took_over_from": None,
        "table_created": False,
        "acquisition": None,
        "msg": "",
    }


def renewed_record(record, request, now):
    return dict(record, renewed_at=iso8601(now), lease_seconds=request["lease_seconds"])


def acquire_result(request, action, kind, before, record, now):
    """The result of an acquire whose `action` (acquire, renew, takeover) succeeded."""
    result = base_result(request, before, now)
    result["lock"] = holder_view(record, now)
    # What later tasks of the run pass on (option lock.acquisition): renewals and fenced writes check it.
    result["acquisition"] = record.get("token")
    app, run_id = request["app"], request["run_id"]
    if action == "renew":
        # The holder did not change: a renewal is a heartbeat, not a change.
        result["renewed"] = True
        result["msg"] = (f"run {run_id} already holds the deploy lock of app '{app}'; "
                         f"renewed its lease ({request['lease_seconds']} s)")
        return result
    result.update(changed=True, acquired=True)
    result["msg"] = f"acquired the deploy lock of app '{app}' for run {run_id}"
    if action == "takeover":
        result.update(took_over=True, takeover=kind, took_over_from=holder_view(before, now))
        why = "its lease had run out: the holder is presumed dead" if kind == TAKEOVER_EXPIRED else "force=true"
        result["msg"] = (f"run {run_id} took over the deploy lock of app '{app}' "
                         f"from {holder_text(before, now)} ({why})")
    return result


def read_or_missing(client, request):
    """(record or None, whether the table is missing)."""
    try:
        return read_lock(client, request["table"], request["app"]), False
    except TableMissing:
        return None, True


def preview_acquire(client, request, now):
    """Check mode: read once, decide, write nothing."""
    current, table_missing = read_or_missing(client, request)
    if table_missing and not request["create_table"]:
        raise missing_table_error(request["table"])
    action, kind = plan_acquire(current, request["run_id"], request["force"], now, request.get("token"))
    record = planned_record(action, kind, request, current, new_record(request, now), now)
    result = acquire_result(request, action, kind, current, record, now)
    if action != "renew":
        result["acquisition"] = None  # nothing was acquired: no id to pass on
    result["table_created"] = table_missing
    return result


def planned_record(action, kind, request, current, mine, now):
    """The record an acquire action leaves: ours renewed, ours new, or ours with the takeover recorded."""
    if action == "renew":
        return renewed_record(current, request, now)
    if action == "takeover":
        return with_takeover(mine, current, request, kind, now)
    return mine


def write_planned(action, client, request, current, mine, now):
    """The one conditional write for a planned acquire action: (done, record written or item there)."""
    table = request["table"]
    if action == "acquire":
        return put_if(client, table, mine, f"attribute_not_exists({KEY})")
    if action == "renew":
        renewed, there = renew_if_held_by(
            client, table, request["app"], request["run_id"], mine["renewed_at"], request["lease_seconds"],
            request.get("token"),
        )
        return renewed, renewed_record(there, request, now) if renewed else there
    # Compare-and-swap on what we observed: of two takers only the first write matches.
    values = {":holder": {"S": current.get("run_id") or ""}, ":renewed": {"S": current.get("renewed_at") or ""}}
    return put_if(client, table, mine, "run_id = :holder AND renewed_at = :renewed", values)


def acquire(client, request, now, check_mode=False):
    """Acquire the lock of an app, renew it (same run_id) or take it over (expired or forced).

    The first write assumes the lock is free (one call on the common path); a failed
    condition hands back the item that is there, and the next write is planned from it.
    """
    if check_mode:
        return preview_acquire(client, request, now)
    fresh = new_record(request, now)
    mine = fresh
    action, kind, current, table_created = "acquire", None, None, False
    forced_holder = None
    for _attempt in range(MAX_ROUNDS):
        try:
            done, there = write_planned(action, client, request, current, mine, now)
        except TableMissing:
            if not request["create_table"] or table_created:
                raise missing_table_error(request["table"]) from None
            table_created = ensure_table(client, request["table"], request["wait_timeout"])
            continue
        # A lost answer: the write went through, and botocore's retry met our own item.
        if done or (action != "renew" and same_write(there, mine)):
            result = acquire_result(request, action, kind, current, mine if action != "renew" else there, now)
            result["table_created"] = table_created
            return result
        current = there if there is not None else read_lock(client, request["table"], request["app"])
        # force applies to the holder first observed, also when it renewed in between; a run
        # that came in between is not thrown out.
        forced_holder = forced_holder or (current or {}).get("run_id")
        force = request["force"] and current is not None and current.get("run_id") == forced_holder
        action, kind = plan_acquire(current, request["run_id"], force, now, request.get("token"))
        mine = with_takeover(fresh, current, request, kind, now) if action == "takeover" else fresh
    raise LockError(
        f"the deploy lock of app '{request['app']}' changed under each of {MAX_ROUNDS} attempts to acquire it; "
        "other runs are contending for it"
    )


def not_held_message(app, run_id, record, now):
    if record is None:
        where = ("the lock is free (released, or taken over and released, by another run); "
                 "acquire it again with state=acquired")
    else:
        where = f"it is held by {holder_text(record, now)}"
        if record.get("run_id") == run_id:
            where += " (another acquisition with the same run id)"
    return f"run {run_id} does not hold the deploy lock of app '{app}': {where}"


def holds(record, run_id, token=None):
    """Whether the record is run_id's (and, given, this acquisition's)."""
    return record is not None and record.get("run_id") == run_id and (not token or record.get("token") == token)


def renew(client, request, now, check_mode=False):
    """Renew the lease of a lock this run holds; refuse (LockError) if it does not hold it."""
    app, run_id = request["app"], request["run_id"]
    try:
        if check_mode:
            current = read_lock(client, request["table"], app)
            held = holds(current, run_id, request.get("token"))
        else:
            held, current = renew_if_held_by(
                client, request["table"], app, run_id, iso8601(now), request["lease_seconds"], request.get("token")
            )
            if not held and current is None:
                current = read_lock(client, request["table"], app)
    except TableMissing:
        held, current = False, None
    if not held:
        raise LockError(not_held_message(app, run_id, current, now))
    return acquire_result(request, "renew", None, current, renewed_record(current, request, now), now)


def release_result(request, plan, before, now):
    result = base_result(request, before, now)
    app = request["app"]
    if plan == "free":
        result["msg"] = f"the deploy lock of app '{app}' is not held; nothing to release"
        return result
    result.update(changed=True, released=True)
    result["msg"] = f"run {request['run_id']} released the deploy lock of app '{app}'"
    if plan == "force":
        result["msg"] = f"released the deploy lock of app '{app}' held by {holder_text(before, now)} (force=true)"
    return result


def preview_release(client, request, now):
    current, _missing = read_or_missing(client, request)
    plan = plan_release(current, request["run_id"], request["force"], now, request.get("token"))
    return release_result(request, plan, current, now)


def release(client, request, now, check_mode=False):
    """Release the lock this run holds (or, with force, whoever holds it); a free lock is no change.

    If a release's answer is lost, the retry finds the lock free and reports no change.
    """
    if check_mode:
        return preview_release(client, request, now)
    plan, holder, renewed_at, token = "release", request["run_id"], None, request.get("token")
    force = request["force"]
    for _attempt in range(MAX_ROUNDS):
        try:
            done, there = delete_if_held_by(client, request["table"], request["app"], holder, renewed_at, token)
            if not done and there is None:
                there = read_lock(client, request["table"], request["app"])
        except TableMissing:
            done, there = False, None
        if done:
            return release_result(request, plan, there, now)
        # force applies to the holder first observed: one that came in between is not thrown out.
        force = force and plan != "force"
        plan = plan_release(there, request["run_id"], force, now, request.get("token"))
        if plan == "free":
            return release_result(request, plan, None, now)
        # With force: delete only what we observed, so a fresh holder is not thrown out unseen.
        holder = there.get("run_id")
        renewed_at = there.get("renewed_at") if plan == "force" else None
        token = there.get("token") if plan == "force" else request.get("token")
    raise LockError(
        f"the deploy lock of app '{request['app']}' changed under each of {MAX_ROUNDS} attempts to release it"
    )


def run(client, request, now=None, check_mode=False):
    """Dispatch on request['state']; `now` defaults to this machine's clock."""
    now = now or utc_now()
    operations = {STATE_ACQUIRED: acquire, STATE_RENEWED: renew, STATE_RELEASED: release}
    return operations[request["state"]](client, request, now, check_mode)


# ---------------------------------------------------------------------------------------
# Renewing from inside long waits (fleet health gates, draining)


class LeaseKeeper:
    """Keeps a held lock alive during a long wait: call renew_if_due() at every poll.

    Renews at most every lease/3 seconds, so a poll loop costs one UpdateItem per third of
    a lease. Raises LockError when the run no longer holds the lock (its lease ran out
    and another run took it over): the caller should stop, since it is no longer alone.
    With the acquisition's `token` every renewal checks it, so another acquisition under
    the same run id is not mistaken for this one.

    fence() is the renewal right before a write (fencing.FencedClient calls it): it also
    refuses the write when the lease left does not cover the write's worst case.
    """

    def __init__(self, client, table, app, run_id, lease_seconds, clock=time.monotonic, token=None):
        self.client = client
        self.table = table
        self.app = app
        self.run_id = run_id
        self.token = token or None
        self.lease_seconds = lease_seconds
        self.every = max(1, lease_seconds // 3)
        self.clock = clock
        self.last = clock()

    def renew_now(self):
        """Renew at once (a long wait begins); LockError when the run no longer holds the lock."""
        request = {"app": self.app, "table": self.table, "run_id": self.run_id, "lease_seconds": self.lease_seconds,
                   "token": self.token}
        renew(self.client, request, utc_now())
        self.last = self.clock()

    def fence(self, operation, worst_case):
        """The renewal before a write: LockError when the lock was lost, LeaseTooShort when the
        lease left after it does not exceed the write's worst case (seconds). The lease runs
        from the moment before the renewal was sent, so the time it took counts as spent."""
        started = self.clock()
        self.renew_now()
        left = self.lease_seconds - (self.clock() - started)
        if left <= worst_case:
            raise LeaseTooShort(
                f"not writing {operation}: the deploy lock of app '{self.app}' has {left:.1f} s of its "
                f"{self.lease_seconds} s lease left after renewing, not more than the write's worst case of "
                f"{worst_case:.0f} s (its SDK attempts, timeouts and backoff); give the lock a longer lease "
                "(lease_seconds, the playbooks' lock_lease) or the clients shorter timeouts (aws_config)"
            )

    def seconds_until_due(self):
        """How long a poll loop may sleep before the next renewal is due (0 when it is)."""
        return max(0.0, self.every - (self.clock() - self.last))

    def renew_if_due(self):
        """True when it renewed now, False when not due yet."""
        if self.clock() - self.last < self.every:
            return False
        self.renew_now()
        return True
