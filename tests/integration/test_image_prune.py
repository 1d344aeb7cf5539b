"""cattle.immutable.image_prune through real ansible-playbook runs against the sandbox."""

import json
import time

import pytest

from fixtures.ansible import module_play
from fixtures.aws import register_image

pytestmark = pytest.mark.sandbox


def prune_play(**args):
    return module_play("prune", "image_prune", args)


def web_image(ec2, number, app="web"):
    return register_image(ec2, "{0}-{1:016x}".format(app, number), {"cattle:app": app})


def snapshots_of(ec2, image_id):
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if m.get("Ebs", {}).get("SnapshotId")]


def existing_images(ec2):
    return {image["ImageId"] for image in ec2.describe_images(Owners=["self"], IncludeDeprecated=True)["Images"]}


def existing_snapshots(ec2):
    return {snapshot["SnapshotId"] for snapshot in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def launch_template(ec2, name, image_ids):
    """A launch template with one version per ImageId given, version 1 the default."""
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": image_ids[0], "InstanceType": "t3.micro"})
    for image_id in image_ids[1:]:
        ec2.create_launch_template_version(LaunchTemplateName=name, LaunchTemplateData={"ImageId": image_id})


def empty_group(autoscaling, name, subnet_id, **launch):
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=subnet_id, **launch
    )


@pytest.fixture
def referenced(ec2, ssm, autoscaling, aws_network):
    """Images of web kept alive by each kind of reference, two unreferenced ones, the newest, and api's."""
    images = {name: web_image(ec2, number) for number, name in enumerate(
        ["old_a", "old_b", "template_version", "group_template", "group_configuration", "instance",
         "terminated_instance", "stage_pointer", "resolve_ssm", "resolve_pointer"], start=1)}
    images["api"] = web_image(ec2, 99, app="api")
    subnet = aws_network.subnet_ids[0]
    # A launch template version that no group uses.
    launch_template(ec2, "web-lt", [images["template_version"]])
    # A group launching through its template's $Latest version.
    launch_template(ec2, "web-prod-blue", [images["template_version"], images["group_template"]])
    empty_group(autoscaling, "web-prod-blue", subnet, LaunchTemplate={"LaunchTemplateName": "web-prod-blue", "Version": "$Latest"})
    # A group with a launch configuration, the only reference to its image.
    autoscaling.create_launch_configuration(LaunchConfigurationName="web-lc", ImageId=images["group_configuration"], InstanceType="t3.micro")
    empty_group(autoscaling, "web-legacy", subnet, LaunchConfigurationName="web-lc")
    ec2.run_instances(ImageId=images["instance"], MinCount=1, MaxCount=1)
    gone = ec2.run_instances(ImageId=images["terminated_instance"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[gone])
    ssm.put_parameter(Name="/cattle/web/prod", Value=images["stage_pointer"], Type="String", DataType="aws:ec2:image")
    # resolve:ssm: through a parameter outside the stage pointers, and through a stage pointer.
    ssm.put_parameter(Name="/golden/web-current", Value=images["resolve_ssm"], Type="String")
    launch_template(ec2, "web-ssm", ["resolve:ssm:/golden/web-current"])
    ssm.put_parameter(Name="/cattle/web/staging", Value=images["resolve_pointer"], Type="String")
    launch_template(ec2, "web-staging", ["resolve:ssm:/cattle/web/staging"])
    time.sleep(1.1)  # creation dates have whole seconds
    images["newest"] = web_image(ec2, 100)
    return images


KEEP_ALL_REASONS = {
    "newest": "newest 1",
    "template_version": "in use: launch template web-lt v1",
    "group_template": "in use: auto scaling group web-prod-blue (launch template web-prod-blue v2)",
    "group_configuration": "in use: auto scaling group web-legacy (launch configuration web-lc)",
    "instance": "in use: instance i-",
    "stage_pointer": "stage pointer /cattle/web/prod",
    "resolve_ssm": "in use: launch template web-ssm v1",
    "resolve_pointer": "stage pointer /cattle/web/staging",
}


def test_never_deletes_an_image_in_use_and_deletes_the_rest_with_their_snapshots(playbook, referenced, ec2):
    doomed = [referenced[name] for name in ("old_a", "old_b", "terminated_instance")]
    doomed_snapshots = {snapshot for image_id in doomed for snapshot in snapshots_of(ec2, image_id)}
    assert len(doomed_snapshots) == 3
    run = playbook(prune_play(app="web", keep=1, keep_days=0))
    assert not run.failed, run.explain()
    result = run.result("prune")
    assert result["changed"] is True
    assert sorted(item["image_id"] for item in result["deleted"]) == sorted(doomed)
    assert {snapshot for item in result["deleted"] for snapshot in item["snapshots"]} == doomed_snapshots
    reasons = {item["image_id"]: item["reason"] for item in result["kept"]}
    for name, reason in KEEP_ALL_REASONS.items():
        assert reason in reasons[referenced[name]], (name, reasons[referenced[name]])
    assert reasons[referenced["group_template"]].startswith("in use: launch template web-prod-blue v2")
    left = existing_images(ec2)
    assert left == set(referenced.values()) - set(doomed)  # api's image is untouched too
    assert not doomed_snapshots & existing_snapshots(ec2)
    kept_snapshots = {s for name in KEEP_ALL_REASONS for s in snapshots_of(ec2, referenced[name])}
    assert kept_snapshots <= existing_snapshots(ec2)


def test_check_mode_lists_what_would_go_and_deletes_nothing(playbook, referenced, ec2):
    images_before, snapshots_before = existing_images(ec2), existing_snapshots(ec2)
    run = playbook(prune_play(app="web", keep=1, keep_days=0), check=True)
    assert not run.failed, run.explain()
    result = run.result("prune")
    assert len(result["deleted"]) == 3 and result["changed"] is True
    assert result["msg"].startswith("web: would delete 3 image(s) and 3 snapshot(s): ami-")
    assert existing_images(ec2) == images_before and existing_snapshots(ec2) == snapshots_before


def test_a_second_identical_run_changes_nothing(playbook, referenced, ec2):
    first = playbook(prune_play(app="web", keep=1, keep_days=0))
    assert not first.failed and first.result("prune")["changed"] is True, first.explain()
    second = playbook(prune_play(app="web", keep=1, keep_days=0))
    assert not second.failed, second.explain()
    result = second.result("prune")
    assert result["changed"] is False and result["deleted"] == []
    assert result["msg"] == "web: nothing to prune, kept 8 image(s)"


@pytest.fixture
def four_images(ec2):
    """Four unreferenced web images with distinct creation dates, oldest first."""
    images = []
    for number in range(4):
        if images:
            time.sleep(1.1)
        images.append(web_image(ec2, number + 1))
    return images


def test_keep_keeps_the_newest_n_when_keep_days_is_zero(playbook, four_images, ec2):
    run = playbook(prune_play(app="web", keep=2, keep_days=0))
    assert not run.failed, run.explain()
    result = run.result("prune")
    assert [item["image_id"] for item in result["deleted"]] == [four_images[1], four_images[0]]
    assert [(item["image_id"], item["reason"]) for item in result["kept"]] == [
        (four_images[3], "newest 2"), (four_images[2], "newest 2")]
    assert existing_images(ec2) == set(four_images[2:])


def test_an_image_named_only_beyond_the_first_page_of_templates_or_versions_is_kept(playbook, four_images, ec2):
    # AWS lists launch templates and their versions in pages (the sandbox's first is 15):
    # the 16th version of the 16th template and the 17th template name images no other does.
    for number in range(15):
        launch_template(ec2, f"web-filler-{number:02d}", [four_images[1]])
    launch_template(ec2, "web-lt", [four_images[1]] * 15 + [four_images[0]])
    launch_template(ec2, "web-last", [four_images[2]])

    run = playbook(prune_play(app="web", keep=1, keep_days=0))

    assert not run.failed, run.explain()
    result = run.result("prune")
    assert result["deleted"] == [] and existing_images(ec2) == set(four_images)
    reasons = {item["image_id"]: item["reason"] for item in result["kept"]}
    assert reasons[four_images[0]] == "in use: launch template web-lt v16"
    assert reasons[four_images[2]] == "in use: launch template web-last v1"


def test_keep_days_keeps_young_images_beyond_keep(playbook, four_images, ec2):
    run = playbook(prune_play(app="web", keep=1, keep_days=14))
    assert not run.failed, run.explain()
    result = run.result("prune")
    assert result["changed"] is False and result["deleted"] == []
    assert [item["reason"] for item in result["kept"]] == ["newest 1; younger than 14 days"] + ["younger than 14 days"] * 3
    assert existing_images(ec2) == set(four_images)


@pytest.mark.parametrize("keep", [0, -1])
def test_keep_below_one_is_refused_and_nothing_changes(playbook, referenced, ec2, aws, keep):
    images_before, snapshots_before = existing_images(ec2), existing_snapshots(ec2)
    aws.control.reset_counters()
    run = playbook(prune_play(app="web", keep=keep, keep_days=0))
    assert run.failed
    message = run.result("prune")["msg"]
    assert "keep must be at least 1 (got {0})".format(keep) in message and "nothing was changed" in message
    assert aws.control.counters() == {}
    assert existing_images(ec2) == images_before and existing_snapshots(ec2) == snapshots_before


def test_throttling_and_server_errors_are_retried_on_every_kind_of_call(playbook, referenced, ec2, aws):
    aws.control.reset_counters()
    faults = [
        ("ec2", "DescribeImages", "throttle"),
        ("ssm", "GetParametersByPath", "throttle"),
        ("ssm", "GetParameter", "server_error"),
        ("ec2", "DescribeLaunchTemplates", "server_error"),
        ("ec2", "DescribeLaunchTemplateVersions", "throttle"),
        ("autoscaling", "DescribeAutoScalingGroups", "throttle"),
        ("autoscaling", "DescribeLaunchConfigurations", "server_error"),
        ("ec2", "DescribeInstances", "server_error"),
        ("ec2", "DeregisterImage", "server_error"),
        ("ec2", "DeleteSnapshot", "throttle"),
    ]
    for service, action, kind in faults:
        aws.control.add_fault(service=service, action=action, kind=kind, count=2)
    run = playbook(prune_play(app="web", keep=1, keep_days=0))
    assert not run.failed, run.explain()
    assert len(run.result("prune")["deleted"]) == 3
    counters = aws.control.counters()
    for service, action, _kind in faults:
        # Two faulted answers, then at least one that was served.
        assert counters["{0}:{1}".format(service, action)] >= 3, (action, counters)
    assert existing_images(ec2) == set(referenced.values()) - {referenced[n] for n in ("old_a", "old_b", "terminated_instance")}


def test_a_snapshot_that_is_already_gone_counts_as_deleted(playbook, ec2, aws):
    old = web_image(ec2, 1)
    time.sleep(1.1)
    newest = web_image(ec2, 2)
    snapshot = snapshots_of(ec2, old)[0]
    # The deletion happens but its answer is lost: the retry meets InvalidSnapshot.NotFound.
    aws.control.reset_counters()
    aws.control.add_fault(service="ec2", action="DeleteSnapshot", kind="lose_response", count=1)
    run = playbook(prune_play(app="web", keep=1, keep_days=0))
    assert not run.failed, run.explain()
    assert run.result("prune")["deleted"][0]["snapshots"] == [snapshot]
    assert aws.control.counters()["ec2:DeleteSnapshot"] == 2
    assert existing_images(ec2) == {newest} and snapshot not in existing_snapshots(ec2)


def test_bad_app_is_refused_before_any_call(playbook, aws):
    aws.control.reset_counters()
    run = playbook(prune_play(app="Web_1"))
    assert run.failed
    assert "app 'Web_1' is not a valid app name" in run.result("prune")["msg"]
    assert aws.control.counters() == {}


def test_api_calls_of_one_prune_of_twenty_images(playbook, ec2, aws):
    for number in range(20):
        web_image(ec2, number + 1)
    aws.control.reset_counters()
    run = playbook(prune_play(app="web", keep=5, keep_days=0))
    assert not run.failed, run.explain()
    assert len(run.result("prune")["deleted"]) == 15
    counters = aws.control.counters()
    total = sum(counters.values())
    print("\nAPI calls for one prune of 20 images (15 deleted): {0} {1}".format(total, json.dumps(counters, sort_keys=True)))
    # Reading is a fixed handful of calls; each deleted image costs a deregistration and a snapshot deletion.
    assert counters["ec2:DeregisterImage"] == 15 and counters["ec2:DeleteSnapshot"] == 15
    assert total - 30 <= 10, counters
