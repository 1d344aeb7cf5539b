# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""cattle.immutable.green_switch: what a blue-green deploy does once green is healthy, in one run.

Traffic to green in steps (all at once is one step of 100), each step one health-guarded
listener write; between steps a pause, the canary alarms and the deploy lock renewed. Then
the fleets that served are disabled for the rollback window (fleet.py, as the fleet module
does it) and the lock is released. One module run instead of one per write: each run costs
most of a second of Ansible's own work, between "green is healthy" and "green serves".

Phases, in order: switch, retire, unlock. A failure says in which one it stopped
(SwitchFailed.phase) and what was done, so the deploy playbook undoes the right things.
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils import fleet as fleets
from ansible_collections.cattle.immutable.plugins.module_utils._aws import cloudwatch as cloudwatch_calls
from ansible_collections.cattle.immutable.plugins.module_utils._common.errors import CattleError, Refusal, aws_cause_text
from ansible_collections.cattle.immutable.plugins.module_utils._common.module_run import client_factory
from ansible_collections.cattle.immutable.plugins.module_utils._common.waiter import Waiter
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import wait as fleet_wait
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import is_fleet_id
from ansible_collections.cattle.immutable.plugins.module_utils._fleet.context import resolve_definition
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import switch_plan
from ansible_collections.cattle.immutable.plugins.module_utils._traffic import write as listener_write

UNCHANGED = listeners.UNCHANGED
PHASE_SWITCH = "switch"
PHASE_RETIRE = "retire"
PHASE_UNLOCK = "unlock"
ALARM = "ALARM"
# DescribeAlarms takes at most 100 alarm names per call.
MAX_ALARMS = 100


class SwitchRefused(Refusal):
    """Refused before the first write: nothing was changed. The message names the input."""


class SwitchFailed(CattleError):
    """Stopped in `phase` (switch, retire or unlock); `done` is the result so far."""

    def __init__(self, message, phase, done, failure=None):
        super(SwitchFailed, self).__init__(
            message, phase=phase, changed=bool(done["steps"] or done["retired"]),
            steps=done["steps"], retired=done["retired"], failure=failure)
        self.phase = phase
        self.done = done


class AlarmFiring(Exception):
    """A canary alarm is in ALARM between steps."""


def check_request(params):
    """Every refusal that needs no AWS call: steps, pause, alarms, min_healthy, the fleets to retire."""
    steps = params["steps"]
    if not steps:
        raise SwitchRefused("steps: at least one step is required; " + UNCHANGED)
    if any(step < 1 or step > 100 for step in steps) or steps != sorted(set(steps)) or steps[-1] != 100:
        raise SwitchRefused("steps: percents from 1 to 100, increasing, the last 100; got {0}; {1}".format(
            steps, UNCHANGED))
    if params["pause"] < 0:
        raise SwitchRefused("pause: must be 0 or more seconds, got {0}; {1}".format(params["pause"], UNCHANGED))
    if len(params["alarms"]) > MAX_ALARMS:
        raise SwitchRefused("alarms: at most {0} names, got {1}; {2}".format(MAX_ALARMS, len(params["alarms"]), UNCHANGED))
    try:
        listeners.required_healthy(params["min_healthy"], 1)
    except listeners.ListenerError as error:
        raise SwitchRefused(str(error))
    for fleet_id in params["retire"]:
        if not is_fleet_id(fleet_id):
            raise SwitchRefused("retire: '{0}' is not a fleet id (12 lowercase hexadecimal digits); {1}".format(
                fleet_id, UNCHANGED))


class Run:
    """One run's clients, plan and record of what was done."""

    def __init__(self, params, make_client, check_mode, progress_path):
        self.params = params
        self.check_mode = check_mode
        _definition, stage_def = resolve_definition(params)
        self.region = stage_def["region"]
        self.make_client = cached(make_client)
        # Renewed during the canary's pauses, and before each step's listener write (fenced).
        self.keeper = fleets.lease_keeper(params, self.make_client, stage_def, check_mode)
        self.clients = fleets.Clients(self.make_client, self.region, self.keeper, fleets.FENCED_WRITES)
        self.label = "{0}/{1}".format(params["app"], params["stage"])
        # Lines as deploy.yml said them: "deploy web/prod: step 2 of 3: 50% to web-prod-...".
        self.progress = fleet_wait.Progress(progress_path, "deploy " + self.label)
        self.green = params["green_target_group"]
        self.done = {"steps": [], "retired": [], "lock": None}


def cached(make_client):
    """make_client that makes each (service, region) client once: the retired fleets share them."""
    made = {}

    def make(service, region):
        if (service, region) not in made:
            made[(service, region)] = make_client(service, region)
        return made[(service, region)]
    return make


# ---------------------------------------------------------------------------------------
# Phase switch: the steps.


def read_start(run):
    """(forward target, its weights now); refused when green is not in its forward action."""
    params = run.params
    try:
        target = listeners.find_forward_target(run.clients["elbv2"], listener_arn=params.get("listener_arn"),
                                               rule_arn=params.get("rule_arn"))
        weights = listeners.forward_weights(target["actions"], listeners.target_text(target))
    except listeners.ListenerError as error:
        raise SwitchRefused(str(error))
    if run.green not in weights:
        raise SwitchRefused("green_target_group: {0} is not in the forward action of {1}; {2}".format(
            listeners.target_group_name(run.green), listeners.target_text(target), UNCHANGED))
    return target, weights


def plan_steps(start, green, percents):
    """The weights of each step: green gets the step's percent, what served shares the rest.
    No step when nothing but green serves (a run that already switched)."""
    live = switch_plan.serving(start, green)
    if not live:
        return []
    return [dict((pair["target_group"], pair["weight"]) for pair in switch_plan.step_weights(start, green, live, percent))
            for percent in percents]


def step_line(index, count, percent, green):
    return "step {0} of {1}: {2}% to {3}".format(index, count, percent, listeners.target_group_name(green))


def write_step(run, target, current, wanted):
    """(target with its new actions, new weights): one health-guarded write (none in check mode)."""
    written = listener_write.guarded_write(run.clients["elbv2"], target, current, wanted,
                                           run.params["min_healthy"], run.check_mode)
    if written["actions"] is not None:
        # The next step's write starts from what AWS answered.
        target = dict(target, actions=written["actions"])
    return target, written["weights"]


def between_steps(run, index, count, percent):
    """The canary's pause (the lock kept alive), then its alarms; the next step's write renews
    the lock right before it (fenced)."""
    pause(run, run.params["pause"])
    firing = alarms_in_alarm(run)
    if firing:
        raise AlarmFiring("alarm {0} in ALARM at step {1} of {2} ({3}% to {4})".format(
            ", ".join(firing), index, count, percent, listeners.target_group_name(run.green)))


def pause(run, seconds, sleep=time.sleep, clock=time.monotonic):
    """Sleeps `seconds`, renewing the lock when due (a canary can outlast its lease)."""
    waiting = Waiter(seconds, seconds, sleep=sleep, clock=clock)
    while not waiting.expired():
        waiting.pause(limit=run.keeper.seconds_until_due() if run.keeper is not None else None)
        if run.keeper is not None:
            run.keeper.renew_if_due()


def alarms_in_alarm(run):
    """The names of the alarms in ALARM (none checked without alarms)."""
    names = run.params["alarms"]
    if not names:
        return []
    found = cloudwatch_calls.describe_alarms(run.clients["cloudwatch"], names)
    return sorted(alarm["AlarmName"] for alarm in found if alarm.get("StateValue") == ALARM)


def switch(run):
    """(previous weights, weights now): every step, in order."""
    target, start = read_start(run)
    run.done["target"] = target
    percents = run.params["steps"]
    plan = plan_steps(start, run.green, percents)
    current = start
    for index, wanted in enumerate(plan, start=1):
        percent = percents[index - 1]
        line = step_line(index, len(plan), percent, run.green)
        run.progress.say(line, force=True)
        target, current = write_step(run, target, current, wanted)
        run.done["steps"].append({"percent": percent, "weights": switch_plan.by_name(current),
                                  "msg": "{0}: {1}".format(run.progress.label, line)})
        if index < len(plan):
            between_steps(run, index, len(plan), percent)
    return start, current


# ---------------------------------------------------------------------------------------
# Phase retire: the fleets that served, disabled for the rollback window.


def fleet_params(params, fleet_id):
    """The fleet module's parameters that disable one fleet (its defaults for the rest)."""
    return {
        "app": params["app"], "definition": params.get("definition"),
        "stage": params["stage"], "fleet_id": fleet_id, "state": "disabled",
        "rollback_window": params["rollback_window"], "image_id": None, "desired_capacity": None,
        "accept_image_mismatch": False, "wait": True, "wait_timeout": 600, "deployment_id": None,
        "standbys": None, "adopt_asg": None, "adopt_target_group": None, "lock": retire_lock(params), "region": None,
    }


def retire_lock(params):
    """The lock reference a retired fleet's run fences its listener writes with (never taken or released there)."""
    lock = params.get("lock")
    return dict(lock, acquire=False, release=False) if lock else None


def retire(run):
    for fleet_id in run.params["retire"]:
        run.progress.say("disabling fleet {0} for the rollback window".format(fleet_id), force=True)
        fleet = fleets.run(fleet_params(run.params, fleet_id), run.make_client, run.check_mode)
        run.done["retired"].append({
            "fleet_id": fleet["fleet_id"],
            "fleet_name": fleet["fleet_name"],
            "changed": fleet["changed"],
            "actions": fleet["actions"],
            "rollback_until": (fleet["auto_scaling_group"] or {}).get("rollback_until"),
        })


# ---------------------------------------------------------------------------------------
# Phase unlock.


def release(run):
    lock = run.params.get("lock")
    if not lock:
        return
    run.progress.say("releasing the deploy lock", force=True)
    request = {"app": run.params["app"], "run_id": lock["run_id"], "table": lock["table"],
               "state": locking.STATE_RELEASED, "force": False, "token": lock.get("acquisition")}
    client = run.make_client("dynamodb", lock.get("region") or run.region)
    run.done["lock"] = locking.run(client, request, check_mode=run.check_mode)


# ---------------------------------------------------------------------------------------
# The whole run.


def run_module(module):
    return run_switch(module.params, client_factory(module), module.check_mode, module.params["progress_path"])


def run_switch(params, make_client, check_mode, progress_path=None):
    """The module's result. SwitchRefused before the first write; SwitchFailed after it, saying
    the phase it stopped in and what was done."""
    check_request(params)
    try:
        run = Run(params, make_client, check_mode, progress_path)
    except fleets.FleetError as error:
        raise SwitchRefused(str(error))
    phase = PHASE_SWITCH
    try:
        start, now = switch(run)
        phase = PHASE_RETIRE
        retire(run)
        phase = PHASE_UNLOCK
        release(run)
    except SwitchRefused:
        raise
    except locking.LockError as error:
        raise SwitchFailed(failure_message(error, phase), phase, run.done, locking.fence_failure_kind(error))
    except fleets.FleetError as error:
        raise SwitchFailed(failure_message(error, phase), phase, run.done, error.result.get("failure"))
    except (AlarmFiring, listeners.ListenerError, AnsibleAWSError) as error:
        raise SwitchFailed(failure_message(error, phase), phase, run.done)
    return result(run, start, now)


def failure_message(error, phase):
    """The error with AWS's own message and code (an AnsibleAWSError's message leaves them out)."""
    if isinstance(error, AnsibleAWSError):
        return "{0}{1} (phase {2})".format(error.message, aws_cause_text(error), phase)
    return "{0} (phase {1})".format(error, phase)


def result(run, start, now):
    moved = not listeners.same_weights(start, now)
    answer = listener_write.result(run.done["target"], start, now, moved, {})
    answer.pop("health")
    answer.update({
        # Releasing the lock this run took leaves it as the deploy found it: no change.
        "changed": moved or any(fleet["changed"] for fleet in run.done["retired"]),
        "app": run.params["app"],
        "stage": run.params["stage"],
        "green_target_group": {"arn": run.green, "name": listeners.target_group_name(run.green)},
        "steps": run.done["steps"],
        "retired": run.done["retired"],
        "lock": run.done["lock"],
        "msg": summary(run, start, now),
    })
    return answer


def summary(run, start, now):
    if not run.done["steps"]:
        moved = "no switch: nothing but {0} serves".format(listeners.target_group_name(run.green))
    else:
        moved = "{0} -> {1} in {2} step(s)".format(
            switch_plan.weights_text(start), switch_plan.weights_text(now), len(run.done["steps"]))
    retired = ", ".join(fleet["fleet_name"] for fleet in run.done["retired"]) or "none"
    return "{0}: {1}; disabled for the rollback window: {2}{3}".format(
        run.label, moved, retired, "; lock released" if run.done["lock"] is not None else "")
