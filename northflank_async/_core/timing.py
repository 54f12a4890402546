"""How long a job's builds take, and when to poll a job to see its running build end. Pure.

No sockets and no event loop: times are numbers passed in (the monitor's monotonic clock).
The monitor (``planning``) uses it to poll a job with a running build once, just after the
build is expected to end, instead of every share while it runs:

* `BuildTimes` is what one watched job's polls have listed: the durations of its latest
  concluded builds (``build_concluded_at - created_at``; the pages a poll reads anyway list
  them) and what those timestamps tell of the API's clock.
* `BuildTimes.typical()` is the median of the latest `HISTORY` durations, when at least
  `MIN_SAMPLES` are known and all of them agree (their range is at most ``MAX_SPREAD`` of the
  median); else ``None``: no prediction, the job is polled as before. A prediction too long
  costs delay (up to the bound below), one too short a poll: hence every duration must agree
  (a looser rule, 3 of 5 within 25%, held some outcomes two shares when durations varied).
* The API's timestamps are on its wall clock, the monitor's on a monotonic one.
  `BuildTimes.offset` is a lower bound of the difference (API epoch seconds minus monotonic
  seconds): a build created (or concluded) at ``S`` was listed by an answer read at local
  ``t``, so the API's clock read at least ``S`` then. The bound is as tight as the freshest
  timestamp any answer showed (a poll just after a build ended: seconds), and an error can
  only make a poll later, never earlier. A skewed client clock does not matter.
* `expected_end()` is when a job's running builds end at the earliest (on the monotonic
  clock): ``created_at + typical`` of each, or ``None`` if any of them cannot be predicted.
* `deferred_poll()` is when to poll a job whose running builds are expected to end after its
  last poll: just after the end (``margin``), and at most ``bound`` seconds after the last
  poll. A job polled after the expected end of one of its running builds (the prediction
  failed) is not deferred again: it is polled at its regular interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

import attrs

from .models import JobBuild

__all__ = [
    "HISTORY",
    "MAX_SPREAD",
    "MIN_SAMPLES",
    "BuildTimes",
    "deferred_poll",
    "expected_end",
]

#: How many of a job's latest concluded builds tell its typical duration.
HISTORY = 5
#: How many durations a prediction needs at least.
MIN_SAMPLES = 3
#: The widest range of those durations, as a fraction of their median, that still predicts.
MAX_SPREAD = 0.2


@attrs.define
class BuildTimes:
    """The durations of one job's latest concluded builds, and the API's clock as they tell."""

    size: int = HISTORY
    offset: float = -math.inf
    """A lower bound of the API's epoch seconds minus the monotonic clock (``-inf``: none)."""
    _durations: dict[str, tuple[float, float]] = attrs.field(init=False, factory=dict)
    # build id -> (created_at in epoch seconds, duration in seconds); the newest ``size``

    def learn(self, builds: Iterable[JobBuild], at: float) -> None:
        """What an answer read at ``at`` (monotonic) listed: its builds' timestamps and the
        durations of its concluded ones (a duration that is not positive is ignored)."""
        for build in builds:
            for stamp in (build.created_at, build.build_concluded_at):
                if stamp is not None:
                    self.offset = max(self.offset, stamp.timestamp() - at)
            if build.created_at is None or build.build_concluded_at is None:
                continue
            if not build.is_concluded or build.id in self._durations:
                continue
            created = build.created_at.timestamp()
            duration = build.build_concluded_at.timestamp() - created
            if math.isfinite(duration) and duration > 0:
                self._durations[build.id] = (created, duration)
        if len(self._durations) > self.size:
            newest = sorted(self._durations.items(), key=lambda item: item[1][0])[-self.size :]
            self._durations = dict(newest)

    @property
    def durations(self) -> list[float]:
        """The durations known, oldest build first (at most ``size``)."""
        return [d for _, d in sorted(self._durations.values())]

    def typical(self) -> float | None:
        """The median duration, when at least `MIN_SAMPLES` are known and all of them agree
        (their range is at most `MAX_SPREAD` of the median); else ``None``."""
        durations = self.durations
        if len(durations) < MIN_SAMPLES:
            return None
        median = statistics.median(durations)
        return median if max(durations) - min(durations) <= MAX_SPREAD * median else None


def expected_end(running: Iterable[JobBuild], typical: float | None, offset: float) -> float | None:
    """When the first of the ``running`` builds is expected to end, on the monotonic clock:
    ``created_at + typical - offset`` (`BuildTimes.offset`; the largest of the jobs' is the
    tightest). ``None`` if there are none, if ``typical`` is ``None``, if ``offset`` is not
    known yet or if a build has no ``created_at``."""
    if typical is None or not math.isfinite(offset):
        return None
    ends: list[float] = []
    for build in running:
        if build.created_at is None:
            return None
        ends.append(build.created_at.timestamp() + typical - offset)
    return min(ends, default=None)


def deferred_poll(
    end: float | None, last_polled: float | None, *, margin: float, bound: float, floor: float
) -> float | None:
    """When to poll a job next whose running builds end at ``end`` (monotonic), last polled
    at ``last_polled``: ``end + margin``, but at most ``bound`` and at least ``floor`` seconds
    after the last poll. ``None`` (poll at the regular interval) when there is no prediction,
    the job was never polled, or it was polled after ``end`` already (the prediction failed)."""
    if end is None or last_polled is None or end <= last_polled:
        return None
    return max(last_polled + floor, min(end + margin, last_polled + bound))
