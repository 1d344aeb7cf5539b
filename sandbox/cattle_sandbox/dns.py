"""Name resolution inside the sandbox's network namespace: a load balancer's DNSName resolves
to the address its listeners answer on (load_balancer.py), as on AWS.

Programs resolve names through the resolver /etc/resolv.conf names (this machine's file,
shared with the host). In the sandbox's private network namespace that address is unused,
so the sandbox puts it on its own `lo` and answers it there: nothing leaves the namespace,
and the host's resolver is never asked. One process of the namespace serves (every sandbox
with load balancers tries to bind UDP port 53, the first wins, the others take over when it
stops, as imds.py does); the names come from a registry every process shares:
$CATTLE_CACHE/run/dns/<name> holds the address. A registered name gets an A record (TTL
60 s, as ELB's own records); an AAAA query for it gets no answer (the sandbox's load
balancers are IPv4); any other name is NXDOMAIN at once.
"""

import errno
import fcntl
import logging
import socket
import struct
import threading
from contextlib import contextmanager
from pathlib import Path

from . import imds
from .standin import paths

RESOLV_CONF = Path("/etc/resolv.conf")
DNS_PORT = 53
TTL_SECONDS = 60
TYPE_A, TYPE_AAAA, CLASS_IN = 1, 28, 1
RCODE_NXDOMAIN, RCODE_FORMERR = 3, 1

log = logging.getLogger("cattle_sandbox.dns")


# -- the registry ---------------------------------------------------------------------------


def registry() -> Path:
    directory = paths.run_root() / "dns"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def register(name: str, address: str) -> None:
    target = registry() / name.lower().rstrip(".")
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(address)
    partial.replace(target)


def unregister(name: str) -> None:
    (registry() / name.lower().rstrip(".")).unlink(missing_ok=True)


def registered_addresses() -> set[str]:
    addresses = set()
    for entry in registry().iterdir():
        if not entry.name.startswith("."):
            try:
                addresses.add(entry.read_text().strip())
            except OSError:
                continue  # removed meanwhile
    return addresses


@contextmanager
def registry_lock():
    """Held while a sandbox picks a free address, so two never pick the same one."""
    with open(registry() / ".lock", "w", encoding="utf-8") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


def lookup(name: str) -> str | None:
    try:
        return (registry() / name.lower().rstrip(".")).read_text().strip() or None
    except (FileNotFoundError, IsADirectoryError):
        return None


# -- the wire format (RFC 1035, section 4) ----------------------------------------------------


def answer(query: bytes) -> bytes | None:
    """The response to one query datagram; None for something that is not a query."""
    if len(query) < 12:
        return None
    ident, flags, questions = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or questions != 1:
        return _header(ident, flags, RCODE_FORMERR, 0, 0) if not flags & 0x8000 else None
    try:
        name, end = _read_name(query, 12)
        qtype, qclass = struct.unpack("!HH", query[end:end + 4])
    except (ValueError, IndexError, UnicodeDecodeError, struct.error):
        return _header(ident, flags, RCODE_FORMERR, 0, 0)
    question = query[12:end + 4]
    address = lookup(name)
    if address is None:
        return _header(ident, flags, RCODE_NXDOMAIN, 1, 0) + question
    if qtype != TYPE_A or qclass != CLASS_IN:
        return _header(ident, flags, 0, 1, 0) + question  # the name exists, with no record of that type
    record = b"\xc0\x0c" + struct.pack("!HHIH", TYPE_A, CLASS_IN, TTL_SECONDS, 4) + socket.inet_aton(address)
    return _header(ident, flags, 0, 1, 1) + question + record


def _header(ident: int, query_flags: int, rcode: int, questions: int, answers: int) -> bytes:
    recursion_desired = query_flags & 0x0100
    flags = 0x8000 | 0x0400 | recursion_desired | 0x0080 | rcode  # response, authoritative, RD copied, RA
    return struct.pack("!HHHHHH", ident, flags, questions, answers, 0, 0)


def _read_name(message: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        length = message[offset]
        if length & 0xC0:
            raise ValueError("compressed names do not occur in questions")
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        labels.append(message[offset:offset + length].decode("ascii").lower())
        offset += length


# -- serving ----------------------------------------------------------------------------------


def resolver_addresses() -> list[str]:
    """The IPv4 nameservers /etc/resolv.conf names; glibc's default 127.0.0.1 when it names none."""
    try:
        lines = RESOLV_CONF.read_text().splitlines()
    except OSError:
        lines = []
    found = [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]
    ipv4 = [address for address in found if _is_ipv4(address)]
    return ipv4 or ["127.0.0.1"]


def _is_ipv4(address: str) -> bool:
    try:
        socket.inet_aton(address)
    except OSError:
        return False
    return address.count(".") == 3


class NameService:
    """Answers the resolver addresses on UDP 53 in this namespace while no other process does."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for address in resolver_addresses():
                if not address.startswith("127."):
                    imds.add_local_address(address)
                thread = threading.Thread(target=self._serve, args=(address,), name=f"dns-{address}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        self._stopping.set()
        for thread in threads:
            thread.join(timeout=5)
        self._stopping.clear()

    def _serve(self, address: str) -> None:
        while not self._stopping.is_set():
            server = _try_bind(address)
            if server is None:
                self._stopping.wait(imds.BIND_RETRY_SECONDS)
                continue
            with server:
                server.settimeout(0.2)
                while not self._stopping.is_set():
                    self._answer_one(server)

    @staticmethod
    def _answer_one(server: socket.socket) -> None:
        try:
            query, client = server.recvfrom(512)
        except TimeoutError:
            return
        except OSError as error:
            log.debug("dns: %s", error)
            return
        response = answer(query)
        if response is not None:
            server.sendto(response, client)


def _try_bind(address: str) -> socket.socket | None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        server.bind((address, DNS_PORT))
    except OSError as error:
        server.close()
        if error.errno == errno.EADDRINUSE:
            return None
        raise
    return server
