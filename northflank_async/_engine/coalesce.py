"""Shared polls for ``wait()`` / ``watch()``: one poller per job, owned by the client.

Every `BuildWatcher` of a client asks the poller of its job for the
next state of its build (`JobPoller.read()`, with the time it wants it by). The poller runs
a *round* when the earliest read falls due: with one build waited on, a ``get`` of it (the same
one request a lone watcher always sent); with several, ONE list request of the job's newest
builds, which answers every pending read whose build it shows (`answer_waiters()`), and a
``get`` only for each due build that is not on it. N waiters of one job cost about one request
per round instead of N. A read that is not due yet is answered by a round only when the list
shows its build (it costs nothing); otherwise it waits for a round at its own time.

A round's failure (after the client's retries) is raised in the waiters it was due for, as
their own ``get`` would have been; the others keep waiting. The poller's task lives only while
reads are pending: a watcher cancelled, timed out or closed takes its read away, and the task
ends with the last one, so nothing outlives the waiters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs

from .._core.models import JobBuild
from .._core.planning import answer_waiters
from .pagination import FetchPage

__all__ = ["JobPoller", "poller_for"]

GetBuild = Callable[[str], Awaitable[JobBuild]]


@attrs.define(eq=False)
class _Read:
    due: float
    future: asyncio.Future[JobBuild]


class JobPoller:
    """The shared polls of one job's builds for every watcher of one client."""

    def __init__(self, get: GetBuild, newest: FetchPage[JobBuild]) -> None:
        self._get = get
        self._newest = newest
        self._pending: dict[str, list[_Read]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.rounds = 0
        """Rounds run so far (a round is one list request, or one ``get`` for a lone waiter)."""
        self.requests = 0
        """Requests sent so far (not counting the client's retries)."""

    @property
    def waiting(self) -> int:
        """Builds with a pending read."""
        return len(self._pending)

    async def read(self, build_id: str, *, due: float) -> JobBuild:
        """The state of ``build_id`` read by the first round at or after ``due`` (or earlier,
        for free, when a round's list shows it)."""
        loop = asyncio.get_running_loop()
        read = _Read(due, loop.create_future())
        self._pending.setdefault(build_id, []).append(read)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="northflank-async-job-poller")
        self._wake.set()
        try:
            return await read.future
        finally:
            reads = self._pending.get(build_id)
            if reads is not None and read in reads:
                reads.remove(read)
                if not reads:
                    del self._pending[build_id]
                self._wake.set()  # the task re-plans, and ends with the last read

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            self._wake.clear()
            due = min(read.due for reads in self._pending.values() for read in reads)
            delay = due - loop.time()
            if delay > 0:
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                    continue  # woken: a read came or went, plan again
                except TimeoutError:
                    # The earliest read is due. A loop may fire a timer up to its clock's
                    # resolution early (a clock that counts in ticks always may): measuring
                    # again could find it a hair short of due and wait again, forever.
                    pass
            # One turn of the loop: reads made at the same moment (gathered waits) join.
            await asyncio.sleep(0)
            try:
                await self._round(max(loop.time(), due))
            except Exception as error:  # a bug must not leave waiters hanging
                self._fail(list(self._pending), error, float("inf"))

    async def _round(self, now: float) -> None:
        self.rounds += 1
        due_ids = [
            build_id
            for build_id, reads in self._pending.items()
            if any(read.due <= now for read in reads)
        ]
        if len(self._pending) == 1:
            [build_id] = self._pending
            await self._fetch_one(build_id, now)
            return
        self.requests += 1
        try:
            page = await self._newest(None)
        except Exception as error:
            self._fail(due_ids, error, now)
            return
        answers = answer_waiters(list(self._pending), page.items)
        for build_id, build in answers.found.items():
            self._resolve(build_id, build)
        for build_id in due_ids:
            if build_id in answers.missing and build_id in self._pending:
                await self._fetch_one(build_id, now)

    async def _fetch_one(self, build_id: str, now: float) -> None:
        self.requests += 1
        try:
            build = await self._get(build_id)
        except Exception as error:
            self._fail([build_id], error, now)
            return
        self._resolve(build_id, build)

    def _resolve(self, build_id: str, build: JobBuild) -> None:
        reads = self._pending.pop(build_id, [])
        for read in reads:
            if not read.future.done():
                read.future.set_result(build)

    def _fail(self, build_ids: list[str], error: Exception, now: float) -> None:
        for build_id in build_ids:
            reads = self._pending.get(build_id, [])
            failing = [read for read in reads if read.due <= now]
            for read in failing:
                reads.remove(read)
                if not read.future.done():
                    read.future.set_exception(error)
            if not reads:
                self._pending.pop(build_id, None)


def poller_for(
    pollers: MutableMapping[str, Any],
    key: str,
    get: GetBuild,
    newest: Callable[[], FetchPage[JobBuild]],
) -> JobPoller:
    """The poller of job ``key`` (its builds path) in ``pollers`` (the client's, on its
    transport), made on first use."""
    poller = pollers.get(key)
    if not isinstance(poller, JobPoller):
        poller = pollers[key] = JobPoller(get, newest())
    return poller
