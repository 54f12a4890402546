"""A task iterating a group monitor, on a real redis-server, cancelled at hundreds of moments:
each cancellation ends it (a stress run of real interleavings, so it lives with the system
tests).

The replicas of test_monitor_hybrid_group_processes.py sometimes did not stop: on Python 3.11,
redis-py's ``asyncio.wait_for`` around sending a command returns the command's answer when the
send ends just as the task is cancelled, and drops the cancellation; the iteration then read
the group's stream again, for ever. Which moments meet that window depends on the loop, so the
test tries many (a few in a hundred did, before the coordinator raised such a cancellation);
tests/client/test_redis_swallowed_cancellation.py shows the same deterministically.
"""

from __future__ import annotations

import asyncio

from northflank_async import NorthflankClient, RedisCoordinator

ROUNDS = 240
HOPS = 60  # loop turns before the cancellation: 0, 1, ... HOPS - 1, then again
GUARD = 10.0  # seconds a cancellation may take to end the task: a hang fails (never a measure)


async def test_a_group_monitors_iteration_ends_whenever_it_is_cancelled(
    coordinators: list[RedisCoordinator],
) -> None:
    coordinator = coordinators[0]
    async with (
        NorthflankClient("t" * 24, base_url="http://127.0.0.1:9", coordinator=coordinator) as nf,
        nf.monitor(group="bots", lease=3.0) as monitor,
    ):

        async def iterate() -> None:
            async for _ in monitor:
                pass

        for n in range(ROUNDS):
            iterating = asyncio.create_task(iterate())
            for _ in range(n % HOPS):
                await asyncio.sleep(0)
            iterating.cancel()
            done, _ = await asyncio.wait([iterating], timeout=GUARD)
            if not done:  # the cancellation was lost: end the task, then fail
                iterating.cancel()
                await asyncio.wait([iterating], timeout=GUARD)
            assert done, f"round {n}: cancelled after {n % HOPS} loop turns, it ran on"
