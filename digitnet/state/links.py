"""The join link a room's phones open: an address they can reach, not the presenter's `localhost`."""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# A documentation address (RFC 5737): asking the kernel for a route to it sends nothing, and the route's
# source address is the one this machine uses on its network (what Streamlit prints as the Network URL).
_ROUTE_PROBE = ("192.0.2.1", 9)
_ROUTE_PROBE_V6 = ("2001:db8::1", 9)


@dataclass(frozen=True)
class JoinLink:
    """The link, and when no phone can open it, why and what to do."""

    url: str
    problem: str = ""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: `localhost`, 127.x.y.z, ::1, or the unspecified address."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def network_address() -> str | None:
    """This machine's address on its network, or None when it has none but loopback."""
    for family, probe in ((socket.AF_INET, _ROUTE_PROBE), (socket.AF_INET6, _ROUTE_PROBE_V6)):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect(probe)  # UDP: picks a route, sends no packet
                address = sock.getsockname()[0]
        except OSError:
            continue
        if not is_loopback(address) and not ipaddress.ip_address(address).is_link_local:
            return address
    log.info("this machine has no network address but loopback")
    return None


def _host_port(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{host}:{port}" if port else host


def join_link(page_url: str, code: str, query: str, server_address: str | None = None,
              server_port: int | None = None, network: str | None = None) -> JoinLink:
    """The link phones open to join room `code`.

    `page_url` is the page as the presenter's browser reached it. In this order: the operator's own
    address (`server_address`, `server_port`: Streamlit's browser.serverAddress and browser.serverPort,
    when set); else, when the presenter reached the page by a loopback name, this machine's `network`
    address on the same port; else the address the presenter's browser used.
    """
    parts = urlsplit(page_url)
    scheme = parts.scheme or "http"
    path = parts.path.rstrip("/")
    port = server_port or parts.port
    problem = ""
    if server_address:
        netloc = _host_port(server_address, port)
    elif is_loopback(parts.hostname or "localhost"):
        if network:
            netloc = _host_port(network, port)
        else:
            netloc = parts.netloc or "localhost"
            problem = ("This computer has no network address, so phones cannot open this link. Connect it to "
                       "the room's Wi-Fi (or a phone's hotspot) and reload, or set browser.serverAddress to a "
                       "name the phones can reach.")
    else:
        netloc = _host_port(parts.hostname, port) if server_port else parts.netloc
    return JoinLink(f"{scheme}://{netloc}{path}/?{query}={code}", problem)
