# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of pipeline.yml: its plan and its record (module_utils/_pipeline/record.py)."""

from ansible_collections.cattle.immutable.plugins.module_utils._pipeline import record as pipeline_record


def pipeline_plan(app, definition, stop_after=None, image_id=None, given=()):
    """The plan, with `error` saying what is wrong with the request (empty when nothing is)."""
    try:
        run = pipeline_record.plan(app, definition, stop_after or None, image_id or None, list(given or []))
    except pipeline_record.PipelineError as error:
        return {"error": str(error)}
    run["error"] = ""
    return run


def pipeline_step(record, name, result, failed, started):
    return pipeline_record.add_step(list(record or []), name, result, failed, float(started))


def pipeline_summary(record, run):
    return pipeline_record.summary_lines(run, list(record or []))


class FilterModule:
    def filters(self):
        return {
            "pipeline_plan": pipeline_plan,
            "pipeline_step": pipeline_step,
            "pipeline_summary": pipeline_summary,
        }
