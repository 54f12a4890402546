"""Every test in tests/system carries the `system` marker: `-m "not system"` skips them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
