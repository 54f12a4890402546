"""Test helpers shared by modules that run code owning its own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Set
from typing import Any, TypeVar

from northflank_async.testing import FakeNorthflank

R = TypeVar("R")


def server_side(task: asyncio.Task[Any]) -> bool:
    """A task of an aiohttp server in the test's own loop (a connection's handler)."""
    return "RequestHandler" in repr(task.get_coro())


async def servers_settled(before: Set[asyncio.Task[Any]], *, guard: float = 5.0) -> None:
    """Check that no task but a server's is left beyond ``before``, then wait for the servers'
    handlers to end (they do once they see their closed sockets; ``guard`` only bounds a hang).

    In place of a sleep "to let the server side finish": a task the client leaks fails at
    once, however short its life, and the servers' tasks are awaited, not guessed at.
    """
    left = asyncio.all_tasks() - set(before) - {asyncio.current_task()}
    assert {task for task in left if not server_side(task)} == set()
    async with asyncio.timeout(guard):
        await asyncio.gather(*left, return_exceptions=True)


class ThreadedFake:
    """A FakeNorthflank on its own loop in a thread, so main()'s asyncio.run can reach it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.fake = FakeNorthflank(rate_limit=None)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedFake:
        self._thread.start()
        self.call(lambda: None)
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(5)
        return self

    def call(self, fn: Callable[[], R]) -> R:
        async def run() -> R:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class SwallowingPoll:
    """Stands in for ``Monitor._poll``: a poll whose cancellation is swallowed underneath.

    It waits until cancelled and keeps the CancelledError, as a misbehaving library would.
    A second poll means the monitor went on after ``aclose()``: it fails, ending the loop.
    """

    def __init__(self) -> None:
        self.polled = asyncio.Event()
        self.swallowed: list[asyncio.CancelledError] = []
        self.polls: list[object] = []

    async def __call__(self, job: object) -> None:
        self.polls.append(job)
        if len(self.polls) > 1:
            raise AssertionError("polled again after aclose()")
        self.polled.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError as exc:
            self.swallowed.append(exc)
