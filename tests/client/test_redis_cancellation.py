"""A cancelled task that was waiting on Redis stays cancelled (no server needed: the command
stands in for redis-py's read).

A cancellation can surface from the Redis client as one of its errors (its clean-up on the way
out fails, or a timeout of its own takes the cancellation's place). The coordinator turns Redis
and socket errors into `CoordinatorUnavailable`, which the group's loops ride out by trying
again: the cancelled task then ran on, and a replica asked to stop could hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from northflank_async import ConfigurationError, RedisCoordinator
from northflank_async._core.fleet import CoordinatorUnavailable


@pytest.fixture
async def coordinator() -> AsyncIterator[RedisCoordinator]:
    async with RedisCoordinator.from_url("redis://127.0.0.1:1/0") as made:  # never connected
        yield made


async def cancelled_as_timeout() -> None:
    """A command whose cancellation comes out as a timeout."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise TimeoutError("Timeout reading from 127.0.0.1:6379") from None


async def test_a_cancellation_that_comes_out_as_a_timeout_stays_a_cancellation(
    coordinator: RedisCoordinator,
) -> None:
    call = asyncio.create_task(coordinator._call(cancelled_as_timeout))
    await asyncio.sleep(0)  # the command is waiting
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert call.cancelled()


async def test_the_same_timeout_without_a_cancellation_is_an_outage(
    coordinator: RedisCoordinator,
) -> None:
    async def timeout() -> None:
        raise TimeoutError("Timeout reading from 127.0.0.1:6379")

    with pytest.raises(CoordinatorUnavailable):
        await coordinator._call(timeout)


async def test_refused_credentials_are_still_a_configuration_error(
    coordinator: RedisCoordinator,
) -> None:
    from redis.exceptions import AuthenticationError

    async def refused() -> None:
        raise AuthenticationError("WRONGPASS invalid username-password pair")

    with pytest.raises(ConfigurationError):
        await coordinator._call(refused)
