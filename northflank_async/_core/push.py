"""The hybrid monitor's decisions about notifications. Pure: no sockets, no event loop.

A monitor given a webhook receiver (``nf.monitor(webhooks=receiver)``) learns outcomes from
Northflank's notifications and polls each job once per ``reconcile`` seconds to catch those
that were lost. What is decided here, apart from the I/O:

* `settled_build`, `settled_run`: whether a notification tells a build's (a run's) state well
  enough to be trusted as it is, or a ``get`` of it must settle it (fields missing).
* `PushHealth`: whether notifications still tell the outcomes, or polls keep finding outcomes
  no notification told (the integration may be disabled): then the monitor falls back to
  budgeted polling, and goes back to reconciling once notifications tell outcomes again.
* `reconcile_plan`: the plan while notifications work: every job polled once per
  ``reconcile`` seconds (stretched evenly only if the budget cannot pay even that).

The tracker (``tracking``) decides the events, for notifications and polls alike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal, TypeAlias, TypeVar

import attrs

from .models import BuildStatus, JobBuild, JobRun, RunStatus
from .planning import HOUR, JobLoad, MonitorPlan, PlanEntry
from .webhooks import WebhookEvent

__all__ = [
    "DEFAULT_RECONCILE",
    "PushHealth",
    "PushMode",
    "reconcile_plan",
    "settled_build",
    "settled_run",
]

#: Seconds between two reconciling polls of a job while notifications work (the default).
DEFAULT_RECONCILE = 600.0

#: ``"off"``: no receiver (polling only); ``"on"``: notifications, and a reconciling poll of
#: each job once per ``reconcile`` seconds; ``"fallback"``: notifications seem lost, polling
#: on the budget as without a receiver (notifications are still used when they come).
PushMode: TypeAlias = Literal["off", "on", "fallback"]

_BUILD_ENDS = ("build:success", "build:failure", "build:abort")
_RUN_ENDS = ("job-run:success", "job-run:failure", "job-run:abort", "job-run:terminate")

Item = TypeVar("Item", JobBuild, JobRun)


def settled_build(event: WebhookEvent) -> JobBuild | None:
    """The build a ``build:*`` notification tells, if it tells its state; else ``None``.

    A build is told when it has a ``status`` this version knows and a ``concluded`` flag
    that agrees with the event type (an end says concluded, a start does not), or a known
    terminal status for an end that carries no flag. Anything short of that (a missing or
    unknown status, a missing flag on a start, an end whose build says it is running) is
    settled by one ``get`` of the build instead of being guessed.
    """
    if not event.kind.startswith("build:"):
        return None
    return _settled(event.build, event.kind in _BUILD_ENDS, BuildStatus)


def settled_run(event: WebhookEvent) -> JobRun | None:
    """The run a ``job-run:*`` notification tells, if it tells its state (as `settled_build`
    for a build: a known status and a flag that agree with the event type); else ``None``."""
    if not event.kind.startswith("job-run:"):
        return None
    return _settled(event.run, event.kind in _RUN_ENDS, RunStatus)


def _settled(
    item: Item | None, ending: bool, statuses: type[BuildStatus] | type[RunStatus]
) -> Item | None:
    if item is None or not isinstance(item.status, statuses):
        return None
    terminal = item.status.is_terminal
    concluded = item.concluded
    if concluded is None:
        if not ending or not terminal:
            return None
        concluded = True
    if ending != concluded or concluded != terminal:
        return None
    return item


@attrs.define
class PushHealth:
    """Who told the latest outcomes: a notification first, or a poll (the notification lost).

    Of the last ``window`` outcomes, when at least ``threshold`` were found by polls, the
    notifications are taken as failing (`failing` turns true, once); after that, when at
    least ``recover`` of the last ``window`` came by notification first, as working again.
    With 10% of notifications lost, 8 polls-first out of 10 happens about once in two million
    windows; with the integration disabled, at the 8th outcome.
    """

    window: int = 10
    threshold: int = 8
    recover: int = 5
    failing: bool = False
    _recent: deque[bool] = attrs.field(init=False)  # True: told by a notification first
    pushed: int = attrs.field(init=False, default=0)
    polled: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if not 0 < self.recover <= self.window or not 0 < self.threshold <= self.window:
            raise ValueError("threshold and recover must be in 1..window")
        self._recent = deque(maxlen=self.window)

    def outcome(self, *, pushed: bool) -> bool:
        """Count one outcome (told by a notification first, or found by a poll); whether
        `failing` changed with it."""
        if pushed:
            self.pushed += 1
        else:
            self.polled += 1
        self._recent.append(pushed)
        by_push = sum(self._recent)
        if not self.failing and len(self._recent) - by_push >= self.threshold:
            self.failing = True
            self._recent.clear()
            return True
        if self.failing and by_push >= self.recover:
            self.failing = False
            self._recent.clear()
            return True
        return False


def reconcile_plan(
    jobs: Iterable[JobLoad],
    *,
    reconcile: float,
    budget_per_hour: int,
    spent_this_hour: int,
    reserve: float = 0.05,
) -> MonitorPlan:
    """Every job polled once per ``reconcile`` seconds, or evenly less often when the budget
    (less its ``reserve`` for ``get`` calls) cannot pay that. A job whose runs are watched
    costs its ``requests`` (2) per poll."""
    loads = list(jobs)
    usable = budget_per_hour * (1 - reserve)
    per_round = sum(j.requests for j in loads)
    interval = max(float(reconcile), per_round * HOUR / usable) if loads else float(reconcile)
    entries = tuple(
        PlanEntry(project_id=j.project_id, job_id=j.job_id, interval=interval, active=j.active)
        for j in loads
    )
    polls = per_round * HOUR / interval
    spare = budget_per_hour * reserve if entries else 0.0
    return MonitorPlan(
        budget_per_hour=budget_per_hour,
        jobs=entries,
        spent_this_hour=spent_this_hour,
        expected_per_hour=min(float(budget_per_hour), polls + spare),
        webhooks="on",
        reconcile=float(reconcile),
    )
