"""Build and run logs, resuming: where a reader stands, and when a tail may reconnect.

Several lines can share a timestamp, and the API can only be asked to start *at* a timestamp,
so a continuation re-asks from the furthest timestamp handed out (inclusive) and `Resume`
drops the lines at that timestamp that were already handed out, by count: the API sends lines
of one timestamp in a stable order. A stamp far beyond the caller's clock (`CLOCK_SKEW`) is
not believed as a resume point: one line stamped in the year 9999 must not make every later
line look old. `ReconnectPace` spaces a tail's handshakes by their recent rate. Time is passed
in (``now``), never read here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from .checks import MIN_POLL_INTERVAL
from .models import LogLine

__all__ = ["CLOCK_SKEW", "RECONNECT_CAP", "RECONNECT_WINDOW", "ReconnectPace", "Resume"]

#: How far beyond the caller's clock a line's stamp may be and still be believed as the point
#: a reader resumes from (clocks disagree a little; a stamp in the year 9999 is not a time).
CLOCK_SKEW = timedelta(minutes=5)
#: A tail's handshakes are spaced by their rate: the next one starts at least
#: ``MIN_POLL_INTERVAL * 2 ** (n - 1)`` seconds (at most `RECONNECT_CAP`) after the previous
#: one, n being the handshakes of the last `RECONNECT_WINDOW` seconds.
RECONNECT_WINDOW = 600.0
RECONNECT_CAP = 60.0


@attrs.define
class Resume:
    """Where a reader stands in a log: the point it resumes from, and what it handed out there.

    ``ts`` is the furthest timestamp handed out in the reading direction (the latest, reading
    forward) among the plausible ones: a stamp more than `CLOCK_SKEW` beyond ``now`` is
    handed out but not believed as a resume point; its lines are counted in ``ahead`` so that
    a continuation's repeats of them are dropped. A line stamped behind ``ts`` (out of order)
    is handed out and moves nothing.

    Call `restart()` when a request or a connection starts again from `point`; then `take()`
    drops what that answer repeats: lines before the point (in the reading direction), the first
    `count` lines at ``ts`` and the first ``ahead[t]`` lines at each stamp ``t`` beyond it.
    """

    forward: bool = True
    ts: datetime | None = None
    count: int = 0  # lines handed out whose timestamp is ``ts``
    yielded: int = 0
    #: Lines handed out with a stamp beyond the clock (and beyond ``ts``), per stamp.
    ahead: dict[datetime, int] = attrs.field(factory=dict)
    #: How many lines had a stamp too far beyond the clock to be believed.
    doubted: int = 0
    _origin: datetime | None = None
    _skip: dict[datetime, int] = attrs.field(factory=dict)

    @property
    def point(self) -> datetime | None:
        """Where a continuation starts (inclusive): ``ts``; while no stamp was believed, the
        nearest of the doubted ones (its repeats are dropped); ``None`` before any line."""
        if self.ts is not None or not self.ahead:
            return self.ts
        return min(self.ahead) if self.forward else max(self.ahead)

    @property
    def repeats(self) -> int:
        """How many lines a continuation from `point` sends again, at most."""
        return self.count + sum(self.ahead.values())

    def restart(self) -> None:
        """A new answer starts at `point` (inclusive): expect its repeats again."""
        self._origin = self.point
        self._skip = dict(self.ahead)
        if self.ts is not None:
            self._skip[self.ts] = self.count

    def _before(self, ts: datetime, than: datetime) -> bool:
        return ts < than if self.forward else ts > than

    def take(self, lines: Sequence[LogLine], *, now: datetime) -> list[LogLine]:
        """The lines of an answer that were not handed out yet; they count as handed out.

        ``now`` is the caller's clock (aware): a stamp beyond ``now + CLOCK_SKEW`` does not
        move the resume point.
        """
        fresh: list[LogLine] = []
        origin, skip, latest = self._origin, self._skip, now + CLOCK_SKEW
        for line in lines:
            ts = line.ts
            if origin is not None:
                if self._before(ts, origin):
                    continue  # outside the continued window: handed out before
                if skip.get(ts):
                    skip[ts] -= 1
                    continue
            fresh.append(line)
            self._hand_out(ts, latest)
        self.yielded += len(fresh)
        return fresh

    def _hand_out(self, ts: datetime, latest: datetime) -> None:
        if ts == self.ts:
            self.count += 1
        elif ts > latest:
            self.doubted += 1
            self.ahead[ts] = self.ahead.get(ts, 0) + 1
        elif self.ts is None or self._before(self.ts, ts):
            self.ts, self.count = ts, 1 + self.ahead.pop(ts, 0)
            if self.ahead:  # stamps now behind the point: a continuation never sees them again
                self.ahead = {t: n for t, n in self.ahead.items() if self._before(ts, t)}


@attrs.define
class ReconnectPace:
    """When a tail may open its next connection: handshakes spaced by their recent rate.

    Each handshake is `opened()`; `wait()` is how long the next one must wait: the previous
    one's start plus ``MIN_POLL_INTERVAL * 2 ** (n - 1)`` seconds (at most `RECONNECT_CAP`),
    n being the handshakes started in the last `RECONNECT_WINDOW` seconds. Times are the
    caller's clock (seconds). A server that closes every connection at once gets 4 handshakes
    in the first 15 s and about one a minute after that, whatever each connection delivered.
    """

    starts: deque[float] = attrs.field(factory=deque)

    def _recent(self, now: float) -> deque[float]:
        while self.starts and self.starts[0] <= now - RECONNECT_WINDOW:
            self.starts.popleft()
        return self.starts

    def opened(self, now: float) -> None:
        """A handshake starts at ``now``."""
        self._recent(now).append(now)

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until the next handshake may start (0 for the first)."""
        recent = self._recent(now)
        if not recent:
            return 0.0
        spacing = min(MIN_POLL_INTERVAL * 2.0 ** min(len(recent) - 1, 64), RECONNECT_CAP)
        return max(0.0, recent[-1] + spacing - now)
