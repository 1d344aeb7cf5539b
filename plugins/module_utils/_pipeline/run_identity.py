# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who runs a step and which run it belongs to, from the variables AWX gives every job.

AWX (and Automation Controller) pass `awx_user_name` only when a person launched the job or
its workflow; a webhook launch has `awx_webhook_event_type` / `awx_webhook_event_ref`, a
scheduled one `awx_schedule_name` (`awx_parent_job_schedule_name` in a scheduled workflow). Every job has `awx_job_id`; a job of a workflow also
`awx_workflow_job_id`, which names the whole run. Outside AWX the caller's own `lock_owner`
and `run_id`, else user@host and a random id.
"""

import getpass
import secrets
import socket
import string

RUN_ID_ALPHABET = string.ascii_lowercase + string.digits
RUN_ID_LENGTH = 12


def local_user():
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return "{0}@{1}".format(user, socket.gethostname())


def random_run_id():
    return "".join(secrets.choice(RUN_ID_ALPHABET) for position in range(RUN_ID_LENGTH))


def given(variables, name):
    """A variable's value as text when it is set to something non-empty, else None."""
    value = variables.get(name)
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def awx_trigger(variables):
    """(who, how) of an AWX launch, or None outside AWX."""
    person = given(variables, "awx_user_name")
    if person:
        return person, "launched by " + person
    event = given(variables, "awx_webhook_event_type")
    if event:
        ref = given(variables, "awx_webhook_event_ref")
        who = "webhook {0}{1}".format(event, " " + ref if ref else "")
        return who, who
    # A job of a scheduled workflow has awx_parent_job_schedule_name; a scheduled job, awx_schedule_name.
    schedule = given(variables, "awx_schedule_name") or given(variables, "awx_parent_job_schedule_name")
    if schedule:
        return "schedule " + schedule, "schedule " + schedule
    if given(variables, "awx_job_id"):
        return "AWX", "AWX"
    return None


def awx_run(variables):
    """The AWX run: the workflow job (every node of one workflow is one run), else the job."""
    workflow = given(variables, "awx_workflow_job_id")
    if workflow:
        return "awx-workflow-" + workflow, "AWX workflow job " + workflow
    job = given(variables, "awx_job_id")
    if job:
        return "awx-job-" + job, "AWX job " + job
    return None


def identity(variables):
    """{owner, run_id, trigger, run}: the owner names a person (or webhook, or schedule)."""
    trigger = awx_trigger(variables)
    run = awx_run(variables)
    owner = given(variables, "lock_owner") or (trigger[0] if trigger else local_user())
    run_id = given(variables, "run_id") or (run[0] if run else random_run_id())
    return {
        "owner": owner,
        "run_id": run_id,
        "trigger": trigger[1] if trigger else "ansible-playbook by " + local_user(),
        "run": run[1] if run else "run " + run_id,
    }
