"""Who runs a step and which run it is, from AWX's variables (module_utils/_pipeline/run_identity.py)."""

import re

from ansible_collections.cattle.immutable.plugins.module_utils._pipeline import run_identity


def test_a_person_who_launched_the_workflow_owns_the_lock_and_the_workflow_is_the_run():
    found = run_identity.identity({"awx_user_name": "alice", "awx_job_id": 42, "awx_workflow_job_id": 40})
    assert (found["owner"], found["run_id"]) == ("alice", "awx-workflow-40")
    assert (found["trigger"], found["run"]) == ("launched by alice", "AWX workflow job 40")


def test_a_webhook_launch_names_the_event_and_the_ref():
    found = run_identity.identity({"awx_webhook_event_type": "push", "awx_webhook_event_ref": "refs/heads/main",
                                   "awx_job_id": "7"})
    assert (found["owner"], found["run_id"]) == ("webhook push refs/heads/main", "awx-job-7")


def test_a_scheduled_launch_names_the_schedule():
    assert run_identity.identity({"awx_schedule_name": "nightly", "awx_job_id": "8"})["owner"] == "schedule nightly"


def test_a_job_of_a_scheduled_workflow_names_the_workflows_schedule():
    found = run_identity.identity({"awx_parent_job_schedule_name": "nightly", "awx_workflow_job_id": "9"})
    assert (found["owner"], found["run_id"]) == ("schedule nightly", "awx-workflow-9")


def test_an_empty_awx_user_name_does_not_count_as_a_person():
    assert run_identity.identity({"awx_user_name": "", "awx_schedule_name": "nightly"})["owner"] == "schedule nightly"


def test_explicit_owner_and_run_id_win():
    found = run_identity.identity({"lock_owner": "ops@ci", "run_id": 12, "awx_user_name": "alice", "awx_job_id": 1})
    assert (found["owner"], found["run_id"]) == ("ops@ci", "12")


def test_outside_awx_the_controller_user_and_a_fresh_random_run_id():
    first, second = run_identity.identity({}), run_identity.identity({})
    assert first["owner"] == run_identity.local_user() and first["trigger"].startswith("ansible-playbook by ")
    assert re.fullmatch(r"[a-z0-9]{12}", first["run_id"]) and first["run_id"] != second["run_id"]
