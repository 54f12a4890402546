"""The monitor's budget: what a request costs, which job to poll next, when. Pure: no I/O.

No sockets and no event loop: time is a number passed in (a monotonic clock), so the whole
model is unit-tested without I/O. The monitor drives it, one request at a time:

* `RequestLedger` counts the requests spent on a monotonic clock and says when the next
  one may go so that no rolling hour ever holds more than the budget.
* `BudgetPlanner` spreads the budget across the jobs as poll intervals; `next_due()` picks
  the job to poll next.
* `answer_waiters()` lets concurrent ``wait()`` / ``watch()`` calls on one job share a list
  request.

The planner's formula. No job waits longer than its even share of the budget::

    share = max(floor, n_jobs * requests_per_poll * 3600 / budget, MIN_POLL_INTERVAL)

(`even_share`: 20 jobs at 500 an hour, 144 s; 5 jobs at 36,000, the 1 s floor). Each job first
gets the interval it would like with no budget::

    desired = floor                                                  (a job with running builds)
    desired = idle_interval(idle_for) = min(share, backoff)          (an idle job)
    backoff = min(idle_cap, floor * active_weight + idle_growth * idle_for)

``idle_interval`` is the one rule for idle jobs (a hybrid monitor's ``reconcile`` interval may
replace it). The demand is ``D = sum(3600 / desired)`` polls an hour; ``U = budget * (1 -
reserve)`` is what the budget leaves for polls once a share is kept for the occasional ``get``.
When ``D <= U`` every job gets its desired interval; otherwise every interval is stretched by
the one factor that spends ``U``, none beyond ``share`` (``min(share, desired * k)``), and when
even every job at ``share`` spends more than ``U``, every job is polled at ``share`` (the
reserve gives way: the ledger still keeps every rolling hour within the budget). Since an idle
job never waits beyond its share, a saturated budget polls every job at its share in turn:
20 jobs at 500 an hour, each every 144 s, and a generous one is used (5 jobs at 36,000 an
hour: every job every second), so a build on a quiet job is seen within one share.

Timed polls (``timing``). A job whose running builds are expected to end after its last poll
(``JobLoad.expected_end``: created at + the job's typical duration, known only when its latest
durations agree) is not polled while they run: it is polled once at ``expected_end +
end_margin`` (2 s), but at most ``defer_shares`` (2) shares after its last poll, so that
another build of the job is still seen within two shares (``PlanEntry.next_at``). A deferred
job costs one poll per deferral (counted as one per share at most); the rest of ``U`` is
stretched over the other jobs as above, so what it saves goes to the jobs whose builds run
unpredicted (idle jobs stay at their share). A job polled after its builds' expected end (a
prediction that failed) gets its regular interval again.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence

import attrs

from .checks import MIN_POLL_INTERVAL, check_number
from .coalescing import PageAnswers, answer_waiters
from .timing import deferred_poll

__all__ = [
    "DEFAULT_BUDGET_PER_HOUR",
    "BudgetPlanner",
    "JobLoad",
    "MonitorPlan",
    "PageAnswers",
    "PlanEntry",
    "RequestLedger",
    "answer_waiters",
    "default_budget",
    "even_share",
    "next_due",
]

HOUR = 3600.0
DEFAULT_BUDGET_PER_HOUR = 500
#: A deferred job is polled this long after its build's expected end (``timing``).
END_MARGIN = 2.0
#: A deferred job waits at most this many shares since its last poll (``timing``).
DEFER_SHARES = 2.0


def _check_budget(budget_per_hour: int) -> None:
    if (
        isinstance(budget_per_hour, bool)
        or not isinstance(budget_per_hour, int)
        or budget_per_hour < 1
    ):
        raise ValueError(f"budget_per_hour must be a positive int, got {budget_per_hour!r}")


def _check_time(value: float, name: str) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def default_budget(announced_limit: int | None) -> int:
    """The default budget: half the account's limit as the API announces it, else 500."""
    if announced_limit is None or announced_limit < 2:
        return DEFAULT_BUDGET_PER_HOUR
    return announced_limit // 2


@attrs.define
class RequestLedger:
    """The requests spent, as times on a monotonic clock, and when the next one may go.

    A rolling hour is any interval ``[t, t + 3600)``. Requests sent at or after
    `next_allowed()` never put more than the budget in one. Only the last hour is kept.
    """

    window: float = attrs.field(default=HOUR, validator=_positive)
    _times: list[float] = attrs.field(factory=list)  # sorted

    def record(self, at: float) -> None:
        """Count a request sent at ``at``."""
        _check_time(at, "at")
        bisect.insort(self._times, float(at))
        # Nothing that left the window before the latest request can share a window with a
        # request sent after it.
        latest = self._times[-1]
        cut = 0
        while self._times[cut] + self.window <= latest:
            cut += 1
        del self._times[:cut]

    def spent_in_window(self, now: float) -> int:
        """Requests sent in the hour up to ``now`` (``now - 3600 < t <= now``)."""
        _check_time(now, "now")
        return sum(1 for t in self._times if t <= now and t + self.window > now)

    def next_allowed(self, now: float, budget_per_hour: int) -> float:
        """The earliest time, from ``now`` on, at which one more request keeps the budget."""
        _check_time(now, "now")
        _check_budget(budget_per_hour)
        if not self._times:
            return float(now)
        earliest = max(float(now), self._times[-1])
        if len(self._times) >= budget_per_hour:
            earliest = max(earliest, self._times[-budget_per_hour] + self.window)
        return earliest

    def claim(self, now: float, budget_per_hour: int) -> float:
        """Book the next request: its `next_allowed()` time, recorded at once.

        Concurrent senders that each claim a slot never exceed the budget together.
        """
        at = self.next_allowed(now, budget_per_hour)
        self.record(at)
        return at


@attrs.frozen(kw_only=True)
class JobLoad:
    """What the planner needs of a job: whether it runs builds, and for how long it is idle."""

    project_id: str
    job_id: str
    active: bool
    idle_for: float = 0.0
    requests: int = 1
    """List requests one poll of the job makes: 2 when its runs are watched too."""
    expected_end: float | None = None
    """When its running builds are expected to end (``timing.expected_end``), if known."""
    last_polled: float | None = None


@attrs.frozen(kw_only=True)
class PlanEntry:
    """One job of a plan: poll every ``interval`` seconds; ``active`` if it runs builds.

    A job deferred to just after its running build's ``expected_end`` is polled at
    ``next_at`` (``interval`` is then the time from its last poll to ``next_at``)."""

    project_id: str
    job_id: str
    interval: float
    """Seconds between two polls (from the last poll to ``next_at`` for a deferred job)."""
    next_at: float | None = None
    """When a job deferred to just after ``expected_end`` is polled next; else ``None``."""
    expected_end: float | None = None
    """When its running builds are expected to end (the monitor's clock), if predicted."""
    active: bool


@attrs.frozen(kw_only=True)
class MonitorPlan:
    """The monitor's plan: its budget, each job's interval, spend this hour and per hour; the
    builds skipped as undecodable and a rate-limit pause in force, if any.

    ``expected_per_hour`` is the polls the intervals make in an hour plus the reserve kept for
    ``get`` calls; it never exceeds ``budget_per_hour``.
    """

    budget_per_hour: int
    jobs: tuple[PlanEntry, ...]
    spent_this_hour: int
    expected_per_hour: float
    skipped: int = 0
    """Builds skipped so far because they could not be decoded (each logged once)."""
    paused_for: float = 0.0
    """Seconds left of a pause of every poll the API asked for (a 429's ``Retry-After``)."""
    paused_too_long: bool = False
    """Whether that pause is longer than the client's ``max_rate_limit_wait`` (it is logged)."""
    webhooks: str = "off"
    """With a webhook receiver (the hybrid monitor): ``"on"`` while notifications tell the
    outcomes (each job polled once per ``reconcile`` seconds), ``"fallback"`` while polls keep
    finding outcomes no notification told (budgeted polling, as without one); else ``"off"``."""
    reconcile: float | None = None
    """With a webhook receiver: the seconds between two reconciling polls of a job."""

    def entry(self, project_id: str, job_id: str) -> PlanEntry:
        """The plan of one job (``KeyError`` if the plan has no such job)."""
        for entry in self.jobs:
            if entry.project_id == project_id and entry.job_id == job_id:
                return entry
        raise KeyError((project_id, job_id))


def even_share(n_jobs: int, budget_per_hour: int, requests_per_poll: float = 1.0) -> float:
    """The interval at which ``n_jobs`` jobs polled alike spend the whole budget.

    ``n_jobs * requests_per_poll * 3600 / budget_per_hour`` seconds, never under
    ``MIN_POLL_INTERVAL`` (1 s): 20 jobs at 500 an hour, 144 s; 5 jobs at 36,000, 1 s.
    """
    _check_budget(budget_per_hour)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 0:
        raise ValueError(f"n_jobs must be an int >= 0, got {n_jobs!r}")
    _check_time(requests_per_poll, "requests_per_poll")
    if requests_per_poll < 1:
        raise ValueError("requests_per_poll must be >= 1 (a poll is one request at least)")
    return max(MIN_POLL_INTERVAL, n_jobs * requests_per_poll * HOUR / budget_per_hour)


@attrs.frozen(kw_only=True)
class BudgetPlanner:
    """Spreads ``budget_per_hour`` over the watched jobs as poll intervals (see the module doc)."""

    budget_per_hour: int = DEFAULT_BUDGET_PER_HOUR
    floor: float = attrs.field(default=MIN_POLL_INTERVAL, validator=_positive)
    idle_cap: float = attrs.field(default=300.0, validator=_positive)
    active_weight: float = attrs.field(default=4.0, validator=_positive)
    idle_growth: float = attrs.field(default=0.5)
    reserve: float = attrs.field(default=0.05)
    requests_per_poll: float = attrs.field(default=1.0)
    end_margin: float = attrs.field(default=END_MARGIN, validator=_positive)
    defer_shares: float = attrs.field(default=DEFER_SHARES, validator=_positive)

    def __attrs_post_init__(self) -> None:
        _check_budget(self.budget_per_hour)
        # The one floor of every polling loop: no job is polled more than once a second.
        check_number(self.floor, "floor", minimum=MIN_POLL_INTERVAL)
        if self.idle_cap < self.floor:
            raise ValueError("idle_cap must be no smaller than floor")
        if self.active_weight < 1:
            raise ValueError("active_weight must be >= 1 (active jobs poll at least as often)")
        _check_time(self.idle_growth, "idle_growth")
        if self.idle_growth < 0:
            raise ValueError("idle_growth must be >= 0")
        _check_time(self.reserve, "reserve")
        if not 0 <= self.reserve < 1:
            raise ValueError("reserve must be a fraction in [0, 1)")
        even_share(1, self.budget_per_hour, self.requests_per_poll)  # its checks

    def share(self, n_jobs: int) -> float:
        """The longest interval of an idle job among ``n_jobs``: its even share of the budget
        (`even_share`), or ``floor`` if that is longer."""
        return max(self.floor, even_share(n_jobs, self.budget_per_hour, self.requests_per_poll))

    def idle_interval(self, idle_for: float, n_jobs: int) -> float:
        """The interval an idle job wants: it backs off from ``floor * active_weight`` as it
        stays idle, up to ``idle_cap``, but never beyond its even share (`share`).

        The one rule for idle jobs (a hybrid monitor's ``reconcile`` interval may replace it).
        """
        _check_time(idle_for, "idle_for")
        if idle_for < 0:
            raise ValueError("idle_for must be >= 0")
        start = self.floor * self.active_weight
        backoff = max(self.floor, min(self.idle_cap, start + self.idle_growth * idle_for))
        return min(backoff, self.share(n_jobs))

    def desired_interval(self, job: JobLoad, n_jobs: int = 1) -> float:
        """The interval a job would get with no budget to share (``n_jobs``: the jobs watched)."""
        if job.active:
            return self.floor
        return self.idle_interval(job.idle_for, n_jobs)

    def plan(self, jobs: Iterable[JobLoad], *, spent_this_hour: int = 0) -> MonitorPlan:
        """Each job's interval, stretched evenly when the jobs want more than the budget;
        a job waiting for its builds' expected end deferred, its budget left to the others."""
        jobs = list(jobs)
        keys = [(job.project_id, job.job_id) for job in jobs]
        if len(set(keys)) != len(keys):
            raise ValueError("each job may appear once in a plan")
        # A job watched with its runs costs two requests a poll: it weighs twice in the share.
        weights = [job.requests for job in jobs]
        share = self.share(sum(weights))
        next_at = [self._deferred(job, share) for job in jobs]
        spans = [
            0.0 if at is None else at - (job.last_polled or 0.0)
            for job, at in zip(jobs, next_at, strict=True)
        ]
        # A deferred job costs a poll per deferral (as one per share at most); the others
        # share what is left of the usable budget (as above, none beyond ``share``).
        waiting = sum(w * HOUR / max(share, s) for w, s in zip(weights, spans, strict=True) if s)
        budget = self.budget_per_hour / self.requests_per_poll
        regular = [i for i, at in enumerate(next_at) if at is None]
        usable = budget * (1 - self.reserve) - waiting
        desired = [self.desired_interval(jobs[i], sum(weights)) for i in regular]
        stretched = _stretch(desired, [weights[i] for i in regular], cap=share, usable=usable)
        for i, interval in zip(regular, stretched, strict=True):
            spans[i] = interval
        entries = tuple(
            PlanEntry(
                project_id=job.project_id,
                job_id=job.job_id,
                interval=interval,
                active=job.active,
                expected_end=job.expected_end,
                next_at=at,
            )
            for job, interval, at in zip(jobs, spans, next_at, strict=True)
        )
        polls = waiting + sum(weights[i] * HOUR / spans[i] for i in regular)
        polls *= self.requests_per_poll
        reserve = self.budget_per_hour * self.reserve if entries else 0.0
        return MonitorPlan(
            budget_per_hour=self.budget_per_hour,
            jobs=entries,
            spent_this_hour=spent_this_hour,
            expected_per_hour=min(float(self.budget_per_hour), polls + reserve),
        )

    def _deferred(self, job: JobLoad, share: float) -> float | None:
        """When to poll an active job just after its builds' expected end, if it waits."""
        if not job.active:
            return None
        bound = self.defer_shares * share
        return deferred_poll(
            job.expected_end, job.last_polled, margin=self.end_margin, bound=bound, floor=self.floor
        )


def _stretch(
    desired: Sequence[float], weights: Sequence[int], *, cap: float, usable: float
) -> list[float]:
    """The intervals: the desired ones if they cost at most ``usable`` requests an hour (a job
    costs ``weight`` requests a poll); else each stretched by the one factor ``k`` that makes
    them cost ``usable``, none beyond ``cap`` (``min(cap, d * k)``); when even every job at
    ``cap`` costs more, every job at ``cap``."""
    pairs = list(zip(desired, weights, strict=True))
    if sum(w * HOUR / d for d, w in pairs) <= usable:
        return list(desired)
    if sum(weights) * HOUR / cap >= usable:
        return [cap] * len(desired)
    # Exactly: with the longest desired intervals at the cap (costing ``at_cap`` an hour), the
    # rest cost (HOUR / k) * sum(w / d); find the first count of capped jobs whose k fits.
    longest_first = sorted(pairs, reverse=True)
    free = sum(w / d for d, w in longest_first)
    at_cap = 0.0
    for longest, weight in longest_first:
        k = HOUR * free / (usable - at_cap)
        if longest * k <= cap * (1 + 1e-12):
            return [min(cap, d * k) for d in desired]
        free -= weight / longest
        at_cap += weight * HOUR / cap
    raise AssertionError("unreachable: every job at the cap costs less than usable")


def next_due(
    plan: MonitorPlan, last_polled: Mapping[tuple[str, str], float], now: float
) -> tuple[PlanEntry, float] | None:
    """The job to poll next and when (never before ``now``); ``None`` for a plan of no jobs.

    ``last_polled`` maps ``(project_id, job_id)`` to the time of the job's last poll; a job
    never polled is due at ``now``. Ties go to the job listed first in the plan.
    """
    _check_time(now, "now")
    best: tuple[PlanEntry, float] | None = None
    for entry in plan.jobs:
        last = last_polled.get((entry.project_id, entry.job_id))
        due = now if last is None else max(now, last + entry.interval)
        if best is None or due < best[1]:
            best = (entry, due)
    return best
