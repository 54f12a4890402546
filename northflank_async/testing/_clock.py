"""The fake's one clock: every room of the fake reads time from here.

By default the clock is the running event loop's ``loop.time()`` (``time.monotonic()``
when no loop runs, which is what the default loop reads too), so a test that runs the
fake and the client on a virtual event-loop clock (for example the ``looptime`` plugin)
moves both with the same time. Wall-clock timestamps (``createdAt``, ``startedAt``, ...)
are derived from the same clock: `WALL_EPOCH_MS` plus the clock's reading, so the fake
never reads the system's calendar and its timestamps are reproducible under a virtual clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = [
    "WALL_EPOCH_MS",
    "Clock",
    "LoopClock",
    "ManualClock",
    "follows_loop",
    "format_ms",
    "loop_time",
    "parse_ms",
    "wall_ms",
]

Clock = Callable[[], float]
"""A monotonic time source in seconds."""

#: The fake's wall clock reads this instant (2025-06-30T12:00:00Z) at clock time 0.
WALL_EPOCH_MS: Final = 1_751_284_800_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class ManualClock:
    """A clock that moves only when told: ``FakeNorthflank(clock=ManualClock())``.

    The fake's builds and runs then progress, its logs appear and its rate-limit window
    resets exactly when a test calls `advance()`, with no sleep and no wall clock::

        clock = ManualClock()
        async with FakeNorthflank(clock=clock) as fake:
            ...                  # start a build
            clock.advance(60)    # a minute later, as far as the fake knows
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (never back) and return the new time."""
        if not seconds >= 0:  # also refuses nan
            raise ValueError(f"a clock only moves forward: advance({seconds!r})")
        self._now += seconds
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now:g})"


class LoopClock:
    """The loop's clock read from an origin: ``loop.time() - origin`` (default origin: now).

    It moves with the event loop as the default clock does (a virtual loop clock too), so the
    fake's notification pump runs on it; unlike the default, it reads 0 when it is made, so a
    fake's generated history lies just behind its present (the command line's demo).
    """

    def __init__(self, origin: float | None = None) -> None:
        self.origin = loop_time() if origin is None else float(origin)

    def __call__(self) -> float:
        return loop_time() - self.origin

    def __repr__(self) -> str:
        return f"LoopClock(origin={self.origin:g})"


def follows_loop(clock: Clock) -> bool:
    """Whether ``clock`` moves with the event loop's time (so one may sleep on the loop until
    a reading of it): the default clock, or a `LoopClock`."""
    return clock is loop_time or isinstance(clock, LoopClock)


def loop_time() -> float:
    """Return the running loop's time, or ``time.monotonic()`` outside a loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return time.monotonic()
    return loop.time()


def wall_ms(clock: Clock) -> int:
    """Return the fake's wall-clock time in epoch milliseconds: the epoch plus `clock`."""
    return WALL_EPOCH_MS + int(clock() * 1000)


def format_ms(ms: int) -> str:
    """Format epoch milliseconds as the API does: ISO-8601 with milliseconds and ``Z``."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ms(value: object) -> int | None:
    """Parse an ISO-8601 timestamp into epoch milliseconds; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
