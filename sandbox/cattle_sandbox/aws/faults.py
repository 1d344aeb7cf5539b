"""Fault and latency injection in front of the emulated API.

A rule matches calls by service and action and fires a number of times (`count`) or
with a probability drawn from its own seeded RNG, so a test run is repeatable. Kinds:

- throttle: the throttling error of the call's protocol (EC2 RequestLimitExceeded,
  query APIs Throttling, JSON APIs ThrottlingException), which botocore retries.
- server_error: a 5xx InternalError/InternalFailure or (503) Unavailable, also retried.
- delay: sleep, then serve the call.
- lose_response: serve the call (its side effect happens), then close the connection
  without answering, as when a response is lost on the way back.
- client_error: a 4xx error that is not retried, with the code and message given (for
  example AccessDenied, as when a policy lacks one permission): fails that call at once.

A rule may also name text its calls must contain (`match`, for example a listener's ARN
or an Auto Scaling group's name among the request's parameters) and let the first `after`
matching calls through, so a test can fail one step of a longer run.
"""

import http
import json
import random
import threading
import uuid
from dataclasses import asdict, dataclass, field
from xml.sax.saxutils import escape

from .calls import EC2, JSON, QUERY, Call

KINDS = ("throttle", "server_error", "delay", "lose_response", "client_error")
MAX_RULES = 100
MAX_DELAY_SECONDS = 60.0
SERVICE_ALIASES = {"elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing", "cloudwatch": "monitoring"}


@dataclass
class FaultRule:
    id: int
    service: str | None  # None: any service
    action: str | None  # None: any action
    kind: str
    count: int | None  # fires left; None: no limit
    probability: float
    delay: float
    status: int | None
    seed: int
    match: str | None = None  # text the call's parameters must contain
    after: int = 0  # matching calls still let through before the rule fires
    code: str | None = None  # client_error: the error code
    message: str | None = None  # client_error: the error message
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, call: Call) -> bool:
        return (
            self.service in (None, call.service)
            and self.action in (None, call.action)
            and (self.match is None or self.match in call.text)
        )

    def fires(self) -> bool:
        if self.after > 0:
            self.after -= 1
            return False
        if self.count is not None and self.count <= 0:
            return False
        if self.probability < 1.0 and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        if self.count is not None:
            self.count -= 1
        return True

    def describe(self) -> dict[str, object]:
        described = asdict(self)
        described.pop("_rng")
        described["remaining"] = described.pop("count")
        return described


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(
        self,
        service: str | None,
        action: str | None,
        kind: str,
        count: int | None = None,
        probability: float = 1.0,
        delay: float = 0.0,
        status: int | None = None,
        seed: int = 0,
        match: str | None = None,
        after: int = 0,
        code: str | None = None,
        message: str | None = None,
    ) -> int:
        _check_rule(kind, count, probability, delay, status)
        _check_targeting(kind, match, after, code, message)
        with self._lock:
            if len(self._rules) >= MAX_RULES:
                raise ValueError(f"at most {MAX_RULES} fault rules; clear some first")
            rule = FaultRule(
                self._next_id,
                _canonical_service(service),
                _wildcard_to_none(action),
                kind,
                count,
                float(probability),
                float(delay),
                status,
                seed,
                match or None,
                after,
                code,
                message,
            )
            rule._rng.seed(seed)
            self._rules.append(rule)
            self._next_id += 1
            return rule.id

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, object]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def fault_for(self, call: Call) -> FaultRule | None:
        """The first matching rule that fires for this call, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(call) and rule.fires():
                    return rule
        return None


def _wildcard_to_none(name: str | None) -> str | None:
    """Empty and "*" both mean: match any."""
    return None if not name or name == "*" else name


def _canonical_service(service: str | None) -> str | None:
    service = _wildcard_to_none(service)
    return None if service is None else SERVICE_ALIASES.get(service.lower(), service.lower())


def _check_rule(kind: str, count: int | None, probability: float, delay: float, status: int | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a whole number >= 1 or null, not {count!r}")
    if not isinstance(probability, (int, float)) or not 0.0 < probability <= 1.0:
        raise ValueError(f"probability must be in (0, 1], not {probability!r}")
    if not isinstance(delay, (int, float)) or not 0.0 <= delay <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay must be between 0 and {MAX_DELAY_SECONDS} seconds, not {delay!r}")
    if kind == "delay" and delay <= 0:
        raise ValueError("a delay rule needs delay > 0 seconds")
    if status is not None and (kind not in ("throttle", "server_error", "client_error") or not 400 <= status <= 599):
        raise ValueError("status applies to throttle (4xx/5xx), server_error (5xx) and client_error (4xx) rules only")
    if kind == "client_error" and status is not None and status >= 500:
        raise ValueError(f"a client_error status must be 4xx, not {status}")
    if kind == "server_error" and status is not None and status < 500:
        raise ValueError(f"a server_error status must be 5xx, not {status}")


def _check_targeting(kind: str, match: str | None, after: int, code: str | None, message: str | None) -> None:
    if match is not None and not isinstance(match, str):
        raise ValueError(f"match must be text, not {match!r}")
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError(f"after must be a whole number >= 0, not {after!r}")
    if (kind == "client_error") != bool(code):
        raise ValueError("code is required by client_error rules and applies to them only")
    if message is not None and kind != "client_error":
        raise ValueError("message applies to client_error rules only")


# -- error responses in each protocol's own shape -------------------------------------------


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {http.HTTPStatus(self.status).phrase}"


def error_response(call: Call, rule: FaultRule) -> ErrorResponse:
    code, message, default_status = _error_code(call, rule)
    status = rule.status or default_status
    fault_type = "Sender" if status < 500 else "Receiver"
    request_id = str(uuid.uuid4())
    if call.protocol == EC2:
        return _xml(status, request_id, _ec2_error(code, message, request_id))
    if call.protocol == JSON:
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)]
        if call.query_compatible:
            headers.append(("x-amzn-query-error", f"{code};{fault_type}"))
        body = json.dumps({"__type": code, "message": message}).encode()
        return ErrorResponse(status, headers, body)
    if call.protocol == QUERY:
        return _xml(status, request_id, _query_error(code, message, fault_type, request_id))
    return _xml(status, request_id, _rest_error(code, message, request_id))


def _error_code(call: Call, rule: FaultRule) -> tuple[str, str, int]:
    kind, status = rule.kind, rule.status
    if kind == "client_error":
        return str(rule.code), rule.message or f"{rule.code} (sandbox fault rule {rule.id})", 400
    if kind == "throttle":
        if call.protocol == EC2:
            return "RequestLimitExceeded", "Request limit exceeded.", 503
        if call.protocol == JSON and not call.query_compatible:
            return "ThrottlingException", "Rate exceeded", 400
        return "Throttling", "Rate exceeded", 400
    if status == 503:
        return ("Unavailable" if call.protocol == EC2 else "ServiceUnavailable"), "The service is unavailable.", 503
    return ("InternalError" if call.protocol == EC2 else "InternalFailure"), "An internal error has occurred.", 500


def _xml(status: int, request_id: str, document: str) -> ErrorResponse:
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return ErrorResponse(status, headers, document.encode())


def _ec2_error(code: str, message: str, request_id: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error></Errors>"
        f"<RequestID>{request_id}</RequestID></Response>"
    )


def _query_error(code: str, message: str, fault_type: str, request_id: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<ErrorResponse><Error><Type>{fault_type}</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )


def _rest_error(code: str, message: str, request_id: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
    )
