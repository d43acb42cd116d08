"""How much of the server one visitor may use: a person draws a few strokes a second, a script thousands."""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

TRUSTED_PROXIES_ENV = "DIGITNET_TRUSTED_PROXIES"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A person drawing fast ends a stroke every few tenths of a second, and a page load, a click and a
# stroke can come at once: twelve runs at once, and six a second after that, is more than a hand
# needs. The burst is kept small: five flooding sessions each get it once, at a stroke's cost each.
HUMAN_BURST = 12.0
HUMAN_RATE = 6.0


@dataclass
class RerunBudget:
    """A token bucket of page runs: `burst` at once, refilled at `rate` a second."""

    rate: float = HUMAN_RATE
    burst: float = HUMAN_BURST
    tokens: float = HUMAN_BURST
    updated: float = field(default_factory=time.monotonic)
    refused: int = 0  # runs refused since the last one allowed

    def take(self, now: float | None = None) -> float:
        """Spend one run: 0 if the budget allows it, else how many seconds until it would."""
        now = time.monotonic() if now is None else now
        # A `now` earlier than the last (a send that waited for a lock others took) refills nothing.
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused = 0
            return 0.0
        self.refused += 1
        return (1 - self.tokens) / self.rate

    def empty(self, now: float | None = None) -> None:
        """Spend everything: a flood's next run, however soon, is refused too."""
        self.tokens = 0.0
        self.updated = time.monotonic() if now is None else now


def client_address(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...] = ()) -> str:
    """The network address a visitor's page talks from. `peer` is the connection's (Streamlit says None
    for 127.0.0.1 and ::1); `forwarded_for` is the X-Forwarded-For header. A proxy on this machine
    (make serve's nginx), or at an address of `proxies` (an nginx on another machine, an ingress),
    appends the visitor's address last: that one is believed, and only from there; whatever a visitor
    wrote in the header itself comes before it."""
    if forwarded_for and (peer is None or _among(peer, proxies)):
        return forwarded_for.split(",")[-1].strip()
    return peer or "127.0.0.1"


def trusted_proxies(env: Mapping[str, str] | None = None) -> tuple[Network, ...]:
    """$DIGITNET_TRUSTED_PROXIES: the networks ("10.0.0.0/8, 192.0.2.10") of the proxies in front of
    the page besides this machine's, whose X-Forwarded-For is believed. An entry that is not a network
    is left out, and said in the log."""
    networks = []
    for entry in (os.environ if env is None else env).get(TRUSTED_PROXIES_ENV, "").split(","):
        if entry.strip():
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                log.warning("%s: %r is not a network address; left out", TRUSTED_PROXIES_ENV, entry.strip())
    return tuple(networks)


def _among(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
