# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pipeline.yml's plan and record: which stages run, and one entry per step with its time.

The steps are separate plays; each adds its entry when it ends (also when it fails, since no
play runs after a failed one), so the record is the run's summary."""

import time

from ansible_collections.cattle.immutable.plugins.module_utils._pipeline.run_request import stages_of

STAGE_SLOTS = 3
# Inputs that name one step's target: pipeline.yml sets them per step, so given for the
# whole run they would override every step.
PER_STEP_INPUTS = ("stage", "to", "standby_fleet_id")


class PipelineError(ValueError):
    """A bad pipeline request; the message names the input."""


def plan(app, definition, stop_after=None, image_id=None, given=(), now=None):
    """{app, stages (in order, up to stop_after), build, image_id, started} or PipelineError."""
    clashing = [name for name in PER_STEP_INPUTS if name in given]
    if clashing:
        raise PipelineError("{0}: pipeline.yml sets it for each step; leave it out (stop_after=<stage> "
                            "stops after a stage)".format(", ".join(clashing)))
    stages = stages_of(definition)
    if len(stages) > STAGE_SLOTS:
        raise PipelineError("apps.{0}.stages: pipeline.yml runs up to {1} stages, the app has {2} ({3}); "
                            "deploy the others with deploy.yml".format(app, STAGE_SLOTS, len(stages), ", ".join(stages)))
    if stop_after:
        if stop_after not in stages:
            raise PipelineError("stop_after: '{0}' is not a stage of {1} ({2})".format(stop_after, app, ", ".join(stages)))
        stages = stages[:stages.index(stop_after) + 1]
    return {
        "app": app,
        "stages": stages,
        "slots": stages + [None] * (STAGE_SLOTS - len(stages)),
        "build": not image_id,
        "image_id": image_id or "",
        "started": time.time() if now is None else now,
    }


def add_step(record, name, result, failed, started, now=None):
    """The record with one more step; its seconds run from the end of the step before it."""
    now = time.time() if now is None else now
    since = record[-1]["ended"] if record else started
    entry = {"step": name, "result": result, "failed": bool(failed), "seconds": round(now - since, 1), "ended": now}
    return list(record) + [entry]


def step_line(entry):
    return "{0:<16} {1:>6.1f} s  {2}{3}".format(
        entry["step"], entry["seconds"], "FAILED " if entry["failed"] else "", entry["result"])


def summary_lines(run, record, now=None):
    """One line a step, then the total."""
    now = time.time() if now is None else now
    lines = [step_line(entry) for entry in record]
    failed = any(entry["failed"] for entry in record)
    lines.append("pipeline {0}: {1} in {2:.1f} s ({3} steps)".format(
        run["app"], "failed" if failed else "done", now - run["started"], len(record)))
    return lines
