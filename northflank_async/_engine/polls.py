"""One watched job of the monitor, one poll of it, and what its requests cost.

The monitor (``monitor``) decides when a job is polled; this module reads it. A poll is one
list request of the job's newest builds through the one pagination engine (more pages while the
tracker needs them), plus a ``get`` for each tracked build that fell off them (at most
``MAX_GETS_PER_POLL``); the tracker (``_core.tracking``) turns it into events at once, or not at
all when a request fails, so a failed poll changes nothing. Every request is booked in the
monitor's `PollBudget` before it goes, so no rolling hour ever holds more than the budget, and
a 429's ``Retry-After`` pauses every poll.

A build that cannot be decoded (a malformed ``createdAt``...) is skipped, counted and logged
once (`Skips`): the rest of its page is used, and its job stays watched.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

import attrs

from .._core.converter import decode
from .._core.errors import DecodeError, NotFoundError, RateLimitError
from .._core.events import BuildEvent
from .._core.models import JobBuild, Page
from .._core.owners import Owner
from .._core.planning import BudgetPlanner, JobLoad, MonitorPlan, RequestLedger
from .._core.tracking import JobTracker
from .._core.wire import check_id
from .._transport.http import Transport
from .endpoints import call, list_frames
from .pagination import FetchPage, PageWalker

__all__ = ["JobHandle", "PollBudget", "Skips", "WatchedJob", "read"]

logger = logging.getLogger("northflank_async")

#: How many undecodable builds are remembered so that each is logged once.
_LOGGED_MEMORY = 1000


class JobHandle(Protocol):
    """What `Monitor.watch()` reads of a job handle."""

    @property
    def project_id(self) -> str: ...

    @property
    def job_id(self) -> str: ...

    @property
    def team_id(self) -> str | None: ...


@attrs.define(eq=False)
class WatchedJob:
    """A job the monitor watches: how to read it, its tracker, and when it was last polled."""

    project_id: str
    job_id: str  # the owner's id: a job's, or for ``kind="service"`` a service's
    fetch_page: FetchPage[Any]  # frames, decoded build by build: one bad build spoils no page
    get: Callable[[str], Awaitable[JobBuild]]
    path: str
    since: str | datetime | JobBuild | None
    tracker: JobTracker | None  # None until the first poll resolves a ``since`` build id
    last_event_at: float
    last_polled: float | None = None
    polls: int = 0
    kind: str = "job"  # the owner's kind (`OwnerKind.name`)

    @classmethod
    def of(
        cls,
        owner: Owner,
        transport: Transport,
        per_page: int,
        since: str | datetime | JobBuild | None,
        *,
        now: float,
    ) -> WatchedJob:
        """The watch of ``owner``'s builds: its page reader and its ``get``, by its path."""
        path = owner.path("build")
        if isinstance(since, str):
            check_id(since, "since")
        job = cls(
            project_id=owner.project_id,
            job_id=owner.owner_id,
            fetch_page=list_frames(transport, path, "builds", per_page, retry=False),
            get=lambda build_id: call(
                transport, "GET", f"{path}/{build_id}", JobBuild, retry=False
            ),
            path=path,
            since=since,
            tracker=None,
            last_event_at=now,
            kind=owner.kind.name,
        )
        # A bare id is resolved by one get at the first poll; the tracker checks the rest.
        job.tracker = job.fresh_tracker()
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

    def fresh_tracker(self) -> JobTracker | None:
        """A tracker from ``since``; None for a bare build id (one ``get`` at the first poll)."""
        if isinstance(self.since, str):
            return None
        return JobTracker(self.project_id, self.job_id, since=self.since, owner_kind=self.kind)


class PollBudget:
    """The requests of a monitor's polls, booked in a ledger against the budget in force; the
    plan that spreads the budget over the jobs; a pause of every poll a 429 asked for."""

    def __init__(
        self, budget: Callable[[], int], floor: float, idle_cap: float, max_rate_limit_wait: float
    ) -> None:
        self.ledger = RequestLedger()
        self.requests = 0
        self._budget = budget
        self._floor = floor
        self._idle_cap = idle_cap
        self._max_rate_limit_wait = max_rate_limit_wait
        self._not_before = -math.inf
        self._too_long = False

    async def claim(self) -> None:
        """Wait for the next request the budget (and a 429's Retry-After) allows; book it."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = self.ledger.next_allowed(max(now, self._not_before), self._budget())
        if at > now:
            await asyncio.sleep(at - now)
        self.ledger.record(max(at, loop.time()))
        self.requests += 1

    def pause(self, error: RateLimitError, now: float) -> None:
        """Pause every poll for a 429's ``Retry-After`` (the limit is the account's): honoured,
        and when longer than ``max_rate_limit_wait``, a warning once and a plan entry."""
        assert error.retry_after is not None
        until = now + error.retry_after
        if until <= self._not_before:
            return
        too_long = error.retry_after > self._max_rate_limit_wait
        if too_long and not (self._too_long and self._not_before > now):
            logger.warning(
                "monitor: the API asks every poll to wait %.0f s, longer than "
                "max_rate_limit_wait=%g s: every job is paused until then (see monitor.plan)",
                error.retry_after,
                self._max_rate_limit_wait,
            )
        self._not_before = until
        self._too_long = too_long

    def plan(self, jobs: Iterable[WatchedJob], now: float, *, skipped: int) -> MonitorPlan:
        """Each job's poll interval at ``now``, the spend of the last hour, the pause."""
        planner = BudgetPlanner(
            budget_per_hour=self._budget(), floor=self._floor, idle_cap=self._idle_cap
        )
        loads = [
            JobLoad(
                project_id=job.project_id,
                job_id=job.ident[1],
                active=job.tracker is not None and job.tracker.active,
                idle_for=max(0.0, now - job.last_event_at),
            )
            for job in jobs
        ]
        plan = planner.plan(loads, spent_this_hour=self.ledger.spent_in_window(now))
        paused = max(0.0, self._not_before - now)
        too_long = paused > 0 and self._too_long
        return attrs.evolve(plan, skipped=skipped, paused_for=paused, paused_too_long=too_long)


class Skips:
    """Builds skipped because they could not be decoded: counted, each logged once."""

    def __init__(self) -> None:
        self.count = 0
        self._logged: dict[tuple[str, str, str], None] = {}

    def skip(self, job: WatchedJob, build_id: str, error: DecodeError) -> None:
        self.count += 1
        key = (job.project_id, job.job_id, build_id or error.field)
        if key in self._logged:
            return
        self._logged[key] = None
        if len(self._logged) > _LOGGED_MEMORY:
            del self._logged[next(iter(self._logged))]
        logger.warning(
            "monitor: build %s of %s/%s cannot be decoded (%s): skipped",
            build_id or "?",
            job.project_id,
            job.job_id,
            error,
        )


def _decode_page(job: WatchedJob, frame: Page[Any], skips: Skips) -> list[JobBuild]:
    """The builds of a frame that decode; the others are skipped."""
    builds: list[JobBuild] = []
    for index, item in enumerate(frame.items):
        try:
            builds.append(decode(item, JobBuild, root=f"data.builds[{index}]"))
        except DecodeError as error:
            raw_id = item.get("id") if isinstance(item, dict) else None
            skips.skip(job, raw_id if isinstance(raw_id, str) else "", error.at("GET", job.path))
    return builds


async def read(
    job: WatchedJob, claim: Callable[[], Awaitable[None]], skips: Skips
) -> list[BuildEvent]:
    """One poll of a job: its events, or an error with the tracker unchanged.

    ``claim`` is awaited before each request: it waits for the budget and books the request.
    """
    if job.tracker is None:
        assert isinstance(job.since, str)
        await claim()
        since = await job.get(job.since)
        job.tracker = JobTracker(job.project_id, job.job_id, since=since, owner_kind=job.kind)
    tracker = job.tracker
    poll = tracker.begin_poll()
    walker = PageWalker(job.fetch_page)
    while poll.needs_next_page:
        await claim()
        step = await walker.step()
        if step is None:
            break
        builds = _decode_page(job, step.page, skips)
        poll.add_page(builds, has_next_page=step.page.has_next_page)
    for build_id in poll.to_fetch:
        await claim()
        try:
            build = await job.get(build_id)
        except NotFoundError:
            poll.add_gone(build_id)
            continue
        except DecodeError as error:
            skips.skip(job, build_id, error)
            poll.add_gone(build_id)  # no proof of life: counts towards leaving tracking
            continue
        poll.add_fetched(build)
    return tracker.commit(poll)
