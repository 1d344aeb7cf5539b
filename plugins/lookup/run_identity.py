# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: run_identity
author:
  - cattle.immutable maintainers (@cattle-immutable)
version_added: 0.1.0
short_description: Who runs this step and which run it belongs to
description:
  - Returns the owner recorded on the deploy lock and on promotions, and the run id every step of one run shares.
  - The owner is C(lock_owner) when set; in AWX or Automation Controller the person who launched the job or
    its workflow (C(awx_user_name)), else the webhook (C(awx_webhook_event_type) and C(awx_webhook_event_ref)),
    else the schedule (C(awx_schedule_name), or C(awx_parent_job_schedule_name) in a scheduled workflow); outside AWX C(user@host) of the controller.
  - The run id is C(run_id) when set; in AWX the workflow job (C(awx_workflow_job_id)), so every node of one
    workflow is one run, else the job (C(awx_job_id)); outside AWX a random id. Read it once per play with
    M(ansible.builtin.set_fact), since a random id is drawn at every evaluation.
  - Takes no terms. Reads the variables C(lock_owner), C(run_id) and AWX's C(awx_*) variables.
options: {}
"""

EXAMPLES = r"""
- name: Pick the owner and the run id once
  ansible.builtin.set_fact:
    deploy_run: "{{ lookup('cattle.immutable.run_identity') }}"
"""

RETURN = r"""
_raw:
  description: One dictionary.
  type: list
  elements: dict
  contains:
    owner:
      description: Who runs it (a person, a webhook, a schedule, or user@host).
      type: str
    run_id:
      description: The run's id, shared by every step of one run.
      type: str
    trigger:
      description: How it was started, in words.
      type: str
    run:
      description: The run, in words.
      type: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.cattle.immutable.plugins.module_utils._pipeline import run_identity

NAMES = ("lock_owner", "run_id", "awx_user_name", "awx_webhook_event_type", "awx_webhook_event_ref",
         "awx_schedule_name", "awx_parent_job_schedule_name", "awx_job_id", "awx_workflow_job_id")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError("run_identity takes no terms, got {0}".format(terms))
        variables = variables or {}
        known = {}
        for name in NAMES:
            if name in variables:
                known[name] = self._templar.template(variables[name])
        return [run_identity.identity(known)]
