"""The metadata service's pure parts: session tokens and the tree of answers."""

import json

import pytest

from cattle_sandbox import imds

DOCUMENT = {
    "instance_id": "i-0123456789abcdef0", "image_id": "ami-0123456789abcdef0", "instance_type": "t3.micro",
    "availability_zone": "us-east-1b", "region": "us-east-1", "private_ip": "10.20.1.7",
    "hostname": "ip-10-20-1-7.ec2.internal", "launch_time": "2026-12-07T01:02:03Z", "launch_index": 0,
    "account_id": "123456789012", "security_groups": ["web", "ssh"], "http_tokens": "required", "user_data": None,
}


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CATTLE_CACHE", str(tmp_path))


def test_a_token_is_valid_for_its_address_until_its_ttl_ends():
    token = imds.issue_token("169.254.7.2", 60, now=1000.0)

    assert imds.token_valid(token, "169.254.7.2", now=1059.0)
    assert not imds.token_valid(token, "169.254.7.2", now=1060.0)
    assert not imds.token_valid(token, "169.254.8.2", now=1001.0)


def test_a_forged_or_malformed_token_is_refused():
    token = imds.issue_token("169.254.7.2", 60, now=1000.0)
    payload, signature = token.split(".")
    other = imds.issue_token("169.254.7.2", 21600, now=1000.0).split(".")[0]

    assert not imds.token_valid(f"{other}.{signature}", "169.254.7.2", now=1001.0)
    assert not imds.token_valid(payload, "169.254.7.2", now=1001.0)
    assert not imds.token_valid("", "169.254.7.2", now=1001.0)


def test_directories_list_their_entries_and_leaves_answer():
    tree = imds.metadata_tree(DOCUMENT)

    assert imds.find(tree, "meta-data/instance-id") == "i-0123456789abcdef0"
    assert imds.find(tree, "meta-data/placement/availability-zone") == "us-east-1b"
    assert imds.find(tree, "meta-data/security-groups") == "web\nssh"
    assert "placement/" in imds.find(tree, "meta-data/").splitlines()
    assert imds.find(tree, "") == "dynamic/\nmeta-data/"
    assert imds.find(tree, "user-data") is None and imds.find(tree, "meta-data/nothing") is None
    identity = json.loads(imds.find(tree, "dynamic/instance-identity/document"))
    assert identity["instanceId"] == "i-0123456789abcdef0" and identity["privateIp"] == "10.20.1.7"


def test_user_data_is_served_as_given():
    tree = imds.metadata_tree(dict(DOCUMENT, user_data="IyEvYmluL3NoCmVjaG8gaGkK"))

    assert imds.find(tree, "user-data") == b"#!/bin/sh\necho hi\n"
    assert "user-data" in imds.find(tree, "").splitlines()


def test_the_registry_is_written_whole_and_forgotten_on_unregister():
    imds.register("169.254.7.2", DOCUMENT)

    assert imds.lookup("169.254.7.2") == DOCUMENT
    imds.unregister("169.254.7.2")
    assert imds.lookup("169.254.7.2") is None
