"""One poll of a tracker in the making (`TrackerPoll`). Pure: no sockets, no event loop.

A poll is a transaction: the pages read (newest first) and the answers of the ``get`` calls
for tracked items that fell off them are added to it, and the tracker's ``commit()`` applies it
at once (``tracking``). The poll reads the tracker's state but never changes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Generic, Protocol, TypeVar

__all__ = ["Tracked", "TrackerPoll", "TrackerState"]


class Tracked(Protocol):
    """What a tracker reads of an item (`JobBuild`, `JobRun`): its id, status, conclusion."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> object: ...

    @property
    def is_concluded(self) -> bool: ...


T = TypeVar("T", bound=Tracked)


class TrackerState(Protocol[T]):
    """What a poll reads of its tracker (`tracking.ItemTracker`), which it never changes."""

    max_gets: int
    _id_set: set[str]
    _time: datetime | None
    _tracked: dict[str, T]
    _confirmed: dict[str, int]
    _dropped: dict[str, T]
    _pushed: dict[str, None]

    def _time_of(self, item: T) -> datetime | None: ...

    def _known(self, build_id: str) -> bool: ...


class TrackerPoll(Generic[T]):
    """One poll of a tracker (`JobTracker`, `RunTracker`) in the making; the tracker changes
    only at commit.

    Add the pages read (newest first) with `add_page()` while `needs_next_page`;
    then ``get`` each id of `to_fetch` and add the answer with `add_fetched()` (or
    `add_gone()` for a 404 or an answer that cannot be decoded). Drop the poll on any
    failure: the tracker is unchanged.
    """

    def __init__(self, tracker: TrackerState[T], generation: int, *, snapshot: bool) -> None:
        self._tracker = tracker
        self._generation = generation
        self._snapshot = snapshot
        self._pages = 0
        self._reached = False  # met the already-seen part of the history
        self._ended = False  # read the last page of the history
        self._last_page_tracked = False  # the latest page listed a tracked build
        self._observed: dict[str, T] = {}  # listing order, latest state of each build
        self._new: set[str] = set()
        # Unknown builds older than the watermark, met before any known build: new if a known
        # build is listed below them (clock skew), old if none is (the known ones were deleted).
        self._older: list[str] = []
        self._fetched: dict[str, T] = {}
        self._gone: set[str] = set()

    @property
    def needs_next_page(self) -> bool:
        """Whether to read the next page: the pages so far fall short of what was seen before,
        or more tracked builds are missing than one poll may ``get`` and the latest page still
        listed tracked builds (a page answers many of them for one request)."""
        if not self.complete:
            return True
        return (
            not self._snapshot
            and not self._ended
            and self._last_page_tracked
            and len(self.missing) > self._tracker.max_gets
        )

    @property
    def complete(self) -> bool:
        """Whether the pages read reach the seen history (or its end), so the poll may commit."""
        if self._snapshot:
            return self._pages > 0  # the newest page is the snapshot
        return self._reached or self._ended

    @property
    def missing(self) -> list[str]:
        """Tracked builds neither on the pages read nor fetched yet, confirmed least recently
        first. Meaningful once `needs_next_page` is False."""
        if self._snapshot:
            return []
        tracker = self._tracker
        done = self._observed.keys() | self._fetched.keys() | self._gone
        ids = [build_id for build_id in tracker._tracked if build_id not in done]
        return sorted(ids, key=lambda build_id: tracker._confirmed.get(build_id, 0))

    @property
    def items(self) -> list[T]:
        """Every item this poll listed or fetched (its latest state), in no set order."""
        return [*self._observed.values(), *self._fetched.values()]

    @property
    def to_fetch(self) -> list[str]:
        """The `missing` builds this poll may ``get``: at most the tracker's ``max_gets``."""
        return self.missing[: max(0, self._tracker.max_gets - len(self._fetched) - len(self._gone))]

    def add_page(self, newest_first: Sequence[T], *, has_next_page: bool) -> None:
        """Take one page of the job's builds, newest first, as the list endpoint returns them."""
        self._pages += 1
        tracker = self._tracker
        time = tracker._time
        # With no build known at all (``since`` a datetime), time alone tells old from new.
        by_time = not tracker._id_set and not tracker._dropped
        by_time = by_time and tracker._tracked.keys() <= tracker._pushed.keys()
        older_only = bool(newest_first) and not self._reached
        self._last_page_tracked = False
        for build in newest_first:
            if build.id in tracker._tracked:
                self._last_page_tracked = True
            if build.id in self._observed:
                # Listed again (it moved to the next page while we read): keep the first
                # position and the latest state.
                self._observed[build.id] = build
                continue
            self._observed[build.id] = build
            if self._snapshot:
                continue
            if build.id in tracker._pushed:
                older_only = False  # told by a notification: reported, and no landmark
                continue
            created = tracker._time_of(build)
            older = time is not None and created is not None and created < time
            if tracker._known(build.id):
                if not self._reached:
                    # Listed above a known build: new, whatever their time says.
                    self._new.update(self._older)
                    self._older.clear()
                self._reached = True
                older_only = False
            elif self._reached:
                # Past the seen part only a build strictly newer than everything seen is still
                # new (a listing out of order); one that shares the watermark's time there is
                # an older build of that tie.
                if time is not None and created is not None and created > time:
                    self._new.add(build.id)
            elif older and by_time:
                self._reached = True
            elif older:
                self._older.append(build.id)
            else:
                self._new.add(build.id)
                older_only = False
        if older_only and not self._reached:
            # A whole page of unknown builds older than the watermark and no known build met:
            # the known ones were deleted. Going by time, these and the rest are old.
            self._reached = True
        if not has_next_page:
            self._ended = True

    def add_fetched(self, build: T) -> None:
        """Take the answer of the ``get`` of a missing tracked build."""
        if build.id not in self.missing:
            raise ValueError(f"build {build.id!r} is not a missing tracked build of this poll")
        self._fetched[build.id] = build

    def add_gone(self, build_id: str) -> None:
        """A missing tracked build's ``get`` proved it gone (404, or an answer that cannot be
        decoded). It leaves tracking after `GONE_AFTER` such polls in a row."""
        if build_id not in self.missing:
            raise ValueError(f"build {build_id!r} is not a missing tracked build of this poll")
        self._gone.add(build_id)
