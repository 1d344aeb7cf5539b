"""Which AWS API call an HTTP request is, and how many of each the sandbox has seen."""

import io
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from typing import Any

# How each protocol family shapes its errors (see faults.py).
EC2 = "ec2"
QUERY = "query"
JSON = "json"
REST = "rest"


@dataclass(frozen=True)
class Call:
    service: str  # the SigV4 signing name: ec2, autoscaling, elasticloadbalancing, monitoring, ...
    action: str  # DescribeImages, ...; for REST APIs the HTTP method
    protocol: str
    query_compatible: bool = False  # a JSON API that still answers query-style error codes
    text: str = ""  # the request's parameters as text (form-decoded, or the JSON body), for fault rules that match on them

    @property
    def key(self) -> str:
        return f"{self.service}:{self.action}"


def identify(environ: dict[str, Any]) -> Call:
    """Reads the call from the request; the body is read once and put back for moto."""
    service = _signing_service(environ.get("HTTP_AUTHORIZATION", "")) or "unknown"
    text = _request_text(environ)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        query_compatible = environ.get("HTTP_X_AMZN_QUERY_MODE", "").lower() == "true"
        return Call(service, target.rsplit(".", 1)[-1], JSON, query_compatible, text)
    action = _query_action(environ)
    if action:
        return Call(service, action, EC2 if service == "ec2" else QUERY, text=text)
    return Call(service, environ.get("REQUEST_METHOD", "GET"), REST, text=text)


def _request_text(environ: dict[str, Any]) -> str:
    """The query string and body, form-decoded where they are forms."""
    body = read_body(environ).decode("utf-8", "replace")
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = urllib.parse.unquote_plus(body)
    return urllib.parse.unquote_plus(environ.get("QUERY_STRING", "")) + "\n" + body


def _signing_service(authorization: str) -> str | None:
    # "AWS4-HMAC-SHA256 Credential=KEY/20240101/us-east-1/ec2/aws4_request, SignedHeaders=..."
    for part in authorization.replace(",", " ").split():
        if part.startswith("Credential="):
            scope = part[len("Credential=") :].split("/")
            if len(scope) == 5:
                return scope[3]
    return None


def _query_action(environ: dict[str, Any]) -> str | None:
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(read_body(environ).decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body, left readable again for whoever handles the request next."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class RequestCounters:
    """Requests per "service:Action", faulted ones included."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, call: Call) -> None:
        with self._lock:
            self._counts[call.key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
