"""Every test in tests/system carries the `system` marker: `-m "not system"` skips them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from northflank_async import RedisCoordinator

from ._redis import RedisServer, running_redis

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.system)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for one test (a module that needs its data kept across a restart
    overrides this with ``running_redis(persistent=True)``)."""
    with running_redis() as server:
        yield server


@pytest.fixture
async def coordinators(redis_server: RedisServer) -> AsyncIterator[list[RedisCoordinator]]:
    """Two coordinators on one server, each with its own connections: two replicas."""
    async with (
        RedisCoordinator.from_url(redis_server.url, namespace="t", recheck=0.2) as one,
        RedisCoordinator.from_url(redis_server.url, namespace="t", recheck=0.2) as two,
    ):
        yield [one, two]
