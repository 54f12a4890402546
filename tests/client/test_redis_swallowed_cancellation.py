"""A cancellation the Redis client answers through is still a cancellation (no server needed:
a stand-in client answers each command).

On Python 3.11, ``asyncio.wait_for`` returns the result of an operation that ended just as its
caller was cancelled, and drops the cancellation; redis-py sends every command under it when a
socket timeout is set (`RedisCoordinator.from_url` sets one). A command then answered as if its
task had not been cancelled, and the loops that read a group's stream read it again: a task
iterating a group monitor, cancelled (a replica asked to stop), ran on for ever. The stand-in
commands below answer through the first cancellation in the same way, deterministically.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, cast

import pytest

from northflank_async import NorthflankClient, RedisCoordinator

Command = Callable[[], Coroutine[Any, Any, Any]]


class AnswersThroughCancellation:
    """A command that waits until cancelled, then answers anyway (the first time only)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.calls = 0
        self.swallowed = 0

    async def __call__(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        self.started.set()
        try:
            await asyncio.Event().wait()  # the command in flight
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed += 1
        return []  # it ended as the cancellation came: its answer is returned


class StandInRedis:
    """What a group monitor uses of a ``redis.asyncio.Redis``, answering at once; reading
    the group's stream is ``read`` (by default, nothing waits)."""

    def __init__(self, read: Callable[..., Awaitable[Any]] | None = None) -> None:
        self.xreadgroup = read or self._nothing
        self.reads = 0

    def register_script(self, _source: str) -> Callable[..., Awaitable[Any]]:
        async def script(*, keys: list[str], args: list[Any]) -> Any:
            return 0  # acquire: the lease is held by another member; the rest: unused

        return script

    async def _nothing(self, *_: Any, **__: Any) -> Any:
        return []

    async def xgroup_create(self, *_: Any, **__: Any) -> bool:
        return True

    async def xautoclaim(self, *_: Any, **__: Any) -> Any:
        return [b"0-0", [], []]

    async def hmget(self, _key: str, jobs: list[str]) -> list[None]:
        return [None for _ in jobs]


def coordinator_on(client: StandInRedis) -> RedisCoordinator:
    return RedisCoordinator(cast(Any, client), namespace="t", recheck=0.5)


@pytest.fixture
async def coordinator() -> AsyncIterator[RedisCoordinator]:
    async with coordinator_on(StandInRedis()) as made:
        yield made


def by_call(coordinator: RedisCoordinator, command: AnswersThroughCancellation) -> Command:
    return lambda: coordinator._call(command)


def by_script(coordinator: RedisCoordinator, command: AnswersThroughCancellation) -> Command:
    coordinator._scripts["done"] = cast(Any, command)
    return lambda: coordinator._run("done", ["k"], [])


@pytest.mark.parametrize("way", [by_call, by_script], ids=["command", "script"])
async def test_a_command_answered_through_a_cancellation_leaves_the_task_cancelled(
    coordinator: RedisCoordinator, way: Callable[..., Command]
) -> None:
    command = AnswersThroughCancellation()
    run = way(coordinator, command)
    call = asyncio.create_task(run())
    await command.started.wait()
    call.cancel()
    await asyncio.wait([call])
    assert command.swallowed == 1  # the stand-in answered through it
    assert call.cancelled()


async def test_a_timeout_around_a_command_answered_through_it_is_a_timeout(
    coordinator: RedisCoordinator,
) -> None:
    command = AnswersThroughCancellation()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            await coordinator._call(command)
    assert command.swallowed == 1
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the timeout's, withdrawn


async def test_a_command_sent_after_a_cancellation_was_caught_answers(
    coordinator: RedisCoordinator,
) -> None:
    """Clean-up of a cancelled task (a lease given back) still gets its answers."""

    async def answer() -> str:
        await asyncio.sleep(0)
        return "OK"

    async def cancelled_then_cleans_up() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return await coordinator._call(answer)
        raise AssertionError("not cancelled")

    task = asyncio.create_task(cancelled_then_cleans_up())
    await asyncio.sleep(0)
    task.cancel()
    assert await task == "OK"


async def test_a_group_monitors_iteration_cancelled_while_reading_ends() -> None:
    """The replica's hang: the iteration, cancelled while its read of the group's stream is in
    flight, must end; it read the stream again instead (and again, for ever)."""
    read = AnswersThroughCancellation()
    async with (
        coordinator_on(StandInRedis(read)) as coordinator,
        NorthflankClient("t" * 24, base_url="http://127.0.0.1:9", coordinator=coordinator) as nf,
        nf.monitor(group="bots") as monitor,
    ):

        async def iterate() -> None:
            async for _ in monitor:
                pass

        iterating = asyncio.create_task(iterate())
        await read.started.wait()
        read.started.clear()
        iterating.cancel()
        # Either the iteration ends, or it reads the stream again (the cancellation lost).
        read_again = asyncio.create_task(read.started.wait())
        await asyncio.wait([iterating, read_again], return_when=asyncio.FIRST_COMPLETED)
        read_again.cancel()
        await asyncio.gather(read_again, return_exceptions=True)
        went_on = not iterating.done()
        if went_on:
            iterating.cancel()  # the stand-in answers through the first cancellation only
        await asyncio.wait([iterating])
        assert not went_on, "the cancelled iteration read the group's stream again"
        assert iterating.cancelled() and read.calls == 1
