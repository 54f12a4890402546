"""Job runs watched by a monitoring group on a real redis-server: run events travel in the
group's stream, and a new leader goes on from the stored position."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from northflank_async import NorthflankClient, RedisCoordinator
from northflank_async.testing import FakeNorthflank

from ..client.test_monitor_runs import JOBS, P, check_each_once, run_events
from ._redis import RedisServer, running_redis


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with running_redis(persistent=True) as server:
        yield server


@pytest.fixture
async def coordinator(redis_server: RedisServer) -> AsyncIterator[RedisCoordinator]:
    async with RedisCoordinator.from_url(redis_server.url, namespace="runs") as coord:
        yield coord


async def test_in_a_group_run_events_travel_and_a_new_leader_goes_on_from_the_position(
    coordinator: RedisCoordinator,
) -> None:
    """Member A leads and reports two runs, then leaves; two more runs start while no member
    runs; member B loads the runs' position from the store and reports exactly those two."""

    def start_runs(fake: FakeNorthflank) -> dict[str, str]:
        fresh: dict[str, str] = {}
        for outcome in ("SUCCESS", "FAILED"):
            run = fake.add_run(P, JOBS[0])
            fake.set_run_outcome(run["id"], outcome)
            fresh[run["id"]] = outcome
        return fresh

    async with FakeNorthflank(rate_limit=None) as fake:
        fake.add_job(P, JOBS[0], runs=2)
        fake.configure_runs(step=0.1)  # real time: a run concludes 0.3 s after it starts
        async with NorthflankClient(
            fake.token, base_url=fake.base_url, coordinator=coordinator
        ) as nf:
            first = nf.monitor(3600, floor=1.0, group="g", lease=5.0, runs=True)
            first.watch_job(P, JOBS[0], runs=True)
            async with first:
                await asyncio.wait_for(first.ready(), 60)  # a guard, not a measure
                by_first = start_runs(fake)
                got_first = await run_events(first, 2, within=60)
            by_second = start_runs(fake)  # no member polls: only B's restored position tells
            second = nf.monitor(3600, floor=1.0, group="g", lease=5.0, runs=True)
            second.watch_job(P, JOBS[0], runs=True)
            async with second:
                got_second = await run_events(second, 2, within=60)
    check_each_once(got_first, by_first)
    check_each_once(got_second, by_second)
