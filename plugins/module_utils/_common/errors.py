# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The errors a module run ends with: a refusal before any write, or a failure that carries
what was done. module_run.end_module turns them into the module's failure."""

import copy

NOTHING_CHANGED = "nothing was changed"


class CattleError(Exception):
    """A run that failed. `result` goes into the failed task's result: what was done before
    the failure and what was there, so a playbook can clean up without another lookup."""

    def __init__(self, message, aws_error=None, **result):
        super().__init__(message)
        self.result = result
        # The AWS error this failure is, if any: its code and request id go into the result.
        self.aws_error = aws_error

    def with_note(self, note, **result):
        """The same failure (same type, same result plus `result`), its message followed by
        `note`: what was done after it, such as a lock given back."""
        noted = copy.copy(self)
        noted.args = ("{0}; {1}".format(self, note),)
        noted.result = dict(self.result, **result)
        return noted


class Refusal(CattleError):
    """Refused before the first write; the message names the input and ends by saying that
    nothing was changed (added here when the raiser did not say it)."""

    def __init__(self, message, **result):
        message = str(message)
        if not message.endswith(NOTHING_CHANGED):
            message = "{0}; {1}".format(message, NOTHING_CHANGED)
        super().__init__(message, **result)


def aws_cause_text(error):
    """": <AWS's message> (<code>)" for an AnsibleAWSError, whose own message leaves them out;
    ": <cause>" for another wrapped exception; "" for none."""
    cause = getattr(error, "exception", None)
    detail = (getattr(cause, "response", None) or {}).get("Error", {})
    if detail:
        return ": {0} ({1})".format(detail.get("Message"), detail.get("Code"))
    return ": {0}".format(cause) if cause is not None else ""
