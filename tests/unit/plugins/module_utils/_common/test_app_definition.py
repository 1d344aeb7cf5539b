"""App definitions: the schema, normalisation, errors that name the field, stage overrides."""

import copy

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._common.app_definition import AppDefinitionError

WEB = {
    "region": "eu-west-1",
    "subnets": ["subnet-0fedcba9876543210", "subnet-0123456789abcdef0"],
    "security_groups": ["sg-0123456789abcdef0"],
    "instance_type": "t3.small",
    "capacity": {"min": 2, "max": 6, "desired": 3},
    "load_balancer": {"name": "web-alb", "listener_port": 443},
}


def web(**changes):
    definition = copy.deepcopy(WEB)
    definition.update(changes)
    return definition


def error_of(definition, name="web"):
    with pytest.raises(AppDefinitionError) as raised:
        app_definition.validate_definition(definition, name)
    return str(raised.value)


def test_a_minimal_definition_gets_every_default():
    result = app_definition.validate_definition(web(), "web")

    assert result["name"] == "web"
    assert result["subnets"] == ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    assert result["port"] == 80 and result["protocol"] == "HTTP"
    assert result["health_check"] == {
        "path": "/", "port": "traffic-port", "protocol": "HTTP", "interval": 30, "timeout": 5,
        "healthy_threshold": 5, "unhealthy_threshold": 2, "matcher": "200",
    }
    assert result["root_volume"] == {"size": None, "type": "gp3", "kms_key_id": None}
    assert (result["grace_period"], result["deregistration_delay"]) == (300, 300)
    assert result["load_balancer"]["rule_priority"] is None
    assert list(result["stages"]) == ["dev", "staging", "prod"]
    assert result["scaling_policies"] == [] and result["tags"] == {}
    assert result["instance_profile"] is None and result["user_data"] is None and result["vpc_id"] is None


def test_desired_defaults_to_min_but_at_least_one():
    assert app_definition.validate_definition(web(capacity={"min": 0, "max": 3}), "web")["capacity"]["desired"] == 1
    assert app_definition.validate_definition(web(capacity={"min": 2, "max": 3}), "web")["capacity"]["desired"] == 2


def test_validation_does_not_change_the_input():
    definition = web()
    app_definition.validate_definition(definition, "web")
    assert definition == WEB


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"capacity": {"min": 3, "max": 2}}, "apps.web.capacity.max: must be >= min (3), got 2"),
        ({"capacity": {"min": 1, "max": 2, "desired": 5}}, "apps.web.capacity.desired: must be between min (1) and max (2), got 5"),
        ({"capacity": {"max": 2}}, "apps.web.capacity.min: is required"),
        ({"capacity": {"min": -1, "max": 2}}, "apps.web.capacity.min: must be >= 0, got -1"),
        ({"capacity": {"min": True, "max": 2}}, "apps.web.capacity.min: must be an integer, got bool"),
        ({"region": "Europe"}, "apps.web.region: 'Europe' is not an AWS region name"),
        ({"subnets": []}, "apps.web.subnets: must be a non-empty list of subnet ids"),
        ({"subnets": ["subnet-0123456789abcdef0", "nope"]}, "apps.web.subnets[1]: 'nope' is not a subnet id"),
        ({"subnets": ["subnet-0123456789abcdef0"] * 2}, "apps.web.subnets: lists subnet-0123456789abcdef0 more than once"),
        ({"security_groups": ["sg-xyz"]}, "apps.web.security_groups[0]: 'sg-xyz' is not a security group id"),
        ({"instance_type": "large"}, "apps.web.instance_type: 'large' is not an instance type"),
        ({"instance_profile": "has space"}, "apps.web.instance_profile: 'has space' is neither an instance profile name"),
        ({"user_data": "x" * 16385}, "apps.web.user_data: is 16385 bytes; AWS allows 16384"),
        ({"root_volume": {"type": "magnetic"}}, "apps.web.root_volume.type: must be one of gp3"),
        ({"port": 70000}, "apps.web.port: must be <= 65535, got 70000"),
        ({"protocol": "TCP"}, "apps.web.protocol: must be one of HTTP, HTTPS"),
        ({"health_check": {"path": "healthz"}}, "apps.web.health_check.path: 'healthz' is not a path starting with /"),
        ({"health_check": {"interval": 5, "timeout": 5}}, "apps.web.health_check.timeout: must be less than interval (5), got 5"),
        ({"health_check": {"healthy_threshold": 11}}, "apps.web.health_check.healthy_threshold: must be <= 10, got 11"),
        ({"health_check": {"matcher": "ok"}}, "apps.web.health_check.matcher: 'ok' is not HTTP codes"),
        ({"health_check": {"port": "http"}}, "apps.web.health_check.port: must be an integer"),
        ({"grace_period": -5}, "apps.web.grace_period: must be >= 0, got -5"),
        ({"deregistration_delay": 3601}, "apps.web.deregistration_delay: must be <= 3600, got 3601"),
        ({"load_balancer": {"name": "web-alb"}}, "apps.web.load_balancer.listener_port: is required"),
        ({"load_balancer": {"name": "-alb", "listener_port": 80}}, "apps.web.load_balancer.name: '-alb' is not a load balancer name"),
        ({"load_balancer": {"name": "alb", "listener_port": 80, "rule_priority": 0}}, "apps.web.load_balancer.rule_priority: must be >= 1"),
        ({"scaling_policies": [{"name": "cpu", "metric": "memory", "target": 50}]}, "apps.web.scaling_policies[0].metric: must be one of cpu"),
        ({"scaling_policies": [{"name": "cpu", "metric": "cpu", "target": 0}]}, "apps.web.scaling_policies[0].target: must be > 0"),
        ({"scaling_policies": [{"name": "a", "metric": "cpu", "target": 5}, {"name": "a", "metric": "cpu", "target": 6}]},
         "apps.web.scaling_policies: names a more than once"),
        ({"scaling_policies": {"name": "a"}}, "apps.web.scaling_policies: must be a list, got dict"),
        ({"tags": {"cattle:app": "x"}}, "apps.web.tags.cattle:app: keys starting with aws: or cattle: are reserved"),
        ({"tags": {"team": ["a"]}}, "apps.web.tags.team: must be a string, got list"),
        ({"instance_typ": "t3.micro"}, "apps.web.instance_typ: unknown field"),
        ({"stages": []}, "apps.web.stages: must name at least one stage"),
        ({"stages": ["dev", "dev"]}, "apps.web.stages: lists dev more than once"),
        ({"stages": ["Prod"]}, "apps.web.stages.Prod: stage 'Prod' is not a valid stage name"),
        ({"stages": {"prod": {"capacity": {"desired": 9}}}}, "apps.web.stages.prod.capacity.desired: must be between min (2) and max (6), got 9"),
        ({"stages": {"prod": {"colour": "blue"}}}, "apps.web.stages.prod.colour: unknown field"),
    ],
)
def test_a_bad_field_is_refused_naming_its_path(changes, message):
    assert error_of(web(**changes)).startswith(message)


@pytest.mark.parametrize("field", ["region", "subnets", "security_groups", "instance_type", "capacity", "load_balancer"])
def test_required_fields(field):
    definition = web()
    del definition[field]
    assert error_of(definition) == "apps.web.{0}: is required".format(field)


def test_an_empty_or_non_mapping_definition_is_refused():
    assert error_of({}).startswith("apps.web: is empty")
    assert error_of("web").startswith("apps.web: must be a mapping, got str")


def test_an_invalid_app_name_is_refused():
    assert error_of(web(), name="Web").startswith("apps.Web: app name 'Web' is not a valid app name")


def test_error_path_can_name_the_module_option():
    with pytest.raises(AppDefinitionError) as raised:
        app_definition.validate_definition(web(port=0), "web", path="definition")
    assert str(raised.value).startswith("definition.port: must be >= 1")
    assert raised.value.path == "definition.port"


def test_an_unknown_app_is_refused_listing_the_known_ones():
    with pytest.raises(AppDefinitionError) as raised:
        app_definition.find_app({"web": web(), "api": web()}, "shop")
    assert str(raised.value) == "apps.shop: unknown app 'shop' (defined apps: api, web)"


def test_find_app_validates_only_that_app():
    apps = {"web": web(), "broken": {"region": "nowhere"}}
    assert app_definition.find_app(apps, "web")["name"] == "web"
    with pytest.raises(AppDefinitionError, match=r"^apps.broken.region"):
        app_definition.validate_apps(apps)


def test_numbers_given_as_strings_are_accepted():
    # Values from extra vars (-e key=value) arrive as strings.
    result = app_definition.validate_definition(web(capacity={"min": "1", "max": "3"}, port="8080"), "web")
    assert result["capacity"] == {"min": 1, "max": 3, "desired": 1} and result["port"] == 8080


def test_scaling_policies_are_normalised_and_sorted():
    policies = [{"name": "requests", "metric": "request_count", "target": 1000, "warmup": 60},
                {"name": "cpu", "metric": "cpu", "target": "50"}]
    result = app_definition.validate_definition(web(scaling_policies=policies), "web")
    assert result["scaling_policies"] == [
        {"name": "cpu", "metric": "cpu", "target": 50.0, "disable_scale_in": False, "warmup": None},
        {"name": "requests", "metric": "request_count", "target": 1000.0, "disable_scale_in": False, "warmup": 60},
    ]


def test_health_check_protocol_defaults_to_the_target_protocol():
    result = app_definition.validate_definition(web(protocol="HTTPS", health_check={"port": 8443}), "web")
    assert (result["health_check"]["protocol"], result["health_check"]["port"]) == ("HTTPS", "8443")


def test_stage_overrides_merge_sections_and_replace_the_rest():
    definition = app_definition.validate_definition(
        web(
            tags={"team": "web"},
            stages={
                "dev": {"capacity": {"min": 1, "max": 2, "desired": 1}, "load_balancer": {"name": "web-dev"},
                        "subnets": ["subnet-0123456789abcdef0"], "tags": {"env": "dev"}},
                "prod": None,
            },
        ),
        "web",
    )
    dev = app_definition.stage_definition(definition, "dev")
    prod = app_definition.stage_definition(definition, "prod")

    assert (dev["app"], dev["stage"]) == ("web", "dev")
    assert dev["capacity"] == {"min": 1, "max": 2, "desired": 1}
    assert dev["load_balancer"] == {"name": "web-dev", "listener_port": 443, "rule_priority": None}
    assert dev["subnets"] == ["subnet-0123456789abcdef0"]
    assert dev["tags"] == {"team": "web", "env": "dev"}
    assert prod["capacity"] == {"min": 2, "max": 6, "desired": 3} and prod["load_balancer"]["name"] == "web-alb"
    assert "stages" not in prod


def test_a_stage_that_is_not_defined_is_refused():
    definition = app_definition.validate_definition(web(stages=["dev", "prod"]), "web")
    with pytest.raises(AppDefinitionError) as raised:
        app_definition.stage_definition(definition, "staging")
    assert str(raised.value) == "apps.web.stages: has no stage 'staging' (stages: dev, prod)"


def test_public_definition_leaves_out_private_keys():
    definition = app_definition.validate_definition(web(), "web")
    assert not [key for key in app_definition.public_definition(definition) if key.startswith("_")]


@pytest.mark.parametrize(
    "stage, field, expected",
    [
        ("dev", "subnets", "apps.web.stages.dev.subnets"),
        ("prod", "subnets", "apps.web.subnets"),
        ("dev", "security_groups", "apps.web.security_groups"),
        ("dev", "load_balancer.name", "apps.web.stages.dev.load_balancer.name"),
        # dev overrides the load balancer's name only: the port is the base's.
        ("dev", "load_balancer.listener_port", "apps.web.load_balancer.listener_port"),
        ("dev", "root_volume.kms_key_id", "apps.web.root_volume.kms_key_id"),
    ],
)
def test_field_path_names_where_the_stage_value_is_written(stage, field, expected):
    definition = app_definition.validate_definition(
        web(stages={"dev": {"load_balancer": {"name": "web-dev"}, "subnets": ["subnet-0123456789abcdef0"]},
                    "prod": None}),
        "web",
    )

    assert app_definition.field_path(definition, stage, field) == expected


def test_field_path_of_a_definition_given_alone_starts_with_its_own_path():
    definition = app_definition.validate_definition(web(stages={"prod": {"instance_type": "t3.large"}}), "web",
                                                    "definition")

    assert app_definition.field_path(definition, "prod", "instance_type") == "definition.stages.prod.instance_type"
    assert app_definition.field_path(definition, "prod", "subnets") == "definition.subnets"


def test_the_definition_option_ignores_fields_the_argument_spec_filled_with_none():
    given = web(vpc_id=None, user_data=None, stages=None)

    definition = app_definition.requested_definition({"app": "web", "definition": given})

    assert definition["user_data"] is None and list(definition["stages"]) == ["dev", "staging", "prod"]
    assert app_definition.requested_definition({"app": "web", "definition": None}, required=False) is None
    with pytest.raises(app_definition.AppDefinitionError, match="definition: is required"):
        app_definition.requested_definition({"app": "web", "definition": None})


def test_a_bad_field_of_the_definition_option_is_named_by_its_place_in_cattle_apps():
    with pytest.raises(app_definition.AppDefinitionError) as raised:
        app_definition.requested_definition({"app": "web", "definition": web(port=0)})

    assert raised.value.path == "apps.web.port"


def test_user_data_values_are_the_base_and_every_stage_override():
    definition = web(user_data="base secret", stages={"dev": {"user_data": "dev secret"}, "prod": {}})

    assert app_definition.user_data_values(definition) == ["base secret", "dev secret"]
    assert app_definition.user_data_values(web(stages=["dev"])) == []
    assert app_definition.user_data_values(None) == []
