"""Who may retrain: an optional admin password, compared in constant time."""

from __future__ import annotations

import hmac

ADMIN_PASSWORD_ENV = "DIGITNET_ADMIN_PASSWORD"


def password_matches(given: str | None, expected: str | None) -> bool:
    """True when no password is set (local use) or `given` is exactly `expected`."""
    if not expected:
        return True
    return hmac.compare_digest((given or "").encode(), expected.encode())
