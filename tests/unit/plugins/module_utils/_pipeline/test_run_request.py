"""The inputs of deploy.yml, rollback.yml, terminate.yml and cleanup.yml as users give them: typed, defaulted, or
refused by name."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._pipeline.run_request import normalise

APPS = {"web": {"region": "us-east-1", "stages": {"dev": {}, "prod": {"region": "eu-west-1"}}},
        "api": {"region": "us-west-2", "stages": ["dev"]}}


def request(kind="deploy", **given):
    result, errors = normalise(kind, dict({"app": "web", "stage": "prod"}, **given), APPS)
    assert errors == []
    return result


def errors_of(kind="deploy", definitions="all", **given):
    apps = APPS if definitions == "all" else definitions
    return normalise(kind, dict({"app": "web", "stage": "prod"}, **given), apps)[1]


def test_command_line_text_becomes_numbers_flags_and_lists():
    result = request(strategy="canary", canary_steps="10, 50,100", canary_pause="5", wait_timeout="600",
                     rollback_window="0", lock_lease="120", lock_takeover="true", accept_image_mismatch="no")
    assert (result["canary_steps"], result["canary_pause"], result["wait_timeout"]) == ([10, 50, 100], 5, 600)
    assert (result["rollback_window"], result["lock_lease"]) == (0, 120)
    assert (result["lock_takeover"], result["accept_image_mismatch"]) == (True, False)


def test_defaults_apply_and_blank_survey_answers_count_as_not_given():
    result = request(image_id="", strategy=None, wait_timeout="")
    assert result["image_id"] is None and result["strategy"] == "all_at_once" and result["wait_timeout"] == 600
    assert (result["canary_pause"], result["rollback_window"], result["lock_lease"]) == (60, 3600, 900)
    assert (result["lock_table"], result["lock_create_table"], result["prefix"]) == ("cattle-deploy-locks", True, "cattle")


def test_all_at_once_is_one_step_whatever_canary_steps_says():
    assert request(canary_steps=[10, 500])["canary_steps"] == [100]


def test_the_region_is_the_stages_own_when_it_has_one():
    assert request()["region"] == "eu-west-1"
    assert request(stage="dev")["region"] == "us-east-1"
    assert normalise("terminate", {"app": "api", "stage": "dev"}, APPS)[0]["region"] == "us-west-2"


def test_each_kind_reads_only_its_inputs():
    assert "strategy" not in request("terminate") and request("terminate", retire_now="yes")["retire_now"] is True
    rollback = request("rollback", min_healthy="50%", allow_revoked=True, strategy="sideways")
    assert (rollback["min_healthy"], rollback["allow_revoked"], rollback["rollback_window"]) == ("50%", True, 3600)
    assert "strategy" not in rollback


@pytest.mark.parametrize("given, expected", [
    ({"app": None}, "app: say which app (-e app=<name>)"),
    ({"app": "shop"}, "app: unknown app 'shop' (defined apps: api, web)"),
    ({"stage": ""}, "stage: say which stage (-e stage=<name>)"),
    ({"strategy": "big_bang"}, "strategy: must be all_at_once or canary, got 'big_bang'"),
    ({"strategy": "canary", "canary_steps": [10, 150]}, "canary_steps: each step must be from 1 to 100 percent, got 10, 150"),
    ({"strategy": "canary", "canary_steps": [50, 10, 100]}, "canary_steps: steps must rise and end at 100, got 50, 10, 100"),
    ({"strategy": "canary", "canary_steps": [10, 50]}, "canary_steps: steps must rise and end at 100, got 10, 50"),
    ({"strategy": "canary", "canary_steps": "ten,100"}, "canary_steps: whole percentages from 1 to 100 only, got ten, 100"),
    ({"strategy": "canary", "canary_steps": []}, "canary_steps: a list of percentages such as [10, 50, 100], got []"),
    ({"wait_timeout": -1}, "wait_timeout: must be a whole number of seconds, 0 or more, got -1"),
    ({"canary_pause": "1.5"}, "canary_pause: must be a whole number of seconds, 0 or more, got 1.5"),
    ({"rollback_window": True}, "rollback_window: must be a whole number of seconds, 0 or more, got True"),
    ({"lock_lease": 0}, "lock_lease: must be from 1 to 604800 seconds, got 0"),
    ({"image_id": "ami-XYZ"}, "image_id: 'ami-XYZ' is not an AMI id (ami- and 8 or 17 hexadecimal digits)"),
    ({"canary_alarms": "web-5xx"}, "canary_alarms: a list of CloudWatch alarm names, got web-5xx"),
    ({"lock_takeover": "maybe"}, "lock_takeover: must be true or false, got maybe"),
])
def test_a_bad_input_is_named_with_what_was_given(given, expected):
    assert errors_of(**given) == [expected]


def test_every_bad_input_is_reported_at_once_app_first():
    assert errors_of(app="shop", wait_timeout="soon", lock_lease=10 ** 6) == [
        "app: unknown app 'shop' (defined apps: api, web)",
        "wait_timeout: must be a whole number of seconds, 0 or more, got soon",
        "lock_lease: must be from 1 to 604800 seconds, got 1000000",
    ]


def test_missing_definitions_are_named():
    assert errors_of(definitions=None) == [
        "cattle_apps: the app definitions are missing (for example -e @apps.yml, see docs/apps.md)"]


def cleanup(**given):
    return normalise("cleanup", dict({"app": "web"}, **given), APPS)


def test_cleanup_takes_no_stage_cleans_every_stage_and_runs_in_the_apps_region():
    result, errors = cleanup(stage="prod")
    assert errors == [] and "stage" not in result
    assert result["cleanup_stages"] == ["dev", "prod"] and result["region"] == "us-east-1"
    assert (result["keep"], result["keep_days"], result["cleanup_prune"], result["prefix"]) == (3, 14, True, "cattle")
    assert normalise("cleanup", {"app": "api"}, APPS)[0]["cleanup_stages"] == ["dev"]


def test_cleanup_reads_text_as_the_command_line_gives_it_and_keeps_the_apps_stage_order():
    result, errors = cleanup(cleanup_stages="prod, dev", keep="5", keep_days="0", cleanup_prune="false")
    assert errors == []
    assert (result["cleanup_stages"], result["keep"], result["keep_days"]) == (["dev", "prod"], 5, 0)
    assert result["cleanup_prune"] is False


def test_cleanup_stages_default_to_the_default_stages_when_the_definition_names_none():
    result, errors = normalise("cleanup", {"app": "web"}, {"web": {"region": "us-east-1"}})
    assert errors == [] and result["cleanup_stages"] == ["dev", "staging", "prod"]


@pytest.mark.parametrize("given, expected", [
    ({"cleanup_stages": ["qa"]}, "cleanup_stages: qa is not a stage of web (its stages: dev, prod)"),
    ({"cleanup_stages": "qa,uat"}, "cleanup_stages: qa, uat are not stages of web (its stages: dev, prod)"),
    ({"cleanup_stages": []}, "cleanup_stages: a list of stages of web (dev, prod), got []"),
    ({"keep": 0}, "keep: must be a whole number, 1 or more, got 0"),
    ({"keep_days": "two weeks"}, "keep_days: must be a whole number, 0 or more, got two weeks"),
    ({"cleanup_prune": "perhaps"}, "cleanup_prune: must be true or false, got perhaps"),
    ({"app": "shop"}, "app: unknown app 'shop' (defined apps: api, web)"),
])
def test_a_bad_cleanup_input_is_named_with_what_was_given(given, expected):
    assert cleanup(**given)[1] == [expected]
