"""How much of the server one visitor may use: a person draws a few strokes a second, a script thousands."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """The network address a visitor's page talks from. `peer` is the connection's (Streamlit says None
    for 127.0.0.1 and ::1); `forwarded_for` is the X-Forwarded-For header. A proxy on this machine
    (make serve's nginx) connects from 127.0.0.1 and appends the visitor's address last: that one is
    believed, and only from there; whatever a visitor wrote in the header itself comes before it."""
    if peer is None and forwarded_for:
        return forwarded_for.split(",")[-1].strip()
    return peer or "127.0.0.1"
