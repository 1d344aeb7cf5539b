"""cattle.immutable.image_promote and playbooks/promote.yml through real ansible-playbook runs."""

import datetime
import json
import re

import pytest

from fixtures.ansible import REPO_ROOT, module_play, run_playbook
from fixtures.aws import register_image

pytestmark = pytest.mark.sandbox


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
WRITES = ("ssm:PutParameter", "ssm:DeleteParameter", "ec2:CreateTags", "ec2:DeleteTags", "ec2:EnableImageDeprecation")


def promote_play(**args):
    return module_play("promote", "image_promote", args)


def build(ec2, name, app="web", validation="passed", score="70", tested="passed 2026-12-01T00:00:00Z", **extra_tags):
    """An AMI as the build and its test from outside leave it: app, validation evidence, the
    test's result and any further tags."""
    tags = {"cattle:app": app, "cattle:managed-by": "cattle.immutable"}
    if tested is not None:
        tags["cattle:tested"] = tested
    if validation is not None:
        tags["cattle:validation"] = validation
    if score is not None:
        tags["cattle:lynis-score"] = score
    tags.update({key.replace("__", ":"): value for key, value in extra_tags.items()})
    return register_image(ec2, name, tags)


def tags_of(ec2, image_id):
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def pointer(ssm, stage, app="web"):
    return ssm.get_parameter(Name=f"/cattle/{app}/{stage}")["Parameter"]


def history(ssm, stage, app="web"):
    return ssm.get_parameter_history(Name=f"/cattle/{app}/{stage}")["Parameters"]


def sandbox_state(ec2, ssm):
    """Every AMI with its tags and deprecation, every parameter with its value and version."""
    images = sorted(
        (image["ImageId"], image["State"], image.get("DeprecationTime"), repr(sorted(image.get("Tags", []), key=str)))
        for image in ec2.describe_images(Owners=["self"])["Images"]
    )
    parameters = sorted(
        (p["Name"], p["Value"], p["Version"])
        for p in ssm.get_parameters_by_path(Path="/", Recursive=True)["Parameters"]
    )
    return images, parameters


def writes_in(counters):
    return {call: count for call, count in counters.items() if call in WRITES}


def promote(playbook, **args):
    run = playbook(promote_play(**args))
    assert not run.failed, run.explain()
    return run.result("promote")


def refused_unchanged(playbook, play, ec2, ssm, *named):
    """Runs `play`: it fails, its message names each of `named` and ends with 'nothing was changed',
    and no AMI or parameter changed. The message, for further checks."""
    before = sandbox_state(ec2, ssm)
    run = playbook(play)
    assert run.failed
    msg = run.result("promote")["msg"]
    assert all(text in msg for text in named) and msg.endswith("nothing was changed"), msg
    assert sandbox_state(ec2, ssm) == before
    return msg


@pytest.fixture
def good(ec2):
    return build(ec2, "web-0000000000000001")


@pytest.fixture
def better(ec2):
    return build(ec2, "web-0000000000000002")


def test_promotes_to_dev_then_staging(playbook, ec2, ssm, good):
    dev = promote(playbook, app="web", image_id=good, stage="dev", promoted_by="alice", reason="first build")
    assert dev["changed"] is True
    assert (dev["image_id"], dev["stage"], dev["previous"], dev["forced"]) == (good, "dev", None, False)
    assert dev["parameter"] == {"name": "/cattle/web/dev", "version": 1}
    parameter = pointer(ssm, "dev")
    assert (parameter["Value"], parameter["Type"], parameter["DataType"]) == (good, "String", "aws:ec2:image")
    assert ISO_UTC.match(tags_of(ec2, good)["cattle:stage:dev"])

    staging = promote(playbook, app="web", image_id=good, stage="staging")
    assert staging["changed"] is True and staging["parameter"] == {"name": "/cattle/web/staging", "version": 1}
    assert pointer(ssm, "staging")["Value"] == good
    assert ISO_UTC.match(tags_of(ec2, good)["cattle:stage:staging"])


def test_returns_the_previous_image_and_records_history(playbook, ssm, good, better):
    promote(playbook, app="web", image_id=good, stage="dev", promoted_by="alice", reason="first")
    second = promote(playbook, app="web", image_id=better, stage="dev", promoted_by="bob", reason="second")
    assert second["previous"] == good
    assert second["parameter"]["version"] == 2
    newest, oldest = second["history"]
    assert (newest["version"], newest["image_id"], newest["by"], newest["previous"], newest["reason"]) == (
        2, better, "bob", good, "second")
    assert (oldest["version"], oldest["image_id"], oldest["by"], oldest["previous"]) == (1, good, "alice", None)
    assert newest["action"] == "promote" and newest["forced"] is False and ISO_UTC.match(newest["at"])
    # The record lives in AWS, in each version's Description, not only in our answer.
    records = [json.loads(version["Description"]) for version in history(ssm, "dev")]
    assert [(r["by"], r["previous"]) for r in records] == [("alice", None), ("bob", good)]


def test_history_size_limits_the_entries_returned(playbook, good, better):
    promote(playbook, app="web", image_id=good, stage="dev")
    result = promote(playbook, app="web", image_id=better, stage="dev", history_size=1)
    assert [entry["image_id"] for entry in result["history"]] == [better]


def test_promoted_by_defaults_to_the_user_running_it(playbook, ssm, good):
    import getpass

    promote(playbook, app="web", image_id=good, stage="dev")
    assert json.loads(history(ssm, "dev")[0]["Description"])["by"] == getpass.getuser()


def test_second_identical_promotion_changes_nothing(playbook, aws, ssm, good):
    first = promote(playbook, app="web", image_id=good, stage="dev")
    aws.control.reset_counters()
    second = promote(playbook, app="web", image_id=good, stage="dev")
    assert second["changed"] is False and second["actions"] == []
    assert second["parameter"] == first["parameter"]
    assert second["previous"] is None
    assert writes_in(aws.control.counters()) == {}
    assert pointer(ssm, "dev")["Version"] == 1


def test_a_missing_stage_tag_is_restored_without_rewriting_the_pointer(playbook, aws, ec2, ssm, good):
    promote(playbook, app="web", image_id=good, stage="dev")
    ec2.delete_tags(Resources=[good], Tags=[{"Key": "cattle:stage:dev"}])
    aws.control.reset_counters()
    result = promote(playbook, app="web", image_id=good, stage="dev")
    assert result["changed"] is True
    assert writes_in(aws.control.counters()) == {"ec2:CreateTags": 1}
    assert "cattle:stage:dev" in tags_of(ec2, good)
    assert pointer(ssm, "dev")["Version"] == 1


def test_check_mode_writes_nothing_and_says_what_it_would_do(playbook, aws, ec2, ssm, good, better):
    promote(playbook, app="web", image_id=good, stage="dev")
    before = sandbox_state(ec2, ssm)
    aws.control.reset_counters()
    run = playbook(promote_play(app="web", image_id=better, stage="dev"), check=True)
    assert not run.failed, run.explain()
    result = run.result("promote")
    assert result["changed"] is True and result["previous"] == good
    assert result["parameter"] == {"name": "/cattle/web/dev", "version": 1}
    assert any(f"point /cattle/web/dev at {better} (was {good})" in action for action in result["actions"])
    assert any("cattle:stage:dev" in action for action in result["actions"])
    assert writes_in(aws.control.counters()) == {}
    assert sandbox_state(ec2, ssm) == before


def test_check_mode_still_applies_the_gates(playbook, ec2, ssm):
    failed = build(ec2, "web-00000000000000ff", validation="failed")
    run = playbook(promote_play(app="web", image_id=failed, stage="dev"), check=True)
    assert run.failed
    assert "validation did not pass" in run.result("promote")["msg"]


REFUSALS = {
    "unknown AMI": ("unknown", "dev", {"wait_timeout": 1}, "image_id ami-0123456789abcdef0: no such AMI"),
    "another app's AMI": ("api", "dev", {}, "belongs to app 'api' (cattle:app), not 'web'"),
    "unknown stage": ("good", "qa", {}, "stage 'qa' is not one of stages [dev, staging, prod]"),
    "skipped stage": ("good", "staging", {}, "has not been promoted to 'dev' (no tag cattle:stage:dev)"),
    "revoked image": ("revoked", "dev", {}, "it was revoked (cattle:revoked: 2026-01-01T00:00:00Z bad)"),
    "unvalidated image": ("unvalidated", "dev", {}, "validation did not pass (cattle:validation: missing)"),
    "failed validation": ("failed", "dev", {}, "validation did not pass (cattle:validation: failed)"),
    "low Lynis score": ("good", "dev", {"min_lynis_score": 80}, "its Lynis score 70 is below min_lynis_score 80"),
    "no Lynis score": ("unscored", "dev", {}, "it has no Lynis score (cattle:lynis-score: missing)"),
    "untested image past dev": ("untested", "staging", {"force": True},
                                "it has not passed its test from outside (cattle:tested: missing), which 'staging' "
                                "requires: run playbooks/validate.yml, or require_tested=false"),
    "failed test past dev": ("test_failed", "staging", {"force": True},
                             "(cattle:tested: failed 2026-12-01T00:00:00Z: GET / answered 500, expected 200)"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_input_fails_naming_it_and_changes_nothing(playbook, aws, ec2, ssm, good, case):
    kind, stage, options, message = REFUSALS[case]
    images = {
        "good": good,
        "unknown": "ami-0123456789abcdef0",
        "api": build(ec2, "api-0000000000000001", app="api"),
        "revoked": build(ec2, "web-00000000000000aa", cattle__revoked="2026-01-01T00:00:00Z bad"),
        "unvalidated": build(ec2, "web-00000000000000bb", validation=None),
        "failed": build(ec2, "web-00000000000000cc", validation="failed"),
        "unscored": build(ec2, "web-00000000000000dd", score=None),
        "untested": build(ec2, "web-00000000000000ee", tested=None),
        "test_failed": build(ec2, "web-00000000000000ff", tested="failed 2026-12-01T00:00:00Z: GET / answered 500, expected 200"),
    }
    promote(playbook, app="web", image_id=good, stage="dev")
    ec2.delete_tags(Resources=[good], Tags=[{"Key": "cattle:stage:dev"}])  # so staging would skip dev
    aws.control.reset_counters()
    msg = refused_unchanged(playbook, promote_play(app="web", image_id=images[kind], stage=stage, **options),
                            ec2, ssm, message)
    if stage != "qa":
        assert images[kind] in msg
    assert writes_in(aws.control.counters()) == {}


def test_an_unknown_ami_is_looked_for_again_before_it_is_called_unknown(playbook, aws):
    aws.control.reset_counters()
    run = playbook(promote_play(app="web", image_id="ami-0123456789abcdef0", stage="dev", wait_timeout=2))
    assert run.failed and "no such AMI" in run.result("promote")["msg"]
    assert aws.control.counters()["ec2:DescribeImages"] >= 2


def test_force_skips_a_stage_and_records_it(playbook, ec2, ssm, good):
    result = promote(playbook, app="web", image_id=good, stage="prod", force=True, reason="hotfix")
    assert result["changed"] is True and result["forced"] is True and result["skipped_stage"] == "staging"
    assert pointer(ssm, "prod")["Value"] == good
    record = json.loads(history(ssm, "prod")[0]["Description"])
    assert record["forced"] is True and record["reason"] == "hotfix"
    assert result["history"][0]["forced"] is True


def test_an_untested_image_is_promoted_to_dev_and_past_it_only_with_require_tested_false_recorded(
        playbook, ec2, ssm):
    untested = build(ec2, "web-00000000000000ee", tested=None)
    assert promote(playbook, app="web", image_id=untested, stage="dev")["untested"] is False

    result = promote(playbook, app="web", image_id=untested, stage="staging", require_tested=False, reason="hotfix")

    assert result["changed"] is True and result["untested"] is True and result["forced"] is False
    assert pointer(ssm, "staging")["Value"] == untested
    record = json.loads(history(ssm, "staging")[0]["Description"])
    assert record["untested"] is True and record["reason"] == "hotfix"
    assert result["history"][0]["untested"] is True
    # A tested image's record does not carry the flag.
    assert "untested" not in json.loads(history(ssm, "dev")[0]["Description"])


def test_force_does_not_skip_validation(playbook, ec2):
    failed = build(ec2, "web-00000000000000cc", validation="failed")
    run = playbook(promote_play(app="web", image_id=failed, stage="dev", force=True))
    assert run.failed and "validation did not pass" in run.result("promote")["msg"]


def test_a_long_reason_is_cut_to_fit_the_description(playbook, ssm, good):
    reason = 'quoted "é" \\ ' * 200  # JSON escapes make the record longer than the text
    promote(playbook, app="web", image_id=good, stage="dev", reason=reason)
    description = history(ssm, "dev")[0]["Description"]
    assert 1000 < len(description) <= 1024
    kept = json.loads(description)["reason"]
    assert kept.endswith("...") and reason.startswith(kept[:-3])


def test_faults_are_retried_and_the_promotion_succeeds(playbook, aws, ec2, ssm, good):
    aws.control.reset_counters()
    aws.control.add_fault(service="ssm", action="PutParameter", kind="throttle", count=3)
    aws.control.add_fault(service="ec2", action="CreateTags", kind="server_error", count=2)
    result = promote(playbook, app="web", image_id=good, stage="dev")
    assert result["changed"] is True and pointer(ssm, "dev")["Value"] == good
    assert "cattle:stage:dev" in tags_of(ec2, good)
    counters = aws.control.counters()
    assert counters["ssm:PutParameter"] == 4
    assert counters["ec2:CreateTags"] == 3
    assert pointer(ssm, "dev")["Version"] == 1


def test_throttling_beyond_botocore_retries_is_retried_by_the_module(playbook, aws, ssm, good):
    aws.control.reset_counters()
    aws.control.add_fault(service="ssm", action="PutParameter", kind="throttle", count=6)
    promote(playbook, app="web", image_id=good, stage="dev")
    assert aws.control.counters()["ssm:PutParameter"] == 7
    assert pointer(ssm, "dev")["Value"] == good


def test_api_calls_of_one_promotion(playbook, aws, good, better, capsys):
    promote(playbook, app="web", image_id=good, stage="dev")
    aws.control.reset_counters()
    promote(playbook, app="web", image_id=better, stage="dev")
    counters = aws.control.counters()
    with capsys.disabled():
        print(f"\nAPI calls of one promotion (pointer already set): {sum(counters.values())} {counters}")
    assert writes_in(counters) == {"ssm:PutParameter": 1, "ec2:CreateTags": 1}
    assert sum(counters.values()) <= 8


# ----- revocation -------------------------------------------------------------------------


def revoke_play(image_id, **options):
    return promote_play(app="web", image_id=image_id, state="revoked", **dict({"reason": "breaks TLS"}, **options))


def seed_promotion(ec2, ssm, image_id, stage):
    """What a promotion leaves behind, written directly (faster than running the module)."""
    ssm.put_parameter(Name=f"/cattle/web/{stage}", Value=image_id, Type="String", DataType="aws:ec2:image", Overwrite=True)
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": f"cattle:stage:{stage}", "Value": "2026-01-01T00:00:00Z"}])


@pytest.fixture
def two_releases(ec2, ssm, good, better):
    """good went dev -> staging -> prod, then better went dev -> staging."""
    for stage in ("dev", "staging", "prod"):
        seed_promotion(ec2, ssm, good, stage)
    for stage in ("dev", "staging"):
        seed_promotion(ec2, ssm, better, stage)
    return good, better


def test_revoke_moves_pointers_back_and_deprecates(playbook, ec2, ssm, two_releases):
    good, better = two_releases
    run = playbook(revoke_play(better))
    assert not run.failed, run.explain()
    result = run.result("promote")
    assert result["changed"] is True
    assert sorted((m["stage"], m["from"], m["to"]) for m in result["moved"]) == [
        ("dev", better, good), ("staging", better, good)]
    assert result["stranded"] == []
    assert [pointer(ssm, stage)["Value"] for stage in ("dev", "staging", "prod")] == [good, good, good]
    revoked_tags = tags_of(ec2, better)
    assert "breaks TLS" in revoked_tags["cattle:revoked"]
    assert not [key for key in revoked_tags if key.startswith("cattle:stage:")]
    assert ec2.describe_images(ImageIds=[better])["Images"][0].get("DeprecationTime")
    assert ec2.describe_images(ImageIds=[good])["Images"][0].get("DeprecationTime") is None
    record = json.loads(history(ssm, "dev")[-1]["Description"])
    assert record["action"] == "revert" and record["previous"] == better and "breaks TLS" in record["reason"]


# More than the 30 s by which AWS's rounding may move a time: a DeprecateAt taken before
# the pointer writes would be in the past however it was rounded.
SLOW_POINTER_WRITE = 35


def test_revoke_deprecates_even_when_the_pointer_writes_are_slow(playbook, aws, ec2, two_releases):
    better = two_releases[1]
    aws.control.add_fault(service="ssm", action="PutParameter", kind="delay", delay=SLOW_POINTER_WRITE, count=1)
    started = datetime.datetime.now(datetime.timezone.utc)
    run = playbook(revoke_play(better))
    finished = datetime.datetime.now(datetime.timezone.utc)
    assert not run.failed, run.explain()
    assert [rule["fired"] for rule in aws.control.faults()] == [1]
    deprecation = datetime.datetime.strptime(
        ec2.describe_images(ImageIds=[better])["Images"][0]["DeprecationTime"], "%Y-%m-%dT%H:%M:%S.000Z"
    ).replace(tzinfo=datetime.timezone.utc)
    assert started + datetime.timedelta(seconds=SLOW_POINTER_WRITE) < deprecation
    assert deprecation <= finished + datetime.timedelta(seconds=90)


def test_a_second_revoke_changes_nothing(playbook, aws, ec2, ssm, two_releases):
    better = two_releases[1]
    assert not playbook(revoke_play(better)).failed
    before = sandbox_state(ec2, ssm)
    aws.control.reset_counters()
    run = playbook(revoke_play(better))
    assert not run.failed, run.explain()
    assert run.result("promote")["changed"] is False
    assert writes_in(aws.control.counters()) == {}
    assert sandbox_state(ec2, ssm) == before


def test_a_revoked_image_cannot_be_promoted_again(playbook, two_releases):
    better = two_releases[1]
    assert not playbook(revoke_play(better)).failed
    run = playbook(promote_play(app="web", image_id=better, stage="dev"))
    assert run.failed and "was revoked" in run.result("promote")["msg"]


def test_revoke_skips_earlier_images_that_are_revoked_too(playbook, ec2, ssm, good, better):
    newest = build(ec2, "web-0000000000000003")
    for image_id in (good, better, newest):
        seed_promotion(ec2, ssm, image_id, "dev")
    assert not playbook(revoke_play(better)).failed
    run = playbook(revoke_play(newest))
    assert not run.failed, run.explain()
    assert [(m["stage"], m["to"]) for m in run.result("promote")["moved"]] == [("dev", good)]
    assert pointer(ssm, "dev")["Value"] == good


def test_revoke_without_an_earlier_good_image_is_refused_unless_forced(playbook, aws, ec2, ssm, good):
    promote(playbook, app="web", image_id=good, stage="dev")
    refused_unchanged(playbook, revoke_play(good), ec2, ssm, good, "/cattle/web/dev")

    forced = playbook(revoke_play(good, force=True))
    assert not forced.failed, forced.explain()
    result = forced.result("promote")
    assert result["moved"] == [] and [entry["stage"] for entry in result["stranded"]] == ["dev"]
    assert pointer(ssm, "dev")["Value"] == good
    assert "cattle:revoked" in tags_of(ec2, good)


def test_revoke_in_check_mode_writes_nothing(playbook, aws, ec2, ssm, two_releases):
    better = two_releases[1]
    before = sandbox_state(ec2, ssm)
    run = playbook(revoke_play(better), check=True)
    assert not run.failed, run.explain()
    result = run.result("promote")
    assert result["changed"] is True and len(result["moved"]) == 2
    assert sandbox_state(ec2, ssm) == before


def test_revoke_of_another_apps_image_is_refused(playbook, ec2, ssm):
    other = build(ec2, "api-0000000000000001", app="api")
    refused_unchanged(playbook, revoke_play(other), ec2, ssm, other, "belongs to app 'api'")


# ----- playbooks/promote.yml --------------------------------------------------------------


def run_promote_playbook(aws_env, **extra_vars):
    env = dict(aws_env, ANSIBLE_SHOW_CUSTOM_STATS="true")
    return run_playbook(REPO_ROOT / "playbooks" / "promote.yml", env, extra_vars=extra_vars)


def test_the_promote_playbook_walks_an_image_through_the_stages(aws_env, ssm, good):
    first = run_promote_playbook(aws_env, app="web", image_id=good, to="dev")
    assert not first.failed, first.explain()
    for stage in ("staging", "prod"):
        run = run_promote_playbook(aws_env, app="web", to=stage)
        assert not run.failed, run.explain()
        assert pointer(ssm, stage)["Value"] == good
    assert run.result("Say what happened")["msg"] == (
        f"web prod: unset -> {good} (/cattle/web/prod version 1)")
    stats = run.report["global_custom_stats"]["cattle_promotion"]
    assert (stats["stage"], stats["image_id"], stats["previous"]) == ("prod", good, None)
    again = run_promote_playbook(aws_env, app="web", to="prod")
    assert again.result("Say what happened")["msg"] == f"web prod: already {good}, nothing to do"


def test_the_promote_playbook_refuses_the_first_stage_without_an_image(aws_env):
    run = run_promote_playbook(aws_env, app="web", to="dev")
    assert run.failed
    assert "image_id is needed for the first stage" in run.result("Check the request")["msg"]
