"""The sandbox's load balancers carry requests: the DNSName resolves inside the namespace, each
request (kept-alive connections too) follows the listener's weights at that moment to a
healthy target, draining targets finish what they have and get nothing new, and the balancer
answers 503, 502 and 504 where AWS does, failing open when only unhealthy targets remain."""

import http.client
import socket
import threading
import time

import pytest

from cattle_sandbox.standin.attach import run_in
from fixtures.aws import eventually, register_image
from fixtures.live import TEST_APP

pytestmark = [pytest.mark.sandbox]

FAST = {"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2}


class Site:
    """An ALB with one HTTP listener, and target groups to point it at."""

    def __init__(self, aws, ec2, elbv2, network):
        self.aws, self.ec2, self.elbv2, self.network = aws, ec2, elbv2, network
        self.balancer = elbv2.create_load_balancer(Name="traffic-alb", Subnets=network.subnet_ids)[
            "LoadBalancers"][0]
        self.listener = None

    def target_group(self, name, path="/health"):
        return self.elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=self.network.vpc_id,
                                              HealthCheckPath=path, **FAST)["TargetGroups"][0]["TargetGroupArn"]

    def forward(self, weights):
        action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]}}
        if self.listener is None:
            self.listener = self.elbv2.create_listener(LoadBalancerArn=self.balancer["LoadBalancerArn"],
                                                       Protocol="HTTP", Port=80,
                                                       DefaultActions=[action])["Listeners"][0]["ListenerArn"]
        else:
            self.elbv2.modify_listener(ListenerArn=self.listener, DefaultActions=[action])

    def connection(self):
        return http.client.HTTPConnection(self.balancer["DNSName"], 80, timeout=30)

    def health(self, arn, target_id):
        described = self.elbv2.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": target_id}])
        return described["TargetHealthDescriptions"][0]["TargetHealth"]["State"]


def get(connection, path="/"):
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read().decode(errors="replace")


@pytest.fixture
def site(aws, ec2, elbv2, aws_network):
    return Site(aws, ec2, elbv2, aws_network)


def launch_apps(aws, ec2, image_id, count):
    instances = ec2.run_instances(ImageId=image_id, MinCount=count, MaxCount=count, UserData=TEST_APP)["Instances"]
    ids = [instance["InstanceId"] for instance in instances]
    return {item["instance_id"]: item["name"] for item in aws.control.wait_for_live_instances(ids)}


def healthy_group(site, name, instance_id, path="/health"):
    arn = site.target_group(name, path)
    site.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    return arn


def test_the_dns_name_resolves_to_the_listener_and_the_balancer_answers_itself(aws, ec2, site):
    name = site.balancer["DNSName"]
    empty = site.target_group("empty")
    site.forward({empty: 1})

    address = socket.gethostbyname(name)
    status, _body = get(site.connection())

    assert name.startswith("traffic-alb-") and name.endswith(".us-east-1.elb.amazonaws.com")
    assert name.split(".")[0][len("traffic-alb-"):].isdigit()
    assert address.startswith("127.77.")
    assert status == 503  # no registered target
    with pytest.raises(socket.gaierror):
        socket.gethostbyname("not-a-balancer.us-east-1.elb.amazonaws.com")
    virtual = ec2.run_instances(ImageId=register_image(ec2, "virtual"), MinCount=1, MaxCount=1)["Instances"][0]
    site.elbv2.register_targets(TargetGroupArn=empty, Targets=[{"Id": virtual["InstanceId"]}])
    eventually(lambda: site.health(empty, virtual["InstanceId"]) == "healthy", timeout=10)
    assert get(site.connection())[0] == 502  # a virtual instance runs nothing to answer
    [logged] = [entry for entry in aws.control.routed_requests() if entry["target_id"]]
    assert (logged["target_id"], logged["health"], logged["status"]) == (virtual["InstanceId"], "healthy", 502)


@pytest.mark.standin
def test_weights_move_each_request_also_on_a_kept_alive_connection(aws, ec2, site, content_ami):
    names = launch_apps(aws, ec2, content_ami, 2)
    blue_id, green_id = sorted(names)
    blue, green = healthy_group(site, "blue", blue_id), healthy_group(site, "green", green_id)
    site.forward({blue: 100, green: 0})
    eventually(lambda: site.health(blue, blue_id) == "healthy" and site.health(green, green_id) == "healthy",
               timeout=60, interval=0.5)
    connection = site.connection()

    before = [get(connection) for request in range(20)]
    site.forward({blue: 0, green: 100})
    after = [get(connection) for request in range(20)]
    site.forward({blue: 50, green: 50})
    mixed = {get(connection)[1] for request in range(60)}

    assert before == [(200, blue_id)] * 20
    assert after == [(200, green_id)] * 20
    assert mixed == {blue_id, green_id}


@pytest.mark.standin
def test_a_draining_target_finishes_in_flight_requests_and_gets_no_new_one(aws, ec2, elbv2, site, content_ami):
    names = launch_apps(aws, ec2, content_ami, 2)
    leaving, staying = sorted(names)
    arn = site.target_group("both")
    elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "10"}])
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": leaving}, {"Id": staying}])
    site.forward({arn: 1})
    eventually(lambda: {site.health(arn, leaving), site.health(arn, staying)} == {"healthy"}, timeout=60,
               interval=0.5)
    in_flight = {}

    def slow_requests():
        connection = site.connection()
        in_flight["answers"] = [get(connection, "/sleep/3") for request in range(2)]

    worker = threading.Thread(target=slow_requests)
    worker.start()
    time.sleep(1)  # the first slow request (round robin: the lower id, `leaving`) is in flight
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": leaving}])
    after = [get(site.connection()) for request in range(10)]
    worker.join(timeout=30)

    assert in_flight["answers"] == [(200, leaving), (200, staying)]
    assert after == [(200, staying)] * 10
    assert site.health(arn, leaving) == "draining"
    reached_leaving = [entry for entry in aws.control.routed_requests() if entry["target_id"] == leaving]
    assert len(reached_leaving) == 1 and reached_leaving[0]["health"] == "healthy"


@pytest.mark.standin
def test_fail_open_502_and_504(aws, ec2, elbv2, site, content_ami):
    names = launch_apps(aws, ec2, content_ami, 1)
    [instance_id] = names
    broken = healthy_group(site, "broken", instance_id, path="/nothing")
    site.forward({broken: 1})
    eventually(lambda: site.health(broken, instance_id) == "unhealthy", timeout=60, interval=0.5)

    assert get(site.connection()) == (200, instance_id)  # only unhealthy targets: it fails open
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=site.balancer["LoadBalancerArn"], Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "1"}])
    assert get(site.connection(), "/sleep/3")[0] == 504
    run_in(names[instance_id], ["systemctl", "stop", "app"])
    assert get(site.connection())[0] == 502
    statuses = [(entry["health"], entry["status"]) for entry in aws.control.routed_requests()]
    assert statuses == [("unhealthy", 200), ("unhealthy", 504), ("unhealthy", 502)]
