"""Who may retrain: an optional admin password, compared in constant time."""

from __future__ import annotations

import hmac
import logging
import threading
import time

ADMIN_PASSWORD_ENV = "DIGITNET_ADMIN_PASSWORD"

log = logging.getLogger(__name__)


def password_matches(given: str | None, expected: str | None) -> bool:
    """True when no password is set (local use) or `given` is exactly `expected`."""
    if not expected:
        return True
    return hmac.compare_digest((given or "").encode(), expected.encode())


class WrongGuesses:
    """Wrong admin passwords across every session of a process: after `free` of them within `window`
    seconds, each new one waits a second longer, up to `longest`, and each is logged (never the guess).

    A guesser who opens many sessions shares one count; the wait blocks only the guessing session.
    """

    def __init__(self, free: int = 3, window: float = 60.0, longest: float = 10.0):
        self.free, self.window, self.longest = free, window, longest
        self._times: list[float] = []
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Count one wrong guess now; how long it should wait, in seconds."""
        now = time.monotonic()
        with self._lock:
            self._times = [t for t in self._times if now - t < self.window] + [now]
            recent = len(self._times)
        log.warning("Wrong admin password (%d within %.0f s)", recent, self.window)
        return float(min(max(recent - self.free, 0), self.longest))

    def wait(self) -> None:
        time.sleep(self.delay())
