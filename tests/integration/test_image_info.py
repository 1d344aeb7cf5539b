"""cattle.immutable.image_info through real ansible-playbook runs against the sandbox."""

import datetime
import time

import pytest

from fixtures.ansible import module_play
from fixtures.aws import register_image

pytestmark = pytest.mark.sandbox


def find_play(**args):
    return module_play("find", "image_info", args)


@pytest.fixture
def web_images(ec2):
    """Two images of app web, created a second apart so creation dates differ; one of app api."""
    older = register_image(ec2, "web-0000000000000001", {"cattle:app": "web", "cattle:validation": "passed"})
    time.sleep(1.1)
    newer = register_image(ec2, "web-0000000000000002", {"cattle:app": "web", "cattle:validation": "failed"})
    other = register_image(ec2, "api-0000000000000001", {"cattle:app": "api"})
    return {"older": older, "newer": newer, "other": other}


def image_ids(result):
    return [image["image_id"] for image in result["images"]]


def sandbox_state(ec2, ssm):
    images = sorted((i["ImageId"], i["Name"], repr(sorted(i.get("Tags", []), key=str))) for i in ec2.describe_images(Owners=["self"])["Images"])
    parameters = sorted(p["Name"] for p in ssm.describe_parameters()["Parameters"])
    return images, parameters


def test_finds_the_images_of_an_app_newest_first(playbook, web_images):
    run = playbook(find_play(app="web"))
    assert not run.failed, run.explain()
    result = run.result("find")
    assert image_ids(result) == [web_images["newer"], web_images["older"]]
    assert result["changed"] is False
    newest = result["images"][0]
    assert newest["tags"]["cattle:app"] == "web"
    assert newest["state"] == "available"
    assert newest["name"] == "web-0000000000000002"


def test_finds_by_name_pattern_and_tags(playbook, web_images):
    run = playbook(find_play(name="web-*", tags={"cattle:validation": "passed"}))
    assert not run.failed, run.explain()
    assert image_ids(run.result("find")) == [web_images["older"]]


def test_finds_by_id_and_reports_ids_that_do_not_exist(playbook, web_images):
    missing = "ami-0123456789abcdef0"
    run = playbook(find_play(image_ids=[web_images["other"], missing]))
    assert not run.failed, run.explain()
    result = run.result("find")
    assert image_ids(result) == [web_images["other"]]
    assert result["missing_image_ids"] == [missing]


def test_app_and_stage_follow_the_stage_pointer(playbook, web_images, ssm):
    ssm.put_parameter(Name="/cattle/web/prod", Value=web_images["older"], Type="String", DataType="aws:ec2:image")
    run = playbook(find_play(app="web", stage="prod"))
    assert not run.failed, run.explain()
    result = run.result("find")
    assert image_ids(result) == [web_images["older"]]
    assert result["stage_pointer"] == {"name": "/cattle/web/prod", "image_id": web_images["older"], "version": 1}


def test_a_stage_pointer_naming_another_apps_image_finds_nothing(playbook, web_images, ssm):
    ssm.put_parameter(Name="/cattle/web/staging", Value=web_images["other"], Type="String")
    run = playbook(find_play(app="web", stage="staging"))
    assert not run.failed, run.explain()
    assert run.result("find")["images"] == []


def test_an_unset_stage_finds_nothing(playbook, web_images):
    run = playbook(find_play(app="web", stage="prod"))
    assert not run.failed, run.explain()
    result = run.result("find")
    assert result["images"] == [] and result["stage_pointer"]["image_id"] is None


def test_check_mode_returns_the_same_answer(playbook, web_images):
    run = playbook(find_play(app="web"), check=True)
    assert not run.failed, run.explain()
    assert image_ids(run.result("find")) == [web_images["newer"], web_images["older"]]


def test_throttling_is_retried_through(playbook, web_images, aws):
    aws.control.reset_counters()
    aws.control.add_fault(service="ec2", action="DescribeImages", kind="throttle", count=3)
    run = playbook(find_play(app="web"))
    assert not run.failed, run.explain()
    assert image_ids(run.result("find")) == [web_images["newer"], web_images["older"]]
    # Three throttled answers, then the one that succeeded.
    assert aws.control.counters()["ec2:DescribeImages"] == 4


def test_throttling_beyond_botocore_retries_is_retried_by_the_module(playbook, web_images, aws):
    aws.control.reset_counters()
    # botocore's legacy mode tries 5 times; the module's own backoff must carry on.
    aws.control.add_fault(service="ec2", action="DescribeImages", kind="throttle", count=6)
    run = playbook(find_play(app="web"))
    assert not run.failed, run.explain()
    assert aws.control.counters()["ec2:DescribeImages"] == 7


@pytest.mark.parametrize(
    "args, message",
    [
        ({"app": "Web_1"}, "app 'Web_1' is not a valid app name"),
        ({"image_ids": ["ami-nothex"]}, "image_ids: 'ami-nothex' is not an AMI id"),
        ({"app": "web", "stage": "Prod"}, "stage 'Prod' is not a valid stage name"),
    ],
)
def test_bad_input_fails_naming_the_input_and_changes_nothing(playbook, web_images, ec2, ssm, aws, args, message):
    before = sandbox_state(ec2, ssm)
    aws.control.reset_counters()
    run = playbook(find_play(**args))
    assert run.failed
    result = run.result("find")
    assert result["failed"] is True
    assert message in result["msg"] and "nothing was looked up" in result["msg"]
    # It failed before calling AWS at all.
    assert aws.control.counters() == {}
    assert sandbox_state(ec2, ssm) == before


def test_stage_without_app_is_refused(playbook):
    run = playbook(find_play(stage="prod"))
    assert run.failed
    assert "app" in run.result("find")["msg"]


def test_finds_by_fingerprint(playbook, ec2):
    wanted = register_image(ec2, "web-aaaaaaaaaaaaaaaa", {"cattle:app": "web", "cattle:fingerprint": "a" * 64})
    register_image(ec2, "web-bbbbbbbbbbbbbbbb", {"cattle:app": "web", "cattle:fingerprint": "b" * 64})
    run = playbook(find_play(app="web", fingerprint="a" * 64))
    assert not run.failed, run.explain()
    assert image_ids(run.result("find")) == [wanted]


@pytest.fixture
def revoked_and_deprecated(aws, ec2, web_images):
    ec2.create_tags(Resources=[web_images["newer"]], Tags=[{"Key": "cattle:revoked", "Value": "2026-01-01 broken"}])
    # AWS refuses a deprecation time in the past: the sandbox sets one that has passed.
    an_hour_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    aws.control.set_image_deprecation_time(web_images["older"], an_hour_ago.isoformat())
    return web_images


def test_revoked_and_deprecated_images_are_left_out_and_said_why(playbook, revoked_and_deprecated):
    images = revoked_and_deprecated
    run = playbook(find_play(app="web"))
    assert not run.failed, run.explain()
    result = run.result("find")
    assert result["images"] == []
    assert sorted((item["image_id"], item["reason"]) for item in result["excluded_images"]) == sorted(
        [(images["newer"], "revoked"), (images["older"], "deprecated")]
    )
    # Left out is not missing.
    run = playbook(find_play(image_ids=[images["older"]]))
    assert run.result("find")["missing_image_ids"] == []


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({"include_revoked": True}, ["newer"]),
        ({"include_deprecated": True}, ["older"]),
        ({"include_revoked": True, "include_deprecated": True}, ["newer", "older"]),
    ],
)
def test_revoked_and_deprecated_images_come_back_when_asked_for(playbook, revoked_and_deprecated, aws, flags, expected):
    aws.control.reset_counters()
    run = playbook(find_play(app="web", **flags))
    assert not run.failed, run.explain()
    assert image_ids(run.result("find")) == [revoked_and_deprecated[name] for name in expected]


def test_include_usage_reports_every_kind_of_reference(playbook, web_images, ec2, ssm, autoscaling, aws_network):
    older, newer = web_images["older"], web_images["newer"]
    ec2.create_launch_template(LaunchTemplateName="web-prod-a1", LaunchTemplateData={"ImageId": older})
    ec2.create_launch_template_version(LaunchTemplateName="web-prod-a1", LaunchTemplateData={"ImageId": "resolve:ssm:/cattle/web/prod"})
    template_id = ec2.describe_launch_templates()["LaunchTemplates"][0]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web-prod-a1", MinSize=0, MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=aws_network.subnet_ids[0],
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"},
    )
    instance_id = ec2.run_instances(ImageId=older, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    ssm.put_parameter(Name="/cattle/web/prod", Value=newer, Type="String", DataType="aws:ec2:image")
    run = playbook(find_play(app="web", include_usage=True))
    assert not run.failed, run.explain()
    usage = {image["image_id"]: image["usage"] for image in run.result("find")["images"]}
    assert usage[older] == {
        "launch_templates": [{"name": "web-prod-a1", "id": template_id, "version": 1}],
        "auto_scaling_groups": [{"name": "web-prod-a1", "via": "launch template web-prod-a1 v1"}],
        "instances": [{"id": instance_id, "state": "stopped"}],
        "stage_pointers": [],
        "in_use": True,
    }
    assert usage[newer] == {
        "launch_templates": [{"name": "web-prod-a1", "id": template_id, "version": 2}],
        "auto_scaling_groups": [],
        "instances": [],
        "stage_pointers": ["/cattle/web/prod"],
        "in_use": True,
    }


def test_an_unreferenced_image_is_not_in_use(playbook, web_images, ec2):
    gone = ec2.run_instances(ImageId=web_images["other"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[gone])
    run = playbook(find_play(app="api", include_usage=True))
    assert not run.failed, run.explain()
    assert run.result("find")["images"][0]["usage"]["in_use"] is False


def test_usage_lookups_retry_throttling(playbook, web_images, aws):
    aws.control.reset_counters()
    aws.control.add_fault(service="ssm", action="GetParametersByPath", kind="throttle", count=2)
    aws.control.add_fault(service="autoscaling", action="DescribeAutoScalingGroups", kind="server_error", count=2)
    run = playbook(find_play(app="web", include_usage=True))
    assert not run.failed, run.explain()
    counters = aws.control.counters()
    assert counters["ssm:GetParametersByPath"] == 3 and counters["autoscaling:DescribeAutoScalingGroups"] == 3
