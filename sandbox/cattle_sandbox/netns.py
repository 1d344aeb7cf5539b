"""Checks that code touching the sandbox runs in a private network namespace.

What matters is that no connection can leave the machine: moto hands out instance
addresses in private and public ranges, and nothing may ever reach one. So the check is on
the routing table itself: only loopback and link-local destinations (the stand-ins' veth
pairs) may be routable. A namespace made by scripts/in-netns passes; the host fails.
"""

import ipaddress
import os

LINK_LOCAL_V4 = ipaddress.ip_network("169.254.0.0/16")
LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")
MULTICAST_V6 = ipaddress.ip_network("ff00::/8")
RTF_REJECT = 0x0200


class NotInPrivateNamespace(RuntimeError):
    pass


def _ipv4_routes(path="/proc/net/route"):
    """(interface, destination network) of every IPv4 route."""
    with open(path, encoding="ascii") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    for row in rows:
        destination = ipaddress.IPv4Address(bytes.fromhex(row[1])[::-1])
        mask = ipaddress.IPv4Address(bytes.fromhex(row[7])[::-1])
        yield row[0], ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)


def _ipv6_routes(path="/proc/net/ipv6_route"):
    """(interface, destination network) of every IPv6 route that is not a reject route."""
    if not os.path.exists(path):
        return
    with open(path, encoding="ascii") as table:
        rows = [line.split() for line in table]
    for row in rows:
        if int(row[8], 16) & RTF_REJECT:
            continue
        destination = ipaddress.IPv6Address(bytes.fromhex(row[0]))
        yield row[9], ipaddress.IPv6Network(f"{destination}/{int(row[1], 16)}", strict=False)


def _stays_on_machine(interface, network):
    if interface == "lo":
        return True
    if network.version == 4:
        return network.subnet_of(LINK_LOCAL_V4)
    return network.subnet_of(LINK_LOCAL_V6) or network.subnet_of(MULTICAST_V6)


def routes_leaving_machine():
    """Routes by which a connection could leave the machine, as 'interface destination'."""
    routes = list(_ipv4_routes()) + list(_ipv6_routes())
    return [f"{interface} {network}" for interface, network in routes if not _stays_on_machine(interface, network)]


def in_private_netns():
    return not routes_leaving_machine()


def require_private_netns():
    leaving = routes_leaving_machine()
    if leaving:
        raise NotInPrivateNamespace(
            "the sandbox must run in a private network namespace so no stray connection "
            "leaves the machine (routes off the machine here: "
            + ", ".join(leaving[:3])
            + "): run through scripts/in-netns (make test / make demo do)"
        )
