"""cattle.immutable.fleet renews the app's deploy lock while it waits (option `lock`).

The holder of a deploy lock renews it at every phase and poll: a health gate or a drain
longer than the lease must not let another run take the lock, and a run whose lock was
taken over must stop instead of going on beside the new holder.
"""

import threading
import time

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils._common import app_definition
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming
from ansible_collections.cattle.immutable.plugins.module_utils._common import timestamps
from ansible_collections.cattle.immutable.plugins.module_utils._fleet import spec as fleet_spec
from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from fixtures.aws import listener_weights, register_image
from fixtures.fleet_runs import run_fleet

pytestmark = pytest.mark.sandbox

TABLE = locking.DEFAULT_TABLE
RUN = "run-1"
# The fleet's listener write is fenced: its worst case (one attempt of 2 + 6 s) must fit in these short leases.
SHORT_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 6, "retries": {"total_max_attempts": 1}}


class App:
    """The web app: network, ALB and a listener forwarding to a legacy group, an AMI, the lock table."""

    def __init__(self, ec2, elbv2, dynamodb, network, deregistration_delay=0):
        security_group = ec2.create_security_group(GroupName="web", Description="web", VpcId=network.vpc_id)["GroupId"]
        balancer = elbv2.create_load_balancer(Name="web-alb", Subnets=network.subnet_ids)["LoadBalancers"][0]
        legacy = elbv2.create_target_group(Name="web-legacy", Protocol="HTTP", Port=80, VpcId=network.vpc_id)[
            "TargetGroups"][0]["TargetGroupArn"]
        self.listener = elbv2.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": legacy}])["Listeners"][0]["ListenerArn"]
        self.legacy, self.elbv2, self.dynamodb = legacy, elbv2, dynamodb
        self.definition = {
            "region": "us-east-1",
            "vpc_id": network.vpc_id,
            "subnets": network.subnet_ids,
            "security_groups": [security_group],
            "instance_type": "t3.micro",
            "capacity": {"min": 1, "max": 2, "desired": 1},
            "load_balancer": {"name": "web-alb", "listener_port": 80},
            "deregistration_delay": deregistration_delay,
            "stages": ["prod"],
        }
        self.image = register_image(ec2, "web-0000000000000001", {"cattle:app": "web"})
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "app", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "app", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def target_group_name(self):
        stage = app_definition.stage_definition(app_definition.validate_definition(self.definition, "web"), "prod")
        return naming.target_group_name("web", "prod", fleet_spec.fleet_id(stage, self.image))

    def weights(self):
        return listener_weights(self.elbv2, self.listener)

    def lock(self, run_id, lease_seconds, force=False):
        """Acquire (or take over, with force) the lock of web as run_id, the way deploy_lock does."""
        request = {"app": "web", "table": TABLE, "run_id": run_id, "owner": run_id + "@ci", "reason": "test",
                   "lease_seconds": lease_seconds, "force": force, "create_table": False, "wait_timeout": 0,
                   "state": locking.STATE_ACQUIRED}
        return locking.run(self.dynamodb, request)

    def holder(self):
        item = self.dynamodb.get_item(TableName=TABLE, Key={"app": {"S": "web"}}, ConsistentRead=True).get("Item")
        return locking.from_item(item)


@pytest.fixture
def dynamodb(boto3_client):
    return boto3_client("dynamodb")


@pytest.fixture
def app(ec2, elbv2, dynamodb, aws_network):
    return App(ec2, elbv2, dynamodb, aws_network)


def once_counted(aws, call, action, timeout=120):
    """Runs action() from a thread once the sandbox has counted a call of `call`; join() it as later's."""
    outcome = {}

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not aws.control.counters().get(call):
            time.sleep(0.05)
        try:
            outcome["value"] = action()
        except Exception as error:  # noqa: BLE001 - handed to the test as it is
            outcome["error"] = error

    thread = threading.Thread(target=watch)
    thread.start()

    def join():
        thread.join()
        return outcome

    return join


def held(run_id, lease, taken):
    """The fleet module's lock option for a lock taken with App.lock (its acquisition id passed on)."""
    return {"run_id": run_id, "lease_seconds": lease, "acquisition": taken["acquisition"]}


def later(seconds, action):
    """Runs action() in `seconds` from a thread; join() it to get what it returned or raised."""
    outcome = {}

    def call():
        try:
            outcome["value"] = action()
        except Exception as error:  # noqa: BLE001 - handed to the test as it is
            outcome["error"] = error

    timer = threading.Timer(seconds, call)
    timer.start()

    def join():
        timer.join()
        return outcome

    return join


def test_a_health_gate_longer_than_the_lease_keeps_the_lock(playbook, app, aws):
    lease = 15
    # Green's targets stay `initial` for 22 s: the gate lasts longer than the lease.
    aws.control.set_target_health(app.target_group_name(), state="initial")
    release_health = later(22, aws.control.clear_target_health)
    taken = app.lock(RUN, lease)
    acquired = app.holder()
    # Once the lease had run out without renewals, another run tries to take the lock.
    competitor = later(lease + 3, lambda: app.lock("run-2", lease))
    aws.control.reset_counters()

    run = run_fleet(playbook, app.definition, image_id=app.image, lock=held(RUN, lease, taken),
                    aws_config=SHORT_TIMEOUTS)

    assert not run.failed, run.explain()
    release_health()
    refused = competitor().get("error")
    assert isinstance(refused, locking.LockHeld), refused
    assert "held by run-1@ci (run run-1" in str(refused)
    holder = app.holder()
    assert holder["run_id"] == RUN and holder["token"] == acquired["token"]
    renewed_after = (timestamps.parse_iso8601(holder["renewed_at"]) - timestamps.parse_iso8601(acquired["renewed_at"])).total_seconds()
    assert renewed_after > lease
    # Renewed once a third of the lease had passed, not at every poll.
    counters = aws.control.counters()
    assert 1 <= counters.get("dynamodb:UpdateItem", 0) < counters["elasticloadbalancing:DescribeTargetHealth"]


def test_a_run_that_lost_its_lock_stops_waiting_and_leaves_traffic_alone(playbook, app, aws):
    lease = 12
    aws.control.set_target_health(app.target_group_name(), state="initial")  # the gate would wait for its timeout
    taken = app.lock(RUN, lease)
    aws.control.reset_counters()
    # Taken over once green joined the listener at weight 0 (that write fenced and made): the gate's next renewal sees it.
    takeover = once_counted(aws, "elasticloadbalancing:ModifyListener", lambda: app.lock("run-2", 900, force=True))

    run = run_fleet(playbook, app.definition, image_id=app.image, lock=held(RUN, lease, taken),
                    aws_config=SHORT_TIMEOUTS)

    assert run.failed, run.explain()
    assert takeover().get("value", {}).get("took_over") is True
    result = run.result("fleet")
    assert result["failure"] == "lock"
    assert "stopped, this run lost the deploy lock: run run-1 does not hold the deploy lock of app 'web': it is held by " \
           "run-2@ci (run run-2" in result["msg"]
    assert "traffic unchanged" in result["msg"]
    # The new holder keeps its lock, and the fleet never got traffic.
    assert app.holder()["run_id"] == "run-2"
    weights = app.weights()
    assert weights[app.legacy] == 1 and sum(weights.values()) == 1


def test_a_run_that_lost_its_lock_while_draining_deletes_nothing(playbook, ec2, elbv2, dynamodb, aws_network, aws):
    web = App(ec2, elbv2, dynamodb, aws_network, deregistration_delay=30)
    created = run_fleet(playbook, web.definition, image_id=web.image)
    assert not created.failed, created.explain()
    fleet_name = created.result("fleet")["fleet_name"]
    taken = web.lock(RUN, 12)
    aws.control.reset_counters()
    # Taken over once the fleet was scaled to 0 (a fenced write): the drain's next renewal sees it.
    takeover = once_counted(aws, "autoscaling:UpdateAutoScalingGroup", lambda: web.lock("run-2", 900, force=True))

    run = run_fleet(playbook, web.definition, image_id=web.image, state="absent", lock=held(RUN, 12, taken),
                    aws_config=SHORT_TIMEOUTS)

    assert run.failed, run.explain()
    takeover()
    result = run.result("fleet")
    assert result["failure"] == "lock" and "scaled to 0 and still in the listener at weight 0" in result["msg"]
    assert fleet_name in [group["TargetGroupName"] for group in elbv2.describe_target_groups()["TargetGroups"]]
    assert aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[fleet_name])["AutoScalingGroups"]


def test_a_bad_lock_reference_is_refused_before_anything_changes(playbook, app, aws):
    aws.control.reset_counters()

    run = run_fleet(playbook, app.definition, image_id=app.image, lock={"run_id": RUN, "lease_seconds": 0})

    assert run.failed
    assert run.result("fleet")["msg"] == (
        "lock: lease_seconds must be between 1 and 604800, got 0; nothing was changed")
    assert aws.control.counters() == {}
