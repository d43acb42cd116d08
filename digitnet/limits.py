"""How much of the server one visitor may use: a person draws a few strokes a second, a script thousands."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# A person drawing fast ends a stroke every few tenths of a second, and the canvas may send a stroke
# more than once; a page load, a click and a stroke can come at once. Thirty runs at once and fifteen
# a second after that is more than any hand: a script sending hundreds a second is stopped all the
# same, as each refused run empties the budget.
HUMAN_BURST = 30.0
HUMAN_RATE = 15.0


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
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
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
