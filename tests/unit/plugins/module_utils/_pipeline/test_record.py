"""pipeline.yml's plan and record (module_utils/_pipeline/record.py)."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._pipeline import record as pipeline_record

APP = {"stages": ["dev", "staging", "prod"]}


def test_the_plan_runs_every_stage_in_order_and_builds_without_an_image():
    plan = pipeline_record.plan("web", APP, now=100.0)
    assert (plan["stages"], plan["slots"], plan["build"], plan["started"]) == (
        ["dev", "staging", "prod"], ["dev", "staging", "prod"], True, 100.0)


def test_stop_after_a_stage_leaves_the_later_slots_empty():
    plan = pipeline_record.plan("web", APP, stop_after="staging")
    assert plan["slots"] == ["dev", "staging", None]


def test_an_image_skips_the_build():
    plan = pipeline_record.plan("web", {"stages": {"test": {}, "live": {}}}, image_id="ami-0123456789abcdef0")
    assert (plan["build"], plan["image_id"], plan["slots"]) == (False, "ami-0123456789abcdef0", ["test", "live", None])


def test_the_default_stages_when_the_definition_names_none():
    assert pipeline_record.plan("web", {})["stages"] == ["dev", "staging", "prod"]


@pytest.mark.parametrize("definition, options, message", [
    (APP, {"stop_after": "qa"}, "stop_after: 'qa' is not a stage of web (dev, staging, prod)"),
    (APP, {"given": ["stage"]}, "stage: pipeline.yml sets it for each step"),
    ({"stages": ["a", "b", "c", "d"]}, {}, "apps.web.stages: pipeline.yml runs up to 3 stages, the app has 4"),
])
def test_bad_requests_name_the_input(definition, options, message):
    with pytest.raises(pipeline_record.PipelineError) as error:
        pipeline_record.plan("web", definition, **options)
    assert str(error.value).startswith(message)


def test_each_step_is_timed_from_the_end_of_the_one_before():
    record = pipeline_record.add_step([], "build", "ami-1 new", False, started=100.0, now=130.0)
    record = pipeline_record.add_step(record, "promote dev", "unset -> ami-1", False, started=100.0, now=131.5)
    assert [(entry["step"], entry["seconds"]) for entry in record] == [("build", 30.0), ("promote dev", 1.5)]
    lines = pipeline_record.summary_lines({"app": "web", "started": 100.0}, record, now=132.0)
    assert lines[0] == "build              30.0 s  ami-1 new"
    assert lines[-1] == "pipeline web: done in 32.0 s (2 steps)"


def test_a_failed_step_makes_the_pipeline_failed():
    record = pipeline_record.add_step([], "deploy staging", "failed (green): timeout", True, started=0.0, now=5.0)
    lines = pipeline_record.summary_lines({"app": "web", "started": 0.0}, record, now=5.0)
    assert "FAILED failed (green): timeout" in lines[0] and lines[-1].startswith("pipeline web: failed")
