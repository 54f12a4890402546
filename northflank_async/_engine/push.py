"""The hybrid monitor's intake of notifications: a webhook receiver's events, in the one loop.

A monitor made with ``webhooks=receiver`` takes the receiver's queue at each turn of its loop
(`PushIntake.take`), wakes as soon as an event waits (`wait`), and hands each notification
of a watched job or service to the tracker of its builds, or of its runs for a ``job-run:*``
notification of a job watched with ``runs=True`` (`Feed.observe`, ``polls``): the same
trackers that turn polls into events, so that an outcome told by a notification, by a poll,
or by both yields one ``concluded``. Notifications of what is not watched are ignored; those
that arrive before a job's first poll wait for it (its snapshot decides what is new).

A notification that cannot tell its item's state (``_core.push.settled_build``,
``settled_run``), and every notification when ``verify=True``, is settled by one ``get`` of
the item (`settle`), booked in the monitor's budget. Which outcomes came by notification and
which only by poll is counted (`PushHealth`): when polls keep finding outcomes no notification
told, the monitor warns once and falls back to budgeted polling (``plan.webhooks``).

In a group (``shared``), a member's trackers are not current unless it leads: a notification
of an ended item becomes its ``concluded`` event at once, which the member appends to the
group's stream only if it claims that outcome first (`Leadership.tell`, one script), the
leader's publishing script skipping an outcome claimed before. Starts and statuses come from
the leader's polls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import attrs

from .._core.errors import ClientClosedError, NorthflankError, NotFoundError
from .._core.events import BuildEvent, MonitorEvent, RunEvent
from .._core.models import JobBuild, JobRun
from .._core.planning import JobLoad, MonitorPlan
from .._core.push import PushHealth, PushMode, reconcile_plan, settled_build, settled_run
from .._core.webhooks import WebhookEvent
from .leadership import Leadership
from .polls import Feed, WatchedJob

__all__ = ["NotificationSource", "PushIntake"]

logger = logging.getLogger("northflank_async")

#: Notifications kept per job while it waits for its first poll (the oldest dropped first:
#: the first poll's snapshot or listing covers them anyway).
_EARLY_MEMORY = 1000

Item = JobBuild | JobRun
Delivery = list[tuple[WatchedJob, list[MonitorEvent]]]


class NotificationSource(Protocol):
    """What the monitor reads of a `WebhookReceiver`."""

    @property
    def closed(self) -> bool: ...

    def take_pending(self) -> list[WebhookEvent]: ...

    async def wait_pending(self) -> None: ...


class PushIntake:
    """A monitor's notifications: routed to the watched jobs' trackers, settled when unclear."""

    def __init__(
        self, source: NotificationSource, *, reconcile: float, verify: bool, shared: bool = False
    ) -> None:
        self.source = source
        self.reconcile = reconcile
        self.verify = verify
        self.shared = shared
        self.health = PushHealth()
        self.received = 0
        self.ignored = 0
        self.fetched = 0
        self._early: dict[tuple[str, str], list[Item]] = {}
        # (job, "build" or "run", id): items named by a notification, to settle by a ``get``.
        self._unsettled: dict[tuple[tuple[str, str], str, str], None] = {}

    @property
    def mode(self) -> PushMode:
        """``"on"`` while notifications tell the outcomes, ``"fallback"`` while they do not."""
        return "fallback" if self.health.failing else "on"

    @property
    def pending(self) -> bool:
        """Whether items wait for the ``get`` that settles them."""
        return bool(self._unsettled)

    def plan(self, polling: MonitorPlan, jobs: Iterable[WatchedJob]) -> MonitorPlan:
        """The plan in force, from the budget's (``polling``): while notifications tell the
        outcomes, one reconciling poll per job of ``jobs`` every ``reconcile`` seconds."""
        if self.health.failing:
            return attrs.evolve(polling, webhooks="fallback", reconcile=self.reconcile)
        loads = [
            JobLoad(
                project_id=job.project_id,
                job_id=job.ident[1],
                active=job.active,
                requests=1 if job.runs is None else 2,
            )
            for job in jobs
        ]
        plan = reconcile_plan(
            loads,
            reconcile=self.reconcile,
            budget_per_hour=polling.budget_per_hour,
            spent_this_hour=polling.spent_this_hour,
        )
        return attrs.evolve(
            plan,
            skipped=polling.skipped,
            paused_for=polling.paused_for,
            paused_too_long=polling.paused_too_long,
        )

    async def wait(self, changed: asyncio.Event, timeout: float | None) -> bool:
        """Until ``changed`` is set or a notification waits (True), or ``timeout`` seconds
        passed (False)."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(changed.wait())]
        if not self.source.closed:
            waiters.append(asyncio.ensure_future(self.source.wait_pending()))
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        for waiter in done:
            waiter.result()  # a receiver that failed (a group's credentials) raises here
        return bool(done)

    async def turn(
        self,
        jobs: Mapping[tuple[str, str], WatchedJob],
        claim: Callable[[], Awaitable[None]],
        leadership: Leadership,
    ) -> bool:
        """Hand the notifications waiting to the trackers, settle the unclear ones by a
        ``get``, hand out their events (`Leadership.tell`); whether there were any."""
        delivery = self.take(jobs)
        if self._unsettled:
            delivery += await self.settle(jobs, claim)
        now = asyncio.get_running_loop().time()
        for job, events in delivery:
            job.last_event_at = now
            await leadership.tell(job, events)
        return bool(delivery)

    def take(self, jobs: Mapping[tuple[str, str], WatchedJob]) -> Delivery:
        """Every notification waiting, routed: the events they make, job by job."""
        delivery: Delivery = []
        for event in self.source.take_pending():
            self.received += 1
            job = _job_of(event, jobs)
            told = None if job is None else _told(event, job)
            if job is None or told is None:
                self.ignored += 1  # not watched, runs not watched, or no build nor run
                continue
            name, item = told
            settled = None if self.verify else _settled(event)
            if settled is None:
                self._unsettled[(job.ident, name, item.id)] = None
                continue
            events = self._observe(job, settled, pushed=True)
            if events:
                delivery.append((job, events))
        return delivery

    async def settle(
        self, jobs: Mapping[tuple[str, str], WatchedJob], claim: Callable[[], Awaitable[None]]
    ) -> Delivery:
        """One ``get`` for each item a notification named but could not tell (or, with
        ``verify``, for each notified item); a failed ``get`` is left to the next poll."""
        delivery: Delivery = []
        while self._unsettled:
            (ident, name, item_id), _ = self._unsettled.popitem()
            job = jobs.get(ident)
            feed: Feed[Any, Any] | None = None
            if job is not None:
                feed = job.builds if name == "build" else job.runs
            if job is None or feed is None:
                continue
            await claim()
            self.fetched += 1
            try:
                item = await feed.get(item_id)
            except ClientClosedError:
                raise
            except NotFoundError:
                continue
            except NorthflankError as error:
                logger.warning(
                    "monitor: get of %s %s of %s/%s, named by a notification, failed (%s): "
                    "left to the next poll",
                    name,
                    item_id,
                    job.project_id,
                    job.job_id,
                    error,
                )
                continue
            events = self._observe(job, item, pushed=True)
            if events:
                delivery.append((job, events))
        return delivery

    def polled(self, job: WatchedJob, events: Iterable[MonitorEvent]) -> list[MonitorEvent]:
        """After a successful poll of ``job``: count the outcomes it found (no notification
        told them), then replay the notifications that waited for its first poll."""
        found = [*events]
        if self.shared:
            return found  # outcomes told to other members are not seen here: not counted
        for event in found:
            if event.kind == "concluded":
                self._count(pushed=False)
        early = self._early.pop(job.ident, [])
        if job.started:
            for item in early:
                found.extend(self._observe(job, item, pushed=True))
        elif early:
            self._early[job.ident] = early
        return found

    def _observe(self, job: WatchedJob, item: Item, *, pushed: bool) -> list[MonitorEvent]:
        if self.shared:
            return [_concluded(job, item)] if item.is_concluded else []
        if not job.started:
            early = self._early.setdefault(job.ident, [])
            early.append(item)
            del early[:-_EARLY_MEMORY]
            return []
        events: list[MonitorEvent] = []
        if isinstance(item, JobRun):
            if job.runs is not None:
                events += job.runs.observe(item)
        else:
            events += job.builds.observe(item)
        if any(event.kind == "concluded" for event in events):
            self._count(pushed=pushed)
        return events

    def _count(self, *, pushed: bool) -> None:
        if not self.health.outcome(pushed=pushed):
            return
        health = self.health
        if health.failing:
            logger.warning(
                "monitor: %d of the last %d outcomes were found by polls, not told by a "
                "notification (is the webhook integration disabled?): polling on the budget "
                "until notifications tell outcomes again (monitor.plan.webhooks == 'fallback')",
                health.threshold,
                health.window,
            )
        else:
            logger.info(
                "monitor: notifications tell the outcomes again: one reconciling poll per job "
                "every %g s",
                self.reconcile,
            )


def _told(event: WebhookEvent, job: WatchedJob) -> tuple[str, Item] | None:
    """What a notification of ``job`` names: ``("build", build)`` or ``("run", run)`` (a run
    only of a job watched with ``runs=True``); None for anything else."""
    if event.kind.startswith("job-run:"):
        return None if event.run is None or job.runs is None else ("run", event.run)
    return None if event.build is None else ("build", event.build)


def _settled(event: WebhookEvent) -> Item | None:
    if event.kind.startswith("job-run:"):
        return settled_run(event)
    return settled_build(event)


def _concluded(job: WatchedJob, item: Item) -> MonitorEvent:
    """The ``concluded`` event of an ended item of ``job`` (in a group: no tracker)."""
    if isinstance(item, JobRun):
        return RunEvent("concluded", item, job.project_id, job.job_id)
    return BuildEvent.of_owner("concluded", item, job.project_id, job.kind, job.job_id)


def _job_of(event: WebhookEvent, jobs: Mapping[tuple[str, str], WatchedJob]) -> WatchedJob | None:
    """The watched job (or service) a notification is about, if any."""
    if event.job_id is not None:
        owner = event.job_id
    elif event.service_id is not None:
        owner = f"service:{event.service_id}"
    else:
        return None
    if event.project_id is not None:
        return jobs.get((event.project_id, owner))
    # No project named (undocumented payloads): the one watched owner of that id, if one.
    found = [job for (_, key), job in jobs.items() if key == owner]
    return found[0] if len(found) == 1 else None
