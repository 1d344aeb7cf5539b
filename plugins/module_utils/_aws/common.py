# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every AWS call of the collection shares: its retry policies and error handlers.

RETRY is the policy of every call. AWSRetry knows EC2's and the query APIs' throttling
codes; JSON APIs such as SSM answer ThrottlingException, added here. The other policies
retry RETRY's codes and one reason more, which their names give; they are used only
where that reason applies.
"""

import uuid

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.errors import AWSErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

JSON_API_THROTTLING = "ThrottlingException"

RETRY = AWSRetry.jittered_backoff(catch_extra_error_codes=[JSON_API_THROTTLING])

# DynamoDB throttles with its own codes besides ThrottlingException.
RETRY_DYNAMODB_THROTTLING = AWSRetry.jittered_backoff(
    catch_extra_error_codes=[JSON_API_THROTTLING, "ProvisionedThroughputExceededException"]
)

# EC2 is eventually consistent: an image or snapshot created a moment ago may be "not
# found" by the next call for a while.
RETRY_UNTIL_NEW_IMAGE_VISIBLE = AWSRetry.jittered_backoff(
    catch_extra_error_codes=[JSON_API_THROTTLING, "InvalidAMIID.NotFound", "InvalidSnapshot.NotFound"]
)

# AWS refuses to delete a snapshot for a short while after its AMI is deregistered.
RETRY_WHILE_SNAPSHOT_IN_USE = AWSRetry.jittered_backoff(
    catch_extra_error_codes=[JSON_API_THROTTLING, "InvalidSnapshot.InUse"]
)

# AWS refuses to delete a target group for a moment after its last user let go of it.
RETRY_WHILE_TARGET_GROUP_IN_USE = AWSRetry.jittered_backoff(
    retries=8, delay=1, max_delay=10, catch_extra_error_codes=[JSON_API_THROTTLING, "ResourceInUse"]
)

# IAM: an instance profile made moments ago may not be usable by EC2 yet.
RETRY_UNTIL_INSTANCE_PROFILE_USABLE = AWSRetry.jittered_backoff(
    retries=6, delay=2, max_delay=10, catch_extra_error_codes=[JSON_API_THROTTLING, "InvalidParameterValue"]
)


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
