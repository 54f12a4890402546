"""The monitor's one loop: closing, errors and the budget alike, alone and in a group.

Every test runs twice: here with a monitor alone (`SoloLeadership`), and in
tests/system/test_monitor_loop_group.py with the only member of a monitoring group on a real
redis-server (`GroupLeadership`, the lease). One loop drives both
(``Monitor._run``); only the leadership differs, so what is written once behaves once: the
swallowed cancellation, the job dropped on a 404, the bug that ends the iteration, the
requests booked in the budget.
"""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from northflank_async import (
    ClientClosedError,
    Monitor,
    NorthflankClient,
    NotFoundError,
    RedisCoordinator,
)
from northflank_async.testing import FakeNorthflank

from .._support import SwallowingPoll

P = "proj"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@attrs.define
class Setup:
    mode: str
    fake: FakeNorthflank
    nf: NorthflankClient
    coordinator: RedisCoordinator | None

    def monitor(self) -> Monitor:
        # A job's first poll is due at once, its second a minute later: these tests need one.
        options: dict[str, Any] = {"floor": 60.0, "idle_cap": 60.0}
        if self.mode == "group":
            options |= {"group": "g", "lease": 5.0}
        return self.nf.monitor(3600, **options)


@pytest.fixture(params=["solo"])
def setup(
    request: pytest.FixtureRequest,
    northflank_fake: FakeNorthflank,
    northflank_client: NorthflankClient,
) -> Setup:
    """A monitor alone; tests/system/test_monitor_loop_group.py runs these tests in a group."""
    return Setup(request.param, northflank_fake, northflank_client, None)


def monitor_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t.get_name() == "northflank-async-monitor"}


async def test_one_loop_polls_alone_and_in_a_group(setup: Setup) -> None:
    setup.fake.add_job(P, "j", builds=1)
    async with setup.monitor() as monitor:
        monitor.watch_job(P, "j")
        (task,) = monitor_tasks()
        assert task.get_coro().__qualname__ == "Monitor._run"  # type: ignore[union-attr]
        await monitor.ready()
        assert monitor.leading is (setup.mode == "group")  # alone, there is no lease to hold
    assert monitor_tasks() == set()


async def test_a_swallowed_cancellation_ends_the_loop_at_its_next_turn(setup: Setup) -> None:
    """aclose() returns, and the loop polls no more, although the poll kept its cancellation."""
    setup.fake.add_job(P, "j", builds=1)
    monitor = setup.monitor()
    poll = SwallowingPoll()
    monitor._poll = poll  # type: ignore[method-assign]
    monitor.watch_job(P, "j")
    async with monitor:
        await poll.polled.wait()
        await asyncio.wait_for(monitor.aclose(), 60)  # a guard, not a measure
    assert (len(poll.swallowed), len(poll.polls)) == (1, 1)
    assert monitor_tasks() == set()
    assert not monitor.leading
    assert [event async for event in monitor] == []
    if setup.coordinator is not None:  # the lease was given up
        channel = setup.coordinator.group_channel("g")
        assert await channel.acquire("another", 5.0) is not None


async def test_a_missing_job_is_raised_once_and_the_others_go_on(setup: Setup) -> None:
    (old,) = setup.fake.add_job(P, "j", builds=1)
    async with setup.monitor() as monitor:
        monitor.watch_job(P, "nope")
        monitor.watch_job(P, "j", since=LONG_AGO)
        await monitor.ready()  # "nope" was polled first (ties go to the job watched first)
        with pytest.raises(NotFoundError) as info:
            await monitor.__anext__()
        assert any("proj/nope" in note for note in info.value.__notes__)
        assert monitor.jobs == [(P, "j")]
        event = await monitor.__anext__()
    assert (event.kind, event.build.id, event.job_id) == ("created", old["id"], "j")


async def test_a_bug_in_the_loop_ends_the_iteration(setup: Setup) -> None:
    setup.fake.add_job(P, "j", builds=1)
    monitor = setup.monitor()

    async def poll(job: object) -> None:
        raise RuntimeError("a bug under a poll")

    monitor._poll = poll  # type: ignore[method-assign]
    monitor.watch_job(P, "j")
    async with monitor:
        with pytest.raises(ClientClosedError, match="stopped before it was ready"):
            await monitor.ready()
        with pytest.raises(RuntimeError, match="a bug under a poll"):
            await monitor.__anext__()
    assert monitor_tasks() == set()


async def test_a_loop_ended_by_a_bug_leaves_no_error_unretrieved(setup: Setup) -> None:
    """The bug is raised from the iteration; closing collects the loop's task, so asyncio has
    no "Task exception was never retrieved" to report when the task is freed."""
    reported: list[str] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _, context: reported.append(context["message"])
    )
    setup.fake.add_job(P, "j", builds=1)
    monitor = setup.monitor()

    async def poll(job: object) -> None:
        raise RuntimeError("a bug under a poll")

    monitor._poll = poll  # type: ignore[method-assign]
    monitor.watch_job(P, "j")
    async with monitor:
        with pytest.raises(RuntimeError, match="a bug under a poll"):
            await monitor.__anext__()
    del monitor
    gc.collect()
    assert reported == []


async def test_every_request_is_booked_in_the_budget(setup: Setup) -> None:
    setup.fake.add_job(P, "j", builds=1)
    setup.fake.add_job(P, "k", builds=1)
    async with setup.monitor() as monitor:
        monitor.watch_job(P, "j")
        monitor.watch_job(P, "k", since=setup.fake.builds(P, "k")[0]["id"])  # one get, one list
        await monitor.ready()
        assert monitor.requests == 3
        assert monitor.plan.spent_this_hour == 3
    builds = [r for r in setup.fake.requests if "/build" in r.path]
    assert len(builds) == 3
