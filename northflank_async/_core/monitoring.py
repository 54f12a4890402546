"""The pure core of the build monitor: what is new, what to poll next, what a request costs.

No sockets and no event loop: time is a number passed in (a monotonic clock), so the whole
model is unit-tested without I/O. The I/O layer drives it, one poll at a time:

* `JobTracker` holds what one watched job has shown so far. A poll is a transaction
  (`TrackerPoll`): the pages read (newest first) and the answers of the ``get`` calls
  for tracked builds that fell off them are added to it, and `JobTracker.commit()` turns it
  into `BuildEvent` values at once. A poll that fails half-way is dropped: the tracker
  has not changed, so nothing is lost and nothing is doubled.
* `RequestLedger` counts the requests spent on a monotonic clock and says when the next
  one may go so that no rolling hour ever holds more than the budget.
* `BudgetPlanner` spreads the budget across the jobs as poll intervals.
* `answer_waiters()` lets concurrent ``wait()`` / ``watch()`` calls on one job share a list
  request.

The planner's formula. Each job first gets the interval it would like with no budget::

    desired = floor                                                  (a job with running builds)
    desired = min(idle_cap, floor * active_weight + idle_growth * idle_for)      (an idle job)

so an idle job starts ``active_weight`` times slower than an active one and backs off as it
stays idle (``idle_growth = 0.5``: the interval grows by half the idle time, about what a
``PollSchedule`` with factor 1.5 does poll by poll), up to ``idle_cap``. The demand is
``D = sum(3600 / desired)`` polls an hour; ``U = budget * (1 - reserve)`` is what the budget
leaves for polls once a share is kept for the occasional ``get``. When ``D <= U`` every job
gets its desired interval; otherwise every interval is stretched by the same factor ``D / U``,
so the polls spend exactly ``U`` an hour and the ratios between jobs hold. Intervals only
ever grow from ``desired``, so none falls below ``floor``; the budget may push an idle job
beyond ``idle_cap``. With ``n`` equal jobs and no reserve a saturated plan polls each every
``n * 3600 / budget`` seconds: 20 jobs at 500 an hour, one poll every 144 s (the ideal).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal, TypeAlias

import attrs

from .checks import MIN_POLL_INTERVAL, check_number
from .models import BuildStatus, JobBuild

__all__ = [
    "DEFAULT_BUDGET_PER_HOUR",
    "GONE_AFTER",
    "MAX_GETS_PER_POLL",
    "BudgetPlanner",
    "BuildEvent",
    "BuildEventKind",
    "JobLoad",
    "JobTracker",
    "MonitorPlan",
    "PageAnswers",
    "PlanEntry",
    "RequestLedger",
    "TrackerPoll",
    "answer_waiters",
    "default_budget",
    "next_due",
]

BuildEventKind: TypeAlias = Literal["created", "status", "concluded"]
_KINDS = ("created", "status", "concluded")

HOUR = 3600.0
DEFAULT_BUDGET_PER_HOUR = 500

#: Polls in a row in which a tracked build must be proven gone (neither listed nor answered by
#: its ``get``: a 404, or an answer that cannot be decoded) before it leaves tracking. One 404
#: can be a passing fault (a replica behind, a proxy); a build that shows up again later, even
#: after leaving tracking, is still reported.
GONE_AFTER = 3

#: The most ``get`` calls one poll of a job makes for tracked builds that fell off its pages.
#: Past it, the poll reads further list pages first (while they still hold tracked builds: one
#: page answers up to ``per_page`` builds), and the rest wait for the next polls, the builds
#: confirmed least recently first.
MAX_GETS_PER_POLL = 10


# --------------------------------------------------------------------------- events


@attrs.frozen
class BuildEvent:
    """Something the monitor saw happen to a build of a watched job or service.

    ``kind`` is ``"created"`` (a build new to the monitor), ``"status"`` (a running build
    changed status) or ``"concluded"`` (the build finished; ``build`` holds its outcome).
    The build's owner is ``job_id`` for a job, ``service_id`` for a service (exactly one is
    set); ``owner_kind`` and ``owner_id`` name either.
    """

    kind: BuildEventKind = attrs.field(validator=attrs.validators.in_(_KINDS))
    build: JobBuild
    project_id: str
    job_id: str | None = None
    service_id: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if (self.job_id is None) == (self.service_id is None):
            raise ValueError("a build event names its job or its service, exactly one")

    @property
    def owner_kind(self) -> Literal["job", "service"]:
        """``"job"`` or ``"service"``: what owns the build."""
        return "job" if self.job_id is not None else "service"

    @property
    def owner_id(self) -> str:
        """The id of the job or service that owns the build."""
        owner = self.job_id if self.job_id is not None else self.service_id
        assert owner is not None  # checked when made
        return owner


# --------------------------------------------------------------------------- tracking


def _check_since(since: str | datetime | JobBuild | None) -> None:
    if isinstance(since, datetime) and since.tzinfo is None:
        raise ValueError("since must be a timezone-aware datetime (or a build id, or None)")
    if isinstance(since, str) and not since:
        raise ValueError("since must be a non-empty build id")
    if since is not None and not isinstance(since, str | datetime | JobBuild):
        raise ValueError(f"since must be a build id, a build or a datetime, got {since!r}")


@attrs.define(eq=False)
class JobTracker:
    """What one watched job has shown: the builds seen, and the running builds being tracked.

    Without ``since``, the first poll is a snapshot: the builds on its page are already there
    and are not reported. With ``since``, the first poll is an ordinary one and reports the
    builds after it: for an aware ``datetime``, those created at or after it; for a build (a
    `JobBuild`, or its id), those listed before it. A bare id bounds the history by
    identity only: when that build is no longer listed, the first poll reads to the end of the
    history, so prefer passing the build (one ``get``).

    A build is *known* when its id was seen (the ids of the latest ``memory`` builds are kept)
    or it is tracked. Ids are the identity: an id not seen before, listed above a known build,
    is new whatever its ``created_at`` (builds may share one, and clocks may disagree). The
    watermark time, the newest ``created_at`` seen, only decides where there is no known build
    to go by: with ``since`` a datetime (builds before it are old), past the known part (only a
    build newer than all seen is still new there), and when the known builds are no longer
    listed (deleted): a whole page of unknown builds older than the watermark ends the poll,
    those builds taken as old.

    A tracked build leaves tracking once concluded, or after `GONE_AFTER` polls in a row proved
    it gone (not listed, and its ``get`` answered 404 or could not be decoded); if it is listed
    again later, it is tracked again (or its conclusion reported). A poll asks at most
    ``max_gets`` (`MAX_GETS_PER_POLL`) ``get`` calls (`TrackerPoll.to_fetch`).
    """

    project_id: str
    job_id: str
    since: str | datetime | JobBuild | None = attrs.field(default=None, kw_only=True)
    memory: int = attrs.field(default=1000, kw_only=True)
    max_gets: int = attrs.field(default=MAX_GETS_PER_POLL, kw_only=True)
    _ids: deque[str] = attrs.field(init=False)
    _id_set: set[str] = attrs.field(init=False, factory=set)
    _time: datetime | None = attrs.field(init=False, default=None)
    _tracked: dict[str, JobBuild] = attrs.field(init=False, factory=dict)
    # Tracked builds proven gone in the latest polls in a row (see GONE_AFTER).
    _absent: dict[str, int] = attrs.field(init=False, factory=dict)
    # The poll generation at which each tracked build was last listed or fetched.
    _confirmed: dict[str, int] = attrs.field(init=False, factory=dict)
    # Builds that left tracking unconcluded (proven gone): reported if they are listed again.
    _dropped: dict[str, JobBuild] = attrs.field(init=False, factory=dict)
    _snapshot_pending: bool = attrs.field(init=False)
    _generation: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.memory, bool) or not isinstance(self.memory, int) or self.memory < 1:
            raise ValueError(f"memory must be a positive int, got {self.memory!r}")
        check_number(self.max_gets, "max_gets", integer=True, minimum=1)
        _check_since(self.since)
        self._ids = deque(maxlen=self.memory)
        self._snapshot_pending = self.since is None
        if isinstance(self.since, datetime):
            self._time = self.since
        elif isinstance(self.since, str):
            self._remember([self.since])
        elif isinstance(self.since, JobBuild):
            self._time = self.since.created_at
            self._remember([self.since.id])

    # -- public state

    @property
    def started(self) -> bool:
        """Whether the first poll has been committed (the snapshot is taken)."""
        return self._generation > 0

    @property
    def active(self) -> bool:
        """Whether the job has running builds being tracked."""
        return bool(self._tracked)

    @property
    def tracked(self) -> Mapping[str, JobBuild]:
        """The running builds being tracked, by id, oldest first (a copy)."""
        return dict(self._tracked)

    # -- durable position (group monitoring)

    def position(self) -> dict[str, object]:
        """What a restarted tracker needs to go on with nothing missed nor repeated.

        Ids, the watermark time and the tracked builds' statuses only (JSON-able): no other
        build data. `from_position()` turns it back into a tracker.
        """
        return {
            "v": 1,
            "started": self.started,
            "snapshot": self._snapshot_pending,
            "time": None if self._time is None else self._time.isoformat(),
            "ids": list(self._ids),
            "tracked": [
                [b.id, None if b.status is None else str(b.status)] for b in self._tracked.values()
            ],
            "absent": dict(self._absent),
        }

    @classmethod
    def from_position(
        cls, project_id: str, job_id: str, position: Mapping[str, object], *, memory: int = 1000
    ) -> JobTracker:
        """The tracker a `position()` describes; ``ValueError`` for one that is not."""
        try:
            if position.get("v") != 1:
                raise ValueError("unknown version")
            tracker = cls(project_id, job_id, memory=memory)
            time = position["time"]
            tracker._time = None if time is None else datetime.fromisoformat(str(time))
            ids = position["ids"]
            tracked = position["tracked"]
            if not isinstance(ids, list) or not isinstance(tracked, list):
                raise ValueError("ids and tracked must be lists")
            tracker._remember(str(build_id) for build_id in ids)
            for build_id, status in tracked:
                known = status in BuildStatus.__members__.values()
                tracker._tracked[str(build_id)] = JobBuild(
                    id=str(build_id),
                    status=BuildStatus(status) if known else status,
                    concluded=False,
                )
            absent = position.get("absent", {})
            if not isinstance(absent, dict):
                raise ValueError("absent must be a mapping")
            tracker._absent = {
                str(k): int(v) for k, v in absent.items() if str(k) in tracker._tracked
            }
            tracker._snapshot_pending = bool(position["snapshot"])
            tracker._generation = 1 if position["started"] else 0
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a tracker position: {error}") from None
        return tracker

    # -- polls

    def begin_poll(self) -> TrackerPoll:
        """Start a poll: add its pages (and ``get`` answers) to it, then `commit()` it."""
        return TrackerPoll(self, self._generation, snapshot=self._snapshot_pending)

    def commit(self, poll: TrackerPoll) -> list[BuildEvent]:
        """Apply a complete poll at once; its events, in the order observed (oldest first).

        Tracked builds the poll neither listed nor fetched stay tracked as they were: their
        ``get`` is asked again at the next poll. Raises ``ValueError`` for a poll of another
        tracker, a poll begun before another one was committed, or a poll whose pages did not
        reach the part of the history already seen.
        """
        if poll._tracker is not self:
            raise ValueError("this poll belongs to another tracker")
        if poll._generation != self._generation:
            raise ValueError("stale poll: another poll was committed since it began")
        if not poll.complete:
            raise ValueError("incomplete poll: read the next page until needs_next_page is False")
        self._generation += 1
        if poll._snapshot:
            self._snapshot_pending = False
            self._advance(list(reversed(poll._observed.values())))
            return []
        generation = self._generation
        events: list[BuildEvent] = []
        for build_id in list(self._tracked):
            if build_id in poll._fetched:
                self._update(poll._fetched[build_id], events)
            elif build_id in poll._gone and build_id not in poll._observed:
                absent = self._absent.get(build_id, 0) + 1
                if absent < GONE_AFTER:
                    self._absent[build_id] = absent
                    continue
                # Proven gone poll after poll: no outcome to wait for. Kept aside, so that a
                # build that shows up again is still reported.
                self._drop(build_id)
        new: list[JobBuild] = []
        for build in reversed(list(poll._observed.values())):
            if build.id in poll._new:
                new.append(build)
                events.append(self._event("created", build))
                if build.is_concluded:
                    events.append(self._event("concluded", build))
                else:
                    self._tracked[build.id] = build
                    self._confirmed[build.id] = generation
            elif build.id in self._tracked:
                self._update(build, events)
            elif build.id in self._dropped:
                # Back after it was taken for gone: its outcome (or its tracking) resumes.
                self._tracked[build.id] = self._dropped.pop(build.id)
                self._update(build, events)
        self._advance(new)
        return events

    # -- internals

    def _event(self, kind: BuildEventKind, build: JobBuild) -> BuildEvent:
        return BuildEvent(kind, build, self.project_id, self.job_id)

    def _update(self, build: JobBuild, events: list[BuildEvent]) -> None:
        before = self._tracked[build.id]
        self._absent.pop(build.id, None)
        self._confirmed[build.id] = self._generation
        if build.is_concluded:
            self._untrack(build.id)
            events.append(self._event("concluded", build))
            return
        self._tracked[build.id] = build
        if build.status != before.status:
            events.append(self._event("status", build))

    def _untrack(self, build_id: str) -> JobBuild:
        self._absent.pop(build_id, None)
        self._confirmed.pop(build_id, None)
        return self._tracked.pop(build_id)

    def _drop(self, build_id: str) -> None:
        self._dropped[build_id] = self._untrack(build_id)
        while len(self._dropped) > self.memory:
            del self._dropped[next(iter(self._dropped))]

    def _known(self, build_id: str) -> bool:
        return build_id in self._id_set or build_id in self._tracked or build_id in self._dropped

    def _remember(self, ids: Iterable[str]) -> None:
        for build_id in ids:
            if build_id in self._id_set:
                continue
            if len(self._ids) == self._ids.maxlen:
                self._id_set.discard(self._ids[0])
            self._ids.append(build_id)
            self._id_set.add(build_id)

    def _advance(self, oldest_first: Sequence[JobBuild]) -> None:
        self._remember(build.id for build in oldest_first)
        times = [b.created_at for b in oldest_first if b.created_at is not None]
        if times:
            latest = max(times)
            self._time = latest if self._time is None else max(self._time, latest)


class TrackerPoll:
    """One poll of a `JobTracker` in the making; the tracker changes only at commit.

    Add the pages read (newest first) with `add_page()` while `needs_next_page`;
    then ``get`` each id of `to_fetch` and add the answer with `add_fetched()` (or
    `add_gone()` for a 404 or an answer that cannot be decoded). Drop the poll on any
    failure: the tracker is unchanged.
    """

    def __init__(self, tracker: JobTracker, generation: int, *, snapshot: bool) -> None:
        self._tracker = tracker
        self._generation = generation
        self._snapshot = snapshot
        self._pages = 0
        self._reached = False  # met the already-seen part of the history
        self._ended = False  # read the last page of the history
        self._last_page_tracked = False  # the latest page listed a tracked build
        self._observed: dict[str, JobBuild] = {}  # listing order, latest state of each build
        self._new: set[str] = set()
        # Unknown builds older than the watermark, met before any known build: new if a known
        # build is listed below them (clock skew), old if none is (the known ones were deleted).
        self._older: list[str] = []
        self._fetched: dict[str, JobBuild] = {}
        self._gone: set[str] = set()

    @property
    def needs_next_page(self) -> bool:
        """Whether to read the next page: the pages so far fall short of what was seen before,
        or more tracked builds are missing than one poll may ``get`` and the latest page still
        listed tracked builds (a page answers many of them for one request)."""
        if not self.complete:
            return True
        return (
            not self._snapshot
            and not self._ended
            and self._last_page_tracked
            and len(self.missing) > self._tracker.max_gets
        )

    @property
    def complete(self) -> bool:
        """Whether the pages read reach the seen history (or its end), so the poll may commit."""
        if self._snapshot:
            return self._pages > 0  # the newest page is the snapshot
        return self._reached or self._ended

    @property
    def missing(self) -> list[str]:
        """Tracked builds neither on the pages read nor fetched yet, confirmed least recently
        first. Meaningful once `needs_next_page` is False."""
        if self._snapshot:
            return []
        tracker = self._tracker
        done = self._observed.keys() | self._fetched.keys() | self._gone
        ids = [build_id for build_id in tracker._tracked if build_id not in done]
        return sorted(ids, key=lambda build_id: tracker._confirmed.get(build_id, 0))

    @property
    def to_fetch(self) -> list[str]:
        """The `missing` builds this poll may ``get``: at most the tracker's ``max_gets``."""
        return self.missing[: max(0, self._tracker.max_gets - len(self._fetched) - len(self._gone))]

    def add_page(self, newest_first: Sequence[JobBuild], *, has_next_page: bool) -> None:
        """Take one page of the job's builds, newest first, as the list endpoint returns them."""
        self._pages += 1
        tracker = self._tracker
        time = tracker._time
        # With no build known at all (``since`` a datetime), time alone tells old from new.
        by_time = not tracker._id_set and not tracker._tracked and not tracker._dropped
        older_only = bool(newest_first) and not self._reached
        self._last_page_tracked = False
        for build in newest_first:
            if build.id in tracker._tracked:
                self._last_page_tracked = True
            if build.id in self._observed:
                # Listed again (it moved to the next page while we read): keep the first
                # position and the latest state.
                self._observed[build.id] = build
                continue
            self._observed[build.id] = build
            if self._snapshot:
                continue
            created = build.created_at
            older = time is not None and created is not None and created < time
            if tracker._known(build.id):
                if not self._reached:
                    # Listed above a known build: new, whatever their time says.
                    self._new.update(self._older)
                    self._older.clear()
                self._reached = True
                older_only = False
            elif self._reached:
                # Past the seen part only a build strictly newer than everything seen is still
                # new (a listing out of order); one that shares the watermark's time there is
                # an older build of that tie.
                if time is not None and created is not None and created > time:
                    self._new.add(build.id)
            elif older and by_time:
                self._reached = True
            elif older:
                self._older.append(build.id)
            else:
                self._new.add(build.id)
                older_only = False
        if older_only and not self._reached:
            # A whole page of unknown builds older than the watermark and no known build met:
            # the known ones were deleted. Going by time, these and the rest are old.
            self._reached = True
        if not has_next_page:
            self._ended = True

    def add_fetched(self, build: JobBuild) -> None:
        """Take the answer of the ``get`` of a missing tracked build."""
        if build.id not in self.missing:
            raise ValueError(f"build {build.id!r} is not a missing tracked build of this poll")
        self._fetched[build.id] = build

    def add_gone(self, build_id: str) -> None:
        """A missing tracked build's ``get`` proved it gone (404, or an answer that cannot be
        decoded). It leaves tracking after `GONE_AFTER` such polls in a row."""
        if build_id not in self.missing:
            raise ValueError(f"build {build_id!r} is not a missing tracked build of this poll")
        self._gone.add(build_id)


# --------------------------------------------------------------------------- coalescing


@attrs.frozen
class PageAnswers:
    """What one list page tells the waiters of a job: builds ``found``, ids still ``missing``."""

    found: Mapping[str, JobBuild]
    missing: frozenset[str]


def answer_waiters(waiting: Iterable[str], newest_first: Sequence[JobBuild]) -> PageAnswers:
    """Which of the build ids waited on a page answers, and which still need a ``get``.

    All the ``wait()`` / ``watch()`` calls on builds of one job share one list request per
    poll: each waiter reads its build from ``found``; only the ids in ``missing`` (not listed,
    e.g. fallen off the newest page) cost a ``get`` each.
    """
    wanted = set(waiting)
    found: dict[str, JobBuild] = {}
    for build in newest_first:
        if build.id in wanted and build.id not in found:
            found[build.id] = build
    return PageAnswers(found=found, missing=frozenset(wanted - found.keys()))


# --------------------------------------------------------------------------- budget


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


@attrs.frozen(kw_only=True)
class PlanEntry:
    """One job of a plan: poll every ``interval`` seconds; ``active`` if it runs builds."""

    project_id: str
    job_id: str
    interval: float
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

    def entry(self, project_id: str, job_id: str) -> PlanEntry:
        """The plan of one job (``KeyError`` if the plan has no such job)."""
        for entry in self.jobs:
            if entry.project_id == project_id and entry.job_id == job_id:
                return entry
        raise KeyError((project_id, job_id))


@attrs.frozen(kw_only=True)
class BudgetPlanner:
    """Spreads ``budget_per_hour`` over the watched jobs as poll intervals (see the module doc)."""

    budget_per_hour: int = DEFAULT_BUDGET_PER_HOUR
    floor: float = attrs.field(default=10.0, validator=_positive)
    idle_cap: float = attrs.field(default=300.0, validator=_positive)
    active_weight: float = attrs.field(default=4.0, validator=_positive)
    idle_growth: float = attrs.field(default=0.5)
    reserve: float = attrs.field(default=0.05)

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

    def desired_interval(self, job: JobLoad) -> float:
        """The interval a job would get with no budget to share."""
        if job.active:
            return self.floor
        _check_time(job.idle_for, "idle_for")
        if job.idle_for < 0:
            raise ValueError("idle_for must be >= 0")
        start = self.floor * self.active_weight
        return max(self.floor, min(self.idle_cap, start + self.idle_growth * job.idle_for))

    def plan(self, jobs: Iterable[JobLoad], *, spent_this_hour: int = 0) -> MonitorPlan:
        """Each job's interval, stretched evenly when the jobs want more than the budget."""
        jobs = list(jobs)
        keys = [(job.project_id, job.job_id) for job in jobs]
        if len(set(keys)) != len(keys):
            raise ValueError("each job may appear once in a plan")
        desired = [self.desired_interval(job) for job in jobs]
        demand = sum(HOUR / interval for interval in desired)
        usable = self.budget_per_hour * (1 - self.reserve)
        stretch = max(1.0, demand / usable)
        entries = tuple(
            PlanEntry(
                project_id=job.project_id,
                job_id=job.job_id,
                interval=interval * stretch,
                active=job.active,
            )
            for job, interval in zip(jobs, desired, strict=True)
        )
        polls = sum(HOUR / entry.interval for entry in entries)
        reserve = self.budget_per_hour * self.reserve if entries else 0.0
        return MonitorPlan(
            budget_per_hour=self.budget_per_hour,
            jobs=entries,
            spent_this_hour=spent_this_hour,
            expected_per_hour=min(float(self.budget_per_hour), polls + reserve),
        )


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
