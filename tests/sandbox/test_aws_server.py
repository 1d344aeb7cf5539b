"""The sandbox as a server: environment, lifecycle, CLI, control API, fidelity switches."""

import json
import os
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cattle_sandbox.aws import SandboxAWS, SandboxControl, SandboxControlError
from fixtures.aws import eventually

pytestmark = pytest.mark.sandbox

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
SANDBOX_PATH = str(Path(__file__).resolve().parents[2] / "sandbox")


def python_env(aws_env):
    return {**aws_env, "PYTHONPATH": SANDBOX_PATH}


def port_is_free(port):
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
        probe.listen()
        return True
    except OSError:
        return False
    finally:
        probe.close()


def read_line(process, timeout):
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout)
    selector.close()
    assert ready, f"no output within {timeout} s"
    return process.stdout.readline().strip()


def test_env_points_sdks_at_the_sandbox_and_away_from_any_real_account(aws):
    env = aws.env()

    assert env["AWS_ENDPOINT_URL"] == aws.endpoint
    assert aws.endpoint.startswith("http://127.0.0.1:")
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull


def test_aws_env_drops_the_callers_identity_and_endpoint_overrides(aws, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-real-looking-token")
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", "https://ec2.example.invalid")
    monkeypatch.setenv("CATTLE_KEEP_ME", "kept")

    env = aws.subprocess_env()

    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env and "AWS_ENDPOINT_URL_EC2" not in env
    assert env["CATTLE_KEEP_ME"] == "kept"
    assert env["AWS_ENDPOINT_URL"] == aws.endpoint


def test_a_subprocess_with_aws_env_reaches_the_sandbox_through_the_environment_alone(aws, aws_env):
    script = "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])"

    done = subprocess.run(
        [sys.executable, "-c", script], env=aws_env, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "123456789012"
    assert aws.control.counters() == {"sts:GetCallerIdentity": 1}


def test_the_control_api_works_from_another_process_without_moto(aws, aws_env, boto3_client):
    script = textwrap.dedent("""
        import sys
        from cattle_sandbox.aws import SandboxControl
        control = SandboxControl.from_env()
        control.add_fault(service="ec2", action="DescribeVpcs", kind="throttle", count=1)
        print("moto" in sys.modules)
        """)

    done = subprocess.run(
        [sys.executable, "-c", script], env=python_env(aws_env), capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    with pytest.raises(ClientError) as raised:
        boto3_client("ec2", config=NO_RETRIES).describe_vpcs()
    assert raised.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert aws.control.faults()[0]["fired"] == 1


def test_the_cli_serves_writes_the_env_file_and_stops_cleanly_on_sigterm(aws_env, tmp_path):
    env_file = tmp_path / "aws.env"
    server = subprocess.Popen(
        [sys.executable, "-m", "cattle_sandbox.aws", "serve", "--port", "0", "--env-file", str(env_file)],
        env=python_env(aws_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = read_line(server, timeout=30)
        port = int(endpoint.rsplit(":", 1)[1])
        assert f"export AWS_ENDPOINT_URL={endpoint}\n" in env_file.read_text()
        check = "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])"
        use_env_file = f". {shlex.quote(str(env_file))} && {shlex.quote(sys.executable)} -c {shlex.quote(check)}"
        done = subprocess.run(
            ["bash", "-c", use_env_file],
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.stdout.strip() == "123456789012", done.stderr
        assert SandboxControl(endpoint).counters() == {"sts:GetCallerIdentity": 1}

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.stderr.read()
        assert port_is_free(port)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_stop_frees_the_port_and_joins_the_server_thread(aws_env):
    script = textwrap.dedent("""
        import json, socket, threading
        from cattle_sandbox.aws import SandboxAWS
        aws = SandboxAWS().start()
        port = aws.port
        aws.control.ping()
        aws.stop()
        aws.stop()
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()
        names = [thread.name for thread in threading.enumerate()]
        print(json.dumps({"sandbox_thread_alive": "sandbox-aws" in names, "running": aws.running}))
        """)

    done = subprocess.run(
        [sys.executable, "-c", script], env=python_env(aws_env), capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"sandbox_thread_alive": False, "running": False}


def test_a_second_sandbox_in_the_same_process_is_refused(aws):
    second = SandboxAWS()

    with pytest.raises(RuntimeError, match="one sandbox per process"):
        second.start()

    assert aws.control.ping()


def test_moto_reset_still_works_and_forgets_what_tests_set(aws, boto3_client):
    ec2 = boto3_client("ec2")
    ec2.register_image(Name="before-reset")
    aws.control.set_target_health("web-green", None, state="unhealthy")
    aws.control.fail_asg_launches("web-green")

    request = urllib.request.Request(f"{aws.endpoint}/moto-api/reset", method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as response:
        assert response.status == 200

    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert aws.control.target_health_overrides() == []
    assert aws.control.asg_launch_failures() == []


def test_reset_empties_the_account_and_restores_faults_counters_and_fidelity(aws, boto3_client):
    ec2 = boto3_client("ec2")
    ec2.register_image(Name="before-reset")
    aws.control.add_fault(service="sts", action=None, kind="throttle")
    aws.control.set_fidelity(target_healthy_after=30)

    aws.control.reset()

    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert aws.control.faults() == []
    assert aws.control.counters() == {"ec2:DescribeImages": 1}
    assert aws.control.fidelity()["target_healthy_after"] == 0.5


def test_fidelity_switches_turned_off_bring_back_motos_leniency(aws, boto3_client, aws_network):
    ec2, elbv2 = boto3_client("ec2"), boto3_client("elbv2")
    aws.control.set_fidelity(
        reject_duplicate_image_names=False,
        validate_forward_actions=False,
        target_health_timeline=False,
        report_unused_target_groups=False,
    )
    ec2.register_image(Name="twice")
    ec2.register_image(Name="twice")
    group = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id)["TargetGroups"][
        0
    ]["TargetGroupArn"]
    alb = elbv2.create_load_balancer(Name="web", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]["LoadBalancerArn"]
    weighted = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": group, "Weight": 5000}]}}]
    elbv2.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=weighted)
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.20.1.10"}])

    states = [
        d["TargetHealth"]["State"]
        for d in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    ]

    assert len(ec2.describe_images(Owners=["self"])["Images"]) == 2
    assert states == ["healthy"]


def test_a_longer_healthy_delay_keeps_targets_initial_until_it_passes(aws, boto3_client, aws_network):
    elbv2 = boto3_client("elbv2")
    aws.control.set_fidelity(target_healthy_after=1.5)
    group = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=aws_network.vpc_id, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    alb = elbv2.create_load_balancer(Name="web", Subnets=aws_network.subnet_ids)["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(
        LoadBalancerArn=alb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": group}]
    )
    registered = time.monotonic()
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.20.1.10"}])

    def state():
        return elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"][0]["TargetHealth"][
            "State"
        ]

    eventually(lambda: state() == "healthy", timeout=5)
    assert time.monotonic() - registered >= 1.5


def test_an_unknown_fidelity_setting_or_route_is_refused(aws):
    with pytest.raises(SandboxControlError, match="unknown fidelity setting"):
        aws.control.set_fidelity(make_it_work=True)
    with pytest.raises(SandboxControlError) as missing:
        aws.control.set_target_health("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/no/1", None)

    assert missing.value.status == 404
