"""Faults injected in front of the emulated API look to botocore like AWS's own."""

import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.retries import standard

from cattle_sandbox.aws import SandboxControlError
from fixtures.images import images_named

pytestmark = pytest.mark.sandbox

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def retrying(attempts):
    return Config(retries={"mode": "standard", "total_max_attempts": attempts})


# (client name, SigV4 service, action, call) for each protocol family the project uses.
CALLS = {
    "ec2": ("ec2", "ec2", "DescribeImages", lambda c: c.describe_images(Owners=["self"])),
    "autoscaling": (
        "autoscaling",
        "autoscaling",
        "DescribeAutoScalingGroups",
        lambda c: c.describe_auto_scaling_groups(),
    ),
    "elbv2": ("elbv2", "elasticloadbalancing", "DescribeLoadBalancers", lambda c: c.describe_load_balancers()),
    "sts": ("sts", "sts", "GetCallerIdentity", lambda c: c.get_caller_identity()),
    "cloudwatch": ("cloudwatch", "monitoring", "DescribeAlarms", lambda c: c.describe_alarms()),
    "ssm": ("ssm", "ssm", "DescribeParameters", lambda c: c.describe_parameters()),
    "dynamodb": ("dynamodb", "dynamodb", "ListTables", lambda c: c.list_tables()),
}

THROTTLES = [
    ("ec2", "RequestLimitExceeded", 503),
    ("autoscaling", "Throttling", 400),
    ("elbv2", "Throttling", 400),
    ("sts", "Throttling", 400),
    ("cloudwatch", "Throttling", 400),
    ("ssm", "ThrottlingException", 400),
    ("dynamodb", "ThrottlingException", 400),
]


def failing_call(aws, boto3_client, name, kind, **rule):
    """Arms one fault for the named call, makes the call once, returns the ClientError."""
    client_name, service, action, call = CALLS[name]
    aws.control.add_fault(service=service, action=action, kind=kind, count=1, **rule)
    with pytest.raises(ClientError) as raised:
        call(boto3_client(client_name, config=NO_RETRIES))
    return raised.value


@pytest.mark.parametrize(("name", "code", "status"), THROTTLES, ids=[t[0] for t in THROTTLES])
def test_a_throttle_has_the_code_and_status_of_its_protocol_and_botocore_sees_a_throttle(
    aws, boto3_client, name, code, status
):
    error = failing_call(aws, boto3_client, name, "throttle")

    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    context = standard.RetryContext(attempt_number=1, parsed_response=error.response)
    assert standard.ThrottledRetryableChecker().is_retryable(context)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("ec2", None, "InternalError"),
        ("ec2", 503, "Unavailable"),
        ("autoscaling", 503, "ServiceUnavailable"),
        ("ssm", 500, "InternalFailure"),
    ],
)
def test_a_server_error_is_a_5xx_in_the_protocols_shape(aws, boto3_client, name, status, code):
    error = failing_call(aws, boto3_client, name, "server_error", status=status)

    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == (status or 500)


def test_botocore_retries_through_n_throttles_and_every_attempt_is_counted(aws, boto3_client):
    ec2 = boto3_client("ec2", config=retrying(3))
    aws.control.add_fault(service="ec2", action="DescribeImages", kind="throttle", count=2)

    ec2.describe_images(Owners=["self"])

    assert aws.control.counters()["ec2:DescribeImages"] == 3
    [rule] = aws.control.faults()
    assert (rule["fired"], rule["remaining"]) == (2, 0)


def test_a_rule_only_touches_its_own_service_and_action(aws, boto3_client):
    aws.control.add_fault(service="ec2", action="DescribeImages", kind="throttle")

    boto3_client("ec2", config=NO_RETRIES).describe_vpcs()
    boto3_client("sts", config=NO_RETRIES).get_caller_identity()

    assert aws.control.faults()[0]["fired"] == 0


def test_probability_rules_fire_the_same_way_for_the_same_seed(aws, boto3_client):
    sts = boto3_client("sts", config=NO_RETRIES)

    def outcomes():
        aws.control.clear_faults()
        aws.control.add_fault(service="sts", action="GetCallerIdentity", kind="throttle", probability=0.5, seed=7)
        seen = []
        for _attempt in range(20):
            try:
                sts.get_caller_identity()
                seen.append("ok")
            except ClientError:
                seen.append("throttled")
        return seen

    first = outcomes()
    assert outcomes() == first
    assert set(first) == {"ok", "throttled"}
    assert aws.control.faults()[0]["fired"] == first.count("throttled")


def test_a_delay_rule_slows_the_call_then_serves_it(aws, boto3_client):
    sts = boto3_client("sts", config=NO_RETRIES)
    aws.control.add_fault(service="sts", action="GetCallerIdentity", kind="delay", delay=0.4, count=1)

    started = time.monotonic()
    account = sts.get_caller_identity()["Account"]

    assert time.monotonic() - started >= 0.4
    assert account == "123456789012"
    assert aws.control.faults()[0]["remaining"] == 0


def test_a_lost_create_image_response_leaves_exactly_one_image(aws, boto3_client, instance_id):
    ec2 = boto3_client("ec2", config=NO_RETRIES)
    aws.control.add_fault(service="ec2", action="CreateImage", kind="lose_response", count=1)

    with pytest.raises(ConnectionClosedError):
        ec2.create_image(InstanceId=instance_id, Name="web-lost")

    assert len(images_named(ec2, "web-lost")) == 1


def test_botocore_retrying_a_lost_create_image_meets_the_duplicate_name(aws, boto3_client, instance_id):
    ec2 = boto3_client("ec2", config=retrying(3))
    aws.control.add_fault(service="ec2", action="CreateImage", kind="lose_response", count=1)

    with pytest.raises(ClientError) as raised:
        ec2.create_image(InstanceId=instance_id, Name="web-lost")

    assert raised.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"
    assert aws.control.counters()["ec2:CreateImage"] == 2
    assert len(images_named(ec2, "web-lost")) == 1


def test_counters_count_every_call_and_reset(aws, boto3_client):
    ec2 = boto3_client("ec2", config=NO_RETRIES)
    aws.control.add_fault(service="ec2", action="DescribeVpcs", kind="throttle", count=1)
    with pytest.raises(ClientError):
        ec2.describe_vpcs()
    ec2.describe_vpcs()
    ec2.describe_subnets()

    assert aws.control.counters() == {"ec2:DescribeSubnets": 1, "ec2:DescribeVpcs": 2}
    aws.control.reset_counters()
    assert aws.control.counters() == {}


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "explode"},
        {"kind": "throttle", "count": 0},
        {"kind": "throttle", "probability": 1.5},
        {"kind": "delay", "delay": 3600},
        {"kind": "server_error", "status": 429},
    ],
)
def test_a_bad_fault_rule_is_refused_with_the_reason(aws, rule):
    with pytest.raises(SandboxControlError) as raised:
        aws.control.add_fault(service="ec2", action="DescribeImages", **rule)

    assert raised.value.status == 400
    assert aws.control.faults() == []


@pytest.mark.parametrize("wildcard", ["*", "", None])
def test_a_wildcard_service_and_action_match_every_call(aws, boto3_client, wildcard):
    aws.control.add_fault(service=wildcard, action=wildcard, kind="throttle", count=2)
    for client, call in (
        (boto3_client("sts", config=NO_RETRIES), "get_caller_identity"),
        (boto3_client("ec2", config=NO_RETRIES), "describe_vpcs"),
    ):
        with pytest.raises(ClientError):
            getattr(client, call)()
    assert aws.control.faults()[0]["remaining"] == 0


# -- targeted client errors ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_client_error_has_the_given_code_and_is_not_retried(aws, boto3_client, name):
    client_name, service, action, call = CALLS[name]
    aws.control.add_fault(service=service, action=action, kind="client_error", code="AccessDenied",
                          message="not allowed here", count=1)
    with pytest.raises(ClientError) as raised:
        call(boto3_client(client_name, config=retrying(5)))
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 400)
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    assert "not allowed here" in error["Error"]["Message"]


def test_a_rule_with_match_fails_only_the_calls_naming_that_text_and_after_lets_the_first_through(
    aws, boto3_client
):
    ssm = boto3_client("ssm", config=NO_RETRIES)
    aws.control.add_fault(service="ssm", action="PutParameter", kind="client_error", code="AccessDenied",
                          match="/cattle/web/staging", after=1, count=1)
    ssm.put_parameter(Name="/cattle/web/dev", Value="a", Type="String")  # no match
    ssm.put_parameter(Name="/cattle/web/staging", Value="a", Type="String")  # the first match goes through
    with pytest.raises(ClientError):
        ssm.put_parameter(Name="/cattle/web/staging", Value="b", Type="String", Overwrite=True)
    ssm.put_parameter(Name="/cattle/web/staging", Value="c", Type="String", Overwrite=True)  # count used up
    assert ssm.get_parameter(Name="/cattle/web/staging")["Parameter"]["Value"] == "c"
    assert [(rule["fired"], rule["remaining"], rule["after"]) for rule in aws.control.faults()] == [(1, 0, 0)]


def test_a_query_api_rule_matches_form_encoded_parameters(aws, boto3_client, aws_network):
    elbv2 = boto3_client("elbv2", config=NO_RETRIES)
    aws.control.add_fault(service="elbv2", action="CreateTargetGroup", kind="client_error", code="ValidationError",
                          match="web-staging-1", count=1)
    elbv2.create_target_group(Name="web-dev-1", Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id)
    with pytest.raises(ClientError) as raised:
        elbv2.create_target_group(Name="web-staging-1", Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id)
    assert raised.value.response["Error"]["Code"] == "ValidationError"


@pytest.mark.parametrize("rule, problem", [
    ({"kind": "client_error"}, "code is required"),
    ({"kind": "throttle", "code": "AccessDenied"}, "code is required by client_error rules and applies to them only"),
    ({"kind": "client_error", "code": "X", "status": 503}, "must be 4xx"),
    ({"kind": "throttle", "after": -1}, "after must be"),
])
def test_bad_targeted_rules_are_refused(aws, rule, problem):
    with pytest.raises(SandboxControlError) as raised:
        aws.control.add_fault(service="ec2", action="DescribeImages", **rule)
    assert problem in str(raised.value)
