"""SandboxControl: the client of the sandbox's control API. Standard library only.

Usable from any process that can reach the sandbox's port: a test, a benchmark, a
shell script through `python -c`. It never reads a proxy setting (the sandbox is
always on 127.0.0.1).
"""

import json
import time
import os
import urllib.error
import urllib.request
from typing import Any

PREFIX = "/_sandbox/"
TIMEOUT_SECONDS = 30


class SandboxControlError(RuntimeError):
    """The control API refused a request; the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(f"sandbox control API answered {status}: {message}")
        self.status = status


class SandboxControl:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint.rstrip("/")
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "SandboxControl":
        """The sandbox that AWS_ENDPOINT_URL (as set by SandboxAWS.env()) points at."""
        endpoint = (os.environ if environ is None else environ).get("AWS_ENDPOINT_URL")
        if not endpoint:
            raise SandboxControlError(0, "AWS_ENDPOINT_URL is not set: no sandbox to control")
        return cls(endpoint)

    def __repr__(self) -> str:
        return f"SandboxControl({self.endpoint!r})"

    # -- whole sandbox ---------------------------------------------------------------------

    def ping(self) -> bool:
        return bool(self._get("ping").get("ok"))

    def reset(self) -> None:
        """moto's state, fidelity settings and test state, fault rules and counters back to the start."""
        self._post("reset")

    # -- counters ----------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Requests per "service:Action" (SigV4 service name), faulted ones included."""
        return self._get("counters")["counters"]

    def reset_counters(self) -> None:
        self._post("counters/reset")

    # -- faults --------------------------------------------------------------------------------

    def add_fault(self, service: str | None, action: str | None, kind: str, **options: Any) -> int:
        """Adds a rule and returns its id. kind: throttle, server_error, delay, lose_response,
        client_error (with code and message). options, with FaultInjector.add's defaults: count,
        probability, delay, status, seed, match (text the call's parameters must contain), after
        (matching calls let through before the rule fires), code, message. The sandbox checks
        them all and refuses a bad rule, an unknown option too, with 400."""
        return self._post("faults", {"service": service, "action": action, "kind": kind, **options})["id"]

    def faults(self) -> list[dict[str, Any]]:
        """The rules, each with `remaining` fires (None: no limit) and `fired` so far."""
        return self._get("faults")["faults"]

    def clear_faults(self) -> None:
        self._post("faults/clear")

    # -- fidelity ------------------------------------------------------------------------------

    def fidelity(self) -> dict[str, Any]:
        return self._get("fidelity")["fidelity"]

    def set_fidelity(self, **settings: Any) -> dict[str, Any]:
        """Changes fidelity settings (see FidelitySettings) and returns all of them."""
        return self._post("fidelity", settings)["fidelity"]

    # -- target health ---------------------------------------------------------------------------

    def set_target_health(
        self,
        target_group_arn: str,
        target_ids: list[str] | None = None,
        state: str = "unhealthy",
        reason: str | None = None,
        description: str | None = None,
    ) -> None:
        """Overrides the health-check outcome of targets (None: every target of the group, now
        and later). `target_group_arn` may also be a target group name, even one not created yet."""
        self._post(
            "target-health",
            {
                "target_group": target_group_arn,
                "target_ids": target_ids,
                "state": state,
                "reason": reason,
                "description": description,
            },
        )

    def clear_target_health(self, target_group_arn: str | None = None, target_ids: list[str] | None = None) -> int:
        """Back to the timeline; returns how many overrides were removed."""
        return self._post("target-health/clear", {"target_group": target_group_arn, "target_ids": target_ids})[
            "cleared"
        ]

    def target_health_overrides(self) -> list[dict[str, Any]]:
        return self._get("target-health")["overrides"]

    # -- Auto Scaling launch failures ------------------------------------------------------------

    def fail_asg_launches(self, asg_name: str, reason: str | None = None, remove_running: bool = True) -> list[str]:
        """Makes the group's launches fail, now or once it is created; returns instances removed."""
        answer = self._post(
            "asg-launch-failures", {"asg_name": asg_name, "reason": reason, "remove_running": remove_running}
        )
        return answer["removed_instances"]

    def clear_asg_launch_failures(self, asg_name: str | None = None) -> list[str]:
        """Lets the group (None: every group) launch again; it returns to its desired capacity."""
        return self._post("asg-launch-failures/clear", {"asg_name": asg_name})["cleared"]

    def asg_launch_failures(self) -> list[dict[str, str]]:
        return self._get("asg-launch-failures")["launch_failures"]

    # -- stand-ins and image content --------------------------------------------------------------

    def bind_standin(self, root_path: Any, instance_id: str | None = None) -> dict[str, Any]:
        """The stand-in whose root file system is root_path (StandIn.files.root) plays instance_id,
        or (None) the first instance of the next RunInstances call. CreateImage of that instance
        then keeps the stand-in's file system as the AMI's content. -> {root, instance_id, pending}"""
        return self._post("standin-bindings", {"root": str(root_path), "instance_id": instance_id})

    def standin_bindings(self) -> list[dict[str, Any]]:
        """[{root, instance_id, pending}]; pending ones wait for the next RunInstances."""
        return self._get("standin-bindings")["bindings"]

    def clear_standin_bindings(self) -> int:
        return self._post("standin-bindings/clear")["cleared"]

    def image_content(self, image_id: str) -> dict[str, Any]:
        """Where an AMI's content is: {image_id, path (a .tar.zst), size_bytes, capture_seconds,
        source_instance_id, standin_root, image_ids (every AMI sharing it)}. An AMI without
        content raises SandboxControlError (404) saying why."""
        return self._post("image-content", {"image_id": image_id})

    def import_image_content(self, image_id: str, path: Any) -> dict[str, Any]:
        """Gives an AMI made by RegisterImage the content tarball at path (a *.tar.zst another
        sandbox's image_content() named, say a cached build's), as if its snapshot held it: a
        stand-in then boots from it. The sandbox links or copies the file, never removes path.
        -> the AMI's image_content(); refused (400/404, nothing changed) for an unknown AMI,
        one with content, or a path that is no zstd tarball."""
        return self._post("image-content/import", {"image_id": image_id, "path": str(path)})

    def image_contents(self) -> list[dict[str, Any]]:
        """Every AMI that has content, as image_content() describes it."""
        return self._get("image-content")["contents"]

    def live_instances(self) -> list[dict[str, Any]]:
        """Instances launched from AMIs with content, each played by a stand-in: [{instance_id,
        image_id, state (booting, running, failed, stopping, stopped), name (the stand-in's, for
        `python -m cattle_sandbox.standin exec`), address, error, boot_seconds, boot_phases (seconds
        per step of the stand-in's boot: extract, personalize, boot), teardown_seconds,
        memory_current_bytes (its stand-in's cgroup's memory use, page cache and tmpfs included,
        while it runs; None otherwise or where the host does not account it)}]."""
        return self._get("live-instances")["instances"]

    def routed_requests(self, since: int = 0) -> list[dict[str, Any]]:
        """What the load balancers' listeners answered, oldest first, after sequence `since`:
        [{sequence, time, listener, target_group, target_id, health (when the target was chosen),
        status, seconds}]; target_group is None for answers of the balancer itself (503, ...)."""
        return self._post("routed-requests", {"since": since})["requests"]

    def wait_for_live_instances(self, instance_ids: list[str], timeout: float = 120) -> list[dict[str, Any]]:
        """live_instances() of these ids once none is booting any more (running, failed, stopped);
        TimeoutError naming those still booting after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = [item for item in self.live_instances() if item["instance_id"] in instance_ids]
            booting = [item["instance_id"] for item in found if item["state"] == "booting"]
            if len(found) == len(set(instance_ids)) and not booting:
                return found
            if time.monotonic() > deadline:
                missing = sorted(set(instance_ids) - {item["instance_id"] for item in found})
                raise TimeoutError(f"after {timeout} s still booting: {booting}; not launched as stand-ins: {missing}")
            time.sleep(0.2)

    def set_image_deprecation_time(self, image_id: str, deprecation_time: str) -> dict[str, Any]:
        """Sets an AMI's DeprecationTime to any time, past ones included (rounded to the minute):
        an AMI deprecated a while ago, which EnableImageDeprecation cannot make. -> {image_id,
        deprecation_time}"""
        return self._post("image-deprecation", {"image_id": image_id, "deprecation_time": deprecation_time})

    # -- listener writes -------------------------------------------------------------------------

    def listener_writes(self) -> list[dict[str, Any]]:
        """Every CreateListener/ModifyListener/CreateRule/ModifyRule that wrote actions since the
        reset, oldest first: {sequence, time, operation, listener_arn, rule_arn, weights, groups
        (each group given weight > 0: target_group_arn, weight, healthy, registered, states),
        unguarded_groups}."""
        return self._get("listener-writes")["writes"]

    def unguarded_listener_writes(self) -> list[dict[str, Any]]:
        """The writes that gave weight > 0 to a group with no healthy target, or with fewer
        healthy targets than registered ones."""
        return self._get("listener-writes/unguarded")["writes"]

    # -- security groups -------------------------------------------------------------------------

    def deleted_security_groups(self) -> list[dict[str, Any]]:
        """Every security group deleted since the reset, oldest first: id, name, description,
        vpc_id, tags and its ingress rules right before the delete (see "Deleted security
        groups" in docs/aws.md). Packer's temporary group is read back this way."""
        return self._get("deleted-security-groups")["groups"]

    # -- transport -----------------------------------------------------------------------------

    def _get(self, route: str) -> dict[str, Any]:
        return self._request("GET", route, None)

    def _post(self, route: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request("POST", route, body or {})

    def _request(self, method: str, route: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.endpoint}{PREFIX}{route}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with self._opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise SandboxControlError(error.code, _error_message(error)) from None


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        return json.loads(error.read()).get("error") or error.reason
    except (ValueError, AttributeError):
        return str(error.reason)
