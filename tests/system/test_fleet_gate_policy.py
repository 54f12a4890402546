"""Which answer the fleet's gate believes, in a real redis-server: the latest window, and 2000
builds listed through 30% faults after a 429 that follows a long window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from northflank_async import (
    NorthflankClient,
    RedisCoordinator,
)
from northflank_async._core.fleet import Told
from northflank_async.testing import FakeNorthflank

from ._redis import running_redis


@pytest.fixture
async def coordinator() -> AsyncIterator[RedisCoordinator]:
    with running_redis() as server:
        async with RedisCoordinator.from_url(server.url, namespace="policy") as coord:
            yield coord


async def test_the_fleet_believes_the_latest_answers_window(coordinator: RedisCoordinator) -> None:
    """The store takes the window's end from the answer it hears last, earlier or later."""
    shared = coordinator.shared_budget("k")
    assert (await shared.reserve("p", 30)).probe
    await shared.settle("p", Told(limit=1000, remaining=999, reset=3600), cancelled=False)
    assert (await shared.reserve("a", 30)).go
    view = await shared.settle("a", Told(limit=1000, remaining=0, reset=1), cancelled=False)
    assert view.reset_in is not None and view.reset_in <= 1


async def test_a_fleet_lists_2000_builds_through_the_issues_429s(
    coordinator: RedisCoordinator,
) -> None:
    async with FakeNorthflank() as fake:
        fake.add_job("p", "j", builds=2000)
        fake.script("ok", 429)
        fake.faults(0.3, seed=1, kinds=(429, 500, 502, 503, 504, "drop"))
        async with NorthflankClient(
            fake.token,
            base_url=fake.base_url,
            coordinator=coordinator,
            backoff_base=0.001,
            backoff_max=0.01,
        ) as nf:
            builds = await nf.jobs.builds.list(project_id="p", job_id="j").collect()
        assert len(builds) == 2000
