"""The data plane of the sandbox's Application Load Balancers: HTTP requests, routed per request.

Each HTTP listener of a load balancer accepts connections on the load balancer's own address
in the sandbox's namespace (dns.py makes its DNSName resolve there). Every request, also the
second and later ones on a kept-alive client connection, asks `route()` where to go as the
listener is configured at that moment (aws/alb_traffic.py reads moto under the sandbox's
lock), so a ModifyListener moves the very next request. The request then goes to the chosen
target over a connection of its own, which is how a deregistered (draining) target finishes
what it has in flight while new requests never reach it. What AWS documents (Elastic Load
Balancing User Guide for Application Load Balancers, "Troubleshoot your Application Load
Balancers", HTTP 502, 503, 504), as the sandbox answers it:
- no target can take the request (none registered, or only targets still in their initial
  check): 503 Service Unavailable;
- the target refused or reset the connection, or answered something that is not HTTP: 502
  Bad Gateway; a target that is a virtual instance (its AMI has no content, nothing runs)
  is treated like one that refuses;
- no answer within the load balancer's idle timeout (attribute idle_timeout.timeout_seconds,
  60 s by default): 504 Gateway Timeout.
Each routed request is logged (which target group and target, the target's health when it
was chosen, the status returned), so a test can hold a load generator's view against the
load balancer's.
"""

import http.client
import logging
import socket
import socketserver
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length"}
# Written by the listener itself for every answer (send_response adds Server and Date).
REPLACED = HOP_BY_HOP | {"server", "date"}
LOG_LIMIT = 200_000

log = logging.getLogger("cattle_sandbox.alb")


@dataclass(frozen=True)
class Destination:
    """Where a request goes: a target of a target group, and its health when it was chosen."""

    target_group: str
    target_id: str
    address: str | None  # None for a virtual instance: nothing listens
    port: int
    health: str


@dataclass(frozen=True)
class Answer:
    """What the load balancer answers itself: an error, or a fixed-response action."""

    status: int
    body: bytes
    content_type: str = "text/html"
    why: str = ""


@dataclass(frozen=True)
class ProxiedAnswer(Answer):
    """A target's answer, passed on with its own headers."""

    headers: tuple[tuple[str, str], ...] = ()


Route = Callable[[str, str], Destination | Answer]


@dataclass
class Routed:
    sequence: int
    time: float
    listener: str
    target_group: str | None
    target_id: str | None
    health: str | None
    status: int
    seconds: float


class RequestLog:
    """Every request a listener answered, newest last (bounded). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Routed] = deque(maxlen=LOG_LIMIT)
        self._sequence = 0

    def add(self, listener: str, destination: Destination | None, status: int, seconds: float) -> None:
        with self._lock:
            self._sequence += 1
            self._entries.append(Routed(
                self._sequence, time.time(), listener,
                destination.target_group if destination else None, destination.target_id if destination else None,
                destination.health if destination else None, status, round(seconds, 4)))

    def since(self, sequence: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(entry) for entry in self._entries if entry.sequence > sequence]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def error_answer(status: int, why: str) -> Answer:
    phrase = http.HTTPStatus(status).phrase
    body = f"<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} {phrase}</h1></center>"
    return Answer(status, (body + "</body></html>\n").encode(), why=why)


class ListenerServer(socketserver.ThreadingTCPServer):
    """One listener: HTTP on (address, port), each request routed by `route(host, path)`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, port: int, key: str, route: Route, idle_timeout: Callable[[], float],
                 request_log: RequestLog):
        self.key = key
        self.route = route
        self.idle_timeout = idle_timeout
        self.request_log = request_log
        super().__init__((address, port), ProxyHandler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"alb-{address}:{port}", daemon=True)

    def start(self) -> "ListenerServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of an ALB expect
    server_version = "awselb/2.0"
    sys_version = ""
    server: ListenerServer

    def handle_one_request(self) -> None:
        self.close_connection = True
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            return
        started = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        destination, answer = self._route()
        if destination is not None:
            answer = self._forward(destination, body)
        # Logged before the reply: a client that has its answer finds its request in the log.
        self.server.request_log.add(self.server.key, destination, answer.status, time.monotonic() - started)
        self._reply(answer)
        self.close_connection = (self.headers.get("Connection") or "").lower() == "close"

    def _route(self) -> tuple[Destination | None, Answer | None]:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        routed = self.server.route(host, self.path.split("?")[0])
        return (routed, None) if isinstance(routed, Destination) else (None, routed)

    def _forward(self, destination: Destination, body: bytes) -> Answer:
        if destination.address is None:
            return error_answer(502, f"target {destination.target_id} is a virtual instance: nothing runs to answer")
        upstream = http.client.HTTPConnection(destination.address, destination.port,
                                              timeout=self.server.idle_timeout())
        try:
            upstream.request(self.command, self.path, body=body or None, headers=self._upstream_headers())
            response = upstream.getresponse()
            content = response.read()
        except (TimeoutError, socket.timeout):
            return error_answer(504, f"target {destination.target_id} did not answer within the idle timeout")
        except (OSError, http.client.HTTPException) as error:
            return error_answer(502, f"target {destination.target_id}: {error.__class__.__name__}")
        finally:
            upstream.close()
        kept = tuple((name, value) for name, value in response.getheaders() if name.lower() not in REPLACED)
        return ProxiedAnswer(response.status, content, content_type="", headers=kept)

    def _upstream_headers(self) -> dict[str, str]:
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        forwarded = self.headers.get("X-Forwarded-For")
        client = self.client_address[0]
        headers["X-Forwarded-For"] = f"{forwarded}, {client}" if forwarded else client
        headers["X-Forwarded-Proto"] = "http"
        headers["X-Forwarded-Port"] = str(self.server.server_address[1])
        headers["X-Amzn-Trace-Id"] = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        headers["Connection"] = "close"
        return headers

    def _reply(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers if isinstance(answer, ProxiedAnswer) else ():
            self.send_header(name, value)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        log.debug("%s %s", self.client_address[0], format % args)
