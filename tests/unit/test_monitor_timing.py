"""Timed polls: a job's typical build duration, its running builds' expected end, and the
plan that polls it once just after that end. Pure: no sockets, no event loop (issue 20,
"Pull mode's tail": the median)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from northflank_async._core.models import JobBuild
from northflank_async._core.planning import BudgetPlanner, JobLoad, next_due
from northflank_async._core.timing import BuildTimes, deferred_poll, expected_end

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH = T0.timestamp()


def concluded(n: int, duration: float, *, at: float = 0.0) -> JobBuild:
    """Build ``n``, created ``at`` + n hours after T0, concluded ``duration`` s later."""
    created = T0 + timedelta(hours=n, seconds=at)
    return JobBuild(
        id=f"b{n}",
        concluded=True,
        created_at=created,
        build_concluded_at=created + timedelta(seconds=duration),
    )


def running(n: int, created: float) -> JobBuild:
    return JobBuild(id=f"r{n}", concluded=False, created_at=T0 + timedelta(seconds=created))


class TestTypical:
    def test_median_of_agreeing_durations(self) -> None:
        """Three or more durations within 20% of their median: that median."""
        times = BuildTimes()
        times.learn([concluded(n, d) for n, d in enumerate([350, 360, 370])], at=0.0)
        assert times.typical() == 360

    def test_too_few_or_too_spread(self) -> None:
        """Fewer than three, or a range wider than 20% of the median: no prediction."""
        times = BuildTimes()
        times.learn([concluded(0, 360), concluded(1, 360)], at=0.0)
        assert times.typical() is None
        times.learn([concluded(2, 20)], at=0.0)  # a build that crashed at once
        assert times.typical() is None
        wild = BuildTimes()
        wild.learn([concluded(n, d) for n, d in enumerate([100, 300, 900, 500])], at=0.0)
        assert wild.typical() is None

    def test_only_the_latest_five_count(self) -> None:
        """An old outlier leaves the history once five newer builds concluded; each build
        counts once however often it is listed; running ones and odd stamps do not count."""
        times = BuildTimes()
        times.learn([concluded(0, 20)], at=0.0)
        for n in range(1, 6):
            assert times.typical() is None or n >= 5
            times.learn([concluded(m, 300) for m in range(n + 1)], at=0.0)  # pages re-list
        assert times.durations == [300.0] * 5
        assert times.typical() == 300
        backwards = concluded(9, -5)  # the documented example concludes before its createdAt
        times.learn([backwards, running(1, 0), JobBuild(id="x", concluded=True)], at=0.0)
        assert times.durations == [300.0] * 5


class TestApiClock:
    def test_offset_is_a_lower_bound_from_the_freshest_stamp(self) -> None:
        """A build created (or concluded) at S, listed by an answer read at local t: the API
        read at least S then. The freshest stamp gives the tightest bound."""
        times = BuildTimes()
        assert times.offset == float("-inf")
        times.learn([concluded(0, 60)], at=100.0)  # concluded at EPOCH + 60
        assert times.offset == pytest.approx(EPOCH + 60 - 100)
        times.learn([running(1, 195)], at=200.0)  # created 5 s before the answer
        assert times.offset == pytest.approx(EPOCH - 5)
        times.learn([concluded(0, 60)], at=10_000.0)  # an old stamp never lowers it
        assert times.offset == pytest.approx(EPOCH - 5)

    def test_expected_end_on_the_monotonic_clock(self) -> None:
        """created_at + typical, moved to the monotonic clock; the earliest of several; none
        without a typical duration, an offset, or a creation time."""
        offset = EPOCH - 1000.0  # local t reads the API's EPOCH + t - 1000
        builds = [running(1, 50), running(2, 10)]
        assert expected_end(builds, 360.0, offset) == pytest.approx(1000 + 10 + 360)
        assert expected_end(builds, None, offset) is None
        assert expected_end(builds, 360.0, float("-inf")) is None
        assert expected_end([*builds, JobBuild(id="x")], 360.0, offset) is None
        assert expected_end([], 360.0, offset) is None


class TestDeferredPoll:
    def test_just_after_the_end_within_the_bound(self) -> None:
        """The end plus the margin; at most ``bound`` and at least ``floor`` after the last
        poll; none when polled after the end already (no second deferral) or never polled."""
        kw = {"margin": 2.0, "bound": 288.0, "floor": 1.0}
        assert deferred_poll(500.0, 300.0, **kw) == 502.0
        assert deferred_poll(900.0, 300.0, **kw) == 588.0
        assert deferred_poll(300.5, 300.0, **kw) == 302.5
        assert deferred_poll(300.0, 300.0, **kw) is None
        assert deferred_poll(250.0, 300.0, **kw) is None
        assert deferred_poll(None, 300.0, **kw) is None
        assert deferred_poll(500.0, None, **kw) is None


def load(i: int, *, active: bool, end: float | None = None, last: float | None = 0.0) -> JobLoad:
    return JobLoad(
        project_id="p",
        job_id=f"j{i}",
        active=active,
        idle_for=10_000.0,
        expected_end=end,
        last_polled=last,
    )


class TestPlan:
    def test_a_predicted_job_waits_and_the_others_gain(self) -> None:
        """20 jobs at 500 an hour: 10 jobs deferred to their builds' ends (252 s after their
        last poll) cost one poll each; the saving goes to the jobs whose builds run
        unpredicted, and idle jobs keep their share (144 s)."""
        planner = BudgetPlanner(budget_per_hour=500)
        jobs = [load(i, active=True, end=250.0) for i in range(10)]
        jobs += [load(10 + i, active=True) for i in range(2)]
        jobs += [load(12 + i, active=False) for i in range(8)]
        plan = planner.plan(jobs)
        deferred, unpredicted, idle = plan.jobs[:10], plan.jobs[10:12], plan.jobs[12:]
        assert all(e.next_at == 252.0 and e.interval == 252.0 for e in deferred)
        assert all(e.expected_end == 250.0 for e in deferred)
        assert all(e.next_at is None for e in (*unpredicted, *idle))
        assert all(e.interval == pytest.approx(144.0) for e in idle)
        assert all(e.interval < 144.0 / 2 for e in unpredicted)
        assert plan.expected_per_hour <= 500
        polls = sum(3600 / e.interval for e in plan.jobs)
        assert polls == pytest.approx(500 * 0.95)  # the whole usable budget is spent

    def test_deferral_is_bounded_and_not_repeated(self) -> None:
        """An end far off waits at most two shares (288 s); a job polled after its expected
        end (the build outran it) is polled at its regular interval."""
        planner = BudgetPlanner(budget_per_hour=500)
        far = planner.plan([load(i, active=True, end=5000.0) for i in range(20)])
        assert [e.next_at for e in far.jobs] == pytest.approx([288.0] * 20)
        late = planner.plan([load(i, active=True, end=-1.0) for i in range(20)])
        assert {e.next_at for e in late.jobs} == {None}
        assert [e.interval for e in late.jobs] == pytest.approx([144.0] * 20)

    def test_idle_jobs_ignore_predictions(self) -> None:
        """Only a job with running builds is deferred; idle jobs stay at their share, and a
        generous budget still polls every job at the 1 s floor."""
        planner = BudgetPlanner(budget_per_hour=500)
        plan = planner.plan([load(i, active=False, end=1000.0) for i in range(20)])
        assert [e.interval for e in plan.jobs] == pytest.approx([144.0] * 20)
        generous = BudgetPlanner(budget_per_hour=36_000).plan(
            [load(i, active=False) for i in range(5)]
        )
        assert [e.interval for e in generous.jobs] == [1.0] * 5

    def test_next_due_follows_the_deferral(self) -> None:
        """The loop's pick: a job deferred to its build's end comes before an idle job due at
        its share (2 jobs at 500 an hour: 14.4 s) when the end is near, after it if not."""
        planner = BudgetPlanner(budget_per_hour=500)
        last = {("p", "j0"): 0.0, ("p", "j1"): 0.0}
        plan = planner.plan([load(0, active=True, end=5.0), load(1, active=False)])
        assert next_due(plan, last, 0.0) == (plan.jobs[0], 7.0)
        plan = planner.plan([load(0, active=True, end=20.0), load(1, active=False)])
        chosen = next_due(plan, last, 0.0)
        assert chosen is not None and chosen[0] == plan.jobs[1]
        assert chosen[1] == pytest.approx(14.4)
        assert plan.jobs[0].next_at == 22.0
