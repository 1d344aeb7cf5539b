"""Load balancers that carry traffic: load_balancer.py is the data plane, dns.py the names.

- CreateLoadBalancer: a DNSName as AWS forms it, "<name>-<digits>.<region>.elb.amazonaws.com"
  ("internal-" first for an internal balancer); moto names every balancer of a name
  "<name>-1...", which two sandboxes would share. The balancer gets an address of its own
  on the namespace's loopback (127.77.x.y) and its DNSName resolves to it there.
- CreateListener (HTTP): the listener accepts connections on that address and its port at
  once; DeleteListener, DeleteLoadBalancer and a reset stop it. HTTPS listeners are not
  served (the sandbox has no certificates).
- Each request is routed as the listener is configured when it arrives: rules by priority
  (host-header and path-pattern conditions, `*` and `?` wildcards; a rule with another kind
  of condition never matches here), then the default actions. A fixed-response action
  answers as configured. A forward action picks a target group by weight (weighted random,
  as AWS distributes by weight), then a target of it round robin (the default algorithm)
  among the healthy ones, as DescribeTargetHealth reports them; a deregistered target is not
  registered any more, so no new request reaches it while it drains. "If a target group
  contains only unhealthy registered targets, the load balancer routes requests to all those
  targets" (ALB guide, "Health checks for Application Load Balancer target groups"): so does
  the sandbox. No registered target, or only targets in their initial check: 503.
- Only live instances (live_instances.py) are connected to: any other target (a virtual
  instance, an IP target) answers as a target that refuses would, 502. Nothing is ever
  sent to an address moto made up.
"""

import logging
import random
import threading
from fnmatch import fnmatchcase
from typing import Any

from moto.elbv2.models import ELBv2Backend, FakeListener, elbv2_backends

from .. import dns
from ..netns import in_private_netns
from ..load_balancer import Answer, Destination, ListenerServer, RequestLog, error_answer
from .fidelity import Fidelity
from .listener_writes import forward_weights
from .patching import bound_arguments, patch

ADDRESS_PREFIX = "127.77"
log = logging.getLogger("cattle_sandbox.alb")
DEFAULT_IDLE_TIMEOUT = 60.0


class Traffic:
    """The listeners that serve, and the addresses and names of their balancers. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._addresses: dict[str, tuple[str, str]] = {}  # balancer ARN -> (address, DNS name)
        self._servers: dict[str, ListenerServer] = {}  # listener ARN -> its server
        self._round_robin: dict[str, int] = {}
        self.requests = RequestLog()
        self.names = dns.NameService()

    def balancer_created(self, arn: str, dns_name: str) -> None:
        if not in_private_netns():
            log.warning("load balancer %s: not in a private network namespace, so it serves no traffic", dns_name)
            return
        address = claim_address(dns_name)
        with self._lock:
            self._addresses[arn] = (address, dns_name)
        self.names.start()

    def listener_created(self, fidelity: Fidelity, listener: FakeListener) -> None:
        with self._lock:
            found = self._addresses.get(listener.load_balancer_arn)
        if found is None or listener.protocol != "HTTP":
            return
        arn = listener.arn
        server = ListenerServer(found[0], int(listener.port), arn,
                                route=lambda host, path: self.route(fidelity, arn, host, path),
                                idle_timeout=lambda: self.idle_timeout(fidelity, listener.load_balancer_arn),
                                request_log=self.requests)
        with self._lock:
            self._servers[arn] = server.start()

    def listener_deleted(self, arn: str) -> None:
        with self._lock:
            server = self._servers.pop(arn, None)
        if server is not None:
            server.stop()

    def balancer_deleted(self, arn: str, listener_arns: list[str]) -> None:
        for listener_arn in listener_arns:
            self.listener_deleted(listener_arn)
        with self._lock:
            found = self._addresses.pop(arn, None)
        if found is not None:
            dns.unregister(found[1])

    def stop_all(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
            names, self._addresses = [name for _address, name in self._addresses.values()], {}
        for server in servers:
            server.stop()
        for name in names:
            dns.unregister(name)
        self.names.stop()
        self.requests.clear()

    def address_of(self, balancer_arn: str) -> str | None:
        with self._lock:
            found = self._addresses.get(balancer_arn)
            return found[0] if found else None

    # -- per request (listener threads) ---------------------------------------------------

    def route(self, fidelity: Fidelity, listener_arn: str, host: str, path: str) -> Destination | Answer:
        with fidelity.moto_lock:
            found = _listener(listener_arn)
            if found is None:
                return error_answer(503, "the listener is gone")
            backend, listener = found
            return self._act(fidelity, backend, matching_actions(listener, host, path))

    def idle_timeout(self, fidelity: Fidelity, balancer_arn: str) -> float:
        with fidelity.moto_lock:
            for _account, _region, backend in elbv2_backends.iter_backends():
                balancer = backend.load_balancers.get(balancer_arn)
                if balancer is not None:
                    return float(balancer.attrs.get("idle_timeout.timeout_seconds") or DEFAULT_IDLE_TIMEOUT)
        return DEFAULT_IDLE_TIMEOUT

    def _act(self, fidelity: Fidelity, backend: ELBv2Backend, actions: list[Any]) -> Destination | Answer:
        for action in sorted(actions, key=lambda item: int(item.data.get("Order") or 0)):
            if action.type == "fixed-response":
                config = action.data.get("FixedResponseConfig") or {}
                return Answer(int(config.get("StatusCode", 200)), (config.get("MessageBody") or "").encode(),
                              config.get("ContentType") or "text/plain")
            if action.type == "forward":
                return self._forward(fidelity, backend, forward_weights([action.data]))
        return error_answer(503, "no forward or fixed-response action")

    def _forward(self, fidelity: Fidelity, backend: ELBv2Backend, weights: dict[str, int]) -> Destination | Answer:
        weighted = [(arn, weight) for arn, weight in weights.items() if weight > 0]
        if not weighted:
            return error_answer(503, "every target group has weight 0")
        [arn] = random.choices([arn for arn, _w in weighted], weights=[w for _a, w in weighted])
        group = backend.target_groups.get(arn)
        if group is None:
            return error_answer(503, f"target group {arn} is gone")
        return self._pick_target(fidelity, backend, group)

    def _pick_target(self, fidelity: Fidelity, backend: ELBv2Backend, group: Any) -> Destination | Answer:
        states = {target_id: group.health_for(target, backend.ec2_backend).status
                  for target_id, target in group.targets.items()}
        healthy = sorted(target_id for target_id, state in states.items() if state == "healthy")
        candidates = healthy or sorted(target_id for target_id, state in states.items() if state == "unhealthy")
        if not candidates:
            return error_answer(503, f"target group {group.name}: no healthy or unhealthy target ({states})")
        turn = self._round_robin.get(group.arn, 0)
        self._round_robin[group.arn] = turn + 1
        target_id = candidates[turn % len(candidates)]
        target = group.targets[target_id]
        return Destination(group.name, target_id, fidelity.live_instances.address_of(target_id),
                           int(target.get("Port") or group.port), states[target_id])


def matching_actions(listener: FakeListener, host: str, path: str) -> list[Any]:
    """The actions of the first rule (by priority) whose conditions all match, else the default's."""
    rules = sorted(listener._non_default_rules.values(), key=lambda rule: int(rule.priority))
    for rule in rules:
        if all(condition_matches(condition, host, path) for condition in rule.conditions or []):
            return list(rule.actions)
    return list(listener.default_actions)


def condition_matches(condition: dict[str, Any], host: str, path: str) -> bool:
    field = condition.get("Field")
    if field == "host-header":
        values = (condition.get("HostHeaderConfig") or {}).get("Values") or condition.get("Values") or []
        return any(fnmatchcase(host, value.lower()) for value in values)
    if field == "path-pattern":
        values = (condition.get("PathPatternConfig") or {}).get("Values") or condition.get("Values") or []
        return any(fnmatchcase(path, value) for value in values)
    return False


def _listener(arn: str) -> tuple[ELBv2Backend, FakeListener] | None:
    for _account, _region, backend in elbv2_backends.iter_backends():
        for balancer in backend.load_balancers.values():
            if arn in balancer.listeners:
                return backend, balancer.listeners[arn]
    return None


def claim_address(dns_name: str) -> str:
    """An address on lo no other balancer of any sandbox here uses, registered for dns_name."""
    with dns.registry_lock():
        taken = dns.registered_addresses()
        for number in range(1, 65024):
            address = f"{ADDRESS_PREFIX}.{number >> 8}.{number & 0xFF}"
            if address not in taken and not address.endswith((".0", ".255")):
                dns.register(dns_name, address)
                return address
    raise RuntimeError("no free load balancer address left under 127.77.0.0/16")


def aws_dns_name(name: str, region: str, scheme: str | None) -> str:
    prefix = "internal-" if scheme == "internal" else ""
    return f"{prefix}{name}-{random.randrange(10**9, 10**10)}.{region}.elb.amazonaws.com"


# -- the patches -------------------------------------------------------------------------------


@patch(ELBv2Backend, "create_load_balancer")
def create_load_balancer(fidelity: Fidelity, original: Any, backend: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
    balancer = original(backend, *args, **kwargs)
    if balancer.dns_name.startswith(f"{balancer.name}-1."):  # moto's; not an adopted one
        balancer.dns_name = aws_dns_name(balancer.name, backend.region_name, getattr(balancer, "scheme", None))
        fidelity.traffic.balancer_created(balancer.arn, balancer.dns_name)
    return balancer


@patch(ELBv2Backend, "create_listener")
def create_listener(fidelity: Fidelity, original: Any, backend: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
    listener = original(backend, *args, **kwargs)
    fidelity.traffic.listener_created(fidelity, listener)
    return listener


@patch(ELBv2Backend, "delete_listener")
def delete_listener(fidelity: Fidelity, original: Any, backend: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
    arn = bound_arguments(original, (backend, *args), kwargs)["listener_arn"]
    result = original(backend, *args, **kwargs)
    fidelity.traffic.listener_deleted(arn)
    return result


@patch(ELBv2Backend, "delete_load_balancer")
def delete_load_balancer(fidelity: Fidelity, original: Any, backend: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
    arn = bound_arguments(original, (backend, *args), kwargs)["arn"]
    balancer = backend.load_balancers.get(arn)
    listener_arns = list(balancer.listeners) if balancer is not None else []
    result = original(backend, *args, **kwargs)
    fidelity.traffic.balancer_deleted(arn, listener_arns)
    return result
