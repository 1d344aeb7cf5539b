"""The tags a build puts on its AMI from the image's validation report."""

from ansible_collections.cattle.immutable.plugins.module_utils.image_build import validation_tags


def test_the_report_gives_result_score_and_what_the_image_serves():
    report = {"result": "passed", "lynis_score": 80,
              "serves": {"unit": "app", "port": 8080, "health_path": "/health"}}

    assert validation_tags(report) == {
        "cattle:validation": "passed", "cattle:lynis-score": "80",
        "cattle:app-unit": "app", "cattle:app-port": "8080", "cattle:health-path": "/health",
    }


def test_a_report_without_serves_or_score_gives_only_what_it_has():
    assert validation_tags({"result": "failed", "lynis_score": None, "serves": None}) == {
        "cattle:validation": "failed"}
    assert validation_tags({"result": "passed", "serves": {"unit": "", "port": 8080}}) == {
        "cattle:validation": "passed", "cattle:app-port": "8080"}
    assert validation_tags(None) == {}
