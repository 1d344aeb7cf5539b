"""The sandbox's name service: A records for registered load balancer names, NXDOMAIN otherwise."""

import socket
import struct

import pytest

from cattle_sandbox import dns


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CATTLE_CACHE", str(tmp_path))


def query(name, qtype=dns.TYPE_A, ident=0x1234):
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", qtype, dns.CLASS_IN)


def header(response):
    return struct.unpack("!HHHHHH", response[:12])


def test_a_registered_name_gets_its_address_with_elbs_ttl():
    dns.register("Web-1234567890.us-east-1.elb.amazonaws.com", "127.77.0.5")

    response = dns.answer(query("web-1234567890.us-east-1.elb.amazonaws.com"))

    ident, flags, questions, answers, _ns, _extra = header(response)
    assert (ident, flags & 0x800F, questions, answers) == (0x1234, 0x8000, 1, 1)
    ttl, length = struct.unpack("!IH", response[-10:-4])
    assert (ttl, length, socket.inet_ntoa(response[-4:])) == (dns.TTL_SECONDS, 4, "127.77.0.5")


def test_an_unknown_name_is_nxdomain_and_aaaa_of_a_known_one_is_empty():
    dns.register("web-1.us-east-1.elb.amazonaws.com", "127.77.0.6")

    unknown = header(dns.answer(query("example.org")))
    aaaa = header(dns.answer(query("web-1.us-east-1.elb.amazonaws.com", qtype=dns.TYPE_AAAA)))

    assert (unknown[1] & 0xF, unknown[3]) == (dns.RCODE_NXDOMAIN, 0)
    assert (aaaa[1] & 0xF, aaaa[3]) == (0, 0)


def test_what_is_not_a_query_gets_no_answer_or_formerr():
    assert dns.answer(b"\x00" * 5) is None
    assert header(dns.answer(query("x", ident=7)[:14]))[1] & 0xF == dns.RCODE_FORMERR


def test_addresses_in_use_are_known_and_unregistering_frees_them():
    dns.register("a.elb.amazonaws.com", "127.77.0.1")
    dns.register("b.elb.amazonaws.com", "127.77.0.2")
    dns.unregister("a.elb.amazonaws.com")

    assert dns.registered_addresses() == {"127.77.0.2"}
    assert dns.lookup("a.elb.amazonaws.com") is None
