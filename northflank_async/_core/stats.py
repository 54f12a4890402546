"""Build statistics for ``builds stats``: pure functions of a list of builds, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date
from typing import Any

import attrs

from .models import BuildStatus, JobBuild

__all__ = ["BuildStats", "DayCount", "build_stats", "histogram", "percentile"]


@attrs.frozen
class DayCount:
    """The builds created on one UTC day, and how many of them failed."""

    day: date
    builds: int
    failures: int


@attrs.frozen(kw_only=True)
class BuildStats:
    """What ``builds stats`` reports about a set of builds.

    ``failures`` are concluded builds that neither succeeded nor were aborted (an abort is a
    person's or a bot's decision, not a broken build); ``success_rate`` is
    ``successes / (successes + failures)``, ``None`` with neither. Durations (seconds) are those
    of concluded builds whose two times are known; the percentiles interpolate linearly between
    the closest ranks (as ``numpy.percentile`` does by default).
    """

    builds: int
    running: int
    successes: int
    failures: int
    aborted: int
    success_rate: float | None
    durations: tuple[float, ...]
    p50: float | None
    p90: float | None
    p99: float | None
    by_day: tuple[DayCount, ...]

    def as_json(self) -> dict[str, Any]:
        """The statistics as JSON-ready data (``builds stats --format json``)."""
        durations = self.durations
        return {
            "builds": self.builds,
            "running": self.running,
            "successes": self.successes,
            "failures": self.failures,
            "aborted": self.aborted,
            "success_rate": self.success_rate,
            "duration_seconds": {
                "count": len(durations),
                "min": min(durations) if durations else None,
                "max": max(durations) if durations else None,
                "mean": sum(durations) / len(durations) if durations else None,
                "p50": self.p50,
                "p90": self.p90,
                "p99": self.p99,
            },
            "by_day": [
                {"day": d.day.isoformat(), "builds": d.builds, "failures": d.failures}
                for d in self.by_day
            ],
        }


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of ascending ``ordered``, linearly interpolated."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q!r}")
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _outcome(build: JobBuild) -> str:
    if not build.is_concluded:
        return "running"
    if build.status == BuildStatus.SUCCESS or (build.status is None and build.success):
        return "success"
    if build.status == BuildStatus.ABORTED:
        return "aborted"
    return "failure"


def build_stats(builds: Iterable[JobBuild]) -> BuildStats:
    """Success rate, duration percentiles and failures by day of ``builds``."""
    counts = {"running": 0, "success": 0, "aborted": 0, "failure": 0}
    durations: list[float] = []
    days: dict[date, list[int]] = {}
    total = 0
    for build in builds:
        total += 1
        outcome = _outcome(build)
        counts[outcome] += 1
        duration = build.duration
        if outcome != "running" and duration is not None:
            durations.append(duration.total_seconds())
        if build.created_at is not None:
            day = days.setdefault(build.created_at.astimezone(UTC).date(), [0, 0])
            day[0] += 1
            day[1] += outcome == "failure"
    durations.sort()
    decided = counts["success"] + counts["failure"]
    return BuildStats(
        builds=total,
        running=counts["running"],
        successes=counts["success"],
        failures=counts["failure"],
        aborted=counts["aborted"],
        success_rate=counts["success"] / decided if decided else None,
        durations=tuple(durations),
        p50=percentile(durations, 50),
        p90=percentile(durations, 90),
        p99=percentile(durations, 99),
        by_day=tuple(DayCount(day, n, failed) for day, (n, failed) in sorted(days.items())),
    )


def histogram(values: Sequence[float], bins: int = 8) -> list[tuple[float, float, int]]:
    """``values`` counted into ``bins`` equal ranges from min to max: (low, high, count) each."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins!r}")
    if not values:
        return []
    low, high = min(values), max(values)
    if low == high:
        return [(low, high, len(values))]
    width = (high - low) / bins
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return [(low + i * width, low + (i + 1) * width, n) for i, n in enumerate(counts)]
