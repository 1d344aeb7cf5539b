"""Forward weights: reading, comparing, validating and rewriting listener actions (no AWS involved)."""

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._traffic import listeners
from ansible_collections.cattle.immutable.plugins.module_utils._traffic.listeners import ListenerError
from fixtures.arns import BLUE, GREEN, LISTENER, LOAD_BALANCER, PREFIX, RULE


def simple_forward(arn):
    return [{"Type": "forward", "TargetGroupArn": arn}]


def weighted_forward(*groups, **forward_config):
    config = dict({"TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in groups]}, **forward_config)
    return [{"Type": "forward", "ForwardConfig": config}]


# -- reading -------------------------------------------------------------------------------


def test_a_simple_forward_reads_as_one_group_at_weight_1():
    assert listeners.forward_weights(simple_forward(BLUE)) == {BLUE: 1}


def test_a_weighted_forward_reads_every_group_in_order():
    weights = listeners.forward_weights(weighted_forward((BLUE, 90), (GREEN, 10)))

    assert list(weights.items()) == [(BLUE, 90), (GREEN, 10)]


def test_aws_simple_forward_with_its_forward_config_reads_the_same():
    # AWS reports a simple forward with both TargetGroupArn and a one-group ForwardConfig.
    actions = [dict(simple_forward(BLUE)[0], ForwardConfig={"TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 1}]})]

    assert listeners.forward_weights(actions) == {BLUE: 1}


def test_a_group_without_weight_counts_as_weight_1():
    actions = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": BLUE}]}}]

    assert listeners.forward_weights(actions) == {BLUE: 1}


def test_the_forward_action_is_found_after_an_authenticate_action():
    actions = [{"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {}}] + [
        dict(weighted_forward((BLUE, 1), (GREEN, 0))[0], Order=2)
    ]

    assert listeners.forward_weights(actions) == {BLUE: 1, GREEN: 0}


@pytest.mark.parametrize(
    "action",
    [
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "StatusCode": "HTTP_301"}},
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}},
    ],
)
def test_an_action_that_is_not_a_forward_is_refused_by_its_kind(action):
    with pytest.raises(ListenerError) as refused:
        listeners.forward_weights([action], "the default action of listener L")

    assert action["Type"] in str(refused.value)
    assert "the default action of listener L" in str(refused.value)
    assert "nothing was changed" in str(refused.value)


# -- comparing ------------------------------------------------------------------------------


def test_a_simple_forward_equals_a_one_group_weighted_forward_whatever_its_weight():
    assert listeners.same_weights({BLUE: 1}, {BLUE: 100})
    assert listeners.same_weights(
        listeners.forward_weights(simple_forward(BLUE)), listeners.forward_weights(weighted_forward((BLUE, 999)))
    )


def test_a_single_group_at_weight_0_differs_from_one_taking_traffic():
    assert not listeners.same_weights({BLUE: 0}, {BLUE: 1})


def test_order_does_not_matter_but_every_weight_does():
    assert listeners.same_weights({BLUE: 90, GREEN: 10}, {GREEN: 10, BLUE: 90})
    assert not listeners.same_weights({BLUE: 90, GREEN: 10}, {BLUE: 9, GREEN: 1})


def test_a_group_at_weight_0_is_part_of_the_configuration():
    # Weight 0 keeps a group health-checked: dropping it is a change.
    assert not listeners.same_weights({BLUE: 1}, {BLUE: 1, GREEN: 0})


# -- validating ----------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [{BLUE: 0, GREEN: 999}, {BLUE: 1}, {BLUE: 100, GREEN: 0}])
def test_weights_from_0_to_999_with_one_positive_are_accepted(weights):
    listeners.validate_weights(weights)


@pytest.mark.parametrize("weight", [-1, 1000, 1.5, "10", True, None])
def test_a_weight_that_is_not_a_whole_number_from_0_to_999_is_refused_naming_the_group(weight):
    with pytest.raises(ListenerError) as refused:
        listeners.validate_weights({BLUE: 1, GREEN: weight})

    assert GREEN in str(refused.value)
    assert "0 to 999" in str(refused.value)
    assert "nothing was changed" in str(refused.value)


def test_no_group_at_all_is_refused():
    with pytest.raises(ListenerError, match="at least one target group"):
        listeners.validate_weights({})


def test_all_weights_0_is_refused_unless_allowed():
    with pytest.raises(ListenerError, match="every weight is 0"):
        listeners.validate_weights({BLUE: 0, GREEN: 0})
    listeners.validate_weights({BLUE: 0, GREEN: 0}, allow_all_zero=True)


def test_more_than_five_groups_are_refused():
    weights = dict((PREFIX + "targetgroup/g{0}/0".format(index), 1) for index in range(6))

    with pytest.raises(ListenerError, match="at most 5"):
        listeners.validate_weights(weights)


# -- pure helpers --------------------------------------------------------------------------


def test_with_weight_changes_or_appends_without_touching_the_input():
    weights = {BLUE: 100}

    assert list(listeners.with_weight(weights, GREEN, 0).items()) == [(BLUE, 100), (GREEN, 0)]
    assert listeners.with_weight(weights, BLUE, 5) == {BLUE: 5}
    assert weights == {BLUE: 100}


def test_without_group_removes_only_that_group():
    weights = {BLUE: 100, GREEN: 0}

    assert listeners.without_group(weights, GREEN) == {BLUE: 100}
    assert listeners.without_group(weights, PREFIX + "targetgroup/other/3") == weights
    assert weights == {BLUE: 100, GREEN: 0}


def test_traffic_shares_are_percentages():
    assert listeners.traffic_shares({BLUE: 3, GREEN: 1}) == {BLUE: 75.0, GREEN: 25.0}
    assert listeners.traffic_shares({BLUE: 0}) == {BLUE: 0.0}


def test_arns_of_the_listener_and_load_balancer_come_from_a_rule_arn():
    assert listeners.listener_arn_of_rule(RULE) == LISTENER
    assert listeners.load_balancer_arn_of_listener(LISTENER) == LOAD_BALANCER


@pytest.mark.parametrize("arn", [LISTENER, "rule-1"])
def test_something_else_than_a_rule_arn_is_refused(arn):
    with pytest.raises(ListenerError, match="not a listener rule ARN"):
        listeners.listener_arn_of_rule(arn)


# -- rewriting actions ---------------------------------------------------------------------


def test_new_weights_replace_a_simple_forward_with_a_weighted_one():
    actions = listeners.weighted_actions(simple_forward(BLUE), {BLUE: 90, GREEN: 10})

    assert actions == weighted_forward((BLUE, 90), (GREEN, 10))
    assert "TargetGroupArn" not in actions[0]


def test_rewriting_keeps_stickiness_and_order():
    stickiness = {"Enabled": True, "DurationSeconds": 600}
    old = [dict(weighted_forward((BLUE, 1), TargetGroupStickinessConfig=stickiness)[0], Order=3)]

    new = listeners.weighted_actions(old, {BLUE: 0, GREEN: 1})

    assert new[0]["Order"] == 3
    assert new[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == stickiness
    assert listeners.forward_weights(new) == {BLUE: 0, GREEN: 1}


def test_rewriting_keeps_an_authenticate_action_and_its_stored_secret():
    oidc = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {"ClientId": "web", "Issuer": "x"}}
    old = [oidc, dict(simple_forward(BLUE)[0], Order=2)]

    new = listeners.weighted_actions(old, {GREEN: 1})

    assert new[0]["AuthenticateOidcConfig"] == {"ClientId": "web", "Issuer": "x", "UseExistingClientSecret": True}
    assert new[1] == dict(weighted_forward((GREEN, 1))[0], Order=2)
    assert "UseExistingClientSecret" not in old[0]["AuthenticateOidcConfig"]


def test_rewriting_a_redirect_is_refused():
    with pytest.raises(ListenerError, match="not a forward action"):
        listeners.weighted_actions([{"Type": "redirect", "RedirectConfig": {}}], {BLUE: 1})


# -- health requirement --------------------------------------------------------------------


@pytest.mark.parametrize(
    "min_healthy, registered, required",
    [
        (None, 3, 3),
        ("all", 3, 3),
        ("all", 0, 1),
        (2, 3, 2),
        ("2", 3, 2),
        (0, 3, 0),
        ("50%", 3, 2),
        ("100%", 3, 3),
        ("10%", 0, 1),
        ("0%", 3, 0),
    ],
)
def test_required_healthy_targets(min_healthy, registered, required):
    assert listeners.required_healthy(min_healthy, registered) == required


@pytest.mark.parametrize("min_healthy", ["some", "-1", "1.5", "150%", "x%", "inf", "nan%", True])
def test_a_bad_min_healthy_is_refused_naming_it(min_healthy):
    with pytest.raises(ListenerError) as refused:
        listeners.required_healthy(min_healthy, 3)

    assert "min_healthy" in str(refused.value)


def test_health_shortfalls_are_the_groups_given_traffic_without_enough_healthy_targets():
    health = {BLUE: (["i-1", "i-2"], ["i-1", "i-2"]), GREEN: (["i-3"], ["i-3", "i-4"])}

    assert listeners.health_shortfalls(health, {BLUE: 50, GREEN: 50}) == [(GREEN, 1, 2, 2)]
    assert listeners.health_shortfalls(health, {BLUE: 50, GREEN: 50}, "50%") == []
    # A group at weight 0 receives nothing: its health does not matter.
    assert listeners.health_shortfalls({BLUE: health[BLUE]}, {BLUE: 100, GREEN: 0}) == []


# -- which groups a write gives traffic to -------------------------------------------------


@pytest.mark.parametrize(
    "current, wanted, gaining",
    [
        ({BLUE: 1}, {BLUE: 1, GREEN: 0}, []),  # joining at weight 0 gives nothing
        ({BLUE: 1, GREEN: 0}, {BLUE: 90, GREEN: 10}, [GREEN]),
        ({BLUE: 90, GREEN: 10}, {BLUE: 50, GREEN: 50}, [GREEN]),
        ({BLUE: 0, GREEN: 1}, {BLUE: 1, GREEN: 0}, [BLUE]),  # rollback
        ({BLUE: 1, GREEN: 1}, {BLUE: 1, GREEN: 0}, [BLUE]),  # same weight, larger share
        ({BLUE: 1}, {BLUE: 100}, []),
        ({BLUE: 0}, {BLUE: 1}, [BLUE]),
        ({BLUE: 1}, {GREEN: 1}, [GREEN]),
    ],
)
def test_gaining_groups_are_those_whose_share_of_the_traffic_grows(current, wanted, gaining):
    assert listeners.gaining_groups(current, wanted) == gaining
