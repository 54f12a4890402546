"""The monitor's one loop in a group: tests/client/test_monitor_loop.py's tests, run again with
the only member of a monitoring group on a real redis-server (`GroupLeadership`, the lease).

The tests are imported (pytest collects them here too); only the ``setup`` fixture differs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from northflank_async import NorthflankClient, RedisCoordinator
from northflank_async.testing import FakeNorthflank

from ..client.test_monitor_loop import (
    Setup,
    test_a_bug_in_the_loop_ends_the_iteration,
    test_a_loop_ended_by_a_bug_leaves_no_error_unretrieved,
    test_a_missing_job_is_raised_once_and_the_others_go_on,
    test_a_swallowed_cancellation_ends_the_loop_at_its_next_turn,
    test_every_request_is_booked_in_the_budget,
    test_one_loop_polls_alone_and_in_a_group,
)
from ._redis import RedisServer, require_redis

__all__ = [
    "test_a_bug_in_the_loop_ends_the_iteration",
    "test_a_loop_ended_by_a_bug_leaves_no_error_unretrieved",
    "test_a_missing_job_is_raised_once_and_the_others_go_on",
    "test_a_swallowed_cancellation_ends_the_loop_at_its_next_turn",
    "test_every_request_is_booked_in_the_budget",
    "test_one_loop_polls_alone_and_in_a_group",
]


@pytest.fixture(params=["group"])
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    async with FakeNorthflank(rate_limit=None) as fake:
        server = RedisServer(require_redis())
        server.start()
        try:
            async with (
                RedisCoordinator.from_url(server.url, namespace="loop") as coordinator,
                NorthflankClient(fake.token, base_url=fake.base_url, coordinator=coordinator) as nf,
            ):
                yield Setup(request.param, fake, nf, coordinator)
        finally:
            server.close()
