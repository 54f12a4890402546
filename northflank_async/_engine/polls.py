"""One watched job of the monitor, one poll of it, and what its requests cost.

The monitor (``monitor``) decides when a job is polled; this module reads it. A poll is one
list request of the job's newest builds through the one pagination engine (more pages while the
tracker needs them), plus a ``get`` for each tracked build that fell off them (at most
``MAX_GETS_PER_POLL``); for a job watched with ``runs=True``, the same of its runs (a `Feed`
each). The trackers (``_core.tracking``) turn it into events at once, or not at all when a
request fails, so a failed poll changes nothing. Every request is booked in the
monitor's `PollBudget` (``budget``) before it goes, so no rolling hour ever holds more than the
budget, and a 429's ``Retry-After`` pauses every poll. What a poll lists of the job's concluded
builds (their durations) is kept in its `BuildTimes` (``_core.timing``), for the plan.

A build that cannot be decoded (a malformed ``createdAt``...) is skipped, counted and logged
once (`Skips`): the rest of its page is used, and its job stays watched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import attrs

from .._core.converter import decode
from .._core.errors import DecodeError, NotFoundError
from .._core.events import BuildEvent, MonitorEvent, RunEvent
from .._core.models import JobBuild, JobRun, Page
from .._core.owners import Owner
from .._core.timing import BuildTimes
from .._core.trackers import JobTracker, RunTracker
from .._core.tracking import ItemTracker, Tracked, TrackerPoll
from .._core.wire import check_id
from .._transport.http import Transport
from .endpoints import call, list_frames
from .pagination import FetchPage, PageWalker

__all__ = ["Feed", "JobHandle", "Skips", "WatchedJob", "read"]

logger = logging.getLogger("northflank_async")

#: How many undecodable builds are remembered so that each is logged once.
_LOGGED_MEMORY = 1000

T = TypeVar("T", bound=Tracked)
E = TypeVar("E")


class JobHandle(Protocol):
    """What `Monitor.watch()` reads of a job handle."""

    @property
    def project_id(self) -> str: ...

    @property
    def job_id(self) -> str: ...

    @property
    def team_id(self) -> str | None: ...


@attrs.define(eq=False)
class Feed(Generic[T, E]):
    """One kind of item a watched job is read for (its builds, its runs): how to list them,
    the ``get`` of one, and their tracker."""

    item: str  # "build" or "run": in logs
    key: str  # the list envelope's key: "builds", "runs"
    model: type[T]
    fetch_page: FetchPage[Any]  # frames, decoded item by item: one bad item spoils no page
    get: Callable[[str], Awaitable[T]]
    path: str
    tracker: ItemTracker[T, E] | None  # builds: None until a ``since`` build id is resolved

    @classmethod
    def of(
        cls,
        route: tuple[str, str, str],
        model: type[T],
        owner: Owner,
        transport: Transport,
        per_page: int,
        tracker: ItemTracker[T, E] | None,
    ) -> Feed[T, E]:
        """The feed of ``owner``'s items at ``route`` (item, segment, key)."""
        item, segment, key = route
        path = owner.path(segment)
        return cls(
            item=item,
            key=key,
            model=model,
            fetch_page=list_frames(transport, path, key, per_page, retry=False),
            get=lambda item_id: call(transport, "GET", f"{path}/{item_id}", model, retry=False),
            path=path,
            tracker=tracker,
        )

    def commit(self, poll: TrackerPoll[T]) -> list[E]:
        """The one way what a poll observed of the items enters their tracker, and its events."""
        assert self.tracker is not None
        return self.tracker.commit(poll)

    def observe(self, item: T) -> list[E]:
        """The one way an item a notification told (``push``) enters its tracker, decided as
        a poll's items are (`ItemTracker.observe`), and its events."""
        assert self.tracker is not None
        return self.tracker.observe(item)


_BUILDS = ("build", "build", "builds")
_RUNS = ("run", "runs", "runs")


@attrs.define(eq=False)
class WatchedJob:
    """A job the monitor watches: its builds (and runs) to read, and when it was last polled."""

    project_id: str
    job_id: str  # the owner's id: a job's, or for ``kind="service"`` a service's
    builds: Feed[JobBuild, BuildEvent]
    runs: Feed[JobRun, RunEvent] | None  # with ``runs=True``: read at each poll of the job
    since: str | datetime | JobBuild | None
    last_event_at: float
    last_polled: float | None = None
    polls: int = 0
    kind: str = "job"  # the owner's kind (`OwnerKind.name`)
    times: BuildTimes = attrs.field(factory=BuildTimes)  # its builds' durations (``timing``)

    @classmethod
    def of(
        cls,
        owner: Owner,
        transport: Transport,
        per_page: int,
        since: str | datetime | JobBuild | None,
        *,
        now: float,
        runs: bool = False,
    ) -> WatchedJob:
        """The watch of ``owner``'s builds (and of its runs, with ``runs``), by their paths."""
        if isinstance(since, str):
            check_id(since, "since")
        job = cls(
            project_id=owner.project_id,
            job_id=owner.owner_id,
            builds=Feed.of(_BUILDS, JobBuild, owner, transport, per_page, None),
            runs=Feed.of(_RUNS, JobRun, owner, transport, per_page, None) if runs else None,
            since=since,
            last_event_at=now,
            kind=owner.kind.name,
        )
        job.reset()
        return job

    @property
    def ident(self) -> tuple[str, str]:
        """The watched owner in the monitor and its plan: ``(project_id, job_id)`` for a job,
        ``(project_id, "service:" + service_id)`` for a service."""
        if self.kind == "job":
            return self.project_id, self.job_id
        return self.project_id, f"{self.kind}:{self.job_id}"

    @property
    def key(self) -> str:
        """The job's name in a monitoring group's store: ``project/job``."""
        if self.kind == "job":
            return f"{self.project_id}/{self.job_id}"
        return f"{self.project_id}/{self.kind}:{self.job_id}"

    @property
    def tracker(self) -> JobTracker | None:
        """The builds' tracker (None until the first poll resolves a ``since`` build id)."""
        return self.builds.tracker  # type: ignore[return-value]

    @property
    def started(self) -> bool:
        """Whether the first poll is committed (the snapshot of builds, and of runs, taken)."""
        runs = self.runs is None or (self.runs.tracker is not None and self.runs.tracker.started)
        return runs and self.builds.tracker is not None and self.builds.tracker.started

    @property
    def active(self) -> bool:
        """Whether running builds (or runs) are being tracked."""
        runs = self.runs is not None and self.runs.tracker is not None and self.runs.tracker.active
        return runs or (self.builds.tracker is not None and self.builds.tracker.active)

    def reset(self) -> None:
        """Trackers afresh: builds from ``since`` (None for a bare build id: one ``get`` at the
        first poll), runs from ``since`` when it is a datetime, else from a snapshot."""
        since = self.since
        self.builds.tracker = None
        if not isinstance(since, str):
            self.builds.tracker = JobTracker(
                self.project_id, self.job_id, since=since, owner_kind=self.kind
            )
        if self.runs is not None:
            runs_since = since if isinstance(since, datetime) else None
            self.runs.tracker = RunTracker(self.project_id, self.job_id, since=runs_since)

    def position(self) -> dict[str, object] | None:
        """What a group stores of the job: its builds' tracker position, and under ``"runs"``
        its runs' (None before a ``since`` build id is resolved)."""
        if self.builds.tracker is None:
            return None
        position = self.builds.tracker.position()
        if self.runs is not None and self.runs.tracker is not None:
            position["runs"] = self.runs.tracker.position()
        return position

    def restore(self, position: Mapping[str, Any]) -> None:
        """The trackers a `position()` describes (runs afresh if it has none); ``ValueError``
        (and nothing changed) for one that is not a position."""
        builds = JobTracker.from_position(
            self.project_id, self.job_id, position, owner_kind=self.kind
        )
        runs = None
        if self.runs is not None:
            stored = position.get("runs")
            if stored is not None and not isinstance(stored, Mapping):
                raise ValueError("not a tracker position: runs must be a mapping")
            runs = (
                RunTracker(self.project_id, self.job_id)
                if stored is None
                else RunTracker.from_position(self.project_id, self.job_id, stored)
            )
        self.builds.tracker = builds
        if self.runs is not None:
            self.runs.tracker = runs

    def started_in(self, position: Mapping[str, Any]) -> bool:
        """Whether a stored `position()` of this job has taken its first snapshot."""
        runs = position.get("runs")
        if self.runs is not None and not (isinstance(runs, Mapping) and runs.get("started")):
            return False
        return bool(position.get("started"))


class Skips:
    """Builds (and runs) skipped because they could not be decoded: counted, each logged once."""

    def __init__(self) -> None:
        self.count = 0
        self._logged: dict[tuple[str, str, str], None] = {}

    def skip(self, job: WatchedJob, build_id: str, error: DecodeError, item: str = "build") -> None:
        self.count += 1
        key = (job.project_id, job.job_id, f"{item}:{build_id or error.field}")
        if key in self._logged:
            return
        self._logged[key] = None
        if len(self._logged) > _LOGGED_MEMORY:
            del self._logged[next(iter(self._logged))]
        logger.warning(
            "monitor: %s %s of %s/%s cannot be decoded (%s): skipped",
            item,
            build_id or "?",
            job.project_id,
            job.job_id,
            error,
        )


def _decode_page(job: WatchedJob, feed: Feed[T, E], frame: Page[Any], skips: Skips) -> list[T]:
    """The items of a frame that decode; the others are skipped."""
    items: list[T] = []
    for index, raw in enumerate(frame.items):
        try:
            items.append(decode(raw, feed.model, root=f"data.{feed.key}[{index}]"))
        except DecodeError as error:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            item_id = raw_id if isinstance(raw_id, str) else ""
            skips.skip(job, item_id, error.at("GET", feed.path), feed.item)
    return items


async def read(
    job: WatchedJob, claim: Callable[[], Awaitable[None]], skips: Skips
) -> list[MonitorEvent]:
    """One poll of a job: its events, or an error with its trackers unchanged.

    ``claim`` is awaited before each request: it waits for the budget and books the request.
    Builds and runs are both read before either tracker takes what was read.
    """
    if job.builds.tracker is None:
        assert isinstance(job.since, str)
        await claim()
        since = await job.builds.get(job.since)
        job.builds.tracker = JobTracker(
            job.project_id, job.job_id, since=since, owner_kind=job.kind
        )
    builds = await _gather(job, job.builds, claim, skips)
    runs = None if job.runs is None else await _gather(job, job.runs, claim, skips)
    job.times.learn(builds.items, asyncio.get_running_loop().time())
    events: list[MonitorEvent] = [*job.builds.commit(builds)]
    if job.runs is not None and runs is not None:
        events += job.runs.commit(runs)
    return events


async def _gather(
    job: WatchedJob, feed: Feed[T, E], claim: Callable[[], Awaitable[None]], skips: Skips
) -> TrackerPoll[T]:
    """Read one feed of a poll: its pages, and the ``get`` of tracked items off them."""
    assert feed.tracker is not None
    poll = feed.tracker.begin_poll()
    walker = PageWalker(feed.fetch_page)
    while poll.needs_next_page:
        await claim()
        step = await walker.step()
        if step is None:
            break
        poll.add_page(
            _decode_page(job, feed, step.page, skips), has_next_page=step.page.has_next_page
        )
    for item_id in poll.to_fetch:
        await claim()
        try:
            item = await feed.get(item_id)
        except NotFoundError:
            poll.add_gone(item_id)
            continue
        except DecodeError as error:
            skips.skip(job, item_id, error, feed.item)
            poll.add_gone(item_id)  # no proof of life: counts towards leaving tracking
            continue
        poll.add_fetched(item)
    return poll
