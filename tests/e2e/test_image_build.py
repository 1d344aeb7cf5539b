"""cattle.immutable.image_build with real Packer (Debian's 1.6.6) against the sandbox.

Every build runs ansible-playbook -> the action plugin -> the module -> `packer build`
of packer/sandbox-smoke (copied per test, so a test can change it) against moto.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fixtures.ansible import REPO_ROOT, VENV_BIN, PlaybookRun, ansible_env, module_play
from fixtures.aws import register_image
from fixtures.images import images_named

pytestmark = [pytest.mark.sandbox, pytest.mark.packer]

TEMPLATE = REPO_ROOT / "packer" / "sandbox-smoke"
BUILD_PLAYBOOK = REPO_ROOT / "playbooks" / "build.yml"
PROGRESS_PREFIX = "image_build: "
TIMES = {}


@pytest.fixture
def template(tmp_path):
    copy = tmp_path / "template"
    shutil.copytree(TEMPLATE, copy)
    return copy


@pytest.fixture
def source_ami(ec2):
    return register_image(ec2, "debian-12-amd64-20260101")


def run_ansible(cmd, env, callback="ansible.posix.json", timeout=600):
    full_env = ansible_env(env)
    full_env["ANSIBLE_STDOUT_CALLBACK"] = callback
    full_env["ANSIBLE_SHOW_CUSTOM_STATS"] = "true"
    started = time.monotonic()
    completed = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.monotonic() - started
    run = PlaybookRun(completed)
    run.seconds = seconds
    return run


def image_build(env, tmp_path, check=False, callback="ansible.posix.json", **args):
    path = tmp_path / f"play-{len(list(tmp_path.glob('play-*.yml')))}.yml"
    path.write_text(module_play("build", "image_build", args))
    cmd = [str(VENV_BIN / "ansible-playbook"), str(path)] + (["--check"] if check else [])
    run = run_ansible(cmd, env, callback=callback)
    return run


def args_for(template, source_ami, **extra):
    args = {
        "app": "web",
        "template": str(template),
        "only": ["amazon-ebs.none"],
        "vars": {"source_ami": source_ami},
        "endpoint_variable": "endpoint",
    }
    vars_extra = extra.pop("vars", {})
    args["vars"].update(vars_extra)
    args.update(extra)
    return args


def built(run):
    assert not run.failed, run.explain()
    return run.result("build")


def tags_of(image):
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def instance_states(ec2):
    return [
        instance["State"]["Name"]
        for reservation in ec2.describe_instances()["Reservations"]
        for instance in reservation["Instances"]
    ]


def own_images(ec2, source_ami):
    return [image for image in ec2.describe_images(Owners=["self"])["Images"] if image["ImageId"] != source_ami]


def test_first_run_builds_and_tags_and_an_identical_second_run_reuses(
    aws, ec2, build_env, tmp_path, template, source_ami
):
    first_run = image_build(build_env, tmp_path, vcs_revision="abc123", **args_for(template, source_ami))
    first = built(first_run)
    assert first["changed"] is True and first["outcome"] == "built"
    image_id = first["image_id"]
    assert first["images"] == {"us-east-1": image_id}
    assert first["ami_name"] == "web-" + first["fingerprint"][:16] and len(first["fingerprint"]) == 64
    [image] = images_named(ec2, first["ami_name"])
    assert image["ImageId"] == image_id and image["State"] == "available"
    tags = tags_of(image)
    assert tags["cattle:app"] == "web"
    assert tags["cattle:managed-by"] == "cattle.immutable"
    assert tags["cattle:fingerprint"] == first["fingerprint"]
    assert tags["cattle:source-ami"] == source_ami
    assert tags["cattle:packer-version"] == "1.6.6"
    assert tags["cattle:vcs-revision"] == "abc123"
    assert tags["cattle:validation"] == "passed" and tags["cattle:lynis-score"] == "70"
    assert tags["cattle:built-at"].endswith("Z")
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snapshot_tags = tags_of(ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])
    assert snapshot_tags["cattle:fingerprint"] == first["fingerprint"]
    # The manifest was parsed, the log kept.
    build = first["build"]
    assert build["packer_ran"] is True and build["packer_version"] == "1.6.6"
    assert build["builder_type"] == "amazon-ebs" and build["name"] == "sandbox"
    assert build["custom_data"] == {"app": "web", "fingerprint": first["fingerprint"], "source_ami": source_ami}
    assert build["duration_seconds"] > 0
    log = Path(first["log_path"])
    assert log.is_file() and str(log).startswith(str(tmp_path / "cache"))
    assert "Creating AMI " + first["ami_name"] in log.read_text()
    assert f"{PROGRESS_PREFIX}web: packer log: {log}" in first_run.stdout

    aws.control.reset_counters()
    second_run = image_build(build_env, tmp_path, vcs_revision="abc123", **args_for(template, source_ami))
    second = built(second_run)
    assert second["changed"] is False and second["outcome"] == "reused"
    assert second["image_id"] == image_id and second["fingerprint"] == first["fingerprint"]
    assert second["log_path"] is None and second["build"]["packer_ran"] is False
    counters = aws.control.counters()
    assert "ec2:RunInstances" not in counters and "ec2:CreateImage" not in counters and "ec2:CreateTags" not in counters
    assert len(own_images(ec2, source_ami)) == 1
    TIMES["first build"] = first_run.seconds
    TIMES["reuse"] = second_run.seconds
    print(f"\nimage_build timings: first build {first_run.seconds:.1f} s, reuse {second_run.seconds:.1f} s")


def test_a_changed_input_file_means_a_new_fingerprint_and_a_rebuild(ec2, build_env, tmp_path, template, source_ami):
    first = built(image_build(build_env, tmp_path, **args_for(template, source_ami)))
    with open(template / "build.pkr.hcl", "a") as handle:
        handle.write("# a change to the template\n")
    second = built(image_build(build_env, tmp_path, **args_for(template, source_ami)))
    assert second["changed"] is True and second["outcome"] == "built"
    assert second["fingerprint"] != first["fingerprint"] and second["image_id"] != first["image_id"]
    assert len(own_images(ec2, source_ami)) == 2


def test_a_newer_base_image_found_by_the_filter_means_a_rebuild(ec2, build_env, tmp_path, template):
    older = register_image(ec2, "debian-12-amd64-20260101")
    query = {"owners": ["self"], "filters": {"name": "debian-12-amd64-*"}}
    args = {"app": "web", "template": str(template), "only": ["amazon-ebs.none"], "source_ami_filter": query,
            "endpoint_variable": "endpoint"}
    first = built(image_build(build_env, tmp_path, **args))
    assert first["source_ami"] == older
    time.sleep(1.1)  # creation dates have one-second resolution
    newer = register_image(ec2, "debian-12-amd64-20260201")
    again = built(image_build(build_env, tmp_path, **args))
    assert again["outcome"] == "built" and again["source_ami"] == newer
    assert again["fingerprint"] != first["fingerprint"]
    assert tags_of(images_named(ec2, again["ami_name"])[0])["cattle:source-ami"] == newer


def test_a_lost_create_image_response_is_adopted_from_the_validation_report(
    aws, ec2, build_env, tmp_path, template, source_ami
):
    aws.control.add_fault(service="ec2", action="CreateImage", kind="lose_response", count=1)
    result = built(image_build(build_env, tmp_path, **args_for(template, source_ami)))
    assert result["changed"] is True and result["outcome"] == "adopted"
    [image] = images_named(ec2, result["ami_name"])
    assert image["ImageId"] == result["image_id"]
    tags = tags_of(image)
    assert tags["cattle:validation"] == "passed" and "cattle:built-at" in tags
    assert len(own_images(ec2, source_ami)) == 1
    aws.control.reset_counters()
    again = built(image_build(build_env, tmp_path, **args_for(template, source_ami)))
    assert again["outcome"] == "reused" and again["image_id"] == image["ImageId"]
    assert "ec2:RunInstances" not in aws.control.counters()


def test_a_lost_create_image_response_without_a_report_is_removed_and_built_once_more(
    aws, ec2, build_env, tmp_path, template, source_ami
):
    aws.control.add_fault(service="ec2", action="CreateImage", kind="lose_response", count=1)
    args = args_for(template, source_ami, vars={"validation_result": ""})
    result = built(image_build(build_env, tmp_path, **args))
    assert result["outcome"] == "built"
    [removed] = result["removed_images"]
    assert removed["image_id"] != result["image_id"] and removed["name"] == result["ami_name"]
    [image] = images_named(ec2, result["ami_name"])
    assert image["ImageId"] == result["image_id"] and "cattle:built-at" in tags_of(image)
    assert "cattle:validation" not in tags_of(image)
    remaining = {snapshot["SnapshotId"] for snapshot in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not set(removed["snapshot_ids"]) & remaining
    assert aws.control.counters()["ec2:RunInstances"] == 2


@pytest.mark.parametrize("with_report", [True, False], ids=["report-adopts", "no-report-rebuilds"])
def test_an_image_left_behind_by_an_earlier_run_is_adopted_or_replaced(
    aws, ec2, build_env, tmp_path, template, source_ami, with_report
):
    fingerprint = "ab" * 32
    name = "web-" + fingerprint[:16]
    leftover = register_image(ec2, name, {"cattle:app": "web"})
    if with_report:
        report = tmp_path / "cache" / "cattle-immutable" / "image_build" / "builds" / name / "validation-report.json"
        report.parent.mkdir(parents=True)
        report.write_text(json.dumps({"result": "failed", "lynis_score": 41}))
    aws.control.reset_counters()
    result = built(image_build(build_env, tmp_path, fingerprint=fingerprint, **args_for(template, source_ami)))
    [image] = images_named(ec2, name)
    if with_report:
        assert result["outcome"] == "adopted" and result["image_id"] == leftover
        assert tags_of(image)["cattle:validation"] == "failed" and tags_of(image)["cattle:lynis-score"] == "41"
        assert "ec2:RunInstances" not in aws.control.counters()
    else:
        assert result["outcome"] == "built" and result["image_id"] != leftover
        assert [removed["image_id"] for removed in result["removed_images"]] == [leftover]
    assert image["ImageId"] == result["image_id"] and "cattle:built-at" in tags_of(image)


def test_check_mode_builds_nothing_and_reports_what_would_happen(
    aws, ec2, build_env, tmp_path, template, source_ami
):
    aws.control.reset_counters()
    planned = built(image_build(build_env, tmp_path, check=True, **args_for(template, source_ami)))
    assert planned["changed"] is True and planned["outcome"] == "built" and planned["image_id"] is None
    counters = aws.control.counters()
    assert set(counters) <= {"ec2:DescribeImages"}, counters
    assert own_images(ec2, source_ami) == []
    real = built(image_build(build_env, tmp_path, **args_for(template, source_ami)))
    assert real["fingerprint"] == planned["fingerprint"]
    checked = built(image_build(build_env, tmp_path, check=True, **args_for(template, source_ami)))
    assert checked["changed"] is False and checked["outcome"] == "reused" and checked["image_id"] == real["image_id"]


def packer_free_path(tmp_path):
    """A PATH with everything of /usr/bin (and the venv) except packer."""
    bin_dir = tmp_path / "bin-without-packer"
    bin_dir.mkdir()
    for program in Path("/usr/bin").iterdir():
        if program.name != "packer":
            (bin_dir / program.name).symlink_to(program)
    assert shutil.which("packer", path=str(bin_dir)) is None
    return f"{VENV_BIN}{os.pathsep}{bin_dir}"


@pytest.mark.parametrize(
    "case",
    ["packer not on PATH", "packer_path wrong", "template missing", "source AMI missing", "build fails"],
)
def test_failures_are_clear_and_change_nothing(aws, ec2, build_env, tmp_path, template, source_ami, case):
    env = dict(build_env)
    args = args_for(template, source_ami)
    expected = {
        "packer not on PATH": ["Packer was not found on PATH", "nothing was built or changed"],
        "packer_path wrong": ["packer_path /nonexistent/packer is not an executable file", "nothing was built"],
        "template missing": [f"template directory {tmp_path}/nowhere does not exist", "nothing was built"],
        "source AMI missing": ["source AMI ami-0000000000000dead (vars.source_ami) does not exist", "nothing"],
        "build fails": ["packer build failed (exit 1)", "failing on purpose (fail_build = true)", "last lines"],
    }[case]
    if case == "packer not on PATH":
        env["PATH"] = packer_free_path(tmp_path)
    elif case == "packer_path wrong":
        args["packer_path"] = "/nonexistent/packer"
    elif case == "template missing":
        args["template"] = str(tmp_path / "nowhere")
    elif case == "source AMI missing":
        args["vars"]["source_ami"] = "ami-0000000000000dead"
    else:
        args["vars"]["fail_build"] = True
    aws.control.reset_counters()
    run = image_build(env, tmp_path, **args)
    assert run.failed
    result = run.result("build")
    for text in expected:
        assert text in result["msg"], result["msg"]
    assert own_images(ec2, source_ami) == []
    if case == "build fails":
        assert Path(result["log_path"]).is_file() and result["log_path"] in result["msg"]
        assert len(result["log_tail"]) <= 20
        assert set(instance_states(ec2)) == {"terminated"}
    else:
        assert "ec2:RunInstances" not in aws.control.counters()


def test_throttling_of_every_kind_of_call_is_retried(aws, ec2, build_env, tmp_path, template, source_ami):
    # More throttles than botocore's own retries: the module's backoff carries on.
    aws.control.add_fault(service="ec2", action="DescribeImages", kind="throttle", count=6)
    aws.control.add_fault(service="ec2", action="CreateTags", kind="server_error", status=503, count=2)
    aws.control.reset_counters()
    result = built(image_build(build_env, tmp_path, **args_for(template, source_ami)))
    assert result["outcome"] == "built"
    assert "cattle:built-at" in tags_of(images_named(ec2, result["ami_name"])[0])
    faults = {fault["action"]: fault["fired"] for fault in aws.control.faults()}
    assert faults == {"DescribeImages": 6, "CreateTags": 2}


def test_progress_lines_show_the_log_path_first_then_what_packer_does(
    aws, build_env, tmp_path, template, source_ami
):
    aws.control.add_fault(service="ec2", action="CreateImage", kind="delay", delay=4.0, count=1)
    run = image_build(build_env, tmp_path, callback="ansible.builtin.default", progress_interval=1,
                      **args_for(template, source_ami))
    assert run.rc == 0, run.explain()
    # Before Packer starts there may be a line about the checks; of Packer, the log comes first.
    lines = [line for line in run.stdout.splitlines() if line.startswith(PROGRESS_PREFIX + "web: packer")]
    assert lines and lines[0].startswith(f"{PROGRESS_PREFIX}web: packer log: "), run.stdout
    running = [line for line in lines[1:] if "packer running" in line]
    assert len(running) >= 2, lines
    assert any("last: amazon-ebs.none: Creating AMI web-" in line for line in running), lines


def test_the_ami_is_waited_for_until_it_is_listed(monkeypatch):
    from ansible_collections.cattle.immutable.plugins.module_utils import image_build as build_utils

    answers = [[], [], [{"ImageId": "ami-12345678", "State": "pending"}], [{"ImageId": "ami-12345678",
                                                                            "State": "available"}]]

    class SlowEC2:
        def can_paginate(self, _operation):
            return False

        def describe_images(self, **_request):
            return {"Images": answers.pop(0)}

    image = build_utils.wait_until_available(SlowEC2(), "ami-12345678", timeout=5, interval=0.01)
    assert image["state"] == "available" and answers == []
    answers.extend([[]] * 1000)
    with pytest.raises(build_utils.BuildError, match="not visible after 0.1 s"):
        build_utils.wait_until_available(SlowEC2(), "ami-12345678", timeout=0.1, interval=0.01)


def test_the_build_playbook_prints_one_line_and_passes_the_image_on(ec2, build_env, tmp_path, source_ami):
    # The sandbox's small template; the playbook's default is packer/golden (tests/e2e/test_golden_image.py).
    extra = {"app": "web", "build_vars": {"source_ami": source_ami}, "build_template": str(TEMPLATE),
             "build_only": ["amazon-ebs.none"]}
    cmd = [str(VENV_BIN / "ansible-playbook"), str(BUILD_PLAYBOOK), "-e", json.dumps(extra)]
    first = run_ansible(cmd, build_env)
    assert not first.failed, first.explain()
    message = first.result("Report the image")["msg"]
    image_id = first.result("Build the image of web")["image_id"]
    assert message.startswith(f"web: {image_id} new, fingerprint "), message
    assert first.report["global_custom_stats"]["cattle_build"]["image_id"] == image_id
    second = run_ansible(cmd, build_env)
    assert second.result("Report the image")["msg"].startswith(f"web: {image_id} reused (same inputs, Packer not run)")
    assert second.report["global_custom_stats"]["cattle_build"]["outcome"] == "reused"


@pytest.mark.standin
def test_a_build_over_ssh_runs_the_image_playbook_in_the_stand_in_and_tags_its_report(
    ec2, build_env, tmp_path, template, source_ami, standin
):
    variables = dict(standin.packer_vars())
    variables.update({
        "ansible_env_vars": standin.packer_ansible_env_vars(),
        "ansible_playbook_command": str(VENV_BIN / "ansible-playbook"),
        "lynis_score": 66,
    })
    args = args_for(template, source_ami, only=["amazon-ebs.ssh"], vars=variables,
                    fingerprint_ignore_vars=sorted(set(standin.packer_vars()) | {"ansible_env_vars"}))
    result = built(image_build(build_env, tmp_path, **args))
    assert result["outcome"] == "built"
    assert standin.run(["cat", "/etc/cattle-build-marker"]).stdout == "provisioned by packer for sandbox-smoke\n"
    tags = tags_of(images_named(ec2, result["ami_name"])[0])
    assert tags["cattle:validation"] == "passed" and tags["cattle:lynis-score"] == "66"


def imds_support_of(ec2, image_id):
    return ec2.describe_images(ImageIds=[image_id])["Images"][0].get("ImdsSupport")


def test_a_new_image_requires_imdsv2_and_a_reuse_leaves_it_alone(aws, ec2, build_env, tmp_path, template, source_ami):
    first = built(image_build(build_env, tmp_path, **args_for(template, source_ami)))
    image_id = first["image_id"]
    # Packer 1.6.6 registers the AMI without ImdsSupport: image_build sets it, before the completion tag.
    assert first["imds_support"] == [
        {"image_id": image_id, "region": "us-east-1", "before": None, "after": "v2.0", "changed": True}
    ]
    assert imds_support_of(ec2, image_id) == "v2.0"
    assert ec2.describe_image_attribute(ImageId=image_id, Attribute="imdsSupport")["ImdsSupport"]["Value"] == "v2.0"
    aws.control.reset_counters()
    again = built(image_build(build_env, tmp_path, **args_for(template, source_ami)))
    assert again["changed"] is False and again["outcome"] == "reused"
    assert again["imds_support"][0]["before"] == "v2.0" and again["imds_support"][0]["changed"] is False
    assert "ec2:ModifyImageAttribute" not in aws.control.counters()


def complete_image_without_imds(ec2, fingerprint):
    name = "web-" + fingerprint[:16]
    return name, register_image(ec2, name, {
        "cattle:app": "web", "cattle:fingerprint": fingerprint, "cattle:built-at": "2026-01-01T00:00:00Z",
    })


def test_a_reused_image_without_imdsv2_gets_it_check_mode_only_says_so(
    aws, ec2, build_env, tmp_path, template, source_ami
):
    fingerprint = "cd" * 32
    _name, image_id = complete_image_without_imds(ec2, fingerprint)
    aws.control.reset_counters()
    planned = built(image_build(build_env, tmp_path, check=True, fingerprint=fingerprint,
                                **args_for(template, source_ami)))
    assert planned["outcome"] == "reused" and planned["changed"] is True
    assert planned["imds_support"] == [
        {"image_id": image_id, "region": "us-east-1", "before": None, "after": "v2.0", "changed": True}
    ]
    assert imds_support_of(ec2, image_id) is None
    assert "ec2:ModifyImageAttribute" not in aws.control.counters()

    real = built(image_build(build_env, tmp_path, fingerprint=fingerprint, **args_for(template, source_ami)))
    assert real["outcome"] == "reused" and real["changed"] is True and real["image_id"] == image_id
    assert imds_support_of(ec2, image_id) == "v2.0"
    assert "ec2:RunInstances" not in aws.control.counters()
    again = built(image_build(build_env, tmp_path, fingerprint=fingerprint, **args_for(template, source_ami)))
    assert again["changed"] is False and again["imds_support"][0]["changed"] is False


def test_imds_support_as_built_leaves_the_image_as_the_template_made_it(
    ec2, build_env, tmp_path, template, source_ami
):
    result = built(image_build(build_env, tmp_path, imds_support="as-built", **args_for(template, source_ami)))
    assert result["outcome"] == "built"
    assert result["imds_support"] == [
        {"image_id": result["image_id"], "region": "us-east-1", "before": None, "after": None, "changed": False}
    ]
    assert imds_support_of(ec2, result["image_id"]) is None


def test_a_refused_imds_support_value_names_the_option_and_changes_nothing(
    aws, ec2, build_env, tmp_path, template, source_ami
):
    run = image_build(build_env, tmp_path, imds_support="v1.0", **args_for(template, source_ami))
    assert run.failed
    message = run.result("build")["msg"]
    assert "imds_support" in message and "v1.0" in message
    assert own_images(ec2, source_ami) == []
