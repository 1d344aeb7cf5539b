"""A load generator for the sandbox's load balancers: what users see while traffic moves.

Workers send GET requests to a URL (a load balancer's DNSName, resolved inside the sandbox's
namespace) over kept-alive connections, at a bounded rate, until a count or a duration is
reached or stop() is called: it never runs unbounded. Each answer is recorded (when, status,
latency, what it says: "app 1.0.0" for the image's app, else the body's first line), and
summary() gives what the demo prints and the tests assert: requests, failures (non-2xx answers
and connection errors), p50/p99 latency, and which answer came back over time.

    with LoadGenerator("http://web-123.us-east-1.elb.amazonaws.com/", rate=50) as load:
        ...  # deploy, roll back
    load.summary()["failed"]
"""

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_WORKERS = 4
DEFAULT_MAX_REQUESTS = 20_000
DEFAULT_MAX_SECONDS = 900.0


@dataclass(frozen=True)
class Answer:
    started: float  # seconds since the load began
    status: int | None  # None: the connection failed
    seconds: float
    says: str  # the body's first line, or the connection error


class LoadGenerator:
    """Bounded HTTP load on one URL; start() ... stop(), or use it as a context manager."""

    def __init__(self, url: str, rate: float = 50.0, workers: int = DEFAULT_WORKERS,
                 max_requests: int = DEFAULT_MAX_REQUESTS, max_seconds: float = DEFAULT_MAX_SECONDS,
                 timeout: float = 10.0):
        if rate <= 0 or workers < 1 or max_requests < 1 or max_seconds <= 0:
            raise ValueError("rate, workers, max_requests and max_seconds must be positive")
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.path = parts.path or "/"
        self.interval = workers / rate  # each worker's pause between requests
        self.workers, self.max_requests, self.max_seconds, self.timeout = workers, max_requests, max_seconds, timeout
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._began = 0.0

    def __enter__(self) -> "LoadGenerator":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> "LoadGenerator":
        self._began = time.monotonic()
        self._threads = [threading.Thread(target=self._work, name=f"load-{n}", daemon=True)
                         for n in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.summary()

    @property
    def sent(self) -> int:
        with self._lock:
            return len(self.answers)

    def _work(self) -> None:
        connection = None
        while not self._done():
            started = time.monotonic()
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            answer = self._one(connection, started)
            if answer.status is None:
                connection.close()
                connection = None
            with self._lock:
                self.answers.append(answer)
            self._stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))
        if connection is not None:
            connection.close()

    def _done(self) -> bool:
        if self._stopping.is_set() or time.monotonic() - self._began >= self.max_seconds:
            return True
        with self._lock:
            return len(self.answers) >= self.max_requests

    def _one(self, connection: http.client.HTTPConnection, started: float) -> Answer:
        try:
            connection.request("GET", self.path)
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            return Answer(started - self._began, response.status, time.monotonic() - started, what_it_says(body))
        except (OSError, http.client.HTTPException) as error:
            return Answer(started - self._began, None, time.monotonic() - started, f"{error.__class__.__name__}")

    def summary(self, bucket_seconds: float = 5.0) -> dict[str, Any]:
        """Requests, failures, latency and which answers came back in each time bucket."""
        with self._lock:
            answers = list(self.answers)
        latencies = sorted(answer.seconds for answer in answers)
        failed = [answer for answer in answers if answer.status is None or not 200 <= answer.status < 300]
        timeline: dict[int, Counter] = {}
        for answer in answers:
            timeline.setdefault(int(answer.started // bucket_seconds), Counter())[
                answer.says if answer.status and 200 <= answer.status < 300 else f"FAILED {answer.status or answer.says}"
            ] += 1
        return {
            "requests": len(answers),
            "failed": len(failed),
            "non_2xx": sum(1 for answer in failed if answer.status is not None),
            "connection_errors": sum(1 for answer in failed if answer.status is None),
            "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
            "answers": dict(Counter(answer.says for answer in answers if answer.status and 200 <= answer.status < 300)),
            "timeline": [{"from_s": index * bucket_seconds, "answers": dict(counts)}
                         for index, counts in sorted(timeline.items())],
            "failures": [{"at_s": round(a.started, 2), "status": a.status, "says": a.says} for a in failed[:20]],
        }


def what_it_says(body: str) -> str:
    """"app 1.0.0" for the image's app (a JSON health answer with name and version), else the first line."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "version" in answer:
        return f"{answer.get('name', 'app')} {answer['version']}"
    return body.strip().splitlines()[0] if body.strip() else ""


def _percentile(ordered: list[float], percent: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, int(round(percent / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def timeline_text(summary: dict[str, Any]) -> list[str]:
    """Which answers came back when: a line per time bucket, consecutive buckets that all got one
    and the same answer on one line ("  0-200 s  app 1.0.0 x7868")."""
    runs: list[tuple[float, float, Counter]] = []
    width = _bucket_width(summary["timeline"])
    for bucket in summary["timeline"]:
        answers = Counter(bucket["answers"])
        last = runs[-1] if runs else None
        if last and len(answers) == 1 and set(answers) == set(last[2]) and last[1] == bucket["from_s"]:
            runs[-1] = (last[0], bucket["from_s"] + width, last[2] + answers)
        else:
            runs.append((bucket["from_s"], bucket["from_s"] + width, answers))
    return ["{0:>5.0f}-{1:<5.0f} s  {2}".format(start, end, ", ".join(
        f"{says} x{count}" for says, count in sorted(answers.items()))) for start, end, answers in runs]


def _bucket_width(timeline: list[dict[str, Any]]) -> float:
    starts = [bucket["from_s"] for bucket in timeline]
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:]) if later > earlier]
    return min(gaps) if gaps else 5.0
