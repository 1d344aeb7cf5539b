"""SandboxAWS: moto in server mode on 127.0.0.1, with AWS's behaviour, faults and counters.

One werkzeug threaded server in a background thread serves, on one port:
- /_sandbox/...   the control API (control_api.py);
- everything else the emulated AWS API, through the fault injector and the request
  counters, then moto with the fidelity patches (fidelity.py and its modules).
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from .calls import identify
from .clients import DUMMY_CREDENTIAL, REGION, sandbox_client
from .control import SandboxControl
from .control_api import PREFIX, ControlAPI
from .core import SandboxCore
from .faults import FaultRule, error_response
from .fidelity import FidelitySettings

HOST = "127.0.0.1"
# Variables that would send a client elsewhere or to a real identity if a caller kept them.
CALLER_VARIABLES_TO_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
CALLER_PREFIXES_TO_DROP = ("AWS_ENDPOINT_URL_",)  # per-service endpoints win over AWS_ENDPOINT_URL

log = logging.getLogger("cattle_sandbox.aws")


class ResponseLost(ConnectionAbortedError):
    """Raised after closing the connection on purpose; werkzeug treats it as a dropped client."""


@dataclass
class _Served:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


class SandboxApp:
    """The WSGI application: control API, fault injection and counters in front of moto."""

    def __init__(self, core: SandboxCore):
        self.core = core
        self.control = ControlAPI(core)
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX):
            return self.control(environ, start_response)
        if path.startswith("/moto-api/"):
            return self._moto_api(environ, start_response)
        return self._aws_call(environ, start_response)

    def _aws_call(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        call = identify(environ)
        self.core.counters.count(call)
        rule = self.core.faults.fault_for(call)
        if rule is not None and rule.kind in ("throttle", "server_error", "client_error"):
            return self._error(call, rule, start_response)
        if rule is not None and rule.kind == "delay":
            time.sleep(rule.delay)
        served = self._serve(environ)
        if rule is not None and rule.kind == "lose_response":
            _drop_connection(environ)
            raise ResponseLost(f"response to {call.key} dropped by fault rule {rule.id}")
        start_response(served.status, served.headers)
        return [served.body]

    def _moto_api(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        served = self._serve(environ)
        if environ.get("PATH_INFO", "").rstrip("/") == "/moto-api/reset" and served.status.startswith("200"):
            self.core.forget_test_state()
        start_response(served.status, served.headers)
        return [served.body]

    def _error(self, call: Any, rule: FaultRule, start_response: Callable[..., Any]) -> Iterable[bytes]:
        error = error_response(call, rule)
        start_response(error.status_line, error.headers + [("Content-Length", str(len(error.body)))])
        return [error.body]

    def _serve(self, environ: dict[str, Any]) -> _Served:
        """Runs moto to the last byte under the lock, so its work never interleaves."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(headers)
            return captured.setdefault("written", []).append

        with self.core.lock:
            result = self.moto(environ, capture)
            try:
                chunks = list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        body = b"".join(captured.get("written", []) + chunks)
        return _Served(captured["status"], captured["headers"], body)


def _drop_connection(environ: dict[str, Any]) -> None:
    connection = environ.get("werkzeug.socket")
    if connection is None:
        raise RuntimeError("lose_response needs werkzeug's development server (werkzeug.socket)")
    connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(MotoRequestHandler):
    """moto's handler, logging to the sandbox's logger instead of stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.ERROR if type == "error" else logging.DEBUG
        log.log(level, "%s %s", self.address_string(), message % args)


class SandboxAWS:
    """The emulated AWS of the local sandbox. One per process (moto's state is global)."""

    def __init__(self, port: int = 0, target_healthy_after: float = 1.0, **fidelity: Any):
        self._requested_port = port
        settings = FidelitySettings().updated({"target_healthy_after": target_healthy_after, **fidelity})
        self._core = SandboxCore(settings)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "SandboxAWS":
        if self._server is not None:
            raise RuntimeError(f"already serving on {self.endpoint}")
        self._core.fidelity.activate()
        try:
            self._server = make_server(
                HOST, self._requested_port, SandboxApp(self._core), threaded=True, request_handler=_RequestHandler
            )
        except BaseException:
            self._core.fidelity.deactivate()
            raise
        self._core.reset()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-aws", daemon=True
        )
        self._thread.start()
        self._core.start_background()
        return self

    def stop(self) -> None:
        """Stops serving, frees the port and joins the server thread; safe to call twice."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()
        self._core.stop_background()
        self._core.fidelity.deactivate()

    def __enter__(self) -> "SandboxAWS":
        # Both `with SandboxAWS() as aws` and `with SandboxAWS().start() as aws` work.
        return self if self.running else self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- where and how to reach it -------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return self._server.server_port

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def control(self) -> SandboxControl:
        return SandboxControl(self.endpoint)

    def env(self) -> dict[str, str]:
        """Variables that point any AWS SDK or CLI at the sandbox, with dummy credentials.

        Merge them over the caller's environment and drop CALLER_VARIABLES_TO_DROP (as
        subprocess_env does): a profile or session token left there would win or leak.
        """
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "NO_PROXY": f"{HOST},localhost",
            "no_proxy": f"{HOST},localhost",
        }

    def subprocess_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: os.environ) without the caller's AWS identity, with env() over it."""
        merged = {
            name: value
            for name, value in (os.environ if base is None else base).items()
            if name not in CALLER_VARIABLES_TO_DROP and not name.startswith(CALLER_PREFIXES_TO_DROP)
        }
        merged.update(self.env())
        return merged

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client of the sandbox that reads nothing from this machine's AWS setup."""
        return sandbox_client(self.endpoint, service, **kwargs)

    # -- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        """moto's state, fidelity settings and test state, fault rules and counters back to the start."""
        self._core.reset()
