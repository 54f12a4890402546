"""Rate-limit state: what the API announced, and whether a request may go now. Pure: no I/O.

The ``x-ratelimit-*`` and ``Retry-After`` headers are read here, believed only within sane
bounds, and kept in `RateLimitState`, which ``_http``'s gate asks before each request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import attrs

from ._models import RateLimit

__all__ = [
    "MAX_BUDGET",
    "MAX_RESET_SECONDS",
    "RateLimitState",
    "announced",
    "reset_seconds",
    "retry_after_seconds",
]


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date), if usable."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


#: Beyond these bounds a rate-limit header is not believed: it is ignored as if absent.
#: The documented window is one hour; a reset more than a day away is not a window.
MAX_RESET_SECONDS = 86_400.0
#: No account has a budget of more than a billion requests a window.
MAX_BUDGET = 1_000_000_000

# Plain ASCII decimals only: no sign, exponent, nan/inf, "_" separators or non-ASCII digits.
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")


def _header_number(
    headers: Mapping[str, str], name: str, maximum: float = MAX_BUDGET
) -> float | None:
    """A header as a number from 0 to ``maximum``; ``None`` when absent or not believable."""
    raw = headers.get(name)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if value <= maximum else None


def _later(when: datetime, seconds: float) -> datetime | None:
    try:
        return when + timedelta(seconds=seconds)
    except OverflowError:
        return None


def reset_seconds(headers: Mapping[str, str]) -> float | None:
    """``x-ratelimit-reset``: seconds until the window resets (not an epoch), at most a day."""
    return _header_number(headers, "x-ratelimit-reset", MAX_RESET_SECONDS)


def announced(headers: Mapping[str, str]) -> tuple[int, int, float] | None:
    """``(limit, remaining, reset seconds)`` from ``x-ratelimit-*``, when all are believable."""
    limit = _header_number(headers, "x-ratelimit-limit")
    remaining = _header_number(headers, "x-ratelimit-remaining")
    reset = reset_seconds(headers)
    if limit is None or remaining is None or reset is None:
        return None
    return int(limit), int(remaining), reset


@attrs.define
class RateLimitState:
    """What the client knows of its rate-limit window, and whether a request may go now.

    Times are on a monotonic clock supplied by the caller. ``remaining`` is our own count:
    the API's figure minus the requests we sent since that the API may not have counted yet,
    so concurrent tasks cannot overspend the window between two answers. Within one window
    the count only goes down and the window's end only moves later, so a late answer can
    never make us spend more than the API allows.

    While the window is unknown (before the first answer, and after a spent window's
    announced reset passed) one request goes first, the *probe*, and the others wait for its
    answer to tell the budget. A probe that comes back without telling it (no usable
    ``x-ratelimit-*`` headers, or a failure) opens the gate: requests go without waiting until
    an answer tells the budget again, so a server that never sends the headers is not
    serialised. A cancelled probe tells nothing either way: the next request becomes the probe.
    """

    limit: int | None = None
    remaining: int | None = None  # None: unknown (see probing)
    reset_deadline: float | None = None  # monotonic time at which the window resets
    reset_at: datetime | None = None  # the same instant, as an aware wall-clock datetime
    in_flight: int = 0
    probing: bool = False  # a probe is out: the others wait for its answer
    blind: bool = False  # a probe told nothing: nobody waits until an answer tells the budget

    def observe(self, headers: Mapping[str, str], now: float, wall: datetime) -> bool:
        """Take the ``x-ratelimit-*`` headers of an answer; whether they told the budget.

        Called once per answer, before that request leaves ``in_flight``. Values that are not
        plain decimal numbers, or beyond `MAX_BUDGET` / `MAX_RESET_SECONDS`, are
        not believed: the answer then tells nothing.
        """
        limit = _header_number(headers, "x-ratelimit-limit")
        remaining = _header_number(headers, "x-ratelimit-remaining")
        reset = reset_seconds(headers)
        if limit is None or remaining is None or reset is None:
            return False
        reset_at = _later(wall, reset)
        if reset_at is None:
            return False
        others = max(0, self.in_flight - 1)
        announced = max(0, min(int(remaining), int(limit)) - others)
        deadline = now + reset
        if self.remaining is None or self.reset_deadline is None or now >= self.reset_deadline:
            # Nothing known of the current window: this answer describes it.
            self.remaining = announced
            self.reset_deadline, self.reset_at = deadline, reset_at
        else:
            # The same window: an older answer may arrive after a newer one.
            self.remaining = min(self.remaining, announced)
            if deadline > self.reset_deadline:
                self.reset_deadline, self.reset_at = deadline, reset_at
        self.limit = int(limit)
        self.blind = False
        return True

    def delay(self, now: float) -> float | None:
        """Seconds to wait before the next request may go: 0 for now, ``None`` for "unknown".

        ``None`` means the window is unknown and a probe is out: wait until it finishes.
        """
        if self.reset_deadline is not None and now >= self.reset_deadline:
            # The announced reset passed. A budget left over is still ours to spend (it was a
            # moment ago); a spent window is unknown again until a probe tells the new one.
            self.reset_deadline = None
        if self.remaining == 0 and self.reset_deadline is None:
            self.remaining = None
        if self.remaining is None:
            return None if self.probing else 0.0
        if self.remaining > 0 or self.reset_deadline is None:
            return 0.0
        return self.reset_deadline - now

    def start(self) -> bool:
        """Count a request that is about to be sent; whether it goes as the probe."""
        probe = self.remaining is None and not self.blind and not self.probing
        if self.remaining is not None:
            self.remaining = max(0, self.remaining - 1)
        self.in_flight += 1
        if probe:
            self.probing = True
        return probe

    def finish(self, *, probe: bool = False, cancelled: bool = False) -> None:
        """Count a request that got its answer (or failed, or was cancelled).

        ``probe`` says whether it was the probe that `start()` announced.
        """
        self.in_flight = max(0, self.in_flight - 1)
        # With nothing in flight the probe has finished, whether or not the caller said so.
        if self.probing and (probe or self.in_flight == 0):
            self.probing = False
            if self.remaining is None and not cancelled:
                self.blind = True

    def snapshot(self) -> RateLimit | None:
        """The public view, once any answer carried the headers.

        After a spent window's reset, before the probe's answer, it shows a fresh window.
        """
        if self.limit is None or self.reset_at is None:
            return None
        remaining = self.remaining if self.remaining is not None else self.limit
        return RateLimit(limit=self.limit, remaining=remaining, reset_at=self.reset_at)
