"""How tests wait: on a condition, never a fixed sleep, and with one timeout for all of them."""

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# How long any wait may take before the test fails: long enough for a retrain of the tests' quick
# settings, or a page's answer, on a 2-core machine that runs a second test suite beside this one
# (each took minutes there); DIGITNET_TEST_TIMEOUT changes it for a slower machine. Waits end as soon
# as their condition holds: this bounds a failure, it is not how long a test takes.
TIMEOUT_S = float(os.environ.get("DIGITNET_TEST_TIMEOUT", "600"))
WAIT_MS = TIMEOUT_S * 1000  # the same, for Playwright, which counts in milliseconds


def eventually(condition: Callable[[], T], what: str, timeout: float = TIMEOUT_S, every: float = 0.05) -> T:
    """Check `condition()` every `every` seconds until it returns something true, and return that; fail
    saying `what` was awaited when `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)
