"""Instances launched from an AMI with content run as stand-ins: user data at boot, IMDSv2 at
169.254.169.254, gone when terminated, scaled in or their group deleted, and limited by an
instance quota the way AWS limits instances. An AMI without content stays virtual."""

import base64
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cattle_sandbox.standin import network, shared_roots
from cattle_sandbox.standin.attach import find_work, run_in

from fixtures.aws import eventually, register_image

pytestmark = [pytest.mark.sandbox, pytest.mark.standin]

# What user data on EC2 typically does first: ask the metadata service who it is.
ASK_METADATA = """#!/bin/sh
python3 - <<'EOF'
import urllib.error, urllib.request

def call(path, method="GET", headers=None):
    request = urllib.request.Request("http://169.254.169.254" + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""

status, token = call("/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
_, instance_id = call("/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token})
v1_status, _ = call("/latest/meta-data/instance-id")
forged_status, _ = call("/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token + "x"})
forwarded, _ = call("/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "a"})
no_ttl, _ = call("/latest/api/token", "PUT")
with open("/var/tmp/metadata-answers", "w") as out:
    out.write(f"{status} {instance_id} v1={v1_status} forged={forged_status} put={forwarded},{no_ttl}\\n")
EOF
echo "user data ran as $(id -un)"
"""


def launch(ec2, image_id, user_data=ASK_METADATA, http_tokens=None, count=1):
    options = {"MetadataOptions": {"HttpTokens": http_tokens}} if http_tokens else {}
    reservation = ec2.run_instances(ImageId=image_id, MinCount=count, MaxCount=count, InstanceType="t3.micro",
                                    UserData=user_data, **options)
    return [instance["InstanceId"] for instance in reservation["Instances"]]


def answers(name):
    result = run_in(name, ["cat", "/var/tmp/metadata-answers"])
    return result.stdout.strip() if result.returncode == 0 else None


def netns_exists(name):
    return (network.NETNS_DIR / name).exists()


def all_stopped(aws):
    """The live instances once every one is stopped, else None."""
    found = aws.control.live_instances()
    return found if all(item["state"] == "stopped" for item in found) else None


def test_an_instance_of_an_ami_with_content_runs_its_user_data_and_reads_imdsv2(aws, ec2, content_ami):
    [instance_id] = launch(ec2, content_ami, http_tokens="required")

    [live] = aws.control.wait_for_live_instances([instance_id])
    assert live["state"] == "running", live
    found = eventually(lambda: answers(live["name"]), timeout=60, interval=0.5)

    assert found == f"200 {instance_id} v1=401 forged=401 put=403,400"
    log = run_in(live["name"], ["cat", "/var/log/cloud-init-output.log"]).stdout
    assert "user data ran as root" in log


def test_imdsv1_answers_when_tokens_are_optional_and_the_ami_does_not_require_v2(aws, ec2, content_ami):
    [instance_id] = launch(ec2, content_ami)

    [live] = aws.control.wait_for_live_instances([instance_id])
    found = eventually(lambda: answers(live["name"]), timeout=60, interval=0.5)

    assert found == f"200 {instance_id} v1=200 forged=401 put=403,400"


def test_an_ami_marked_imds_v2_makes_its_instances_require_tokens(aws, ec2, content_ami):
    ec2.modify_image_attribute(ImageId=content_ami, ImdsSupport={"Value": "v2.0"})
    [instance_id] = launch(ec2, content_ami)

    [live] = aws.control.wait_for_live_instances([instance_id])

    assert "v1=401 forged=401" in eventually(lambda: answers(live["name"]), timeout=60, interval=0.5)


def test_terminating_stops_and_removes_the_stand_in(aws, ec2, content_ami):
    [instance_id] = launch(ec2, content_ami, user_data="#cloud-config\npackages: [nginx]\n")
    [live] = aws.control.wait_for_live_instances([instance_id])
    log = run_in(live["name"], ["cat", "/var/log/cloud-init-output.log"]).stdout
    assert "not a shell script" in log and netns_exists(live["name"])

    ec2.terminate_instances(InstanceIds=[instance_id])

    stopped = eventually(lambda: [item for item in aws.control.live_instances()
                                  if item["instance_id"] == instance_id and item["state"] == "stopped"], timeout=30)
    assert stopped[0]["error"] is None and not netns_exists(live["name"])


def test_instances_of_one_ami_share_its_files_keep_their_writes_apart_and_report_their_memory(aws, ec2, content_ami):
    instance_ids = launch(ec2, content_ami, user_data="#!/bin/sh\ntrue\n", count=2)
    booted = aws.control.wait_for_live_instances(instance_ids)
    assert [item["state"] for item in booted] == ["running", "running"], booted
    first, second = (item["name"] for item in booted)
    works = [find_work(item["name"]) for item in booted]
    [copy] = {os.readlink(work / shared_roots.USE_LINK) for work in works}
    lower = Path(copy) / shared_roots.LOWER

    run_in(first, ["sh", "-c", "echo first > /etc/written-by-first"])

    assert run_in(second, ["test", "-e", "/etc/written-by-first"]).returncode == 1
    assert not (lower / "etc" / "written-by-first").exists()
    assert (works[0] / "upper" / "etc" / "written-by-first").read_text() == "first\n"
    memory = [item["memory_current_bytes"] for item in aws.control.live_instances()]
    assert all(isinstance(used, int) and 2**20 < used < 100 * 2**20 for used in memory), memory

    ec2.terminate_instances(InstanceIds=instance_ids)
    stopped = eventually(lambda: all_stopped(aws), timeout=30)
    assert [item["memory_current_bytes"] for item in stopped] == [None, None]
    assert not any(work.exists() for work in works)
    assert not any(str(work) in Path("/proc/self/mountinfo").read_text() for work in works)
    assert lower.is_dir()  # kept for the next instance of the AMI


def test_an_ami_without_content_gives_a_virtual_instance(aws, ec2):
    launch(ec2, register_image(ec2, "no-content"))

    assert aws.control.live_instances() == []


def test_auto_scaling_launches_boot_with_the_templates_user_data_and_scale_in_removes_them(
    aws, ec2, autoscaling, aws_network, content_ami
):
    user_data = base64.b64encode(ASK_METADATA.encode()).decode()
    ec2.create_launch_template(LaunchTemplateName="live", LaunchTemplateData={
        "ImageId": content_ami, "InstanceType": "t3.micro", "UserData": user_data,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"}})
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="live", MinSize=0, MaxSize=2, DesiredCapacity=2,
                                          LaunchTemplate={"LaunchTemplateName": "live", "Version": "$Latest"},
                                          VPCZoneIdentifier=",".join(aws_network.subnet_ids))
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["live"])["AutoScalingGroups"][0]
    instance_ids = [instance["InstanceId"] for instance in group["Instances"]]

    booted = aws.control.wait_for_live_instances(instance_ids)
    assert [item["state"] for item in booted] == ["running", "running"]
    for item in booted:
        found = eventually(lambda name=item["name"]: answers(name), timeout=60, interval=0.5)
        assert found.startswith(f"200 {item['instance_id']} v1=401 forged=401")

    autoscaling.set_desired_capacity(AutoScalingGroupName="live", DesiredCapacity=1)
    assert eventually(lambda: sorted(item["state"] for item in aws.control.live_instances()) == ["running", "stopped"],
                      timeout=30)
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName="live", ForceDelete=True)
    assert eventually(lambda: {item["state"] for item in aws.control.live_instances()} == {"stopped"}, timeout=30)
    assert not any(netns_exists(item["name"]) for item in booted)


def test_the_instance_quota_refuses_run_instances_and_fails_auto_scaling_launches(
    aws, ec2, autoscaling, aws_network, content_ami
):
    aws.control.set_fidelity(live_instance_limit=1)
    [first] = launch(ec2, content_ami, user_data="#!/bin/sh\ntrue\n")

    with pytest.raises(ClientError) as refused:
        launch(ec2, content_ami)
    ec2.create_launch_template(LaunchTemplateName="quota", LaunchTemplateData={"ImageId": content_ami})
    ec2.terminate_instances(InstanceIds=[first])
    eventually(lambda: all(item["state"] == "stopped" for item in aws.control.live_instances()), timeout=30)
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="quota", MinSize=0, MaxSize=3, DesiredCapacity=3,
                                          LaunchTemplate={"LaunchTemplateName": "quota", "Version": "$Latest"},
                                          VPCZoneIdentifier=",".join(aws_network.subnet_ids))

    error = refused.value.response["Error"]
    assert error["Code"] == "InstanceLimitExceeded"
    assert "more instances (1) than your current instance limit of 1" in error["Message"]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["quota"])["AutoScalingGroups"][0]
    assert len(group["Instances"]) == 1
    activities = autoscaling.describe_scaling_activities(AutoScalingGroupName="quota")["Activities"]
    [failed] = [activity for activity in activities if activity["StatusCode"] == "Failed"]
    assert "instance limit of 1" in failed["StatusMessage"]
    assert failed["StatusMessage"].endswith("Launching EC2 instance failed.")
    assert len([activity for activity in activities if activity["StatusCode"] == "Successful"]) == 1
