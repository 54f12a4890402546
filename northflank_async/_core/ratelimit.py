"""Rate-limit state: what the API announced, and whether a request may go now. Pure: no I/O.

The ``x-ratelimit-*`` and ``Retry-After`` headers are read here, believed only within sane
bounds, and kept in `RateLimitState`, which ``_http``'s gate asks before each request.

The policy (docs/resilience.md, "Which answer the gate believes"): the freshest answer wins,
freshness being send order (the answer to the attempt sent last); a 429 asks for its
``Retry-After`` (else its reset), any other answer announces its budget until its reset; the
gate never waits longer than the freshest answer asked, and never lets more attempts go than
its budget allows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import attrs

from .models import RateLimit

__all__ = [
    "MAX_BUDGET",
    "MAX_RESET_SECONDS",
    "Attempt",
    "RateLimitState",
    "announced",
    "reset_seconds",
    "retry_after_seconds",
    "told_window",
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


def told_window(
    status: int, headers: Mapping[str, str], wall: datetime
) -> tuple[int | None, int, float | None] | None:
    """What one answer tells the gate: ``(limit, remaining, seconds it holds)``, else ``None``.

    A 429 says the budget is spent (remaining 0) for its ``Retry-After``, else its
    ``x-ratelimit-reset`` (``None`` seconds when it gives neither: the window is then unknown);
    its limit is ``None`` unless announced. Any other answer tells its ``x-ratelimit-*`` when
    all three are believable (`announced`), else nothing.
    """
    if status == 429:
        limit = _header_number(headers, "x-ratelimit-limit")
        wait = retry_after_seconds(headers, wall)
        if wait is None or wait > MAX_RESET_SECONDS:
            wait = reset_seconds(headers)
        return (None if limit is None else int(limit)), 0, wait
    window = announced(headers)
    if window is None:
        return None
    limit, remaining, reset = window
    return limit, min(remaining, limit), reset


@attrs.frozen
class Attempt:
    """An attempt as `RateLimitState.send` counted it: its place in send order (from 1)."""

    seq: int
    probe: bool = False


@attrs.define
class RateLimitState:
    """What the client knows of its rate-limit window, and whether a request may go now.

    Times are on a monotonic clock supplied by the caller. Every attempt is numbered when it
    is sent (`send`): that order says which answer is the freshest. The state believes the
    answer of the attempt sent last among those answered with usable headers; an answer to
    an attempt sent earlier, arriving after it, is stale and changes nothing. A believed
    answer replaces the window whole: its reset (a 429's ``Retry-After``) is the deadline,
    later or earlier than the one before, and its remaining is our count, less every attempt
    the server may not have counted in it: those sent after it (whatever became of them) and
    those sent before it still waiting for their answer. So concurrent tasks cannot overspend
    what the freshest answer allows, and no wait is longer than the freshest answer asked.

    While the window is unknown (before the first answer, after a spent window's deadline
    passed, after a 429 that says neither how long nor when) one request goes first, the
    *probe*, and the others wait for its answer to tell the budget. A probe that comes back
    without telling it (no usable headers, or a failure) opens the gate: requests go without
    waiting until an answer tells the budget again, so a server that never sends the headers
    is not serialised. A cancelled probe tells nothing either way: the next request probes.
    """

    limit: int | None = None
    remaining: int | None = None  # None: unknown (see probing)
    reset_deadline: float | None = None  # monotonic time at which the window resets
    reset_at: datetime | None = None  # the same instant, as an aware wall-clock datetime
    in_flight: int = 0
    probing: bool = False  # a probe is out: the others wait for its answer
    blind: bool = False  # a probe told nothing: nobody waits until an answer tells the budget
    sent: int = 0  # attempts sent so far: the seq of the latest
    believed: int = 0  # the seq of the attempt whose answer is believed (0: none yet)
    _open: set[int] = attrs.field(factory=set, init=False, repr=False)  # seqs in flight

    def observe(
        self,
        headers: Mapping[str, str],
        now: float,
        wall: datetime,
        attempt: Attempt | None = None,
        *,
        status: int = 200,
    ) -> bool:
        """Take an answer's headers; whether they told the budget (and were believed).

        ``attempt`` is what `send` returned for the request answered (``None``: the attempt
        sent last). Called once per answer, before that request leaves ``in_flight``. Values
        that are not plain decimal numbers, or beyond `MAX_BUDGET` / `MAX_RESET_SECONDS`, are
        not believed: the answer then tells nothing.
        """
        seq = self.sent if attempt is None else attempt.seq
        if seq < self.believed:
            return False  # stale: a fresher answer is already believed
        told = told_window(status, headers, wall)
        if told is None:
            return False
        limit, remaining, seconds = told
        self.believed = seq
        self.blind = False
        if limit is not None:
            self.limit = limit
        if seconds is None:  # a 429 that says neither how long nor when: probe again
            self.remaining = self.reset_deadline = None
            return True
        reset_at = _later(wall, seconds)
        if reset_at is None:
            return False
        # Every attempt the server may not have counted in this answer.
        uncounted = (self.sent - seq) + sum(1 for other in self._open if other < seq)
        self.remaining = max(0, remaining - uncounted)
        self.reset_deadline, self.reset_at = now + seconds, reset_at
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

    def send(self) -> Attempt:
        """Count a request that is about to be sent: its number, and whether it is the probe."""
        probe = self.remaining is None and not self.blind and not self.probing
        if self.remaining is not None:
            self.remaining = max(0, self.remaining - 1)
        self.in_flight += 1
        self.sent += 1
        self._open.add(self.sent)
        if probe:
            self.probing = True
        return Attempt(self.sent, probe)

    def start(self) -> bool:
        """`send` for callers that only need to know whether it goes as the probe."""
        return self.send().probe

    def finish(
        self, *, probe: bool = False, cancelled: bool = False, attempt: Attempt | None = None
    ) -> None:
        """Count a request that got its answer (or failed, or was cancelled).

        ``attempt`` (or ``probe``) says which one it was, and whether it was the probe.
        """
        self.in_flight = max(0, self.in_flight - 1)
        if attempt is not None:
            self._open.discard(attempt.seq)
            probe = probe or attempt.probe
        elif self._open:
            self._open.discard(min(self._open))
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
