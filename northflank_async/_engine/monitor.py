"""The build monitor: the outcome of every build of many jobs, within a request budget.

The decisions are the pure core's (``_core.tracking``, ``_core.planning``): what a poll
means (`JobTracker`), how the budget is spread (`BudgetPlanner`) and when the next request may go
(`RequestLedger`). This module is the loop that drives them: one task per monitor,
polling one job at a time when its turn comes, through the client's transport (its rate-limit
gate is shared with every other call of the client) and the one pagination engine.

A poll of a job is one list request of its newest builds, plus a ``get`` for each tracked
build that fell off the pages it read; each request is booked in the ledger before it is sent,
so no rolling hour ever holds more than the budget. Requests are sent with no retries of the
client's own: a transient failure (network, 5xx, 429, a broken listing) drops the whole poll,
the tracker is unchanged, and the job is polled again at its next turn (after ``Retry-After``
for a 429), so nothing is lost or repeated and every attempt is within the budget.

A job that answers 401, 403 or 404 (or anything else that is not transient) is no longer
watched: its error is raised once from the iteration, with a note naming the job; iterating
again goes on with the other jobs.

What one odd answer may not do (docs/resilience.md, "Monitor and polling loops"):

* a build that cannot be decoded (a malformed ``createdAt``...) is skipped, logged once and
  counted (``plan.skipped``): the rest of its page is used, and its job stays watched;
* a tracked build leaves tracking only after ``GONE_AFTER`` polls in a row proved it gone, and
  is reported if it is listed again (``_core.tracking``);
* a poll makes at most ``MAX_GETS_PER_POLL`` ``get`` calls, reading list pages first;
* a 429 that asks every poll to wait longer than the client's ``max_rate_limit_wait`` is
  honoured but never silently: it is logged as a warning once and shown in ``plan``
  (``paused_for``, ``paused_too_long``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

import attrs

from .._core.converter import decode
from .._core.errors import (
    ClientClosedError,
    DecodeError,
    NorthflankError,
    NotFoundError,
    PaginationError,
    RateLimitError,
    ServerError,
    TransportError,
)
from .._core.events import BuildEvent
from .._core.fleet import CoordinatorUnavailable, GroupChannel, decode_event, encode_event
from .._core.models import JobBuild, Page, RateLimit
from .._core.planning import (
    BudgetPlanner,
    JobLoad,
    MonitorPlan,
    RequestLedger,
    default_budget,
    next_due,
)
from .._core.tracking import JobTracker
from .._core.wire import check_id, job_path
from .._transport.http import Transport
from .endpoints import MAX_PER_PAGE, call, list_frames
from .pagination import FetchPage, PageWalker

__all__ = ["Monitor"]

logger = logging.getLogger("northflank_async")

_TRANSIENT = (TransportError, ServerError, RateLimitError, PaginationError)

#: How many undecodable builds are remembered so that each is logged once.
_LOGGED_MEMORY = 1000


class _Job(Protocol):
    """What `Monitor.watch()` reads of a job handle."""

    @property
    def project_id(self) -> str: ...

    @property
    def job_id(self) -> str: ...

    @property
    def team_id(self) -> str | None: ...


@attrs.define(eq=False)
class _Watched:
    project_id: str
    job_id: str
    fetch_page: FetchPage[Any]
    get: Callable[[str], Awaitable[JobBuild]]
    path: str
    since: str | datetime | JobBuild | None
    tracker: JobTracker | None
    last_event_at: float
    last_polled: float | None = None
    polls: int = 0
    fence: int | None = None  # group mode: the lease under which the tracker was loaded


class Monitor(AsyncIterator[BuildEvent]):
    """Watches any number of jobs and yields a `BuildEvent` for what happens to builds.

    Made by ``nf.monitor(budget_per_hour=None)`` and used as ``async with``::

        async with nf.monitor() as monitor:
            monitor.watch_job("my-project", "nightly")
            monitor.watch(nf.job("my-project", "tests"))
            async for event in monitor:
                if event.kind == "concluded" and not event.build.success:
                    ...

    Every build created after a job's watch starts (or after ``since``) yields ``"created"``,
    then ``"status"`` at each change of status while it runs, then exactly one
    ``"concluded"``, across pages and transient failures. A poll of a job costs one request
    (plus one ``get`` per tracked build that fell off its page); the polls of all jobs spend
    at most ``budget_per_hour`` requests in any rolling hour (default: half the limit the API
    announces, else 500), active jobs polled more often than idle ones (`plan`).

    A job answering 401, 403 or 404 is dropped: its error is raised once from the iteration
    (with a note naming the job), and iterating again goes on with the other jobs. Leaving the
    ``async with`` (or `aclose()`) cancels the polls and leaves no task.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        budget_per_hour: int | None = None,
        default_team: str | None = None,
        floor: float = 10.0,
        idle_cap: float = 300.0,
        per_page: int = MAX_PER_PAGE,
        group: GroupChannel | None = None,
        group_name: str = "",
        lease: float = 30.0,
        recheck: float = 5.0,
        max_rate_limit_wait: float = 60.0,
    ) -> None:
        if budget_per_hour is not None:
            # The planner's own checks, made here: a bad budget is refused at the call.
            BudgetPlanner(budget_per_hour=budget_per_hour)
        # floor: at least MIN_POLL_INTERVAL (the planner refuses less), so no job spins.
        BudgetPlanner(floor=floor, idle_cap=idle_cap)
        if isinstance(per_page, bool) or not isinstance(per_page, int):
            raise ValueError(f"per_page must be an int in 1..{MAX_PER_PAGE}, got {per_page!r}")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be an int in 1..{MAX_PER_PAGE}, got {per_page!r}")
        self._transport = transport
        self._budget = budget_per_hour
        self._team = default_team
        self._floor = floor
        self._idle_cap = idle_cap
        self._per_page = per_page
        self._jobs: dict[tuple[str, str], _Watched] = {}
        self._ledger = RequestLedger()
        self._events: asyncio.Queue[BuildEvent | BaseException] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._not_before = -math.inf
        self._max_rate_limit_wait = max_rate_limit_wait
        self._pause_too_long = False
        self.skipped = 0
        """Builds skipped because they could not be decoded (each logged once)."""
        self._logged: dict[tuple[str, str, str], None] = {}
        self._closed = False
        self.requests = 0
        """Requests sent so far (every attempt: the monitor does not retry on its own)."""
        self._group = group
        self._group_name = group_name
        self._lease = lease
        self._recheck = recheck
        self._member = uuid.uuid4().hex
        self._leading = False
        self._down = False
        self._claim_from = -math.inf
        self._outstanding: dict[BuildEvent, str] = {}
        self.redelivered = 0
        """Group mode: events handed to this member after another one failed to acknowledge
        them within the lease (it died or stalled)."""

    # ------------------------------------------------------------------ jobs

    def watch_job(
        self,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        since: str | datetime | JobBuild | None = None,
    ) -> None:
        """Watch a job's builds: those created after now, or after ``since``.

        ``since`` is a build id (read with one ``get`` at the first poll), a
        `JobBuild`, an aware datetime, or ``None`` (the first poll is a snapshot: the
        builds already there are not reported). ``ValueError`` for a job already watched.
        """
        team = team_id if team_id is not None else self._team
        path = job_path(project_id=project_id, job_id=job_id, team_id=team, tail=("build",))
        if isinstance(since, str):
            check_id(since, "since")
        # A bare id is resolved by one get at the first poll; the tracker checks the rest.
        tracker = None if isinstance(since, str) else JobTracker(project_id, job_id, since=since)
        key = (project_id, job_id)
        if key in self._jobs:
            raise ValueError(f"job {project_id}/{job_id} is already watched")
        if self._closed:
            raise ClientClosedError("this monitor is closed")
        transport = self._transport
        self._jobs[key] = _Watched(
            project_id=project_id,
            job_id=job_id,
            # Frames, decoded build by build in `_read`: one bad build does not spoil a page.
            fetch_page=list_frames(transport, path, "builds", self._per_page, retry=False),
            get=lambda build_id: call(
                transport, "GET", f"{path}/{build_id}", JobBuild, retry=False
            ),
            path=path,
            since=since,
            tracker=tracker,
            last_event_at=self._now(),
        )
        self._changed.set()

    def watch(self, job: _Job, since: str | datetime | JobBuild | None = None) -> None:
        """Watch the job of a handle (``nf.job(...)``); see `watch_job()`."""
        self.watch_job(job.project_id, job.job_id, job.team_id, since)

    def unwatch_job(self, project_id: str, job_id: str) -> None:
        """Stop watching a job (``KeyError`` if it is not watched)."""
        del self._jobs[(project_id, job_id)]
        self._changed.set()

    @property
    def jobs(self) -> list[tuple[str, str]]:
        """The jobs watched, as ``(project_id, job_id)``."""
        return list(self._jobs)

    # ------------------------------------------------------------------ budget and plan

    @property
    def budget_per_hour(self) -> int:
        """The budget in force: the one given, else half the announced limit, else 500."""
        if self._budget is not None:
            return self._budget
        rate: RateLimit | None = self._transport.rate_limit
        return default_budget(rate.limit if rate is not None else None)

    @property
    def plan(self) -> MonitorPlan:
        """Each job's poll interval now, requests spent in the last hour, expected per hour."""
        return self._plan(self._now())

    def _plan(self, now: float) -> MonitorPlan:
        planner = BudgetPlanner(
            budget_per_hour=self.budget_per_hour, floor=self._floor, idle_cap=self._idle_cap
        )
        loads = [
            JobLoad(
                project_id=job.project_id,
                job_id=job.job_id,
                active=job.tracker is not None and job.tracker.active,
                idle_for=max(0.0, now - job.last_event_at),
            )
            for job in self._jobs.values()
        ]
        plan = planner.plan(loads, spent_this_hour=self._ledger.spent_in_window(now))
        paused = max(0.0, self._not_before - now)
        return attrs.evolve(
            plan,
            skipped=self.skipped,
            paused_for=paused,
            paused_too_long=paused > 0 and self._pause_too_long,
        )

    # ------------------------------------------------------------------ lifecycle

    def _now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0

    def _start(self) -> None:
        if self._closed:
            raise ClientClosedError("this monitor is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run() if self._group is None else self._lead(),
                name="northflank-async-monitor",
            )

    async def __aenter__(self) -> Monitor:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close(ack=exc is None)

    async def aclose(self) -> None:
        """Stop: cancel the polls (a request in flight included); iteration ends.

        In a group, the event last handed out is acknowledged and the poll lease given up.
        """
        await self._close(ack=True)

    async def _close(self, *, ack: bool) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            # The loops also end at their next turn once closed, and the wake below starts that
            # turn: a cancellation swallowed by a library under a poll cannot keep them going.
            self._changed.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._events.put_nowait(_STOP)
        if self._group is not None:
            # Best effort: an unreachable store leaves the lease to expire and an
            # unacknowledged event to be handed to another member after the lease.
            try:
                async with asyncio.timeout(max(1.0, self._recheck)):
                    if self._leading:
                        self._leading = False
                        await self._group.release(self._member)
                    if ack and self._outstanding:
                        await self._group.ack(list(self._outstanding.values()))
                        self._outstanding.clear()
            except (CoordinatorUnavailable, TimeoutError):
                pass

    # ------------------------------------------------------------------ group mode

    @property
    def leading(self) -> bool:
        """Group mode: whether this member holds the group's poll lease (it polls the API)."""
        return self._leading

    async def ack(self, event: BuildEvent) -> None:
        """Acknowledge ``event`` now (group mode): it will not be handed to another member.

        Asking for the next event acknowledges the previous one anyway. Without a group,
        and for an event already acknowledged, this does nothing. `CoordinatorUnavailable`
        is not raised: while the store is unreachable the acknowledgement waits (and so does
        the next event).
        """
        if self._group is not None and event in self._outstanding:
            await self._ack_outstanding()

    def _unreachable(self, reason: str) -> None:
        self._leading = False
        self._forget()
        if not self._down:
            self._down = True
            logger.warning(
                "monitor group %s: the coordinator is unreachable (%s): delivery pauses",
                self._group_name,
                reason,
            )

    def _reachable(self) -> None:
        if self._down:
            self._down = False
            # Members alive through the outage acknowledge what they hold first; only then
            # are unacknowledged events handed to others.
            self._claim_from = self._now() + self._lease
            logger.warning(
                "monitor group %s: the coordinator answers again: delivery resumes",
                self._group_name,
            )

    def _forget(self) -> None:
        """Trackers are reloaded from the durable positions before the next poll."""
        for job in self._jobs.values():
            job.fence = None

    async def _ack_outstanding(self) -> None:
        assert self._group is not None
        while self._outstanding:
            try:
                await self._group.ack(list(self._outstanding.values()))
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)
                if self._closed:
                    return
                await asyncio.sleep(self._recheck)
                continue
            self._reachable()
            self._outstanding.clear()

    async def _next_in_group(self) -> BuildEvent:
        group = self._group
        assert group is not None
        await self._ack_outstanding()
        while True:
            if not self._events.empty() or self._closed:
                item = self._events.get_nowait() if not self._events.empty() else _STOP
                if item is _STOP:
                    raise StopAsyncIteration
                assert isinstance(item, BaseException)
                raise item
            claim = self._lease if self._now() >= self._claim_from else None
            try:
                got = await group.receive(self._member, claim)
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)
                await asyncio.sleep(self._recheck)
                continue
            self._reachable()
            if got is None or self._closed:
                continue  # when closed, a delivery left unacknowledged passes to another
            try:
                event = decode_event(got.payload)
            except ValueError as error:
                logger.warning("monitor group %s: %s: skipped", self._group_name, error)
                self._outstanding[_SKIPPED] = got.entry_id
                await self._ack_outstanding()
                continue
            if got.redelivered:
                self.redelivered += 1
            self._outstanding[event] = got.entry_id
            return event

    async def _lead(self) -> None:
        """Group mode's task: hold the poll lease when free, and poll while holding it."""
        group = self._group
        assert group is not None
        loop = asyncio.get_running_loop()
        fence: int | None = None
        try:
            while not self._closed:
                try:
                    got = await group.acquire(self._member, self._lease)
                except CoordinatorUnavailable as exc:
                    self._unreachable(exc.reason)
                    fence = None
                    await asyncio.sleep(self._recheck)
                    continue
                self._reachable()
                if got is None:
                    self._leading, fence = False, None
                    await asyncio.sleep(self._lease / 3)
                    continue
                if got != fence:
                    self._forget()
                    fence = got
                self._leading = True
                if not await self._lead_until(group, fence, loop.time() + self._lease / 3):
                    self._leading, fence = False, None
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a bug, or the client closed: end the iteration
            self._events.put_nowait(error)
            self._progress.set()
            raise

    async def _lead_until(self, group: GroupChannel, fence: int, renew_at: float) -> bool:
        """Poll the jobs that fall due before ``renew_at``; False once the lease is lost."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            self._changed.clear()
            now = loop.time()
            if now >= renew_at:
                return True
            if any(job.fence != fence for job in self._jobs.values()):
                try:
                    await self._restore(group, fence)
                except CoordinatorUnavailable as exc:
                    self._unreachable(exc.reason)
                    return False
                continue
            plan = self._plan(now)
            polled = {k: j.last_polled for k, j in self._jobs.items() if j.last_polled is not None}
            chosen = next_due(plan, polled, now)
            due = renew_at if chosen is None else min(chosen[1], renew_at)
            if due > now:
                try:
                    async with asyncio.timeout(due - now):
                        await self._changed.wait()
                except TimeoutError:
                    pass
                continue
            assert chosen is not None
            job = self._jobs[(chosen[0].project_id, chosen[0].job_id)]
            events = await self._poll(job)
            self._progress.set()
            if events is None or job.tracker is None:
                continue
            position = json.dumps(job.tracker.position(), separators=(",", ":"))
            try:
                written = await group.publish(
                    self._member,
                    fence,
                    _job_key(job),
                    position,
                    [encode_event(event) for event in events],
                )
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)  # written or not: reloaded from the store
                return False
            if not written:
                self._forget()  # another member leads: what this one polled is dropped
                return False
        return True  # closed: the lease is still held, and `_close` gives it up

    async def _restore(self, group: GroupChannel, fence: int) -> None:
        """Load the trackers of the jobs not loaded under ``fence`` from the group's positions."""
        stale = [job for job in self._jobs.values() if job.fence != fence]
        positions = await group.positions([_job_key(job) for job in stale])
        now = self._now()
        for job in stale:
            text = positions.get(_job_key(job))
            tracker = None
            if text is not None:
                try:
                    tracker = JobTracker.from_position(job.project_id, job.job_id, json.loads(text))
                except ValueError as error:
                    logger.warning(
                        "monitor group %s: position of %s unusable (%s): a new snapshot",
                        self._group_name,
                        _job_key(job),
                        error,
                    )
            if tracker is not None:
                job.tracker = tracker
                job.last_polled = now  # the previous leader polled it at most a lease ago
            else:
                job.tracker = (
                    None
                    if isinstance(job.since, str)
                    else JobTracker(job.project_id, job.job_id, since=job.since)
                )
            job.fence = fence

    async def _group_ready(self) -> None:
        group = self._group
        assert group is not None
        while True:
            keys = [_job_key(job) for job in self._jobs.values()]
            try:
                positions = await group.positions(keys)
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)
                await asyncio.sleep(self._recheck)
                continue
            if all(json.loads(positions.get(key, "{}")).get("started") for key in keys):
                return
            if self._task is None or self._task.done():
                raise ClientClosedError("the monitor stopped before it was ready")
            await asyncio.sleep(0.05)

    async def ready(self) -> None:
        """Return once every job watched now has taken its first snapshot (its first poll).

        In a group: once the group has a position for every job this member watches.
        """
        self._start()
        if self._group is not None:
            await self._group_ready()
            return
        while True:
            pending = [
                job for job in self._jobs.values() if job.tracker is None or not job.tracker.started
            ]
            if not pending:
                return
            if self._task is None or self._task.done():
                raise ClientClosedError("the monitor stopped before it was ready")
            self._progress.clear()
            await self._progress.wait()

    def __aiter__(self) -> Monitor:
        return self

    async def __anext__(self) -> BuildEvent:
        if self._closed and self._events.empty():
            raise StopAsyncIteration
        if not self._closed:
            self._start()
        if self._group is not None:
            return await self._next_in_group()
        item = await self._events.get()
        if item is _STOP:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, BuildEvent)
        return item

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._closed:
                self._changed.clear()
                now = loop.time()
                plan = self._plan(now)
                last = {key: job.last_polled for key, job in self._jobs.items()}
                polled = {key: at for key, at in last.items() if at is not None}
                chosen = next_due(plan, polled, now)
                if chosen is None:
                    await self._changed.wait()
                    continue
                entry, due = chosen
                if due > now:
                    try:
                        async with asyncio.timeout(due - now):
                            await self._changed.wait()  # a job added or dropped: re-plan
                    except TimeoutError:
                        pass
                    continue
                job = self._jobs[(entry.project_id, entry.job_id)]
                for event in await self._poll(job) or ():
                    self._events.put_nowait(event)
                self._progress.set()
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a bug, or the client closed: end the iteration
            self._events.put_nowait(error)
            self._progress.set()
            raise

    async def _claim(self) -> None:
        """Wait for the next request the budget (and a 429's Retry-After) allows; book it."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = self._ledger.next_allowed(max(now, self._not_before), self.budget_per_hour)
        if at > now:
            await asyncio.sleep(at - now)
        self._ledger.record(max(at, loop.time()))
        self.requests += 1

    async def _poll(self, job: _Watched) -> list[BuildEvent] | None:
        """One poll of ``job``: its events, or None when it failed or dropped the job."""
        loop = asyncio.get_running_loop()
        job.last_polled = loop.time()
        job.polls += 1
        try:
            events = await self._read(job)
        except _TRANSIENT as error:
            logger.warning(
                "monitor: poll of %s/%s failed (%s); retrying at its next turn",
                job.project_id,
                job.job_id,
                error,
            )
            if isinstance(error, RateLimitError) and error.retry_after:
                self._pause(error, loop.time())
            return None
        except ClientClosedError:
            raise
        except NorthflankError as error:
            # 401, 403, 404 of the job, a build that cannot be decoded: this job is over.
            self._jobs.pop((job.project_id, job.job_id), None)
            error.add_note(f"monitor: job {job.project_id}/{job.job_id} is no longer watched")
            self._events.put_nowait(error)
            return None
        if events:
            job.last_event_at = loop.time()
        return events

    def _pause(self, error: RateLimitError, now: float) -> None:
        """Pause every poll for a 429's ``Retry-After`` (the limit is the account's): honoured,
        and when longer than ``max_rate_limit_wait``, a warning once and a plan entry."""
        assert error.retry_after is not None
        until = now + error.retry_after
        if until <= self._not_before:
            return
        too_long = error.retry_after > self._max_rate_limit_wait
        if too_long and not (self._pause_too_long and self._not_before > now):
            logger.warning(
                "monitor: the API asks every poll to wait %.0f s, longer than "
                "max_rate_limit_wait=%g s: every job is paused until then (see monitor.plan)",
                error.retry_after,
                self._max_rate_limit_wait,
            )
        self._not_before = until
        self._pause_too_long = too_long

    def _skip(self, job: _Watched, build_id: str, error: DecodeError) -> None:
        """Count a build that cannot be decoded; log it once."""
        self.skipped += 1
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

    def _decode_page(self, job: _Watched, frame: Page[Any]) -> list[JobBuild]:
        """The builds of a frame that decode; the others are skipped (`_skip`)."""
        builds: list[JobBuild] = []
        for index, item in enumerate(frame.items):
            try:
                builds.append(decode(item, JobBuild, root=f"data.builds[{index}]"))
            except DecodeError as error:
                raw_id = item.get("id") if isinstance(item, dict) else None
                self._skip(
                    job, raw_id if isinstance(raw_id, str) else "", error.at("GET", job.path)
                )
        return builds

    async def _read(self, job: _Watched) -> list[BuildEvent]:
        """One poll of a job: its events, or an error with the tracker unchanged."""
        if job.tracker is None:
            assert isinstance(job.since, str)
            await self._claim()
            since = await job.get(job.since)
            job.tracker = JobTracker(job.project_id, job.job_id, since=since)
        tracker = job.tracker
        poll = tracker.begin_poll()
        walker = PageWalker(job.fetch_page)
        while poll.needs_next_page:
            await self._claim()
            step = await walker.step()
            if step is None:
                break
            builds = self._decode_page(job, step.page)
            poll.add_page(builds, has_next_page=step.page.has_next_page)
        for build_id in poll.to_fetch:
            await self._claim()
            try:
                build = await job.get(build_id)
            except NotFoundError:
                poll.add_gone(build_id)
                continue
            except DecodeError as error:
                self._skip(job, build_id, error)
                poll.add_gone(build_id)  # no proof of life: counts towards leaving tracking
                continue
            poll.add_fetched(build)
        return tracker.commit(poll)


_STOP: BaseException = StopAsyncIteration()


def _job_key(job: _Watched) -> str:
    return f"{job.project_id}/{job.job_id}"


# Stands for an undecodable entry of a group's stream while it is acknowledged.
_SKIPPED = BuildEvent("created", JobBuild(id="-"), "-", "-")
