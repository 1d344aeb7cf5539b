"""The sandbox records every listener and rule write with the health of the groups it sends traffic to."""

import pytest
from botocore.exceptions import ClientError

from fixtures.aws import eventually

pytestmark = pytest.mark.sandbox


@pytest.fixture
def alb(elbv2, aws_network):
    return elbv2.create_load_balancer(Name="web", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]["LoadBalancerArn"]


@pytest.fixture
def fleets(ec2, elbv2, aws_network):
    """Two target groups (blue, green) with two registered instances each."""
    image_id = ec2.register_image(Name="writes-base")["ImageId"]
    groups = {}
    for name in ("web-blue", "web-green"):
        arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        reservation = ec2.run_instances(
            ImageId=image_id, MinCount=2, MaxCount=2, InstanceType="t3.micro", SubnetId=aws_network.subnet_ids[0]
        )
        ids = [instance["InstanceId"] for instance in reservation["Instances"]]
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id} for instance_id in ids])
        groups[name.split("-")[1]] = (arn, ids)
    return groups


def forward(*weighted_groups):
    targets = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weighted_groups]
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": targets}}]


def healthy(elbv2, arn):
    descriptions = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return descriptions and all(d["TargetHealth"]["State"] == "healthy" for d in descriptions)


@pytest.fixture
def blue_live(aws, elbv2, alb, fleets):
    """A listener on blue (weight 1) with green at weight 0, both healthy, set up with guarded writes."""
    blue, green = fleets["blue"][0], fleets["green"][0]
    listener = elbv2.create_listener(
        LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=forward((blue, 0), (green, 0))
    )["Listeners"][0]["ListenerArn"]
    eventually(lambda: healthy(elbv2, blue) and healthy(elbv2, green))
    elbv2.modify_listener(ListenerArn=listener, DefaultActions=forward((blue, 1), (green, 0)))
    assert aws.control.unguarded_listener_writes() == []
    return listener


def test_a_write_giving_traffic_to_an_unused_group_is_unguarded(aws, elbv2, alb, fleets):
    blue = fleets["blue"][0]

    listener = elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=forward((blue, 1)))

    [write] = aws.control.listener_writes()
    assert write["operation"] == "CreateListener"
    assert write["listener_arn"] == listener["Listeners"][0]["ListenerArn"]
    assert write["rule_arn"] is None
    assert write["weights"] == {blue: 1}
    # The group came into use with this write: its targets were only starting health checks.
    assert write["previous_weights"] == {}
    assert write["groups"] == [
        {
            "target_group_arn": blue,
            "weight": 1,
            "healthy": 0,
            "registered": 2,
            "states": ["initial", "initial"],
            "gains_traffic": True,
        }
    ]
    assert write["unguarded_groups"] == write["degraded_groups"] == [blue]
    assert aws.control.unguarded_listener_writes() == [write]


def test_joining_at_weight_0_then_switching_once_healthy_is_guarded(aws, elbv2, blue_live, fleets):
    blue, green = fleets["blue"][0], fleets["green"][0]

    elbv2.modify_listener(ListenerArn=blue_live, DefaultActions=forward((blue, 0), (green, 1)))

    last = aws.control.listener_writes()[-1]
    assert last["operation"] == "ModifyListener"
    assert last["previous_weights"] == {blue: 1, green: 0}
    assert last["weights"] == {blue: 0, green: 1}
    # Only groups given traffic are checked; blue at weight 0 is not listed.
    assert [(g["target_group_arn"], g["healthy"], g["registered"]) for g in last["groups"]] == [(green, 2, 2)]
    assert last["unguarded_groups"] == []
    assert aws.control.unguarded_listener_writes() == []


def test_a_group_with_one_unhealthy_target_of_two_is_unguarded(aws, elbv2, blue_live, fleets):
    blue, green = fleets["blue"][0], fleets["green"][0]
    aws.control.set_target_health(green, [fleets["green"][1][0]], state="unhealthy")

    elbv2.modify_listener(ListenerArn=blue_live, DefaultActions=forward((blue, 1), (green, 1)))

    last = aws.control.listener_writes()[-1]
    assert {g["target_group_arn"]: (g["healthy"], g["registered"]) for g in last["groups"]} == {
        blue: (2, 2),
        green: (1, 2),
    }
    assert last["unguarded_groups"] == last["degraded_groups"] == [green]
    assert aws.control.unguarded_listener_writes()[-1] == last


def test_a_write_that_gives_a_degraded_group_no_more_traffic_is_not_unguarded(aws, elbv2, blue_live, fleets):
    blue, green = fleets["blue"][0], fleets["green"][0]
    elbv2.modify_listener(ListenerArn=blue_live, DefaultActions=forward((blue, 1)))
    aws.control.set_target_health(blue, [fleets["blue"][1][0]], state="unhealthy")

    # Blue keeps 100 % of the traffic; green joins at weight 0; then blue's share shrinks.
    elbv2.modify_listener(ListenerArn=blue_live, DefaultActions=forward((blue, 1), (green, 0)))
    eventually(lambda: healthy(elbv2, green))  # green was left unused by the first write
    elbv2.modify_listener(ListenerArn=blue_live, DefaultActions=forward((blue, 1), (green, 1)))

    join, canary = aws.control.listener_writes()[-2:]
    assert [(g["target_group_arn"], g["gains_traffic"]) for g in join["groups"]] == [(blue, False)]
    assert (join["unguarded_groups"], join["degraded_groups"]) == ([], [blue])
    assert [(g["target_group_arn"], g["gains_traffic"]) for g in canary["groups"]] == [(blue, False), (green, True)]
    assert (canary["unguarded_groups"], canary["degraded_groups"]) == ([], [blue])
    assert aws.control.unguarded_listener_writes() == []


def test_rule_writes_are_recorded_with_their_rule(aws, elbv2, blue_live, fleets):
    blue, green = fleets["blue"][0], fleets["green"][0]
    conditions = [{"Field": "path-pattern", "Values": ["/api/*"]}]

    rule = elbv2.create_rule(ListenerArn=blue_live, Priority=10, Conditions=conditions, Actions=forward((blue, 1)))
    rule_arn = rule["Rules"][0]["RuleArn"]
    elbv2.modify_rule(RuleArn=rule_arn, Actions=[{"Type": "forward", "TargetGroupArn": green}])

    create, modify = aws.control.listener_writes()[-2:]
    assert (create["operation"], create["rule_arn"], create["listener_arn"]) == ("CreateRule", rule_arn, blue_live)
    assert (modify["operation"], modify["rule_arn"], modify["weights"]) == ("ModifyRule", rule_arn, {green: 1})
    assert [write["sequence"] for write in (create, modify)] == [create["sequence"], create["sequence"] + 1]


def test_writes_that_change_no_action_or_are_refused_are_not_recorded(aws, elbv2, blue_live, fleets):
    blue, green = fleets["blue"][0], fleets["green"][0]
    before = aws.control.listener_writes()

    elbv2.modify_listener(ListenerArn=blue_live, Port=8080)
    with pytest.raises(ClientError):
        elbv2.modify_listener(ListenerArn=blue_live, DefaultActions=forward((blue, 1), (green, 1000)))

    assert aws.control.listener_writes() == before


def test_a_redirect_is_recorded_with_no_weights(aws, elbv2, alb):
    redirect = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}

    elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=[redirect])

    [write] = aws.control.listener_writes()
    assert (write["weights"], write["groups"], write["unguarded_groups"]) == ({}, [], [])


def test_reset_forgets_the_writes(aws, elbv2, alb, fleets):
    elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=forward((fleets["blue"][0], 1)))
    assert aws.control.listener_writes()

    aws.control.reset()

    assert aws.control.listener_writes() == []
    assert aws.control.unguarded_listener_writes() == []
