"""The planner's idle interval: no quiet job waits longer than its even share of the budget.

Pure: no sockets, no event loop (issue 20, "Pull mode's tail").
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from northflank_async._core.checks import MIN_POLL_INTERVAL
from northflank_async._core.planning import BudgetPlanner, JobLoad, _stretch, even_share


def load(i: int, active: bool, idle_for: float = 0.0) -> JobLoad:
    return JobLoad(project_id="p", job_id=f"j{i}", active=active, idle_for=idle_for)


class TestEvenShare:
    def test_figures_of_the_issue(self) -> None:
        """20 jobs at 500 an hour: 144 s; 5 jobs at 36,000: floored at MIN_POLL_INTERVAL."""
        assert even_share(20, 500) == pytest.approx(144.0)
        assert even_share(5, 36_000) == MIN_POLL_INTERVAL
        assert even_share(20, 500, requests_per_poll=2) == pytest.approx(288.0)
        assert even_share(0, 500) == MIN_POLL_INTERVAL

    @pytest.mark.parametrize(
        ("n_jobs", "budget", "per_poll"),
        [(-1, 500, 1.0), (1.5, 500, 1.0), (True, 500, 1.0), (1, 0, 1.0), (1, 500, 0.5)],
    )
    def test_bad_arguments(self, n_jobs: int, budget: int, per_poll: float) -> None:
        """Impossible arguments are a ValueError."""
        with pytest.raises(ValueError):  # noqa: PT011 - each case names a different argument
            even_share(n_jobs, budget, per_poll)


class TestIdleInterval:
    def test_generous_budget_is_used(self) -> None:
        """36,000 an hour over 5 jobs: every job at the floor (1 s), idle or not, not 40-300 s."""
        planner = BudgetPlanner(budget_per_hour=36_000)
        for idle_for in (0.0, 60.0, 10_000.0):
            assert planner.idle_interval(idle_for, 5) == 1.0
        plan = planner.plan([load(i, i == 0, 10_000.0) for i in range(5)])
        assert [e.interval for e in plan.jobs] == [1.0] * 5
        assert plan.expected_per_hour <= 36_000

    def test_idle_interval_never_beyond_the_share(self) -> None:
        """20 jobs at 500 an hour: an idle job waits at most 144 s, however long it is idle."""
        planner = BudgetPlanner(budget_per_hour=500, floor=10)
        intervals = [planner.idle_interval(t, 20) for t in (0, 60, 200, 1000, 10_000)]
        assert intervals == [40.0, 70.0, 140.0, 144.0, 144.0]
        plan = planner.plan([load(i, i < 2, 10_000.0) for i in range(20)])
        assert max(e.interval for e in plan.jobs) == pytest.approx(144.0)

    def test_backoff_below_the_share(self) -> None:
        """Under a tight budget (a long share) an idle job still backs off to idle_cap."""
        planner = BudgetPlanner(budget_per_hour=60, floor=10)
        assert [planner.idle_interval(t, 20) for t in (0, 200, 10_000)] == [40.0, 140.0, 300.0]

    def test_a_longer_floor_is_kept(self) -> None:
        """A floor longer than the share is kept: no job is polled more often than asked."""
        planner = BudgetPlanner(budget_per_hour=3600, floor=60, idle_cap=60)
        assert planner.share(1) == 60.0
        assert [e.interval for e in planner.plan([load(0, False, 500.0)]).jobs] == [60.0]


class TestStretch:
    def test_fits(self) -> None:
        """Desired intervals that fit the usable budget are kept."""
        assert _stretch([10.0, 40.0], [1, 1], cap=100.0, usable=500.0) == [10.0, 40.0]

    def test_stretched_up_to_the_cap(self) -> None:
        """Over budget: one factor for every interval, none beyond the cap."""
        intervals = _stretch([10.0, 40.0, 90.0], [1, 1, 1], cap=100.0, usable=3600 * 0.1)
        assert sum(3600 / i for i in intervals) == pytest.approx(360.0)
        assert intervals[2] == pytest.approx(100.0)
        assert intervals[1] == pytest.approx(4 * intervals[0])

    def test_a_job_with_its_runs_weighs_twice(self) -> None:
        """A job that costs two requests a poll counts twice against the usable budget."""
        intervals = _stretch([10.0, 10.0], [2, 1], cap=1000.0, usable=360.0)
        assert sum(w * 3600 / i for w, i in zip([2, 1], intervals, strict=True)) == (
            pytest.approx(360.0)
        )
        assert intervals[0] == pytest.approx(intervals[1])

    def test_all_at_the_cap(self) -> None:
        """When even every job at the cap polls more than usable, every job is at the cap."""
        assert _stretch([1.0, 5.0], [1, 1], cap=144.0, usable=40.0) == [144.0, 144.0]


@settings(max_examples=100, deadline=None)
@given(
    budget=st.integers(1, 50_000),
    floor=st.floats(MIN_POLL_INTERVAL, 60),
    reserve=st.sampled_from([0.0, 0.05, 0.5]),
    loads=st.lists(st.tuples(st.booleans(), st.floats(0, 100_000)), min_size=1, max_size=60),
)
def test_planned_rate_within_budget_and_idle_within_share(
    budget: int, floor: float, reserve: float, loads: list[tuple[bool, float]]
) -> None:
    """Whatever the jobs: the plan polls at most the budget an hour, no interval under the
    floor, no idle interval beyond max(floor, even share), active jobs no slower than idle."""
    planner = BudgetPlanner(
        budget_per_hour=budget, floor=floor, idle_cap=floor * 30, reserve=reserve
    )
    plan = planner.plan(load(i, active, idle) for i, (active, idle) in enumerate(loads))
    share = max(floor, even_share(len(loads), budget))
    polls = sum(3600 / e.interval for e in plan.jobs)
    assert polls <= budget * (1 + 1e-9)
    assert plan.expected_per_hour <= budget
    assert all(e.interval >= floor * (1 - 1e-12) for e in plan.jobs)
    assert all(e.interval <= share * (1 + 1e-9) for e in plan.jobs if not e.active)
    actives = [e.interval for e in plan.jobs if e.active]
    idles = [e.interval for e in plan.jobs if not e.active]
    if actives and idles:
        assert max(actives) <= min(idles) * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(
    desired=st.lists(st.floats(1, 10_000), min_size=1, max_size=40),
    cap=st.floats(1, 20_000),
    usable=st.floats(1, 100_000),
)
def test_stretch_spends_at_most_usable_or_sits_at_the_cap(
    desired: list[float], cap: float, usable: float
) -> None:
    """A stretched plan polls at most ``usable`` an hour unless every job sits at the cap."""
    desired = [min(d, cap) for d in desired]
    intervals = _stretch(desired, [1] * len(desired), cap=cap, usable=usable)
    rate = sum(3600 / i for i in intervals)
    for d, i in zip(desired, intervals, strict=True):
        assert d <= i * (1 + 1e-12) and i <= cap * (1 + 1e-12)
    if intervals != [cap] * len(desired):
        assert rate <= usable * (1 + 1e-9)
