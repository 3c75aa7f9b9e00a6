"""Checks and time limits shared by every e2e module: `require`, `eq` and
`wait_for` raise CheckFailed, which the Tap reporter turns into `not ok`.
Every wait is clamped by `budget` to what is left of the file's time budget,
so a test file finishes well under meson's timeout even when tt hangs.
"""

import time


HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 20.0
# Each test file must finish well under 3 minutes: after FILE_BUDGET seconds
# every wait gives up at once, and at HARD_LIMIT the file bails out.
FILE_BUDGET = 150.0
HARD_LIMIT = 170


_start = time.monotonic()
_deadline = _start + FILE_BUDGET


def budget(timeout):
    """Clamp a wait to what is left of this file's time budget."""
    return max(0.0, min(timeout, _deadline - time.monotonic()))


class CheckFailed(Exception):
    pass


class ExpectTimeout(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def wait_for(pred, timeout=DEFAULT_TIMEOUT, what="condition", interval=0.05):
    """Poll pred() until it returns something truthy; return that value."""
    deadline = time.monotonic() + budget(timeout)
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise CheckFailed(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
