"""The one write journal: what a run wrote, in order; only listed in check mode."""

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.cattle.immutable.plugins.module_utils._common.journal import Journal


def failing_write():
    raise AnsibleAWSError(message="Failed to put the parameter")


def test_writes_are_made_and_listed_in_order():
    made = []
    journal = Journal(check_mode=False)
    assert journal.run("tag the image", lambda: made.append("tag") or "tagged") == "tagged"
    journal.note("adopted the group")
    assert made == ["tag"] and journal.actions == ["tag the image", "adopted the group"] and journal.changed


def test_in_check_mode_writes_are_only_listed():
    made = []
    journal = Journal(check_mode=True)
    assert journal.run("tag the image", made.append, "tag") is None
    assert made == [] and journal.done() == "tag the image" and journal.changed


def test_a_failed_write_names_itself_and_what_was_done_before_it():
    journal = Journal(check_mode=False, explain_failures=True)
    journal.run("tag ami-1 cattle:stage:dev", lambda: None)
    with pytest.raises(AnsibleAWSError) as raised:
        journal.run("move /cattle/web/dev to ami-1", failing_write)
    assert raised.value.message == (
        "Failed to put the parameter while trying to move /cattle/web/dev to ami-1. "
        "Done before the failure: tag ami-1 cattle:stage:dev. Re-run to finish")
    assert journal.actions == ["tag ami-1 cattle:stage:dev"]


def test_without_explain_failures_the_aws_error_goes_through_as_it_was():
    journal = Journal(check_mode=False)
    with pytest.raises(AnsibleAWSError, match="^Failed to put the parameter$"):
        journal.run("move the pointer", failing_write)
    assert journal.done() == "nothing" and not journal.changed
