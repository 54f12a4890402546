"""The monitor's one loop: lead, take notifications, poll the job due first, deliver.

`MonitorLoop` is the part of `Monitor` (``monitor``) that runs in its task: one turn asks the
`Leadership` until when it may poll, hands the notifications waiting to the trackers (a hybrid
monitor, ``push``), polls the job that falls due first (``polls``) and delivers its events.
In a group, notifications need no tracker (a member claims each outcome, ``group``): they are
taken by a task of their own, so that a member that does not lead tells them to the group at
once.

A poll is sent with no retries of the client's own: a transient failure (network, 5xx, 429, a
broken listing) drops the whole poll (the trackers unchanged) and the job is polled again at
its next turn (after ``Retry-After`` for a 429). A job that answers 401, 403 or 404 (anything
not transient) is no longer watched: its error is raised once from the iteration.
"""

from __future__ import annotations

import asyncio
import logging
import math

from .._core.errors import (
    ClientClosedError,
    NorthflankError,
    PaginationError,
    RateLimitError,
    ServerError,
    TransportError,
)
from .._core.events import MonitorEvent
from .._core.planning import MonitorPlan, next_due
from .budget import PollBudget
from .leadership import Leadership
from .polls import Skips, WatchedJob, read
from .push import PushIntake

__all__ = ["MonitorLoop"]

logger = logging.getLogger("northflank_async")

_TRANSIENT = (TransportError, ServerError, RateLimitError, PaginationError)
#: A poll due within this many seconds is due now (a float hair ahead of a ticking clock).
_DUE_SLACK = 1e-3


class MonitorLoop:
    """The loop of a `Monitor` (its state is the monitor's)."""

    _jobs: dict[tuple[str, str], WatchedJob]
    _events: asyncio.Queue[MonitorEvent | BaseException]
    _changed: asyncio.Event
    _progress: asyncio.Event
    _spend: PollBudget
    _skips: Skips
    _closed: bool
    _leadership: Leadership
    _intake: PushIntake | None

    def _plan(self, now: float) -> MonitorPlan:
        plan = self._spend.plan(self._jobs.values(), now, skipped=self._skips.count)
        return plan if self._intake is None else self._intake.plan(plan, self._jobs.values())

    async def _loop(self) -> None:
        """The one loop, alone or in a group: lead, poll the job due first, deliver."""
        loop = asyncio.get_running_loop()
        leadership = self._leadership
        intake = self._intake if self._intake is not None and not self._intake.shared else None
        notified = None
        if self._intake is not None and self._intake.shared:
            notified = loop.create_task(self._notified(self._intake))
        try:
            while not self._closed:
                self._changed.clear()
                if intake is not None and await intake.turn(
                    self._jobs, self._spend.claim, leadership
                ):
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
                if due > now + _DUE_SLACK:
                    # A job added or dropped (or a notification) wakes the loop: re-plan.
                    if await self._wait(intake, None if math.isinf(due) else due - now):
                        continue
                    # Timed out: re-plan, unless a (virtual) clock stood still.
                    if loop.time() > now or self._changed.is_set():
                        continue
                    if chosen is None or chosen[1] > until:  # it was the lease's time
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
        finally:
            if notified is not None:
                notified.cancel()
                await asyncio.gather(notified, return_exceptions=True)

    async def _wait(self, intake: PushIntake | None, timeout: float | None) -> bool:
        """Until a job is added or dropped (or a notification waits): True; False after
        ``timeout`` seconds."""
        if intake is not None:
            return await intake.wait(self._changed, timeout)
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True

    async def _notified(self, intake: PushIntake) -> None:
        """A group member's notifications, taken as they come (not only while it leads)."""
        never = asyncio.Event()
        try:
            while not self._closed:
                await intake.wait(never, None)
                if await intake.turn(self._jobs, self._spend.claim, self._leadership):
                    self._progress.set()
                if intake.source.closed and not intake.pending:
                    return
        except (asyncio.CancelledError, ClientClosedError):
            raise
        except BaseException as error:  # a bug, or the receiver failed: end the iteration
            self._events.put_nowait(error)
            raise

    async def _poll(self, job: WatchedJob) -> list[MonitorEvent] | None:
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
