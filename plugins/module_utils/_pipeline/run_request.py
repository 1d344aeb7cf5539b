# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The inputs of the deploy, rollback, terminate and cleanup playbooks, checked and normalised.

`normalise(kind, given, apps)` takes the variables as a user gives them (-e on the command
line, AWX extra variables or a survey: numbers may be strings, a blank answer means not
given) and returns the request the playbook runs with - typed values, defaults applied,
the stage's region - or the list of what is wrong, each naming the input. Nothing here
calls AWS: the modules check the rest (the AMI, the definition's fields, the listener).
"""

import re

from ansible_collections.cattle.immutable.plugins.module_utils._common import naming

AMI_ID = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
WHOLE_NUMBER = re.compile(r"^[0-9]+$")
STRATEGIES = ("all_at_once", "canary")
MAX_LEASE_SECONDS = 604800

# Every kind's inputs and their defaults; None: no default (optional, or required: app, and
# stage where the kind has one).
COMMON = {"app": None, "wait_timeout": 600, "lock_lease": 900, "lock_table": "cattle-deploy-locks",
          "lock_takeover": False, "lock_create_table": True}
ONE_STAGE = dict(COMMON, stage=None)
INPUTS = {
    "deploy": dict(ONE_STAGE, image_id=None, strategy="all_at_once", canary_steps=[10, 50, 100], canary_pause=60,
                   canary_alarms=[], rollback_window=3600, accept_image_mismatch=False, prefix="cattle",
                   restore_min_healthy=1),
    "rollback": dict(ONE_STAGE, rollback_window=3600, allow_revoked=False, min_healthy="all", standby_fleet_id=None),
    "terminate": dict(ONE_STAGE, retire_now=False),
    # cleanup_stages None: every stage of the app.
    "cleanup": dict(COMMON, cleanup_stages=None, cleanup_prune=True, keep=3, keep_days=14, prefix="cattle"),
}
SECONDS = ("canary_pause", "wait_timeout", "rollback_window")
FLAGS = ("lock_takeover", "lock_create_table", "accept_image_mismatch", "allow_revoked", "retire_now", "cleanup_prune")
TRUE_WORDS = ("true", "yes", "on", "1", "y", "t")
FALSE_WORDS = ("false", "no", "off", "0", "n", "f", "")


def given_values(kind, given):
    """The inputs of `kind` that were given: blank answers (None, '') count as not given."""
    return dict((name, value) for name, value in (given or {}).items()
                if name in INPUTS[kind] and value is not None and value != "")


def normalise(kind, given, apps):
    """(request, errors): the request with every input of `kind` typed and defaulted; errors
    lists what is wrong, each naming the input (the request is then partial)."""
    values = dict(INPUTS[kind], **given_values(kind, given))
    errors = []
    request = {"app": check_app(values["app"], apps, errors)}
    if "stage" in values:
        request["stage"] = check_stage(values["stage"], errors)
    for name in INPUTS[kind]:
        if name not in request:
            request[name] = CHECKS.get(name, keep)(name, values[name], errors)
    if kind == "deploy" and request["strategy"] == "canary":
        request["canary_steps"] = check_canary_steps(values["canary_steps"], errors)
    elif kind == "deploy":
        request["canary_steps"] = [100]
    if kind == "cleanup" and request["app"]:
        request["cleanup_stages"] = check_cleanup_stages(values["cleanup_stages"], request["app"], apps, errors)
    request["region"] = stage_region(apps, request["app"], request.get("stage"))
    return request, errors


def check_app(app, apps, errors):
    if not isinstance(app, str) or not app:
        errors.append("app: say which app (-e app=<name>)")
    elif not isinstance(apps, dict):
        errors.append("cattle_apps: the app definitions are missing (for example -e @apps.yml, see docs/apps.md)")
    elif app not in apps:
        errors.append("app: unknown app '{0}' (defined apps: {1})".format(app, ", ".join(sorted(apps))))
    else:
        return app
    return None


def check_stage(stage, errors):
    if not isinstance(stage, str) or not stage:
        errors.append("stage: say which stage (-e stage=<name>)")
        return None
    return stage


def check_seconds(name, value, errors):
    text = str(value).strip()
    if isinstance(value, bool) or not WHOLE_NUMBER.match(text):
        errors.append("{0}: must be a whole number of seconds, 0 or more, got {1}".format(name, value))
        return None
    return int(text)


def check_lease(name, value, errors):
    text = str(value).strip()
    if isinstance(value, bool) or not WHOLE_NUMBER.match(text) or not 1 <= int(text) <= MAX_LEASE_SECONDS:
        errors.append("{0}: must be from 1 to {1} seconds, got {2}".format(name, MAX_LEASE_SECONDS, value))
        return None
    return int(text)


def check_strategy(name, value, errors):
    if value not in STRATEGIES:
        errors.append("strategy: must be all_at_once or canary, got '{0}'".format(value))
        return None
    return value


def check_image_id(name, value, errors):
    if value is not None and not AMI_ID.match(str(value)):
        errors.append("image_id: '{0}' is not an AMI id (ami- and 8 or 17 hexadecimal digits)".format(value))
        return None
    return value


def check_alarms(name, value, errors):
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        errors.append("canary_alarms: a list of CloudWatch alarm names, got {0}".format(value))
        return None
    return [str(alarm) for alarm in value]


def check_flag(name, value, errors):
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    errors.append("{0}: must be true or false, got {1}".format(name, value))
    return None


def check_canary_steps(value, errors):
    """Whole percentages that rise and end at 100; '10,50,100' (a survey's text answer) counts as a list."""
    steps = value.split(",") if isinstance(value, str) else value
    if not isinstance(steps, (list, tuple)) or not steps:
        errors.append("canary_steps: a list of percentages such as [10, 50, 100], got {0}".format(value))
        return None
    texts = [str(step).strip() for step in steps]
    if any(isinstance(step, bool) or not WHOLE_NUMBER.match(text) for step, text in zip(steps, texts)):
        errors.append("canary_steps: whole percentages from 1 to 100 only, got {0}".format(", ".join(texts)))
        return None
    numbers = [int(text) for text in texts]
    shown = ", ".join(str(number) for number in numbers)
    if min(numbers) < 1 or max(numbers) > 100:
        errors.append("canary_steps: each step must be from 1 to 100 percent, got {0}".format(shown))
    elif numbers != sorted(set(numbers)) or numbers[-1] != 100:
        errors.append("canary_steps: steps must rise and end at 100, got {0}".format(shown))
    else:
        return numbers
    return None


def check_count(name, value, errors, least):
    text = str(value).strip()
    if isinstance(value, bool) or not WHOLE_NUMBER.match(text) or int(text) < least:
        errors.append("{0}: must be a whole number, {1} or more, got {2}".format(name, least, value))
        return None
    return int(text)


def check_cleanup_stages(value, app, apps, errors):
    """The stages to clean, in the app's order: all of them when not given; '[dev, prod]' or
    'dev,prod' (a survey's text answer); each must be a stage of the app."""
    stages = stages_of(apps[app])
    if value is None:
        return stages
    wanted = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
    if not isinstance(wanted, (list, tuple)) or not wanted:
        errors.append("cleanup_stages: a list of stages of {0} ({1}), got {2}".format(app, ", ".join(stages), value))
        return None
    unknown = [str(stage) for stage in wanted if stage not in stages]
    if unknown:
        errors.append("cleanup_stages: {0} {1} of {2} (its stages: {3})".format(
            ", ".join(unknown), "is not a stage" if len(unknown) == 1 else "are not stages", app, ", ".join(stages)))
        return None
    return [stage for stage in stages if stage in wanted]


def keep(name, value, errors):
    return value


def stages_of(definition):
    """The stage names of a definition as given (a mapping or a list), in order; the default
    stages when it names none."""
    stages = (definition if isinstance(definition, dict) else {}).get("stages") or naming.DEFAULT_STAGES
    return list(stages.keys()) if isinstance(stages, dict) else list(stages)


def stage_region(apps, app, stage):
    """The stage's region: its override in a definition whose stages are a mapping, else the definition's."""
    definition = (apps or {}).get(app) if app else None
    if not isinstance(definition, dict):
        return None
    stages = definition.get("stages")
    override = stages.get(stage) if isinstance(stages, dict) else None
    return (override or {}).get("region") or definition.get("region")


CHECKS = dict(
    [(name, check_seconds) for name in SECONDS] + [(name, check_flag) for name in FLAGS],
    lock_lease=check_lease, strategy=check_strategy, image_id=check_image_id, canary_alarms=check_alarms,
    keep=lambda name, value, errors: check_count(name, value, errors, 1),
    keep_days=lambda name, value, errors: check_count(name, value, errors, 0),
)
