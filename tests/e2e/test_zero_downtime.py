"""Blue-green with real instances and real traffic: while a load generator hits the load
balancer's DNS name over kept-alive connections, deploy.yml brings up blue, then green
(all at once), rollback.yml puts blue back, deploy.yml goes to green again as a canary and
terminate.yml retires blue. No client request fails, and the load balancer's own record says
no request reached a draining target or an instance before it was healthy."""

import time

import pytest

from cattle_sandbox.load import LoadGenerator

# With the golden image's own tests on one worker: the process that builds it serves them all.
pytestmark = [pytest.mark.sandbox, pytest.mark.standin, pytest.mark.xdist_group("golden")]

MIN_REQUESTS = 2000


@pytest.fixture
def live_site(site, golden_build, aws):
    """The site with two AMIs of the golden image's content and a definition that matches it."""
    site.definition.update({
        "port": 8080,
        "capacity": {"min": 1, "max": 2, "desired": 1},
        "health_check": {"path": "/health", "interval": 5, "timeout": 2, "healthy_threshold": 2,
                         "unhealthy_threshold": 2},
        "deregistration_delay": 2, "grace_period": 30,
    })
    site.blue, site.green = (golden_build.register(aws, name=f"web-{n:016x}").image_id for n in (11, 12))
    return site


def test_deploy_rollback_canary_and_retire_under_load_lose_no_request(live_site, aws_env, aws):
    site = live_site
    site.deploy(aws_env, image_id=site.blue)
    balancer = site.elbv2.describe_load_balancers(LoadBalancerArns=[site.load_balancer])["LoadBalancers"][0]

    with LoadGenerator(f"http://{balancer['DNSName']}/health", rate=60, max_requests=8000,
                       max_seconds=600) as load:
        site.deploy(aws_env, image_id=site.green)
        rollback = site.run("rollback.yml", aws_env, rollback_window=600)
        assert not rollback.failed, rollback.explain()
        site.deploy(aws_env, image_id=site.green, strategy="canary", canary_steps=[50, 100], canary_pause=2)
        retired = site.run("terminate.yml", aws_env, retire_now=True)
        assert not retired.failed, retired.explain()
        while load.sent < MIN_REQUESTS:
            time.sleep(0.5)
    summary = load.summary()

    assert summary["requests"] >= MIN_REQUESTS, summary
    assert summary["failed"] == 0, summary["failures"]
    assert set(summary["answers"]) == {"app 1.0.0"}, summary["answers"]
    routed = [entry for entry in aws.control.routed_requests() if entry["target_id"]]
    assert {entry["health"] for entry in routed} == {"healthy"}
    order = [group for index, group in enumerate(entry["target_group"] for entry in routed)
             if index == 0 or group != routed[index - 1]["target_group"]]
    blue, green = order[0], order[1]
    assert set(order) == {blue, green} and order[-1] == green
    assert blue in order[order.index(green):]  # the rollback put blue back before green returned
    print(f"\n{summary['requests']} requests, {summary['failed']} failed, p50 {summary['p50_ms']} ms, "
          f"p99 {summary['p99_ms']} ms")
