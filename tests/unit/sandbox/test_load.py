"""The load generator's reading of answers and its summary."""

from cattle_sandbox.load import Answer, LoadGenerator, timeline_text, what_it_says


def test_the_apps_health_answer_says_name_and_version_and_other_bodies_their_first_line():
    assert what_it_says('{"status": "ok", "name": "app", "version": "2.0.0", "uptime_seconds": 3.1}') == "app 2.0.0"
    assert what_it_says("<html>\n<body>502</body>") == "<html>"
    assert what_it_says("") == ""


def test_the_summary_counts_failures_latency_and_answers_over_time():
    load = LoadGenerator("http://web-1.us-east-1.elb.amazonaws.com/health")
    load.answers = [Answer(0.5, 200, 0.010, "app 1.0.0"), Answer(1.0, 200, 0.020, "app 1.0.0"),
                    Answer(6.0, 502, 0.030, "<html>"), Answer(7.0, None, 0.040, "ConnectionResetError"),
                    Answer(8.0, 200, 0.015, "app 2.0.0")]

    summary = load.summary(bucket_seconds=5)

    assert (summary["requests"], summary["failed"], summary["non_2xx"], summary["connection_errors"]) == (5, 2, 1, 1)
    assert summary["answers"] == {"app 1.0.0": 2, "app 2.0.0": 1}
    assert summary["p50_ms"] == 20.0 and summary["p99_ms"] == 40.0
    assert timeline_text(summary) == [
        "    0-5     s  app 1.0.0 x2",
        "    5-10    s  FAILED 502 x1, FAILED ConnectionResetError x1, app 2.0.0 x1",
    ]


def test_consecutive_buckets_with_one_and_the_same_answer_share_a_line():
    summary = {"timeline": [{"from_s": 0, "answers": {"app 1.0.0": 50}}, {"from_s": 10, "answers": {"app 1.0.0": 40}},
                            {"from_s": 20, "answers": {"app 1.0.0": 5, "app 2.0.0": 30}},
                            {"from_s": 30, "answers": {"app 2.0.0": 45}}, {"from_s": 40, "answers": {"app 2.0.0": 9}}]}

    assert timeline_text(summary) == [
        "    0-20    s  app 1.0.0 x90",
        "   20-30    s  app 1.0.0 x5, app 2.0.0 x30",
        "   30-50    s  app 2.0.0 x54",
    ]
