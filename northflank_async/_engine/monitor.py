"""The build monitor: the outcome of every build of many jobs, within a request budget.

The decisions are the pure core's: what a poll means (`JobTracker`, ``_core.tracking``), how
the budget is spread (`BudgetPlanner`) and when the next request may go (`RequestLedger`,
``_core.planning``). This module is the one loop that drives them: one task per monitor,
polling one job at a time when its turn comes (``polls``), through the client's transport (its
rate-limit gate is shared with every other call of the client). Who polls and where the events
go is the monitor's `Leadership` (``leadership``): alone, always; in a group, the member that
holds the Redis lease (``group``). Closing, errors and the budget are written once, here.

A poll of a job (``polls``) is sent with no retries of the client's own: a transient failure
(network, 5xx, 429, a broken listing) drops the whole poll, the tracker is unchanged, and the
job is polled again at its next turn (after ``Retry-After`` for a 429), so nothing is lost or
repeated and every attempt is within the budget. A job that answers 401, 403 or 404 (or
anything else that is not transient) is no longer watched: its error is raised once from the
iteration, with a note naming the job; iterating again goes on with the other jobs. A build
that cannot be decoded is skipped and counted (``plan.skipped``); a 429 that asks every poll
to wait longer than the client's ``max_rate_limit_wait`` is honoured, logged once and shown in
``plan`` (docs/resilience.md, "Monitor and polling loops").
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType

import attrs

from .._core.checks import check_poll_interval
from .._core.errors import (
    ClientClosedError,
    NorthflankError,
    PaginationError,
    RateLimitError,
    ServerError,
    TransportError,
)
from .._core.events import BuildEvent
from .._core.fleet import GroupChannel
from .._core.models import JobBuild, RateLimit
from .._core.owners import JOB, SERVICE, Owner
from .._core.planning import BudgetPlanner, MonitorPlan, default_budget, next_due
from .context import ClientContext
from .endpoints import MAX_PER_PAGE
from .group import GroupLeadership
from .leadership import Leadership, SoloLeadership
from .polls import JobHandle, PollBudget, Skips, WatchedJob, read
from .push import NotificationSource, PushIntake

__all__ = ["Monitor"]

logger = logging.getLogger("northflank_async")

_TRANSIENT = (TransportError, ServerError, RateLimitError, PaginationError)


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
        ctx: ClientContext,
        *,
        budget_per_hour: int | None = None,
        floor: float = 10.0,
        idle_cap: float = 300.0,
        per_page: int = MAX_PER_PAGE,
        group: GroupChannel | None = None,
        group_name: str = "",
        lease: float = 30.0,
        recheck: float = 5.0,
        max_rate_limit_wait: float = 60.0,
        webhooks: NotificationSource | None = None,
        reconcile: float = 600.0,
        verify: bool = False,
    ) -> None:
        if budget_per_hour is not None:
            # The planner's own checks, made here: a bad budget is refused at the call.
            BudgetPlanner(budget_per_hour=budget_per_hour)
        # floor: at least MIN_POLL_INTERVAL (the planner refuses less), so no job spins.
        BudgetPlanner(floor=floor, idle_cap=idle_cap)
        an_int = isinstance(per_page, int) and not isinstance(per_page, bool)
        if not an_int or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be an int in 1..{MAX_PER_PAGE}, got {per_page!r}")
        self._transport = ctx.transport
        self._budget = budget_per_hour
        self._team = ctx.default_team
        self._per_page = per_page
        self._jobs: dict[tuple[str, str], WatchedJob] = {}
        self._events: asyncio.Queue[BuildEvent | BaseException] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._spend = PollBudget(lambda: self.budget_per_hour, floor, idle_cap, max_rate_limit_wait)
        self._skips = Skips()
        self._closed = False
        check_poll_interval(reconcile, "reconcile")
        if webhooks is not None and group is not None:
            raise ValueError("a monitoring group does not take webhooks yet: use one or other")
        self._intake = (
            None
            if webhooks is None
            else PushIntake(webhooks, reconcile=float(reconcile), verify=verify)
        )
        self._leadership: Leadership = (
            SoloLeadership(self._events)
            if group is None
            else GroupLeadership(
                group, name=group_name, lease=lease, recheck=recheck, closed=self._is_closed
            )
        )

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
        self._watch(Owner(JOB, project_id, job_id, team_id), since)

    def watch_service(
        self,
        project_id: str,
        service_id: str,
        team_id: str | None = None,
        since: str | datetime | JobBuild | None = None,
    ) -> None:
        """Watch a service's builds, as `watch_job()` watches a job's.

        Its events name the service (`BuildEvent.service_id`, ``owner_kind == "service"``);
        in `jobs` and in the plan it is ``(project_id, "service:" + service_id)``.
        """
        self._watch(Owner(SERVICE, project_id, service_id, team_id), since)

    def _watch(self, owner: Owner, since: str | datetime | JobBuild | None) -> None:
        if owner.team_id is None:
            owner = attrs.evolve(owner, team_id=self._team)
        job = WatchedJob.of(owner, self._transport, self._per_page, since, now=self._now())
        if job.ident in self._jobs:
            raise ValueError(f"{job.kind} {owner.project_id}/{owner.owner_id} is already watched")
        if self._closed:
            raise ClientClosedError("this monitor is closed")
        self._jobs[job.ident] = job
        self._changed.set()

    def watch(self, job: JobHandle, since: str | datetime | JobBuild | None = None) -> None:
        """Watch the job of a handle (``nf.job(...)``); see `watch_job()`."""
        self.watch_job(job.project_id, job.job_id, job.team_id, since)

    def unwatch_job(self, project_id: str, job_id: str) -> None:
        """Stop watching a job (``KeyError`` if it is not watched)."""
        del self._jobs[(project_id, job_id)]
        self._changed.set()

    def unwatch_service(self, project_id: str, service_id: str) -> None:
        """Stop watching a service (``KeyError`` if it is not watched)."""
        del self._jobs[(project_id, f"service:{service_id}")]
        self._changed.set()

    @property
    def jobs(self) -> list[tuple[str, str]]:
        """What is watched, as ``(project_id, job_id)`` (a service: ``"service:" + id``)."""
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
    def requests(self) -> int:
        """Requests sent so far (every attempt: the monitor does not retry on its own)."""
        return self._spend.requests

    @property
    def skipped(self) -> int:
        """Builds skipped because they could not be decoded (each logged once)."""
        return self._skips.count

    @property
    def plan(self) -> MonitorPlan:
        """Each job's poll interval now, requests spent in the last hour, expected per hour."""
        return self._plan(self._now())

    def _plan(self, now: float) -> MonitorPlan:
        plan = self._spend.plan(self._jobs.values(), now, skipped=self.skipped)
        return plan if self._intake is None else self._intake.plan(plan)

    # ------------------------------------------------------------------ group mode

    @property
    def leading(self) -> bool:
        """Group mode: whether this member holds the group's poll lease (it polls the API)."""
        return self._leadership.holds_lease

    @property
    def redelivered(self) -> int:
        """Group mode: events handed to this member after another one failed to acknowledge
        them within the lease (it died or stalled)."""
        return self._leadership.redelivered

    async def ack(self, event: BuildEvent) -> None:
        """Acknowledge ``event`` now (group mode): it will not be handed to another member.

        Asking for the next event acknowledges the previous one anyway. Without a group,
        and for an event already acknowledged, this does nothing. `CoordinatorUnavailable`
        is not raised: while the store is unreachable the acknowledgement waits (and so does
        the next event).
        """
        await self._leadership.ack(event)

    # ------------------------------------------------------------------ lifecycle

    def _now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0

    def _is_closed(self) -> bool:
        return self._closed

    def _start(self) -> None:
        if self._closed:
            raise ClientClosedError("this monitor is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="northflank-async-monitor"
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
        if task is not None:
            if not task.done():
                # The loop also ends at its next turn once closed, and the wake below starts
                # that turn: a cancellation swallowed under a poll cannot keep it going.
                self._changed.set()
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # a bug's error: raised already
        self._events.put_nowait(_STOP)
        await self._leadership.close(ack=ack)

    async def ready(self) -> None:
        """Return once every job watched now has taken its first snapshot (its first poll).

        In a group: once the group has a position for every job this member watches.
        """
        self._start()
        while not await self._leadership.ready(self._jobs.values()):
            if self._task is None or self._task.done():
                raise ClientClosedError("the monitor stopped before it was ready")
            self._progress.clear()
            try:
                async with asyncio.timeout(self._leadership.ready_recheck):
                    await self._progress.wait()
            except TimeoutError:
                pass

    def __aiter__(self) -> Monitor:
        return self

    async def __anext__(self) -> BuildEvent:
        if self._closed and self._events.empty():
            raise StopAsyncIteration
        if not self._closed:
            self._start()
        await self._leadership.settle()  # a group's event handed out before is acknowledged
        item: BuildEvent | BaseException | None = None
        while item is None:
            if not self._events.empty() or self._closed:
                item = self._events.get_nowait() if not self._events.empty() else _STOP
            else:
                item = await self._leadership.receive()
        if item is _STOP:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        """The one loop, alone or in a group: lead, poll the job due first, deliver."""
        loop = asyncio.get_running_loop()
        leadership = self._leadership
        try:
            while not self._closed:
                self._changed.clear()
                if self._intake is not None:
                    delivered = await self._intake.turn(self._jobs, self._spend.claim, leadership)
                    if delivered:
                        self._progress.set()
                until = await leadership.hold(self._jobs.values())
                if until is None:
                    continue
                now = loop.time()
                plan = self._plan(now)
                last = {key: job.last_polled for key, job in self._jobs.items()}
                polled = {key: at for key, at in last.items() if at is not None}
                chosen = next_due(plan, polled, now)
                due = until if chosen is None else min(chosen[1], until)
                if due > now:
                    # A job added or dropped (or a notification) wakes the loop: re-plan.
                    timeout = None if math.isinf(due) else due - now
                    if self._intake is not None:
                        await self._intake.wait(self._changed, timeout)
                        continue
                    try:
                        async with asyncio.timeout(timeout):
                            await self._changed.wait()
                    except TimeoutError:
                        pass
                    continue
                assert chosen is not None
                job = self._jobs[(chosen[0].project_id, chosen[0].job_id)]
                events = await self._poll(job)
                self._progress.set()
                if events is not None and self._intake is not None:
                    events = self._intake.polled(job, events)
                if events is not None:
                    await leadership.deliver(job, events)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a bug, or the client closed: end the iteration
            self._events.put_nowait(error)
            self._progress.set()
            raise

    async def _poll(self, job: WatchedJob) -> list[BuildEvent] | None:
        """One poll of ``job``: its events, or None when it failed or dropped the job."""
        loop = asyncio.get_running_loop()
        job.last_polled = loop.time()
        job.polls += 1
        try:
            events = await read(job, self._spend.claim, self._skips)
        except _TRANSIENT as error:
            logger.warning(
                "monitor: poll of %s/%s failed (%s); retrying at its next turn",
                job.project_id,
                job.job_id,
                error,
            )
            if isinstance(error, RateLimitError) and error.retry_after:
                self._spend.pause(error, loop.time())
            return None
        except ClientClosedError:
            raise
        except NorthflankError as error:
            # 401, 403, 404 of the job, a build that cannot be decoded: this job is over.
            self._jobs.pop(job.ident, None)
            error.add_note(
                f"monitor: {job.kind} {job.project_id}/{job.job_id} is no longer watched"
            )
            self._events.put_nowait(error)
            return None
        if events:
            job.last_event_at = loop.time()
        return events


_STOP: BaseException = StopAsyncIteration()
