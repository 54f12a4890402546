"""Checks of the caller's arguments, made before anything is sent. Pure: no I/O.

Each refuses a wrong value with the exception the caller's mistake deserves (``ValueError`` for
a call's arguments, ``ConfigurationError`` for a client option) and a message naming the option.
"""

from __future__ import annotations

import math
import sys
from datetime import datetime

from .models import JobBuild

__all__ = [
    "MIN_POLL_INTERVAL",
    "check_number",
    "check_poll_interval",
    "check_sha",
    "check_since",
]

_FLOAT_MAX = sys.float_info.max


def check_number(
    value: object,
    name: str,
    *,
    minimum: float = 0.0,
    above: bool = False,
    maximum: float | None = None,
    integer: bool = False,
    infinite: bool = False,
    error: type[Exception] = ValueError,
) -> None:
    """Refuse a numeric option of the wrong type, not finite, or out of range.

    ``value`` must be an int (``integer``) or a real number, never a bool; at least
    ``minimum`` (more than it if ``above``) and at most ``maximum``; finite unless ``infinite``
    allows +inf. The ``error`` raised (``ValueError`` for call arguments, ``ConfigurationError``
    for client options) names the option and says why.
    """
    kind = "an integer" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        raise error(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if not integer and isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        raise error(f"{name} must be finite, got an integer too large for a float")
    if isinstance(value, float) and math.isnan(value):
        raise error(f"{name} must be {kind}, not nan")
    if isinstance(value, float) and math.isinf(value) and not (infinite and value > 0):
        raise error(f"{name} must be finite, got {value!r}")
    if value < minimum or (above and value == minimum):
        bound = f"greater than {minimum:g}" if above else f"at least {minimum:g}"
        raise error(f"{name} must be {bound}, got {value!r}")
    if maximum is not None and value > maximum:
        raise error(f"{name} must be at most {maximum:g}, got {value!r}")


#: The one floor between two polls or two reconnects of any loop (``wait``, ``watch``,
#: ``follow``, the monitor, a log tail's reconnects): no loop may spin against the API, whatever
#: it is given. One second keeps tests and demos quick; docs/resilience.md lists it.
MIN_POLL_INTERVAL = 1.0


def check_poll_interval(value: object, name: str = "poll_interval") -> None:
    """Refuse a poll interval that is not a number or is below `MIN_POLL_INTERVAL`."""
    check_number(value, name, minimum=MIN_POLL_INTERVAL)


_SHA_LENGTH = 40
_HEX = frozenset("0123456789abcdefABCDEF")


def check_sha(sha: str | None) -> None:
    """A commit sha must be 40 hex characters; anything else is refused before a request."""
    if sha is not None and (
        not isinstance(sha, str) or len(sha) != _SHA_LENGTH or not _HEX.issuperset(sha)
    ):
        raise ValueError(f"sha must be a 40-character hex commit id, got {sha!r}")


def check_since(since: str | datetime | JobBuild | None) -> None:
    """Refuse a ``since`` that is not a build id, a build, an aware datetime or None."""
    if isinstance(since, datetime) and since.tzinfo is None:
        raise ValueError("since must be a timezone-aware datetime (or a build id, or None)")
    if isinstance(since, str) and not since:
        raise ValueError("since must be a non-empty build id")
    if since is not None and not isinstance(since, str | datetime | JobBuild):
        raise ValueError(f"since must be a build id, a build or a datetime, got {since!r}")
