"""Test helpers shared by modules that run code owning its own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from northflank_async.testing import FakeNorthflank

R = TypeVar("R")


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
