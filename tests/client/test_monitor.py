"""The monitor, shared waits and the fake's own activity, on a virtual clock (looptime).

Client and fake run on one loop whose clock jumps while every task sleeps and stands still
while an answer is in flight (``tests/_virtual.py``), so simulated hours take seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections import Counter, defaultdict

import pytest

from northflank_async import BuildEvent, BuildStatus, Monitor, NotFoundError
from northflank_async.testing import FakeNorthflank

from .._support import SwallowingPoll
from .._virtual import most_in_any_window, on_virtual_clock, virtual_client

P = "proj"


def _assert_each_once(events: list[BuildEvent], expected: set[str]) -> None:
    created = Counter(e.build.id for e in events if e.kind == "created")
    concluded = Counter(e.build.id for e in events if e.kind == "concluded")
    assert set(concluded) == expected and set(concluded.values()) == {1}
    assert set(created) >= expected and set(created.values()) == {1}
    order = {(e.kind, e.build.id): i for i, e in enumerate(events)}
    for build_id in expected:
        assert order[("created", build_id)] <= order[("concluded", build_id)]


class TestSharedWaits:
    @on_virtual_clock
    async def test_fifty_waits_on_one_job_cost_one_or_two_requests_per_round(self) -> None:
        async with FakeNorthflank() as fake:
            fake.add_job(P, "ci", builds=5)
            fake.configure_builds(step=30.0)
            ids = [fake.add_build(P, "ci")["id"] for _ in range(50)]
            async with virtual_client(fake) as nf:
                fake.reset_stats()
                job = nf.job(P, "ci")
                done = await asyncio.gather(*(job.builds.wait(b, poll_interval=5) for b in ids))
            rounds = Counter(r.at for r in fake.requests)
        assert [b.status for b in done] == [BuildStatus.SUCCESS] * 50
        assert len(rounds) >= 5  # several rounds of polls happened...
        assert set(rounds.values()) <= {1, 2}  # ...each one list request (plus a get at most)
        assert fake.request_count < 3 * len(rounds)

    @on_virtual_clock
    async def test_waiters_off_the_page_cost_a_get_each(self) -> None:
        """A build not on the newest page is read with a get; the others still share."""
        async with FakeNorthflank() as fake:
            old = fake.add_job(P, "ci", builds=120)[-1]["id"]  # past the first page of 100
            fake.configure_builds(step=30.0)
            new = fake.add_build(P, "ci")["id"]
            async with virtual_client(fake) as nf:
                fake.reset_stats()
                job = nf.job(P, "ci")
                first, second = await asyncio.gather(
                    job.builds.wait(old, poll_interval=5), job.builds.wait(new, poll_interval=5)
                )
        assert (first.id, second.id) == (old, new)
        last = [r.path.rsplit("/", 1)[-1] for r in fake.requests]
        # The first round: one list (it shows the new build) and a get of the old one; once
        # the old one is done the new one waits alone and is read with a get, as before.
        assert last[:2] == ["build", old] and last.count(old) == 1
        assert set(last[2:]) == {new}

    @on_virtual_clock
    async def test_a_read_due_a_hair_after_its_timer_is_still_served(self) -> None:
        """A timer may fire up to the loop's clock resolution early; on a clock that counts in
        ticks (looptime's) measuring again finds the read a hair short of due for ever. The
        poller must serve it, not spin (it did in test_workflows, by float rounding)."""
        from northflank_async import JobBuild
        from northflank_async._core.converter import decode
        from northflank_async._core.models import Page
        from northflank_async._engine.coalesce import JobPoller

        from ..conftest import wire_build

        async def get(build_id: str) -> JobBuild:
            return decode(wire_build(1, id=build_id), JobBuild)

        async def no_list(cursor: str | None) -> Page[JobBuild]:
            raise AssertionError("one waiter is read with a get")

        poller = JobPoller(get, no_list)
        loop = asyncio.get_running_loop()
        read = loop.create_task(poller.read("build-1", due=loop.time() + 1e-10))
        for _ in range(1000):  # turns of the loop, not time: a spinning poller never ends
            if read.done():
                break
            await asyncio.sleep(0)
        done = read.done()
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)
        assert done and read.result().id == "build-1"


class TestMonitor:
    @on_virtual_clock
    async def test_three_idle_jobs_one_request_per_poll_backing_off(self) -> None:
        async with FakeNorthflank() as fake:
            jobs = ["a", "b", "c"]
            for job in jobs:
                fake.add_job(P, job, builds=3)
            async with virtual_client(fake) as nf, nf.monitor(100) as monitor:
                for job in jobs:
                    monitor.watch_job(P, job)
                await monitor.ready()
                await asyncio.sleep(1.5 * 3600)
                plan = monitor.plan
        by_job: dict[str, list[float]] = defaultdict(list)
        for request in fake.requests:
            assert request.method == "GET" and request.path.endswith("/build")  # lists only
            assert request.at is not None
            by_job[request.path.split("/")[-2]].append(request.at)
        for times in by_job.values():
            gaps = [b - a for a, b in itertools.pairwise(times)]
            # Never beyond the jobs' even share (3 x 3600 / 100 = 108 s); before,
            # idle jobs backed off to 300 s.
            # (The ledger may hold a poll while the rolling hour is full: twice that at most.)
            assert statistics.median(gaps) <= 3 * 3600 / 100 + 1
            assert max(gaps) <= 2 * 3 * 3600 / 100
        assert [e.interval for e in plan.jobs] == pytest.approx([3 * 3600 / 100] * 3)
        last_hour = [t for times in by_job.values() for t in times if t > 1.5 * 3600 - 3600 + 1]
        assert plan.spent_this_hour == pytest.approx(len(last_hour), abs=3)

    @on_virtual_clock
    async def test_since_a_build_id_reports_the_builds_after_it(self) -> None:
        async with FakeNorthflank() as fake:
            history = fake.add_job(P, "ci", builds=10)
            async with virtual_client(fake) as nf, nf.monitor(500) as monitor:
                monitor.watch(nf.job(P, "ci"), since=history[3]["id"])
                got = [await monitor.__anext__() for _ in range(6)]
        newer = [b["id"] for b in reversed(history[:3])]
        assert [(e.kind, e.build.id) for e in got] == [
            (kind, b) for b in newer for kind in ("created", "concluded")
        ]
        assert [r.path.rsplit("/", 1)[-1] for r in fake.requests[:1]] == [history[3]["id"]]

    @on_virtual_clock
    async def test_a_missing_job_is_raised_once_and_the_others_go_on(self) -> None:
        async with FakeNorthflank() as fake:
            fake.add_job(P, "ci", builds=2)
            async with virtual_client(fake) as nf, nf.monitor(500) as monitor:
                monitor.watch_job(P, "nope")
                monitor.watch_job(P, "ci")
                await asyncio.sleep(1)
                with pytest.raises(NotFoundError) as info:
                    await monitor.__anext__()
                assert any("proj/nope" in note for note in info.value.__notes__)
                assert monitor.jobs == [(P, "ci")]
                await monitor.ready()
                build = fake.add_build(P, "ci", status="SUCCESS")
                event = await monitor.__anext__()
        assert (event.kind, event.build.id) == ("created", build["id"])

    @on_virtual_clock
    async def test_leaving_the_block_leaves_no_task(self) -> None:
        async with FakeNorthflank() as fake:
            fake.add_job(P, "ci", builds=2)
            async with virtual_client(fake) as nf:
                async with nf.monitor(500) as monitor:
                    monitor.watch_job(P, "ci")
                    await monitor.ready()
                names = {t.get_name() for t in asyncio.all_tasks()}
                assert "northflank-async-monitor" not in names
                assert [e async for e in monitor] == []

    @on_virtual_clock
    async def test_a_poll_that_swallows_its_cancellation_does_not_keep_it_running(self) -> None:
        """aclose() returns even when a library under a poll swallows the CancelledError."""
        async with FakeNorthflank() as fake:
            fake.add_job(P, "ci", builds=2)
            async with virtual_client(fake) as nf:
                monitor = nf.monitor(500)
                poll = SwallowingPoll()
                monitor._poll = poll  # type: ignore[method-assign]
                monitor.watch_job(P, "ci")
                async with monitor:
                    await poll.polled.wait()
                    # A guard, not a measure: before the fix the monitor polled on for ever.
                    await asyncio.wait_for(monitor.aclose(), 7200)
                assert (len(poll.swallowed), len(poll.polls)) == (1, 1)
                assert "northflank-async-monitor" not in {t.get_name() for t in asyncio.all_tasks()}

    @on_virtual_clock
    async def test_default_budget_is_half_the_announced_limit(self) -> None:
        async with FakeNorthflank(rate_limit=(1000, 3600.0)) as fake:
            fake.add_job(P, "ci", builds=2)
            async with virtual_client(fake) as nf, nf.monitor() as monitor:
                assert monitor.budget_per_hour == 500  # nothing announced yet: 500
                fake.set_rate_limit(300)
                monitor.watch_job(P, "ci")
                await monitor.ready()
                assert monitor.budget_per_hour == 150
                assert monitor.plan.budget_per_hour == 150

    @pytest.mark.parametrize("budget", [0, -1, True, 1.5])
    @on_virtual_clock
    async def test_bad_budget_refused(self, budget: object) -> None:
        async with FakeNorthflank() as fake, virtual_client(fake) as nf:
            with pytest.raises(ValueError, match="budget_per_hour"):
                nf.monitor(budget)  # type: ignore[call-overload]

    @on_virtual_clock
    async def test_outcomes_yields_each_concluded_build_once(self) -> None:
        async with FakeNorthflank() as fake:
            fake.add_job(P, "ci", builds=3)
            fake.configure_builds(step=20.0)
            async with virtual_client(fake) as nf:
                job = nf.job(P, "ci")
                newest = (await job.builds.list(limit=1).collect())[0]
                pushed = [fake.add_build(P, "ci")["id"] for _ in range(3)]
                fake.set_outcome(pushed[1], "FAILURE")
                outcomes = nf.jobs.builds.outcomes(project_id=P, job_id="ci", since=newest)
                got = [await outcomes.__anext__() for _ in range(3)]
                await outcomes.aclose()  # type: ignore[attr-defined]
        assert sorted(b.id for b in got) == sorted(pushed)
        assert {b.id: b.success for b in got}[pushed[1]] is False

    @on_virtual_clock
    async def test_follower_ready_then_new_builds(self) -> None:
        async with FakeNorthflank() as fake:
            fake.add_job(P, "ci", builds=3)
            async with virtual_client(fake) as nf:
                follower = nf.job(P, "ci").builds.follow(poll_interval=30)
                await follower.ready()
                new = fake.add_build(P, "ci")["id"]
                assert (await follower.__anext__()).id == new


class TestFakeActivity:
    @on_virtual_clock
    async def test_simulate_moves_running_builds_and_pushes_new_ones(self) -> None:
        async with FakeNorthflank() as fake:
            fake.add_job(P, "ci", builds=[{"id": "old", "status": "CLONING", "concluded": False}])
            fake.simulate(new_build_every=60, step=5, max_builds=4, seed=2)
            await asyncio.sleep(3600)
            builds = fake.builds(P, "ci")
        assert len(builds) == 5
        assert all(b["concluded"] for b in builds)
        assert builds[-1]["status"] == "SUCCESS"  # the historical CLONING build finished

    def test_most_in_any_window(self) -> None:
        assert most_in_any_window([0, 1, 3599, 3600, 3601]) == 3  # [t, t + 3600)
        assert most_in_any_window([0, 1, 3599, 3599.5]) == 4
        assert most_in_any_window([]) == 0


def test_monitor_is_exported() -> None:
    assert Monitor.__doc__
