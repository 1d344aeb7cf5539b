# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one write journal: the writes of a module run, in order, so that its result (and
any failure after the first write) says what was done."""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError


class Journal:
    """The writes of one run; in check mode they are only listed.

    explain_failures: an AWS error of a write is raised again with a message naming the
    write and what was done before it (for modules whose result cannot carry the list).
    """

    def __init__(self, check_mode, explain_failures=False):
        self.check_mode = check_mode
        self.explain_failures = explain_failures
        self.actions = []

    def run(self, description, call, *args, **kwargs):
        """call(*args, **kwargs) unless in check mode; its answer (None in check mode)."""
        answer = None
        if not self.check_mode:
            try:
                answer = call(*args, **kwargs)
            except AnsibleAWSError as error:
                if not self.explain_failures:
                    raise
                raise AnsibleAWSError(message=self.failure_message(description, error), exception=error.exception) from error
        self.actions.append(description)
        return answer

    def note(self, description):
        """Something that changed without a call of ours (an adoption)."""
        self.actions.append(description)

    @property
    def changed(self):
        return bool(self.actions)

    def done(self):
        return "; ".join(self.actions) if self.actions else "nothing"

    def failure_message(self, description, error):
        return "{0} while trying to {1}. Done before the failure: {2}. Re-run to finish".format(
            error.message, description, self.done())
