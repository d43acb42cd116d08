"""How tests wait: on a condition, never a fixed sleep, and with one timeout for all of them."""

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Long enough for a retrain of the tests' quick settings on a 2-core machine that runs a second test
# suite beside this one; DIGITNET_TEST_TIMEOUT changes it for a slower machine.
TIMEOUT_S = float(os.environ.get("DIGITNET_TEST_TIMEOUT", "300"))


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
