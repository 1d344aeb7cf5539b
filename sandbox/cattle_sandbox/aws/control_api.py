"""The control API: JSON over HTTP under /_sandbox/ on the sandbox's own port.

Every route takes a JSON object (POST) and answers one; see docs/aws.md for the list.
Errors answer {"error": "..."} with 400 (bad request), 404 (unknown route or resource).
"""

import json
from collections.abc import Callable, Iterable
from typing import Any

from .calls import read_body
from .control import PREFIX
from .core import SandboxCore

Handler = Callable[[SandboxCore, dict[str, Any]], Any]


def _ping(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"ok": True}


def _reset(core: SandboxCore, body: dict[str, Any]) -> Any:
    core.reset()
    return {}


def _counters(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"counters": core.counters.snapshot()}


def _reset_counters(core: SandboxCore, body: dict[str, Any]) -> Any:
    core.counters.reset()
    return {}


def _faults(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"faults": core.faults.rules()}


def _add_fault(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"id": core.faults.add(**body)}


def _clear_faults(core: SandboxCore, body: dict[str, Any]) -> Any:
    core.faults.clear()
    return {}


def _fidelity(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"fidelity": core.fidelity.settings.as_dict()}


def _set_fidelity(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"fidelity": core.fidelity.update_settings(body).as_dict()}


def _target_health(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"overrides": core.fidelity.health_overrides()}


def _set_target_health(core: SandboxCore, body: dict[str, Any]) -> Any:
    core.set_target_health(**body)
    return {}


def _clear_target_health(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"cleared": core.clear_target_health(**body)}


def _launch_failures(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"launch_failures": core.fidelity.launch_failures()}


def _fail_asg_launches(core: SandboxCore, body: dict[str, Any]) -> Any:
    return core.fail_asg_launches(**body)


def _clear_asg_launch_failures(core: SandboxCore, body: dict[str, Any]) -> Any:
    return core.clear_asg_launch_failures(**body)


def _bind_standin(core: SandboxCore, body: dict[str, Any]) -> Any:
    return core.bind_standin(**body)


def _standin_bindings(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"bindings": core.fidelity.image_store.bindings()}


def _clear_standin_bindings(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"cleared": core.fidelity.image_store.clear_bindings()}


def _image_content(core: SandboxCore, body: dict[str, Any]) -> Any:
    return core.image_content(**body)


def _import_image_content(core: SandboxCore, body: dict[str, Any]) -> Any:
    return core.import_image_content(**body)


def _live_instances(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"instances": core.live_instances()}


def _routed_requests(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"requests": core.routed_requests(**body)}


def _image_contents(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"contents": core.fidelity.image_store.contents()}


def _set_image_deprecation_time(core: SandboxCore, body: dict[str, Any]) -> Any:
    return core.set_image_deprecation_time(**body)


def _listener_writes(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"writes": core.listener_writes()}


def _unguarded_listener_writes(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"writes": core.listener_writes(unguarded_only=True)}


def _deleted_security_groups(core: SandboxCore, body: dict[str, Any]) -> Any:
    return {"groups": core.deleted_security_groups()}


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "ping"): _ping,
    ("POST", "reset"): _reset,
    ("GET", "counters"): _counters,
    ("POST", "counters/reset"): _reset_counters,
    ("GET", "faults"): _faults,
    ("POST", "faults"): _add_fault,
    ("POST", "faults/clear"): _clear_faults,
    ("GET", "fidelity"): _fidelity,
    ("POST", "fidelity"): _set_fidelity,
    ("GET", "target-health"): _target_health,
    ("POST", "target-health"): _set_target_health,
    ("POST", "target-health/clear"): _clear_target_health,
    ("GET", "asg-launch-failures"): _launch_failures,
    ("POST", "asg-launch-failures"): _fail_asg_launches,
    ("POST", "asg-launch-failures/clear"): _clear_asg_launch_failures,
    ("GET", "listener-writes"): _listener_writes,
    ("GET", "listener-writes/unguarded"): _unguarded_listener_writes,
    ("GET", "deleted-security-groups"): _deleted_security_groups,
    ("GET", "standin-bindings"): _standin_bindings,
    ("POST", "standin-bindings"): _bind_standin,
    ("POST", "standin-bindings/clear"): _clear_standin_bindings,
    ("GET", "image-content"): _image_contents,
    ("POST", "image-content"): _image_content,
    ("POST", "image-content/import"): _import_image_content,
    ("GET", "live-instances"): _live_instances,
    ("POST", "routed-requests"): _routed_requests,
    ("POST", "image-deprecation"): _set_image_deprecation_time,
}


class ControlAPI:
    """WSGI application for the /_sandbox/ routes."""

    def __init__(self, core: SandboxCore):
        self.core = core

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, answer = self._answer(environ)
        body = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _answer(self, environ: dict[str, Any]) -> tuple[str, Any]:
        route = environ.get("PATH_INFO", "")[len(PREFIX) :].strip("/")
        handler = ROUTES.get((environ.get("REQUEST_METHOD", "GET"), route))
        if handler is None:
            return "404 Not Found", {"error": f"no control route {environ.get('REQUEST_METHOD')} {PREFIX}{route}"}
        try:
            return "200 OK", handler(self.core, _json_object(read_body(environ)))
        except LookupError as error:
            return "404 Not Found", {"error": str(error).strip("'\"")}
        except (ValueError, TypeError) as error:
            return "400 Bad Request", {"error": str(error)}


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as error:
        raise ValueError(f"the body is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ValueError("the body must be a JSON object")
    return parsed
