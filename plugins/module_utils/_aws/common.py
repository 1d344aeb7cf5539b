# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every AWS call of the collection shares: its retry policies and error handlers.

RETRY is the policy of every call. AWSRetry knows EC2's and the query APIs' throttling
codes; JSON APIs such as SSM answer ThrottlingException, added here. The other policies
retry RETRY's codes and one reason more, which their names give; they are used only
where that reason applies. Each backs off as AWSRetry's jittered backoff does (up to 10
attempts, pauses drawn below 3 s doubling to 60 s), but never past the deadline of a wait
in progress (waiter.retry_pause): a call inside a wait fails in time for the wait to say so.
"""

import functools
import random
import time
import uuid

try:
    from botocore.exceptions import ClientError
except ImportError:
    pass  # AnsibleAWSModule says boto3 is missing before any call is made

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cattle.immutable.plugins.module_utils._common import waiter

JSON_API_THROTTLING = "ThrottlingException"


def retry_policy(catch_extra_error_codes=(), retries=10, delay=3, max_delay=60, sleep=time.sleep):
    """A decorator retrying AWSRetry's codes and these, with jittered backoff, within the
    deadline of a wait in progress."""
    codes = [JSON_API_THROTTLING] + list(catch_extra_error_codes)

    def decorate(func):
        @functools.wraps(func)
        def retried(*args, **kwargs):
            attempt = 1
            while True:
                try:
                    return func(*args, **kwargs)
                except ClientError as error:
                    pause = retry_pause(error, codes, attempt, retries, delay, max_delay)
                    if pause is None:
                        raise
                sleep(pause)
                attempt += 1

        return retried

    return decorate


def retry_pause(error, codes, attempt, retries, delay, max_delay):
    """The pause before the next attempt, or None: not a code to retry, no attempt left, or
    no time left before a wait's deadline."""
    if attempt >= retries or not AWSRetry.found(AWSRetry.status_code_from_exception(error), codes):
        return None
    return waiter.retry_pause(random.uniform(0.0, min(delay * 2 ** (attempt - 1), max_delay)))


RETRY = retry_policy()

# DynamoDB throttles with its own codes besides ThrottlingException.
RETRY_DYNAMODB_THROTTLING = retry_policy(["ProvisionedThroughputExceededException"])

# EC2 is eventually consistent: an image or snapshot created a moment ago may be "not
# found" by the next call for a while.
RETRY_UNTIL_NEW_IMAGE_VISIBLE = retry_policy(["InvalidAMIID.NotFound", "InvalidSnapshot.NotFound"])

# AWS refuses to delete a snapshot for a short while after its AMI is deregistered.
RETRY_WHILE_SNAPSHOT_IN_USE = retry_policy(["InvalidSnapshot.InUse"])

# AWS refuses to delete a target group for a moment after its last user let go of it.
RETRY_WHILE_TARGET_GROUP_IN_USE = retry_policy(["ResourceInUse"], retries=8, delay=1, max_delay=10)

# IAM: an instance profile made moments ago may not be usable by EC2 yet.
RETRY_UNTIL_INSTANCE_PROFILE_USABLE = retry_policy(["InvalidParameterValue"], retries=6, delay=2, max_delay=10)


def with_client_token(request):
    """The request with a ClientToken of its own, made once before any retry.

    AWS completes a create retried with the same token once and answers the first result
    ("Ensuring idempotency in Amazon EC2 API requests"). botocore fills in a token per call,
    so its own retries share one, but a retry of ours (after botocore gave up on throttling
    that came after a lost answer) would get a new one and create twice: the caller's token
    spans both layers.
    """
    return dict(request, ClientToken=uuid.uuid4().hex)


def error_handler(missing_codes=(), exception=AnsibleAWSError):
    """An AWSErrorHandler that raises `exception`, and whose list and deletion handlers
    take the error codes `missing_codes` for "it is not there"."""
    codes = list(missing_codes)

    class ErrorHandler(AWSErrorHandler):
        _CUSTOM_EXCEPTION = exception

        @classmethod
        def _is_missing(cls):
            return is_boto3_error_code(codes)

    return ErrorHandler


def error_code(error):
    """The AWS error code of a botocore ClientError, or of the one an AnsibleAWSError wraps;
    None for any other error."""
    cause = getattr(error, "exception", error)
    response = getattr(cause, "response", None) or {}
    return response.get("Error", {}).get("Code")
