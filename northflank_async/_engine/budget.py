"""What a monitor's polls cost: the ledger of their requests, the plan, a 429's pause.

`PollBudget` books every request of a poll (``polls``) against the budget in force before it
goes, so no rolling hour ever holds more than the budget; it makes the plan that spreads the
budget over the jobs (``_core.planning``), with each job's expected build end (``_core.timing``)
so that a job whose running build is predicted is polled once just after its end; and a 429's
``Retry-After`` pauses every poll.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable

import attrs

from .._core.errors import RateLimitError
from .._core.planning import BudgetPlanner, JobLoad, MonitorPlan, RequestLedger
from .._core.timing import expected_end
from .polls import WatchedJob

__all__ = ["PollBudget"]

logger = logging.getLogger("northflank_async")


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
        jobs = list(jobs)
        offset = max((job.times.offset for job in jobs), default=-math.inf)
        loads = [
            JobLoad(
                project_id=job.project_id,
                job_id=job.ident[1],
                active=job.active,
                idle_for=max(0.0, now - job.last_event_at),
                requests=1 if job.runs is None else 2,
                expected_end=_expected_end(job, offset),
                last_polled=job.last_polled,
            )
            for job in jobs
        ]
        plan = planner.plan(loads, spent_this_hour=self.ledger.spent_in_window(now))
        paused = max(0.0, self._not_before - now)
        too_long = paused > 0 and self._too_long
        return attrs.evolve(plan, skipped=skipped, paused_for=paused, paused_too_long=too_long)


def _expected_end(job: WatchedJob, offset: float) -> float | None:
    """When the job's running builds are expected to end (``None`` for a job whose runs are
    watched too: a run's end is not predicted)."""
    if job.tracker is None or job.runs is not None:
        return None
    return expected_end(job.tracker.tracked.values(), job.times.typical(), offset)
