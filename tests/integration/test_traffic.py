"""cattle.immutable.traffic through real ansible-playbook runs against the sandbox.

Every test ends by checking the sandbox's record of listener writes: no write made
after the setup gave traffic to a target group without all its targets healthy.
"""

import pytest

from fixtures.ansible import local_play, module_task
from fixtures.aws import eventually, forward_weights, listener_weights

pytestmark = pytest.mark.sandbox

MUTATING = ("CreateListener", "ModifyListener", "DeleteListener", "CreateRule", "ModifyRule", "DeleteRule")
STICKINESS = {"Enabled": True, "DurationSeconds": 600}


def play(*tasks, diff=False):
    """A playbook of cattle.immutable.traffic tasks: (name, arguments) pairs."""
    return local_play(*(module_task(name, "traffic", args, diff=diff) for name, args in tasks))


def weights(*pairs):
    return [{"target_group": group, "weight": weight} for group, weight in pairs]


def forward(*pairs, **config):
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in pairs]
    return [{"Type": "forward", "ForwardConfig": dict({"TargetGroups": groups}, **config)}]


def states(elbv2, arn):
    return sorted(d["TargetHealth"]["State"] for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"])


def all_healthy(elbv2, arn):
    found = states(elbv2, arn)
    return bool(found) and set(found) == {"healthy"}


def mutating_calls(counters):
    return {key: count for key, count in counters.items() if key.split(":")[1] in MUTATING}


class Site:
    """A load balancer `web` with a listener on port 80 forwarding to web-blue (simple forward),
    and web-green beside it; two registered instances in each group."""

    def __init__(self, aws, ec2, elbv2, network):
        self.aws, self.elbv2 = aws, elbv2
        # Sequence numbers of writes a test makes unguarded on purpose (min_healthy below "all").
        self.meant_unguarded = set()
        self.lb = elbv2.create_load_balancer(Name="web", Subnets=network.subnet_ids)["LoadBalancers"][0][
            "LoadBalancerArn"
        ]
        image_id = ec2.register_image(Name="traffic-base")["ImageId"]
        self.blue = self._group(ec2, network, "web-blue", image_id)
        self.green = self._group(ec2, network, "web-green", image_id)
        # Blue comes into use at weight 0, so it is health-checked before it takes traffic:
        # the setup itself makes no unguarded write.
        self.listener = elbv2.create_listener(
            LoadBalancerArn=self.lb, Protocol="HTTP", Port=80, DefaultActions=forward((self.blue, 0))
        )["Listeners"][0]["ListenerArn"]
        eventually(lambda: all_healthy(elbv2, self.blue))
        elbv2.modify_listener(ListenerArn=self.listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": self.blue}])

    def _group(self, ec2, network, name, image_id):
        arn = self.elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=network.vpc_id)["TargetGroups"][
            0
        ]["TargetGroupArn"]
        reservation = ec2.run_instances(
            ImageId=image_id, MinCount=2, MaxCount=2, InstanceType="t3.micro", SubnetId=network.subnet_ids[0]
        )
        ids = [instance["InstanceId"] for instance in reservation["Instances"]]
        self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id} for instance_id in ids])
        return arn

    def join_green_at_weight_0(self):
        """What a deploy does before its health gate: green health-checked, traffic unchanged."""
        self.elbv2.modify_listener(ListenerArn=self.listener, DefaultActions=forward((self.blue, 1), (self.green, 0)))
        eventually(lambda: all_healthy(self.elbv2, self.green))

    def weights(self):
        return listener_weights(self.elbv2, self.listener)


@pytest.fixture
def site(aws, ec2, elbv2, aws_network):
    site = Site(aws, ec2, elbv2, aws_network)
    setup_writes = len(aws.control.listener_writes())
    aws.control.reset_counters()
    yield site
    made_by_the_test = [w for w in aws.control.unguarded_listener_writes() if w["sequence"] > setup_writes]
    assert [w for w in made_by_the_test if w["sequence"] not in site.meant_unguarded] == []


def run_ok(playbook, *tasks, **options):
    run = playbook(play(*tasks, diff=options.pop("diff", False)), **options)
    assert not run.failed, run.explain()
    return run


def refused(playbook, args, **options):
    run = playbook(play(("traffic", args)), **options)
    assert run.failed, run.explain()
    return run.result("traffic")["msg"]


# -- switching ---------------------------------------------------------------------------------


def test_green_joins_at_weight_0_then_takes_traffic_in_steps(playbook, site, elbv2):
    on_port_80 = {"load_balancer_name": "web", "port": 80}
    run = run_ok(playbook, ("join", dict(on_port_80, target_groups=weights(("web-blue", 1), ("web-green", 0)))))
    joined = run.result("join")
    assert joined["changed"] is True
    assert joined["previous"]["weights"] == {site.blue: 1}
    assert joined["new"]["weights_by_name"] == {"web-blue": 1, "web-green": 0}
    # Joining at weight 0 gives no group more traffic: no health to check.
    assert joined["health"] == []
    assert (joined["listener_arn"], joined["rule_arn"], joined["load_balancer_arn"]) == (site.listener, None, site.lb)
    eventually(lambda: all_healthy(elbv2, site.green))

    run = run_ok(
        playbook,
        ("canary", dict(on_port_80, target_groups=weights(("web-blue", 90), ("web-green", 10)))),
        ("all", dict(on_port_80, target_groups=weights(("web-blue", 0), ("web-green", 100)))),
    )

    canary, switched = run.result("canary"), run.result("all")
    assert [(g["name"], g["weight"], g["percent"]) for g in canary["new"]["target_groups"]] == [
        ("web-blue", 90, 90.0),
        ("web-green", 10, 10.0),
    ]
    assert switched["previous"]["weights"] == {site.blue: 90, site.green: 10}
    assert switched["new"]["weights"] == {site.blue: 0, site.green: 100}
    assert switched["msg"].endswith("web-blue=90, web-green=10 -> web-blue=0, web-green=100")
    assert site.weights() == {site.blue: 0, site.green: 100}


def test_a_second_identical_run_changes_nothing(playbook, aws, site):
    site.join_green_at_weight_0()
    args = {"listener_arn": site.listener, "target_groups": weights(("web-blue", 0), ("web-green", 1))}
    first = run_ok(playbook, ("traffic", args)).result("traffic")
    assert first["changed"] is True
    aws.control.reset_counters()

    second = run_ok(playbook, ("traffic", args)).result("traffic")

    assert second["changed"] is False
    assert second["previous"] == second["new"] == first["new"]
    assert second["health"] == []
    assert "already forwards web-blue=0, web-green=1" in second["msg"]
    assert mutating_calls(aws.control.counters()) == {}


def test_a_simple_forward_equals_a_one_group_weighted_forward(playbook, aws, site):
    tasks = [
        (f"weight {weight}", {"listener_arn": site.listener, "target_groups": weights(("web-blue", weight))})
        for weight in (1, 100, 999)
    ]
    run = run_ok(playbook, *tasks)
    for name, _args in tasks:
        result = run.result(name)
        assert result["changed"] is False, name
        assert result["previous"]["weights"] == {site.blue: 1}
    assert mutating_calls(aws.control.counters()) == {}


def test_check_mode_changes_nothing_and_says_what_it_would_do(playbook, aws, site):
    site.join_green_at_weight_0()
    before = site.weights()
    aws.control.reset_counters()

    run = run_ok(
        playbook,
        ("traffic", {"listener_arn": site.listener, "target_groups": weights(("web-blue", 0), ("web-green", 1))}),
        check=True,
    )

    result = run.result("traffic")
    assert result["changed"] is True
    assert result["new"]["weights"] == {site.blue: 0, site.green: 1}
    assert [h["name"] for h in result["health"]] == ["web-green"]
    assert site.weights() == before
    assert mutating_calls(aws.control.counters()) == {}


def test_diff_shows_weights_by_name(playbook, site):
    site.join_green_at_weight_0()

    run = run_ok(
        playbook,
        ("traffic", {"listener_arn": site.listener, "target_groups": weights(("web-blue", 0), ("web-green", 1))}),
        diff=True,
    )

    diff = run.result("traffic")["diff"]
    assert (diff["before"], diff["after"]) == ({"web-blue": 1, "web-green": 0}, {"web-blue": 0, "web-green": 1})
    assert site.listener in diff["before_header"]


def test_stickiness_and_the_rest_of_the_listener_are_kept(playbook, site, elbv2):
    elbv2.modify_listener(
        ListenerArn=site.listener,
        DefaultActions=forward((site.blue, 1), (site.green, 0), TargetGroupStickinessConfig=STICKINESS),
    )
    eventually(lambda: all_healthy(elbv2, site.green))

    run_ok(playbook, ("traffic", {"listener_arn": site.listener, "target_groups": weights(("web-green", 1))}))

    listener = elbv2.describe_listeners(ListenerArns=[site.listener])["Listeners"][0]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert listener["DefaultActions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"] == STICKINESS
    assert forward_weights(listener["DefaultActions"]) == {site.green: 1}


def test_a_rule_is_found_by_priority_and_only_it_changes(playbook, site, elbv2):
    site.join_green_at_weight_0()
    conditions = [{"Field": "path-pattern", "Values": ["/api/*"]}]
    rule_arn = elbv2.create_rule(
        ListenerArn=site.listener, Priority=10, Conditions=conditions, Actions=forward((site.blue, 1))
    )["Rules"][0]["RuleArn"]
    default_before = site.weights()

    result = run_ok(
        playbook,
        (
            "traffic",
            {
                "load_balancer_name": "web",
                "port": 80,
                "rule_priority": 10,
                "target_groups": weights((site.green, 1), (site.blue, 0)),
            },
        ),
    ).result("traffic")

    assert result["rule_arn"] == rule_arn and result["changed"] is True
    rule = elbv2.describe_rules(RuleArns=[rule_arn])["Rules"][0]
    assert forward_weights(rule["Actions"]) == {site.green: 1, site.blue: 0}
    assert rule["Conditions"] == conditions
    assert site.weights() == default_before

    by_arn = run_ok(
        playbook, ("traffic", {"rule_arn": rule_arn, "target_groups": weights(("web-green", 1), ("web-blue", 0))})
    ).result("traffic")
    assert by_arn["changed"] is False and by_arn["listener_arn"] == site.listener


def test_a_rollback_is_exactly_one_mutating_call(playbook, aws, site):
    site.join_green_at_weight_0()
    to_green = {"listener_arn": site.listener, "target_groups": weights((site.blue, 0), (site.green, 1))}
    run_ok(playbook, ("switch", to_green))
    aws.control.reset_counters()

    rollback = {"listener_arn": site.listener, "target_groups": weights((site.blue, 1), (site.green, 0))}
    result = run_ok(playbook, ("rollback", rollback)).result("rollback")

    counters = aws.control.counters()
    assert result["changed"] is True and site.weights() == {site.blue: 1, site.green: 0}
    assert mutating_calls(counters) == {"elasticloadbalancing:ModifyListener": 1}
    # Both groups are in the forward action already: no target group lookup, one health read.
    assert counters == {
        "elasticloadbalancing:DescribeListeners": 1,
        "elasticloadbalancing:DescribeTargetHealth": 1,
        "elasticloadbalancing:ModifyListener": 1,
    }


def test_throttling_on_20_percent_of_calls_still_switches(playbook, aws, site):
    site.join_green_at_weight_0()
    aws.control.add_fault(service="elasticloadbalancing", action=None, kind="throttle", probability=0.2, seed=3)

    run = run_ok(
        playbook,
        ("switch", {"load_balancer_name": "web", "port": 80, "target_groups": weights(("web-blue", 0), ("web-green", 1))}),
        ("back", {"load_balancer_name": "web", "port": 80, "target_groups": weights(("web-blue", 1), ("web-green", 0))}),
        ("again", {"load_balancer_name": "web", "port": 80, "target_groups": weights(("web-blue", 0), ("web-green", 1))}),
    )

    assert all(run.result(name)["changed"] for name in ("switch", "back", "again"))
    assert site.weights() == {site.blue: 0, site.green: 1}
    [rule] = aws.control.faults()
    assert rule["fired"] > 0
    # Each write was retried until it went through once; a throttled request stored nothing.
    successful = [w for w in aws.control.listener_writes() if w["operation"] == "ModifyListener"]
    assert [w["weights"] for w in successful[-3:]] == [
        {site.blue: 0, site.green: 1},
        {site.blue: 1, site.green: 0},
        {site.blue: 0, site.green: 1},
    ]


# -- the health guard --------------------------------------------------------------------------


def test_an_unhealthy_group_is_refused_traffic_and_nothing_changes(playbook, aws, site):
    site.join_green_at_weight_0()
    aws.control.set_target_health(site.green, state="unhealthy")
    before = site.weights()
    aws.control.reset_counters()

    message = refused(playbook, {"listener_arn": site.listener, "target_groups": weights(("web-blue", 0), ("web-green", 1))})

    assert "target group web-green has 0 healthy of 2 registered targets (2 unhealthy), 2 required" in message
    assert "refusing to give it weight 1" in message and "nothing was changed" in message
    assert site.weights() == before
    assert mutating_calls(aws.control.counters()) == {}


def test_a_group_nothing_forwards_to_is_refused_with_the_way_to_fix_it(playbook, site):
    message = refused(playbook, {"listener_arn": site.listener, "target_groups": weights(("web-green", 1))})

    assert "web-green has 0 healthy of 2 registered targets (2 unused)" in message
    assert "add it at weight 0 first" in message
    assert site.weights() == {site.blue: 1}


def test_a_degraded_live_group_does_not_block_adding_a_group_at_weight_0(playbook, aws, site, elbv2):
    one_blue = elbv2.describe_target_health(TargetGroupArn=site.blue)["TargetHealthDescriptions"][0]["Target"]["Id"]
    aws.control.set_target_health(site.blue, [one_blue], state="unhealthy")

    result = run_ok(
        playbook, ("traffic", {"listener_arn": site.listener, "target_groups": weights(("web-blue", 1), ("web-green", 0))})
    ).result("traffic")

    # Blue keeps the share it had: nothing is given to it, so its health is not in the way.
    assert result["changed"] is True and result["health"] == []
    assert site.weights() == {site.blue: 1, site.green: 0}


def test_min_healthy_accepts_a_share_or_a_count(playbook, aws, site):
    site.join_green_at_weight_0()
    sick = [d["Target"]["Id"] for d in site.elbv2.describe_target_health(TargetGroupArn=site.green)["TargetHealthDescriptions"]][0]
    aws.control.set_target_health(site.green, [sick], state="unhealthy")
    to_green = {"listener_arn": site.listener, "target_groups": weights(("web-blue", 1), ("web-green", 1))}

    assert "web-green has 1 healthy of 2 registered targets (1 healthy, 1 unhealthy), 2 required" in refused(
        playbook, to_green
    )
    # Blue's share shrinks from 100 to 50 %: only green, which gains traffic, is checked.
    assert refused(playbook, dict(to_green, min_healthy=3)).startswith(
        "target group web-green has 1 healthy of 2 registered targets (1 healthy, 1 unhealthy), 3 required (min_healthy=3)"
    )
    assert site.weights() == {site.blue: 1, site.green: 0}

    result = run_ok(playbook, ("traffic", dict(to_green, min_healthy="50%"))).result("traffic")
    assert result["changed"] is True
    assert [(h["name"], h["healthy"], h["registered"], h["required"]) for h in result["health"]] == [
        ("web-green", 1, 2, 1)
    ]
    # The sandbox's own record calls it what it is: traffic to a group not fully healthy.
    last = aws.control.unguarded_listener_writes()[-1]
    assert last["unguarded_groups"] == [site.green]
    site.meant_unguarded.add(last["sequence"])


# -- bad input ----------------------------------------------------------------------------------


BAD_WEIGHTS = {
    "above 999": ([("web-blue", 1000)], "the weight of web-blue is 1000; a weight is a whole number from 0 to 999"),
    "negative": ([("web-blue", 1), ("web-green", -1)], "the weight of web-green is -1"),
    "all zero": ([("web-blue", 0), ("web-green", 0)], "every weight is 0"),
    "twice": ([("web-blue", 1), ("web-blue", 0)], "web-blue listed more than once"),
}


@pytest.mark.parametrize("case", sorted(BAD_WEIGHTS))
def test_bad_weights_are_refused_naming_them(playbook, aws, site, case):
    pairs, expected = BAD_WEIGHTS[case]

    message = refused(playbook, {"listener_arn": site.listener, "target_groups": weights(*pairs)})

    assert message.startswith("target_groups: ") and expected in message and "nothing was changed" in message
    assert site.weights() == {site.blue: 1}
    assert mutating_calls(aws.control.counters()) == {}


def test_unknown_target_groups_are_refused_naming_each(playbook, aws, site):
    unknown_arn = site.green.replace("web-green", "web-gone")

    message = refused(
        playbook,
        {"listener_arn": site.listener, "target_groups": weights(("web-blue", 1), ("web-nope", 0), (unknown_arn, 0))},
    )

    assert f"target_groups: no target group web-nope, {unknown_arn}; nothing was changed" in message
    assert "web-nope" in message and unknown_arn in message and "nothing was changed" in message
    assert site.weights() == {site.blue: 1}
    assert mutating_calls(aws.control.counters()) == {}


MISSING = {
    "listener": ({"listener_arn": "LISTENER-gone"}, "listener_arn: there is no listener"),
    "load balancer": ({"load_balancer_name": "nope", "port": 80}, "load_balancer_name: there is no load balancer nope"),
    "port": ({"load_balancer_name": "web", "port": 8080}, "port: load balancer web has no listener on port 8080 (its listeners: 80)"),
    "rule priority": (
        {"load_balancer_name": "web", "port": 80, "rule_priority": 7},
        "rule_priority: listener LISTENER has no rule with priority 7",
    ),
    "rule": ({"rule_arn": "RULE-gone"}, "rule_arn: there is no listener rule"),
}


@pytest.mark.parametrize("case", sorted(MISSING))
def test_a_missing_listener_rule_or_load_balancer_is_named(playbook, aws, site, case):
    where, expected = MISSING[case]
    gone_listener = site.listener[:-4] + "beef"
    gone_rule = site.listener.replace(":listener/", ":listener-rule/") + "/00000000000000ff"
    where = {
        key: value.replace("LISTENER-gone", gone_listener).replace("RULE-gone", gone_rule) if isinstance(value, str) else value
        for key, value in where.items()
    }

    message = refused(playbook, dict(where, target_groups=weights(("web-blue", 1))))

    assert expected.replace("LISTENER", site.listener) in message
    assert "nothing was changed" in message
    assert mutating_calls(aws.control.counters()) == {}


def test_a_redirect_is_refused_as_not_a_forward(playbook, site, elbv2):
    redirect = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    elbv2.create_listener(LoadBalancerArn=site.lb, Protocol="HTTP", Port=8080, DefaultActions=[redirect])

    message = refused(playbook, {"load_balancer_name": "web", "port": 8080, "target_groups": weights(("web-blue", 1))})

    assert "is not a forward action (it is redirect)" in message and "nothing was changed" in message
