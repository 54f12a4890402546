"""Watching: how often to poll, and what a follower has already seen. Pure: no I/O.

``PollSchedule`` stretches the wait between polls while nothing changes; ``Watermark`` tells a
follower which builds of a page are new. The loops that use them are in ``_workflows``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from .models import JobBuild

__all__ = ["PollSchedule", "Watermark"]


@attrs.define
class PollSchedule:
    """How long to wait between polls: ``base`` after a change, growing to ``cap`` while idle.

    Each poll that sees nothing new multiplies the interval by ``factor``, so a long build costs
    a few requests an hour instead of hundreds, and a change brings the interval back down.
    """

    base: float
    cap: float
    factor: float = 1.5
    current: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.base < 0 or self.cap < self.base:
            raise ValueError("poll interval must be >= 0 and no larger than its cap")
        self.current = self.base

    def next(self, *, changed: bool) -> float:
        """The wait before the next poll, given whether the last poll saw a change."""
        self.current = self.base if changed else min(self.cap, self.current * self.factor)
        return self.current


@attrs.define
class Watermark:
    """Where a follower stands in a job's history (newest first): what it has already seen.

    A build is old when its id was seen, or when it was created before ``time``. Ids are kept
    for the latest ``memory`` builds, enough to separate builds that share a timestamp.
    """

    time: datetime | None = None
    _seen: deque[str] = attrs.field(factory=lambda: deque(maxlen=1000))
    _seen_set: set[str] = attrs.field(factory=set)

    @classmethod
    def at(cls, time: datetime | None, ids: Iterable[str] = ()) -> Watermark:
        """A watermark at ``time`` that already knows ``ids``."""
        mark = cls(time)
        mark.remember(ids)
        return mark

    def remember(self, ids: Iterable[str]) -> None:
        for build_id in ids:
            if build_id in self._seen_set:
                continue
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(build_id)
            self._seen_set.add(build_id)

    def scan(self, newest_first: Sequence[JobBuild]) -> tuple[list[JobBuild], bool]:
        """The new builds of one page (newest first), and whether the watermark was reached."""
        new: list[JobBuild] = []
        for build in newest_first:
            created = build.created_at
            if build.id in self._seen_set or (
                self.time is not None and created is not None and created < self.time
            ):
                return new, True
            new.append(build)
        return new, False

    def advance(self, new_newest_first: Sequence[JobBuild]) -> None:
        """Move past builds that have been handed out."""
        self.remember(build.id for build in new_newest_first)
        times = [b.created_at for b in new_newest_first if b.created_at is not None]
        if times:
            latest = max(times)
            self.time = latest if self.time is None else max(self.time, latest)
