"""The room's join link: an address phones can reach, in the order docs/presenter.md gives."""

import ipaddress

import pytest

from digitnet.state.links import is_loopback, join_link, network_address


@pytest.mark.parametrize("host, loopback", [
    ("localhost", True), ("app.localhost", True), ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", True), ("192.168.1.20", False), ("fd00::2", False), ("digits.example.org", False),
])
def test_loopback_names(host, loopback):
    assert is_loopback(host) is loopback


def test_a_presenter_on_localhost_gets_the_machines_network_address_on_the_same_port():
    link = join_link("http://localhost:8501/", "ABCD", "room", network="192.168.1.20")
    assert link.url == "http://192.168.1.20:8501/?room=ABCD" and not link.problem


def test_an_ipv6_network_address_is_bracketed():
    assert join_link("http://[::1]:8501", "ABCD", "room", network="fd00::2").url == "http://[fd00::2]:8501/?room=ABCD"


def test_the_operators_address_and_port_come_first():
    link = join_link("http://localhost:8501/", "ABCD", "room", server_address="digits.example.org", server_port=443,
                     network="192.168.1.20")
    assert link.url == "http://digits.example.org:443/?room=ABCD"
    link = join_link("http://10.0.0.5:8501/app", "ABCD", "room", server_port=80)
    assert link.url == "http://10.0.0.5:80/app/?room=ABCD"


def test_a_presenter_on_a_real_address_keeps_it():
    assert join_link("https://digits.example.org/app/?presenter=1", "ABCD", "room",
                     network="192.168.1.20").url == "https://digits.example.org/app/?room=ABCD"


def test_no_network_address_says_so_and_how_to_fix_it():
    link = join_link("http://localhost:8501", "ABCD", "room", network=None)
    assert link.url == "http://localhost:8501/?room=ABCD"
    assert "no network address" in link.problem and "browser.serverAddress" in link.problem


def test_this_machines_network_address_is_not_loopback():
    address = network_address()
    assert address is None or not ipaddress.ip_address(address).is_loopback
