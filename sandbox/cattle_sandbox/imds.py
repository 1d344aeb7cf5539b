"""The instance metadata service (IMDS) at 169.254.169.254, for instances that run as stand-ins.

Inside a stand-in, 169.254.169.254 is routed to the sandbox's end of its veth pair
(standin/network.py). In the sandbox's network namespace the address sits on `lo`, and every
process of that namespace with live instances answers it on port 80, each on its own socket
bound with SO_REUSEPORT (the kernel spreads new connections over them): pytest-xdist workers
share one namespace, and one of them stopping must not leave a gap. On EC2 the service is
always there (Amazon EC2 User Guide, "Use the Instance Metadata Service to access instance
metadata": a running instance reads it at 169.254.169.254 at any time); an instance
that asks while a sandbox hands over must get its answer. A sandbox that stops keeps
answering while instances of other sandboxes are registered, so the only sockets that
close are those of a process that exits. What each instance is
comes from a registry every process of the machine shares: one JSON document per stand-in
address in $CATTLE_CACHE/run/imds/, written by the sandbox that launched the instance and
removed when it terminates. The answer depends on the client's address alone, as on EC2,
where the hypervisor knows which instance asks.

IMDSv2 as the Amazon EC2 User Guide describes it ("Use the Instance Metadata Service to
access instance metadata", "Configure the instance metadata options"):
- PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds between 1 and 21600
  returns a session token; a missing or out-of-range TTL is 400, a PUT carrying
  X-Forwarded-For is refused (403: "any PUT requests that contain X-Forwarded-For are
  rejected").
- A request with X-aws-ec2-metadata-token is answered while the token is valid, for the
  instance that asked for it; an expired, foreign or forged token gets 401.
- Without a token: when the instance requires IMDSv2 (HttpTokens required, or an AMI with
  ImdsSupport v2.0), 401 Unauthorized; when it is optional, IMDSv1 answers.
- An unknown path is 404; a directory lists its entries, one per line (a trailing / on
  sub-directories).
Tokens are an HMAC of (address, expiry) under a key in the registry, so whichever process
serves can check a token another issued.
"""

import base64
import errno
import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import subprocess
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .netns import require_private_netns
from .standin import paths
from .standin.network import METADATA_ADDRESS

PORT = 80
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
MAX_TTL = 21600
BIND_RETRY_SECONDS = 0.5
KEY_FILE = ".token-key"

log = logging.getLogger("cattle_sandbox.imds")


# -- the registry ---------------------------------------------------------------------------


def registry() -> Path:
    directory = paths.metadata_registry()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def register(address: str, document: dict[str, Any]) -> None:
    """What the instance at `address` is (see metadata_tree for the keys); written whole."""
    target = registry() / f"{address}.json"
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_text(json.dumps(document))
    partial.replace(target)


def unregister(address: str) -> None:
    (registry() / f"{address}.json").unlink(missing_ok=True)


def registered_addresses() -> list[str]:
    return sorted(path.name[:-len(".json")] for path in registry().glob("*.json"))


def lookup(address: str) -> dict[str, Any] | None:
    try:
        return json.loads((registry() / f"{address}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def token_key() -> bytes:
    """The machine's token key, made once by whichever process needs it first."""
    path = registry() / KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def _read_key(path: Path) -> bytes:
    for _attempt in range(50):  # the creator may not have written it yet
        key = path.read_bytes()
        if len(key) == 32:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} holds no token key")


# -- tokens -------------------------------------------------------------------------------


def issue_token(address: str, ttl: int, now: float | None = None) -> str:
    expiry = int((time.time() if now is None else now) + ttl)
    payload = f"{address}|{expiry}".encode()
    return _b64(payload) + "." + _b64(_sign(payload))


def token_valid(token: str, address: str, now: float | None = None) -> bool:
    try:
        payload_text, signature_text = token.split(".", 1)
        payload = base64.urlsafe_b64decode(payload_text + "==")
        signature = base64.urlsafe_b64decode(signature_text + "==")
        owner, expiry = payload.decode().split("|")
    except (ValueError, UnicodeDecodeError):
        return False
    if not hmac.compare_digest(signature, _sign(payload)):
        return False
    return owner == address and (time.time() if now is None else now) < int(expiry)


def _sign(payload: bytes) -> bytes:
    return hmac.new(token_key(), payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# -- what an instance sees ------------------------------------------------------------------


def metadata_tree(document: dict[str, Any]) -> dict[str, Any]:
    """/latest/ as a tree: dicts are directories, strings are answers."""
    identity = {
        "accountId": document["account_id"],
        "architecture": "x86_64",
        "availabilityZone": document["availability_zone"],
        "imageId": document["image_id"],
        "instanceId": document["instance_id"],
        "instanceType": document["instance_type"],
        "pendingTime": document["launch_time"],
        "privateIp": document["private_ip"],
        "region": document["region"],
        "version": "2017-09-30",
    }
    tree: dict[str, Any] = {
        "meta-data": {
            "ami-id": document["image_id"],
            "ami-launch-index": str(document.get("launch_index", 0)),
            "hostname": document["hostname"],
            "instance-id": document["instance_id"],
            "instance-type": document["instance_type"],
            "local-hostname": document["hostname"],
            "local-ipv4": document["private_ip"],
            "placement": {"availability-zone": document["availability_zone"], "region": document["region"]},
            "security-groups": "\n".join(document.get("security_groups", [])),
        },
        "dynamic": {"instance-identity": {"document": json.dumps(identity, indent=2)}},
    }
    if document.get("user_data") is not None:
        tree["user-data"] = base64.b64decode(document["user_data"])
    return tree


def find(tree: dict[str, Any], path: str) -> Any:
    """The answer for a path under /latest/ (a listing for a directory); None when there is none."""
    node: Any = tree
    for part in [part for part in path.split("/") if part]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict):
        return "\n".join(name + "/" if isinstance(child, dict) else name for name, child in sorted(node.items()))
    return node


# -- the HTTP side --------------------------------------------------------------------------


class MetadataHandler(BaseHTTPRequestHandler):
    server_version = "EC2ws"
    sys_version = ""

    def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.rstrip("/") != "/latest/api/token":
            return self._answer(HTTPStatus.NOT_FOUND)
        if self.headers.get("X-Forwarded-For") is not None:
            return self._answer(HTTPStatus.FORBIDDEN)
        ttl = self.headers.get(TTL_HEADER, "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
            return self._answer(HTTPStatus.BAD_REQUEST)
        if lookup(self.client_address[0]) is None:
            return self._answer(HTTPStatus.NOT_FOUND)
        token = issue_token(self.client_address[0], int(ttl))
        self._answer(HTTPStatus.OK, token.encode(), {TTL_HEADER: ttl})

    def do_GET(self) -> None:  # noqa: N802
        address = self.client_address[0]
        document = lookup(address)
        if document is None:
            return self._answer(HTTPStatus.NOT_FOUND)
        token = self.headers.get(TOKEN_HEADER)
        if token is not None and not token_valid(token, address):
            return self._answer(HTTPStatus.UNAUTHORIZED)
        if token is None and document.get("http_tokens") == "required":
            return self._answer(HTTPStatus.UNAUTHORIZED)
        if not self.path.startswith("/latest/"):
            return self._answer(HTTPStatus.NOT_FOUND)
        answer = find(metadata_tree(document), self.path[len("/latest/"):])
        if answer is None:
            return self._answer(HTTPStatus.NOT_FOUND)
        self._answer(HTTPStatus.OK, answer if isinstance(answer, bytes) else answer.encode())

    def _answer(self, status: HTTPStatus, body: bytes | None = None, headers: dict[str, str] | None = None) -> None:
        body = body if body is not None else status.phrase.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        log.debug("%s %s", self.client_address[0], format % args)


class MetadataService:
    """Answers 169.254.169.254:80 in this network namespace, beside any other process that does."""

    def __init__(self, port: int = PORT) -> None:
        self.port = port
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            add_metadata_address()
            self._thread = threading.Thread(target=self._run, name="imds", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops answering, unless instances of other sandboxes still ask (see the module's docstring)."""
        if registered_addresses():
            return
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        server = self._server
        if server is not None:
            server.shutdown()
        thread.join(timeout=5)
        self._stopping.clear()

    @property
    def serving(self) -> bool:
        return self._server is not None

    def _run(self) -> None:
        while not self._stopping.is_set():
            server = try_bind(self.port)
            if server is None:
                self._stopping.wait(BIND_RETRY_SECONDS)
                continue
            self._server = server
            try:
                server.serve_forever(poll_interval=0.2)
            finally:
                server.server_close()
                self._server = None


class SharedPortServer(ThreadingHTTPServer):
    """Binds with SO_REUSEPORT: every sandbox process of the namespace listens on the port."""

    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def server_close(self) -> None:
        # Leave the port's group at once. Closing alone is not enough: a child forked meanwhile
        # (ansible, nspawn) holds a copy of the descriptor until it execs, and the kernel would
        # go on queueing connections on this socket, to reset them when the copy goes.
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        super().server_close()


def try_bind(port: int = PORT) -> ThreadingHTTPServer | None:
    """A server on 169.254.169.254:80, or None while a process that does not share the port holds it."""
    try:
        server = SharedPortServer((METADATA_ADDRESS, port), MetadataHandler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return None
        raise
    return server


def add_metadata_address() -> None:
    add_local_address(METADATA_ADDRESS)


def add_local_address(address: str) -> None:
    """address/32 on lo of this (private) namespace, once; another process may have added it."""
    require_private_netns()
    if local_address_present(address):
        return
    result = subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"],
                            capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0 and not local_address_present(address):
        raise RuntimeError(f"adding {address} to lo failed: {result.stderr.strip()}")


def local_address_present(address: str) -> bool:
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True,
                           timeout=10, check=False)
    return f" {address}/32 " in shown.stdout
