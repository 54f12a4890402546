"""The hybrid monitor's pure decisions (``_core.push``): a notification settled or not, the
fallback to polling and back, the reconciling plan. No sockets, no event loop."""

from __future__ import annotations

from typing import Any

import pytest

from northflank_async import BuildStatus, JobBuild, JobRun, RunStatus, WebhookEvent
from northflank_async._core.planning import HOUR, JobLoad
from northflank_async._core.push import PushHealth, reconcile_plan, settled_build, settled_run


def _status(fields: dict[str, Any], statuses: type[BuildStatus] | type[RunStatus]) -> None:
    """A known status as its enum, as decoding makes it; an unknown one stays a string."""
    status = fields.get("status")
    if isinstance(status, str) and status in statuses.__members__.values():
        fields["status"] = statuses(status)


def build_event(kind: str, **fields: Any) -> WebhookEvent:
    _status(fields, BuildStatus)
    build = JobBuild(id="b", **fields)
    return WebhookEvent(event_id="e", kind=kind, job_id="j", project_id="p", build=build)


def run_event(kind: str, **fields: Any) -> WebhookEvent:
    _status(fields, RunStatus)
    run = JobRun(id="r", **fields)
    return WebhookEvent(event_id="e", kind=kind, job_id="j", project_id="p", run=run)


class TestSettled:
    @pytest.mark.parametrize(
        ("kind", "fields"),
        [
            ("build:success", {"status": "SUCCESS", "concluded": True}),
            ("build:failure", {"status": "FAILURE", "concluded": True}),
            ("build:abort", {"status": "ABORTED", "concluded": True}),
            ("build:success", {"status": "SUCCESS"}),  # an end with no flag: its status tells
            ("build:start", {"status": "BUILDING", "concluded": False}),
        ],
    )
    def test_a_build_told_well_enough_is_trusted(self, kind: str, fields: Any) -> None:
        event = build_event(kind, **fields)
        assert settled_build(event) is event.build

    @pytest.mark.parametrize(
        ("kind", "fields"),
        [
            ("build:success", {}),  # no status
            ("build:success", {"status": "NEW-STATUS", "concluded": True}),  # unknown status
            ("build:start", {"status": "BUILDING"}),  # a start with no flag
            ("build:success", {"status": "BUILDING", "concluded": True}),  # flag vs status
            ("build:success", {"status": "BUILDING"}),  # an end whose build says it runs
            ("build:start", {"status": "SUCCESS", "concluded": True}),  # a start that ended
            ("build:success", {"status": "SUCCESS", "concluded": False}),
        ],
    )
    def test_a_build_not_told_is_settled_by_a_get(self, kind: str, fields: Any) -> None:
        assert settled_build(build_event(kind, **fields)) is None

    def test_no_build_or_another_type_is_not_a_build(self) -> None:
        assert settled_build(WebhookEvent(event_id="e", kind="build:success")) is None
        assert settled_build(run_event("job-run:success", status="SUCCESS")) is None

    @pytest.mark.parametrize(
        ("kind", "fields", "told"),
        [
            ("job-run:success", {"status": "SUCCESS", "concluded": True}, True),
            ("job-run:failure", {"status": "FAILED", "concluded": True}, True),
            ("job-run:failure", {"status": "FAILED"}, True),
            ("job-run:terminate", {"status": "FAILED", "concluded": True}, True),
            ("job-run:start", {"status": "RUNNING", "concluded": False}, True),
            ("job-run:start", {"status": "RUNNING"}, False),
            ("job-run:success", {}, False),
            ("job-run:success", {"status": "RUNNING"}, False),
            ("job-run:failure", {"status": "PENDING-ISH", "concluded": True}, False),
        ],
    )
    def test_runs_are_settled_as_builds(self, kind: str, fields: Any, told: bool) -> None:
        event = run_event(kind, **fields)
        assert settled_run(event) is (event.run if told else None)
        assert settled_build(event) is None

    def test_a_run_notification_without_a_run_is_not_settled(self) -> None:
        assert settled_run(WebhookEvent(event_id="e", kind="job-run:success")) is None
        assert settled_run(build_event("build:success", status="SUCCESS")) is None


class TestPushHealth:
    def test_falls_back_at_the_threshold_of_polls_first_and_once(self) -> None:
        health = PushHealth()  # 8 of the last 10
        changes = [health.outcome(pushed=False) for _ in range(7)]
        assert changes == [False] * 7 and not health.failing
        assert health.outcome(pushed=False) is True and health.failing
        assert [health.outcome(pushed=False) for _ in range(20)] == [False] * 20
        assert health.failing and health.polled == 28 and health.pushed == 0

    def test_recovers_once_notifications_tell_outcomes_again(self) -> None:
        health = PushHealth(window=10, threshold=8, recover=5)
        for _ in range(8):
            health.outcome(pushed=False)
        assert health.failing
        assert [health.outcome(pushed=True) for _ in range(4)] == [False] * 4
        assert health.outcome(pushed=True) is True and not health.failing
        assert health.pushed == 5

    def test_losses_spread_among_pushed_outcomes_never_fall_back(self) -> None:
        health = PushHealth()
        for n in range(1000):  # one outcome in 5 found by a poll (20% of ends lost)
            assert health.outcome(pushed=n % 5 != 0) is False
        assert not health.failing

    def test_mixed_window_at_the_threshold(self) -> None:
        health = PushHealth(window=10, threshold=8)
        for pushed in [True, True] + [False] * 7:
            assert health.outcome(pushed=pushed) is False  # 7 of 9
        assert health.outcome(pushed=False) is True  # 8 of 10

    @pytest.mark.parametrize(("threshold", "recover"), [(0, 5), (11, 5), (8, 0), (8, 11)])
    def test_thresholds_out_of_the_window_are_refused(self, threshold: int, recover: int) -> None:
        with pytest.raises(ValueError, match="threshold and recover"):
            PushHealth(window=10, threshold=threshold, recover=recover)


class TestReconcilePlan:
    def loads(self, n: int, requests: int = 1) -> list[JobLoad]:
        return [
            JobLoad(project_id="p", job_id=f"j{i}", active=i == 0, requests=requests)
            for i in range(n)
        ]

    def test_every_job_once_per_reconcile_whatever_the_budget_allows(self) -> None:
        plan = reconcile_plan(self.loads(20), reconcile=600, budget_per_hour=500, spent_this_hour=3)
        assert {e.interval for e in plan.jobs} == {600.0}
        assert [e.active for e in plan.jobs][:2] == [True, False]
        assert plan.webhooks == "on" and plan.reconcile == 600.0 and plan.spent_this_hour == 3
        assert plan.expected_per_hour == pytest.approx(20 * 6 + 500 * 0.05)

    def test_a_generous_budget_does_not_pull_the_interval_down(self) -> None:
        plan = reconcile_plan(
            self.loads(5), reconcile=600, budget_per_hour=36_000, spent_this_hour=0
        )
        assert {e.interval for e in plan.jobs} == {600.0}

    def test_a_budget_too_small_stretches_every_job_evenly(self) -> None:
        plan = reconcile_plan(self.loads(100), reconcile=60, budget_per_hour=200, spent_this_hour=0)
        (interval,) = {e.interval for e in plan.jobs}
        assert interval == pytest.approx(100 * HOUR / (200 * 0.95))
        assert plan.expected_per_hour <= 200

    def test_jobs_with_runs_cost_two_requests_a_poll(self) -> None:
        plan = reconcile_plan(
            self.loads(100, requests=2), reconcile=60, budget_per_hour=200, spent_this_hour=0
        )
        (interval,) = {e.interval for e in plan.jobs}
        assert interval == pytest.approx(200 * HOUR / (200 * 0.95))
        assert plan.expected_per_hour == pytest.approx(200.0)

    def test_no_job(self) -> None:
        plan = reconcile_plan([], reconcile=600, budget_per_hour=500, spent_this_hour=0)
        assert plan.jobs == () and plan.expected_per_hour == 0.0
