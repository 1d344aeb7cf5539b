"""The private-namespace check reads the routing table: only loopback and link-local may be routable."""

from cattle_sandbox import netns

IPV4_HEADER = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"


def write_ipv4(tmp_path, *rows):
    path = tmp_path / "route"
    path.write_text(
        IPV4_HEADER
        + "".join(f"{iface}\t{dest}\t00000000\t0001\t0\t0\t0\t{mask}\t0\t0\t0\n" for iface, dest, mask in rows)
    )
    return str(path)


def test_a_default_route_is_found_as_leaving_the_machine(tmp_path):
    routes = list(netns._ipv4_routes(write_ipv4(tmp_path, ("eth0", "00000000", "00000000"))))
    assert [(iface, str(net)) for iface, net in routes] == [("eth0", "0.0.0.0/0")]
    assert not netns._stays_on_machine(*routes[0])


def test_a_private_range_route_leaves_the_machine(tmp_path):
    # 10.0.0.0/8, where moto's fake instance addresses live.
    (route,) = netns._ipv4_routes(write_ipv4(tmp_path, ("eth1", "0000000A", "000000FF")))
    assert str(route[1]) == "10.0.0.0/8"
    assert not netns._stays_on_machine(*route)


def test_link_local_veth_routes_stay_on_the_machine(tmp_path):
    # 169.254.77.0/30 on a stand-in's veth.
    (route,) = netns._ipv4_routes(write_ipv4(tmp_path, ("cattle-si1", "004DFEA9", "FCFFFFFF")))
    assert str(route[1]) == "169.254.77.0/30"
    assert netns._stays_on_machine(*route)


def test_ipv6_reject_routes_are_ignored_and_global_ones_found(tmp_path):
    path = tmp_path / "ipv6_route"
    zero = "0" * 32
    path.write_text(
        f"{zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200       lo\n"
        f"fd000000000000000000000000000000 40 {zero} 00 {zero} 00000100 00000001 00000000 00000001     eth0\n"
    )
    routes = [(iface, str(net)) for iface, net in netns._ipv6_routes(str(path))]
    assert routes == [("eth0", "fd00::/64")]
