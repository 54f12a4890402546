"""The monitor watches job runs too (``watch_job(..., runs=True)``): `RunEvent` by polls alone.

Each run's ``concluded`` exactly once, after its ``created``; failed runs as failed; the runs'
list requests within the budget and in the plan; ``runs=False`` (the default) asks no run;
in a group, run events travel through the group's stream and its positions like build events.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime

import attrs
import pytest

from northflank_async import (
    BuildEvent,
    JobBuild,
    JobRun,
    Monitor,
    RunEvent,
    RunStatus,
)
from northflank_async._core.fleet import decode_event, encode_event
from northflank_async._core.planning import BudgetPlanner, JobLoad
from northflank_async._core.trackers import RunTracker
from northflank_async.testing import FakeNorthflank

from .._virtual import most_in_any_window, on_virtual_clock, virtual_client

P = "proj"
JOBS = ("nightly", "cron")
RUNS = 8
STEP = 20.0  # a run concludes three stages (60 s of the fake's clock) after it starts


def run_paths(fake: FakeNorthflank) -> list[str]:
    return [r.path for r in fake.requests if "/runs" in r.path]


async def run_events(
    monitor: Monitor[BuildEvent | RunEvent], concluded: int, within: float
) -> list[RunEvent]:
    """The run events until ``concluded`` runs concluded (virtual seconds at most)."""
    got: list[RunEvent] = []
    async with asyncio.timeout(within):
        async for event in monitor:
            assert isinstance(event, RunEvent), event  # no build is made in these tests
            got.append(event)
            if sum(e.kind == "concluded" for e in got) == concluded:
                break
    return got


def check_each_once(events: list[RunEvent], outcomes: dict[str, str]) -> None:
    """Every run of ``outcomes``: created once, then concluded once with its outcome, last."""
    by_run: dict[str, list[RunEvent]] = {}
    for event in events:
        by_run.setdefault(event.run.id, []).append(event)
    assert set(by_run) == set(outcomes)  # nothing from the history, nothing else
    for run_id, seen in by_run.items():
        kinds = [e.kind for e in seen]
        assert kinds[0] == "created" and kinds.count("created") == 1
        assert kinds[-1] == "concluded" and kinds.count("concluded") == 1
        last = seen[-1].run
        assert last.is_concluded and last.status == outcomes[run_id]
        assert all(e.project_id == P and e.job_id in JOBS for e in seen)


@on_virtual_clock
async def test_two_jobs_report_each_of_8_runs_outcome_once_by_polls() -> None:
    async with FakeNorthflank() as fake:
        for job in JOBS:
            fake.add_job(P, job, runs=3)  # history: concluded before the watch, not reported
        fake.configure_runs(step=STEP)
        async with virtual_client(fake) as nf, nf.monitor(3600, floor=5.0, runs=True) as monitor:
            for job in JOBS:
                monitor.watch_job(P, job, runs=True)
            await monitor.ready()
            outcomes: dict[str, str] = {}
            for n in range(RUNS):
                run = fake.add_run(P, JOBS[n % 2])
                outcome = "FAILED" if n % 3 == 0 else "SUCCESS"
                fake.set_run_outcome(run["id"], outcome)
                outcomes[run["id"]] = outcome
                await asyncio.sleep(7.0)  # virtual: runs overlap, and some start mid-poll
            events = await run_events(monitor, RUNS, within=3600)
            # Nothing more comes for them: a concluded run never goes back.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(600):
                    await monitor.__anext__()
    check_each_once(events, outcomes)
    failed = [e.run for e in events if e.kind == "concluded" and e.run.status == "FAILED"]
    assert len(failed) == 3 and all(run.failed == 1 for run in failed)
    assert Counter(e.job_id for e in events if e.kind == "concluded") == {"nightly": 4, "cron": 4}


@on_virtual_clock
async def test_runs_false_asks_for_no_run_and_runs_true_reads_them_at_each_poll() -> None:
    async with FakeNorthflank() as fake:
        for job in JOBS:
            fake.add_job(P, job, builds=2, runs=2)
        async with virtual_client(fake) as nf:
            async with nf.monitor(3600, floor=5.0, runs=True) as monitor:
                monitor.watch_job(P, JOBS[0])  # the default: builds only
                monitor.watch(nf.job(P, JOBS[1]), runs=False)
                await monitor.ready()
                await asyncio.sleep(600)
                assert monitor.requests > 2
            assert run_paths(fake) == []
            fake.reset_stats()
            async with nf.monitor(3600, floor=5.0, runs=True) as monitor:
                monitor.watch_job(P, JOBS[0], runs=True)
                await monitor.ready()
                await asyncio.sleep(600)
            builds = [r for r in fake.requests if r.path.endswith("/build")]
            assert len(run_paths(fake)) == len(builds) > 2  # one runs list per poll
            assert monitor.requests == len(fake.requests)


@on_virtual_clock
async def test_the_runs_requests_are_in_the_budget_and_in_the_plan() -> None:
    budget = 60
    async with FakeNorthflank(rate_limit=None) as fake:
        for job in JOBS:
            fake.add_job(P, job, runs=1)
        fake.configure_runs(step=STEP)
        async with virtual_client(fake) as nf, nf.monitor(budget, floor=5.0, runs=True) as monitor:
            for job in JOBS:
                monitor.watch_job(P, job, runs=True)
            await monitor.ready()
            for n in range(4):  # keeps the jobs active: they want a poll every floor
                fake.add_run(P, JOBS[n % 2])
                await asyncio.sleep(900)
            await asyncio.sleep(3600)
            plan = monitor.plan
            assert monitor.requests == len(fake.requests)
    times = [r.at for r in fake.requests if r.at is not None]
    assert most_in_any_window(times) <= budget  # the runs lists count against the budget
    assert len(run_paths(fake)) > 10
    assert plan.expected_per_hour <= budget
    # Each poll is two requests: the intervals the plan gives keep the spend in the budget.
    polls = sum(3600 / entry.interval for entry in plan.jobs)
    assert 2 * polls <= budget


def test_the_planner_counts_two_requests_for_a_job_watched_with_its_runs() -> None:
    planner = BudgetPlanner(budget_per_hour=100, floor=10.0, reserve=0.0)
    alone = planner.plan([JobLoad(project_id=P, job_id="j", active=True)])
    both = planner.plan([JobLoad(project_id=P, job_id="j", active=True, requests=2)])
    assert alone.jobs[0].interval == both.jobs[0].interval / 2 == 36.0  # 100 an hour
    assert alone.expected_per_hour == both.expected_per_hour == 100
    idle = planner.plan([JobLoad(project_id=P, job_id="j", active=False, requests=2)])
    assert idle.expected_per_hour == 2 * 3600 / idle.jobs[0].interval


# -- the tracker and the group's stream (pure) -----------------------------------------------


def _run(n: int, status: RunStatus = RunStatus.RUNNING) -> JobRun:
    return JobRun(
        id=f"r{n}",
        status=status,
        concluded=status is not RunStatus.RUNNING,
        started_at=datetime(2026, 1, 1, 0, n, tzinfo=UTC),
    )


def _poll(tracker: RunTracker, page: list[JobRun]) -> list[tuple[str, str]]:
    poll = tracker.begin_poll()
    poll.add_page(page, has_next_page=False)
    return [(e.kind, e.run.id) for e in tracker.commit(poll)]


def test_a_run_tracker_is_the_build_tracker_over_runs_and_its_position_lasts() -> None:
    tracker = RunTracker(P, "j")
    assert _poll(tracker, [_run(1, RunStatus.SUCCESS)]) == []  # the snapshot
    assert _poll(tracker, [_run(3), _run(2, RunStatus.FAILED), _run(1)]) == [
        ("created", "r2"),
        ("concluded", "r2"),
        ("created", "r3"),
    ]
    restored = RunTracker.from_position(P, "j", json.loads(json.dumps(tracker.position())))
    assert restored.tracked.keys() == {"r3"} and restored.tracked["r3"].status is RunStatus.RUNNING
    page = [_run(3, RunStatus.FAILED), _run(2, RunStatus.FAILED), _run(1)]
    assert _poll(restored, page) == [("concluded", "r3")]
    assert _poll(restored, page) == []  # never again, never back


def test_a_run_event_survives_the_group_stream() -> None:
    run = JobRun(
        id="r7",
        status=RunStatus.FAILED,
        concluded=True,
        succeeded=0,
        failed=1,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        concluded_at=datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
        run_name="nightly-00007",
    )
    back = decode_event(encode_event(RunEvent("concluded", run, P, "j")))
    assert back == RunEvent("concluded", attrs.evolve(run, run_name=None), P, "j")  # status only
    build = BuildEvent("created", JobBuild(id="b1"), P, "j")
    assert decode_event(encode_event(build)) == build  # a build's event is still one


# -- in a group (a real redis-server; real time: runs conclude in a fraction of a second) ------


def test_cli_prints_run_events_in_both_formats() -> None:
    from northflank_async.cli.monitor import _line

    run = JobRun(id="run-1\x1b[2J", status=RunStatus.FAILED, concluded=True)
    event = RunEvent("concluded", run, P, "nightly")
    seen = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert json.loads(_line(event, "jsonl", seen)) == {
        "time": "2026-12-07T14:00:00Z",
        "kind": "concluded",
        "project_id": P,
        "job_id": "nightly",
        "run_id": "run-1\x1b[2J",
        "status": "FAILED",
    }
    table = _line(event, "table", seen)
    assert table.split() == [
        "2026-12-07T14:00:00Z",
        "concluded",
        "nightly",
        "run",
        "run-1\\x1b[2J",
        "FAILED",
    ]
    assert "\x1b" not in table  # the API's text is shown, never obeyed


@pytest.mark.usefixtures("virtual_cli")
def test_cli_monitor_runs_watches_the_runs_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from northflank_async.cli import main

    watched: list[bool] = []
    watch_job = Monitor.watch_job

    def spy(self: Monitor, *args: object, runs: bool = False, **kwargs: object) -> None:
        watched.append(runs)
        watch_job(self, *args, runs=runs, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Monitor, "watch_job", spy)
    assert main(["monitor", "--fake", "--runs", "--format", "jsonl", "--max-events", "2"]) == 0
    assert watched == [True, True]  # the demo's two jobs
    assert main(["monitor", "--fake", "--format", "jsonl", "--max-events", "2"]) == 0
    assert watched[2:] == [False, False]
    assert "requests sent" in capsys.readouterr().err
