"""Client tokens: a create retried with the same ClientToken completes once, as on AWS.

moto 5.2.5 ignores ClientToken, so a create whose answer was lost and that botocore (or the
caller) sends again makes a second resource: a second test instance, a second launch
template attempt that now fails on the name, a second AMI copy. AWS documents the opposite,
"Ensuring idempotency in Amazon EC2 API requests"
(https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html): "If you retry a
request that completed successfully using the same client token and the same parameters,
the retry succeeds without performing any further actions." and "If you retry a successful
request using the same client token, but one or more of the parameters are different, other
than the Region or Availability Zone, the retry fails with an IdempotentParameterMismatch
error." RunInstances, CreateLaunchTemplate and CopyImage are among the actions it lists as
taking a client token, and "A client token is a unique, case-sensitive string of up to 64
ASCII characters."

Here, for those three actions: the first successful request with a token is remembered
(per account, region and action) with its parameters and its answer; the same token with
the same parameters answers that first answer again without acting, with other parameters
it fails with IdempotentParameterMismatch, and a token longer than 64 characters is refused
with InvalidParameterValue. A request that failed leaves no record, so its retry acts. AWS
keeps RunInstances' tokens "for at least 24 hours after the termination of the instance";
the sandbox keeps every token until it is reset.
"""

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidParameterValue
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.launch_templates import LaunchTemplates

from .client_tokens import TOKEN_PARAMETER
from .fidelity import Fidelity
from .patching import patch

MAX_TOKEN_LENGTH = 64


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self, token: str, action: str):
        super().__init__(
            "IdempotentParameterMismatch",
            f"The client token {token} was already used by a {action} request with different parameters",
        )


@patch(InstanceResponse, "run_instances")
def run_instances(fidelity: Fidelity, original: Any, response: InstanceResponse) -> ActionResult:
    return once_per_token(fidelity, original, response, "RunInstances")


@patch(LaunchTemplates, "create_launch_template")
def create_launch_template(fidelity: Fidelity, original: Any, response: LaunchTemplates) -> ActionResult:
    return once_per_token(fidelity, original, response, "CreateLaunchTemplate")


@patch(AmisResponse, "copy_image")
def copy_image(fidelity: Fidelity, original: Any, response: AmisResponse) -> ActionResult:
    return once_per_token(fidelity, original, response, "CopyImage")


def once_per_token(fidelity: Fidelity, original: Any, response: Any, action: str) -> ActionResult:
    """moto's answer the first time a token succeeds; that answer again for its retries."""
    token = response._get_param(TOKEN_PARAMETER)
    if token is None:
        return original(response)
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidParameterValue(f"The client token must be at most {MAX_TOKEN_LENGTH} characters, got {len(token)}")
    key = (response.current_account, response.region, action, token)
    parameters = parameters_besides_token(response)
    recorded = fidelity.client_tokens.recorded(key)
    if recorded is not None:
        first_parameters, first_answer = recorded
        if first_parameters != parameters:
            raise IdempotentParameterMismatch(token, action)
        return first_answer
    answer = original(response)
    fidelity.client_tokens.record(key, parameters, answer)
    return answer


def parameters_besides_token(response: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The request's query parameters without its token, in a comparable form."""
    return tuple(
        sorted((name, tuple(values)) for name, values in response.querystring.items() if name != TOKEN_PARAMETER)
    )
