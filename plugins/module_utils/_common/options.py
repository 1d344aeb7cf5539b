# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Argument specs of options several modules share; each is documented once, by the doc
fragment of the same name (plugins/doc_fragments/)."""

from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition as definitions
from ansible_collections.cattle.immutable.plugins.module_utils._common.naming import DEFAULT_PREFIX


def app_definition(stage_required=True):
    """app, definition, stage (doc fragment cattle.immutable.app_definition)."""
    return dict(
        app=dict(type="str", required=True),
        definition=dict(type="dict", options=definition_fields()),
        stage=dict(type="str", required=stage_required),
    )


def definition_fields():
    """Every field of a definition as `raw`: app_definition.py checks them and names the
    field in its errors. user_data is declared no_log, so Ansible masks its value in every
    result and event; a stage's user_data is masked by end_module (stages is free-form)."""
    fields = dict((name, dict(type="raw")) for name in definitions.FIELDS)
    fields["stages"] = dict(type="raw")
    fields["user_data"] = dict(type="raw", no_log=True)
    return fields


def listener():
    """Which listener, or rule of a listener, is meant (doc fragment cattle.immutable.listener)."""
    return dict(
        listener_arn=dict(type="str"),
        load_balancer_name=dict(type="str"),
        port=dict(type="int"),
        rule_arn=dict(type="str"),
        rule_priority=dict(type="int"),
    )


def health_guard():
    """min_healthy (doc fragment cattle.immutable.health_guard)."""
    return dict(min_healthy=dict(type="raw", default="all"))


def stage_pointers():
    """prefix of the stage pointers' SSM parameters (doc fragment cattle.immutable.stage_pointers)."""
    return dict(prefix=dict(type="str", default=DEFAULT_PREFIX))
