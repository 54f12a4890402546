"""The build monitor: the outcome of every build of many jobs, within a request budget.

The decisions are the pure core's: what a poll means (`JobTracker`, ``_core.tracking``), how
the budget is spread (`BudgetPlanner`) and when the next request may go (`RequestLedger`,
``_core.planning``). One loop drives them (``monitor_loop``): one task per monitor,
polling one job at a time when its turn comes (``polls``), through the client's transport (its
rate-limit gate is shared with every other call of the client). Who polls and where the events
go is the monitor's `Leadership` (``leadership``): alone, always; in a group, the member that
holds the Redis lease (``group``). With a webhook receiver (the hybrid monitor), notifications
enter the same trackers (``push``). Closing, errors and the budget are written once, here.

A poll of a job (``polls``: its builds, and its runs if watched) is sent with no retries of the
client's own: a transient failure (network, 5xx, 429, a broken listing) drops the whole poll (the
trackers unchanged) and the job is polled again at its next turn (after ``Retry-After`` for a 429),
so nothing is lost or repeated and every attempt is within the budget. A job that answers 401, 403
or 404 (or anything else that is not transient) is no longer watched: its error is raised once from
the iteration, with a note naming the job; iterating again goes on with the other jobs. An item
that cannot be decoded is skipped and counted (``plan.skipped``); a 429 that asks every poll to
wait longer than the client's ``max_rate_limit_wait`` is honoured, logged once and shown in
``plan`` (docs/resilience.md, "Monitor and polling loops").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Generic, Self, cast

import attrs
from typing_extensions import TypeVar

from .._core.checks import MIN_POLL_INTERVAL, check_poll_interval
from .._core.errors import ClientClosedError
from .._core.events import BuildEvent, MonitorEvent
from .._core.fleet import GroupChannel
from .._core.models import JobBuild, RateLimit
from .._core.owners import JOB, SERVICE, Owner
from .._core.planning import BudgetPlanner, MonitorPlan, default_budget
from .budget import PollBudget
from .context import ClientContext
from .endpoints import MAX_PER_PAGE
from .group import GroupLeadership
from .leadership import Leadership, SoloLeadership
from .monitor_loop import MonitorLoop
from .polls import JobHandle, Skips, WatchedJob
from .push import NotificationSource, PushIntake

__all__ = ["Monitor"]

logger = logging.getLogger("northflank_async")

#: What a monitor yields: `BuildEvent` (the default), or ``BuildEvent | RunEvent`` for a
#: monitor made with ``runs=True`` (``nf.monitor(runs=True)``).
E = TypeVar("E", default=BuildEvent)


class Monitor(MonitorLoop, AsyncIterator[E], Generic[E]):
    """Watches any number of jobs and yields a `BuildEvent` for what happens to builds (and,
    made with ``nf.monitor(runs=True)``, a `RunEvent` for the runs of the jobs watched with
    ``runs=True``: a ``Monitor[BuildEvent | RunEvent]``).

    Made by ``nf.monitor(budget_per_hour=None)`` and used as ``async with``::

        async with nf.monitor() as monitor:
            monitor.watch_job("my-project", "nightly")
            monitor.watch(nf.job("my-project", "tests"))
            async for event in monitor:
                if event.kind == "concluded" and not event.build.success:
                    ...

    Every build created after a job's watch starts (or after ``since``) yields ``"created"``,
    then ``"status"`` at each change of status while it runs, then exactly one
    ``"concluded"``, across pages and transient failures; so does every run of a job watched
    with ``runs=True``. A poll of a job costs one request, two with its runs (plus one ``get``
    per tracked build or run that fell off its page); the polls of all jobs spend
    at most ``budget_per_hour`` requests in any rolling hour (default: half the limit the API
    announces, else 500), no job left unpolled longer than its even share of the budget (jobs
    x 3600 / budget seconds), active jobs polled more often when the budget allows (`plan`).

    A job answering 401, 403 or 404 is dropped: its error is raised once from the iteration
    (with a note naming the job), and iterating again goes on with the other jobs. Leaving the
    ``async with`` (or `aclose()`) cancels the polls and leaves no task.
    """

    def __init__(
        self,
        ctx: ClientContext,
        *,
        budget_per_hour: int | None = None,
        floor: float = MIN_POLL_INTERVAL,
        idle_cap: float = 300.0,
        per_page: int = MAX_PER_PAGE,
        group: GroupChannel | None = None,
        group_name: str = "",
        lease: float = 30.0,
        recheck: float = 5.0,
        max_rate_limit_wait: float = 60.0,
        runs: bool = False,
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
        self._events: asyncio.Queue[MonitorEvent | BaseException] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._spend = PollBudget(lambda: self.budget_per_hour, floor, idle_cap, max_rate_limit_wait)
        self._skips = Skips()
        self._closed = False
        self._runs = runs
        check_poll_interval(reconcile, "reconcile")
        self._intake = (
            None
            if webhooks is None
            else PushIntake(
                webhooks, reconcile=float(reconcile), verify=verify, shared=group is not None
            )
        )
        self._leadership: Leadership = (
            SoloLeadership(self._events)
            if group is None
            else GroupLeadership(
                group, name=group_name, lease=lease, recheck=recheck, closed=lambda: self._closed
            )
        )

    # ------------------------------------------------------------------ jobs

    def watch_job(
        self,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        since: str | datetime | JobBuild | None = None,
        *,
        runs: bool = False,
    ) -> None:
        """Watch a job's builds: those created after now, or after ``since``.

        ``since`` is a build id (read with one ``get`` at the first poll), a
        `JobBuild`, an aware datetime, or ``None`` (the first poll is a snapshot: the
        builds already there are not reported). ``ValueError`` for a job already watched.
        With ``runs=True`` its runs too (`RunEvent`): those started after now (after
        ``since`` if it is a datetime), at one more list request per poll of the job; the
        monitor must be made with ``nf.monitor(runs=True)`` (else ``ValueError``, before
        any request: its events are typed `BuildEvent` only).
        """
        if runs and not self._runs:
            raise ValueError(
                "watch_job(runs=True) needs a monitor made with nf.monitor(..., runs=True)"
            )
        self._watch(Owner(JOB, project_id, job_id, team_id), since, runs)

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
        self._watch(Owner(SERVICE, project_id, service_id, team_id), since, False)

    def _watch(self, owner: Owner, since: str | datetime | JobBuild | None, runs: bool) -> None:
        if owner.team_id is None:
            owner = attrs.evolve(owner, team_id=self._team)
        now = self._now()
        job = WatchedJob.of(owner, self._transport, self._per_page, since, now=now, runs=runs)
        if job.ident in self._jobs:
            raise ValueError(f"{job.kind} {owner.project_id}/{owner.owner_id} is already watched")
        if self._closed:
            raise ClientClosedError("this monitor is closed")
        self._jobs[job.ident] = job
        self._changed.set()

    def watch(
        self, job: JobHandle, since: str | datetime | JobBuild | None = None, *, runs: bool = False
    ) -> None:
        """Watch the job of a handle (``nf.job(...)``); see `watch_job()`."""
        self.watch_job(job.project_id, job.job_id, job.team_id, since, runs=runs)

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
        """Builds (and runs) skipped because they could not be decoded (each logged once)."""
        return self._skips.count

    @property
    def plan(self) -> MonitorPlan:
        """Each job's poll interval now, requests spent in the last hour, expected per hour."""
        return self._plan(self._now())

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

    async def ack(self, event: E) -> None:
        """Acknowledge ``event`` now (group mode): it will not be handed to another member.

        Asking for the next event acknowledges the previous one anyway. Without a group,
        and for an event already acknowledged, this does nothing. `CoordinatorUnavailable`
        is not raised: while the store is unreachable the acknowledgement waits (and so does
        the next event).
        """
        await self._leadership.ack(cast(MonitorEvent, event))

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
                self._run(), name="northflank-async-monitor"
            )

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close(ack=exc_info[1] is None)  # an error leaves the event unacknowledged

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

    async def _run(self) -> None:
        """The monitor's task: its one loop (``monitor_loop``)."""
        await self._loop()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> E:
        if self._closed and self._events.empty():
            raise StopAsyncIteration
        if not self._closed:
            self._start()
        await self._leadership.settle()  # a group's event handed out before is acknowledged
        item: MonitorEvent | BaseException | None = None
        while item is None:
            if not self._events.empty() or self._closed:
                item = self._events.get_nowait() if not self._events.empty() else _STOP
            else:
                item = await self._leadership.receive()
        if item is _STOP:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return cast(E, item)


_STOP: BaseException = StopAsyncIteration()
