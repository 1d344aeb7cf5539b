"""image_promote's gates, request checks and history records: the parts that need no AWS call."""

import json
import re

import pytest

from ansible_collections.cattle.immutable.plugins.module_utils import image_promote as promotion
from ansible_collections.cattle.immutable.plugins.module_utils._common import naming

STAGES = ["dev", "staging", "prod"]
GOOD_TAGS = {naming.TAG_APP: "web", naming.TAG_VALIDATION: "passed", naming.TAG_LYNIS_SCORE: "80",
             naming.TAG_TESTED: "passed 2026-12-01T00:00:00Z"}


def request(**given):
    base = {"app": "web", "image_id": "ami-0123456789abcdef0", "prefix": "cattle", "stages": list(STAGES),
            "state": "present", "stage": "staging", "min_lynis_score": 70, "history_size": 10, "wait_timeout": 10,
            "require_validation": True, "require_tested": True, "force": False}
    base.update(given)
    return base


def refusals(tags, skipped_stage=None, state="available", **given):
    return promotion.promotion_refusals({"State": state}, tags, request(**given), skipped_stage)


def test_a_validated_tested_image_of_the_app_passes_every_gate():
    assert refusals(GOOD_TAGS) == []


@pytest.mark.parametrize("tags, reason", [
    (dict(GOOD_TAGS, **{naming.TAG_APP: "api"}), "it belongs to app 'api'"),
    ({k: v for k, v in GOOD_TAGS.items() if k != naming.TAG_APP}, "it has no cattle:app tag"),
    (dict(GOOD_TAGS, **{naming.TAG_REVOKED: "bad build"}), "it was revoked (cattle:revoked: bad build)"),
    (dict(GOOD_TAGS, **{naming.TAG_VALIDATION: "failed"}), "its validation did not pass"),
    (dict(GOOD_TAGS, **{naming.TAG_LYNIS_SCORE: "65"}), "its Lynis score 65 is below min_lynis_score 70"),
    (dict(GOOD_TAGS, **{naming.TAG_LYNIS_SCORE: "n/a"}), "it has no Lynis score"),
    (dict(GOOD_TAGS, **{naming.TAG_TESTED: "failed 2026-12-01T00:00:00Z"}), "it has not passed its test from outside"),
])
def test_each_gate_names_why_it_refuses(tags, reason):
    assert any(text.startswith(reason) for text in refusals(tags)), refusals(tags)


def test_a_pending_image_is_refused_naming_its_state():
    assert refusals(GOOD_TAGS, state="pending") == ["its state is 'pending', not 'available'"]


def test_the_first_stage_needs_no_test_from_outside_and_require_tested_false_skips_it():
    untested = dict(GOOD_TAGS, **{naming.TAG_TESTED: "failed"})
    assert refusals(untested, stage="dev") == []
    assert refusals(untested, require_tested=False) == []
    assert promotion.untested_past_first_stage(untested, request(require_tested=False), required=False)


def test_require_validation_false_skips_the_validation_gates_only():
    unvalidated = dict(GOOD_TAGS, **{naming.TAG_VALIDATION: "failed", naming.TAG_APP: "api"})
    assert [text[:17] for text in refusals(unvalidated, require_validation=False)] == ["it belongs to app"]


def test_a_skipped_stage_is_refused_unless_forced():
    assert refusals(GOOD_TAGS, skipped_stage="dev")[0].startswith("it has not been promoted to 'dev'")
    assert refusals(GOOD_TAGS, skipped_stage="dev", force=True) == []


def test_the_stage_before_is_none_for_the_first():
    assert [promotion.stage_before(stage, STAGES) for stage in STAGES] == [None, "dev", "staging"]


@pytest.mark.parametrize("given, message", [
    (dict(stages=[]), "stages must name at least one stage"),
    (dict(stages=["dev", "prod", "dev"]), "stages lists dev more than once"),
    (dict(stage="qa"), "stage 'qa' is not one of stages [dev, staging, prod]"),
    (dict(history_size=-1), "history_size must not be negative, got -1"),
])
def test_requests_that_cannot_be_right_are_refused(given, message):
    with pytest.raises(promotion.Refusal, match=re.escape(message)):
        promotion.validate_request(request(**given))


def test_a_revocation_needs_no_target_stage():
    promotion.validate_request(request(state="revoked", stage=None))


def test_a_history_record_fits_the_description_and_keeps_what_it_can_of_the_reason():
    text = promotion.history_record("promote", "ci", "2026-12-01T00:00:00Z", "ami-1", False, "é" * 3000)
    record = json.loads(text)
    assert len(text) <= promotion.DESCRIPTION_MAX and record["reason"].endswith("...")
    assert len(record["reason"]) > 900 and record["action"] == "promote" and "untested" not in record


def test_a_history_record_reads_back_and_a_foreign_description_reads_as_nothing():
    text = promotion.history_record("revoke", "ci", "2026-12-01T00:00:00Z", None, True, "bad", untested=True)
    assert promotion.parse_record(text) == {"action": "revoke", "by": "ci", "at": "2026-12-01T00:00:00Z",
                                            "previous": None, "forced": True, "reason": "bad", "untested": True}
    assert promotion.parse_record("set by hand") == {} and promotion.parse_record('["a"]') == {}
