"""The metadata service has no gap while sandboxes come and go. pytest-xdist workers share one
network namespace and each sandbox with live instances answers 169.254.169.254: on EC2 the
service is always there, so a sandbox that stops must not leave an instance asking in vain
(it did: a test app whose first question was refused never started)."""

import subprocess
import threading
import time
import urllib.request

import pytest
from cattle_sandbox import imds
from cattle_sandbox.standin.network import METADATA_ADDRESS

pytestmark = [pytest.mark.sandbox]

# Ports of their own (one per test: pytest-xdist may run both at once, and sockets sharing a
# port share its connections); other workers' sandboxes answer port 80 from their registries.
SHARING_PORT = 8169
STOPPING_PORT = 8170
DOCUMENT = {
    "instance_id": "i-0123456789abcdef0", "image_id": "ami-0123456789abcdef0", "instance_type": "t3.micro",
    "availability_zone": "us-east-1b", "region": "us-east-1", "private_ip": "10.20.1.7",
    "hostname": "ip-10-20-1-7.ec2.internal", "launch_time": "2026-12-07T01:02:03Z", "launch_index": 0,
    "account_id": "123456789012", "security_groups": ["web"], "http_tokens": "optional", "user_data": None,
}


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """This process's own registry, with one instance: the address a local client asks from."""
    monkeypatch.setenv("CATTLE_CACHE", str(tmp_path))
    imds.add_metadata_address()
    imds.register(METADATA_ADDRESS, DOCUMENT)
    yield DOCUMENT["instance_id"]
    imds.unregister(METADATA_ADDRESS)


def ask(port):
    url = f"http://{METADATA_ADDRESS}:{port}/latest/meta-data/instance-id"
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def serve(server):
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def close(server):
    server.shutdown()
    server.server_close()


def test_every_sandbox_listens_and_the_others_answer_once_one_is_gone(instance):
    first, second = imds.try_bind(SHARING_PORT), imds.try_bind(SHARING_PORT)
    assert first is not None and second is not None, "the second sandbox could not share the port"
    serve(first)
    serve(second)
    # A child started now (as a sandbox starts ansible or nspawn) holds a copy of first's socket
    # while first goes away: the port must stop sending it connections all the same.
    child = subprocess.Popen(["sleep", "3"], pass_fds=[first.socket.fileno()])
    try:
        assert {ask(SHARING_PORT) for attempt in range(20)} == {instance}
        close(first)
        assert [ask(SHARING_PORT) for attempt in range(20)] == [instance] * 20
    finally:
        close(second)
        child.kill()
        child.wait()


def test_a_stopping_sandbox_keeps_answering_while_instances_of_others_are_registered(instance):
    service = imds.MetadataService(STOPPING_PORT)
    service.start()
    try:
        deadline = time.monotonic() + 5
        while not service.serving and time.monotonic() < deadline:
            time.sleep(0.05)
        service.stop()
        assert service.serving and ask(STOPPING_PORT) == instance
    finally:
        imds.unregister(METADATA_ADDRESS)
        service.stop()
    assert not service.serving
