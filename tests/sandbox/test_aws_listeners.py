"""Listener and rule forward actions are validated as AWS validates them."""

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.sandbox

UNKNOWN_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nowhere/0123456789abcdef"


@pytest.fixture
def alb(elbv2, aws_network):
    return elbv2.create_load_balancer(Name="web", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]["LoadBalancerArn"]


@pytest.fixture
def groups(elbv2, aws_network):
    return [
        elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for name in ("web-blue", "web-green")
    ]


@pytest.fixture
def listener(elbv2, alb, groups):
    return elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=forward((groups[0], 1)))[
        "Listeners"
    ][0]["ListenerArn"]


@pytest.fixture
def rule(elbv2, listener, groups):
    return elbv2.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=forward((groups[0], 1)),
    )["Rules"][0]["RuleArn"]


def forward(*weighted_groups):
    targets = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weighted_groups]
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": targets}}]


def write_actions(elbv2, operation, alb, listener, rule, actions):
    """Sends `actions` through one of the four calls that write forward actions."""
    if operation == "CreateListener":
        return elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=8080, DefaultActions=actions)
    if operation == "ModifyListener":
        return elbv2.modify_listener(ListenerArn=listener, DefaultActions=actions)
    if operation == "CreateRule":
        conditions = [{"Field": "path-pattern", "Values": ["/new/*"]}]
        return elbv2.create_rule(ListenerArn=listener, Priority=20, Conditions=conditions, Actions=actions)
    return elbv2.modify_rule(RuleArn=rule, Actions=actions)


OPERATIONS = ["CreateListener", "ModifyListener", "CreateRule", "ModifyRule"]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("weight", [-1, 1000])
def test_a_weight_outside_0_to_999_is_rejected(elbv2, alb, listener, rule, groups, operation, weight):
    with pytest.raises(ClientError) as raised:
        write_actions(elbv2, operation, alb, listener, rule, forward((groups[0], 1), (groups[1], weight)))

    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "targetGroups.2.member.weight" in raised.value.response["Error"]["Message"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_an_unknown_target_group_is_rejected(elbv2, alb, listener, rule, groups, operation):
    with pytest.raises(ClientError) as raised:
        write_actions(elbv2, operation, alb, listener, rule, forward((groups[0], 1), (UNKNOWN_GROUP, 1)))

    assert raised.value.response["Error"]["Code"] == "TargetGroupNotFound"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_weights_at_the_bounds_are_accepted(elbv2, alb, listener, rule, groups, operation):
    write_actions(elbv2, operation, alb, listener, rule, forward((groups[0], 999), (groups[1], 0)))


def test_a_rejected_modify_listener_leaves_the_listener_as_it_was(elbv2, listener, groups):
    before = elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"]

    with pytest.raises(ClientError):
        elbv2.modify_listener(ListenerArn=listener, DefaultActions=forward((groups[0], 1), (UNKNOWN_GROUP, 1)))

    assert elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"] == before
