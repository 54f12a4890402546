"""Bot workflows over the build endpoints: watch a build, wait for it, follow new builds.

These are loops of ordinary requests, so every poll goes through the client's retries and its
rate-limit gate. The decisions (when a build changed, what is new, how long to wait) are the
pure ``PollSchedule`` and ``Watermark`` of ``_watching``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Generic, Protocol, TypeVar, cast

from .._core.checks import check_number, check_poll_interval
from .._core.errors import (
    PaginationError,
    RateLimitError,
    ServerError,
    TransportError,
    WaitTimeoutError,
)
from .._core.models import JobBuild, JobRun
from .._core.watching import PollSchedule, Watermark
from .coalesce import JobPoller
from .pagination import FetchPage, PageWalker

__all__ = ["BuildFollower", "BuildWatcher", "RunWatcher", "StatusWatcher", "wait_for_build"]

logger = logging.getLogger("northflank_async")

#: How far an idle poll interval may grow, as a multiple of the one asked for.
IDLE_GROWTH_CAP = 4.0

#: The most list pages one poll of ``follow()`` reads before it hands out what it found: a
#: listing that never reaches the watermark (endless, or a backlog deeper than this) costs at
#: most this many requests per poll, and the polls are ``poll_interval`` apart (at least
#: ``MIN_POLL_INTERVAL``). The older builds beyond the cap are skipped, with a warning.
MAX_FOLLOW_PAGES = 100


class Concludes(Protocol):
    """What a watcher reads of the object it polls (a build or a run)."""

    @property
    def status(self) -> object: ...

    @property
    def is_concluded(self) -> bool: ...


M = TypeVar("M", bound=Concludes)

GetBuild = Callable[[str], Awaitable[JobBuild]]
PageSize = Callable[[int], FetchPage[JobBuild]]
"""``pages(per_page)``: the ``fetch_page`` of a job's builds listing at that page size."""


class StatusWatcher(AsyncIterator[M], Generic[M]):
    """The watch loop that `BuildWatcher` and `RunWatcher` share (their docstrings say what
    they yield): ``get`` read on a `PollSchedule` that stretches while nothing changes, each
    change taken once (`_take`), the deadline of ``timeout`` kept across reads.

    A subclass names its object (``_noun``, in the timeout's message) and may read through
    something other than ``get`` by overriding `_next_change`, as builds do with a shared poll.
    """

    _noun = "object"

    def __init__(
        self,
        get: Callable[[str], Awaitable[M]],
        object_id: str,
        *,
        poll_interval: float,
        timeout: float | None,
    ) -> None:
        check_poll_interval(poll_interval)
        if timeout is not None:
            check_number(timeout, "timeout")
        self._get = get
        self._id = object_id
        self._schedule = PollSchedule(poll_interval, poll_interval * IDLE_GROWTH_CAP)
        self._timeout = timeout
        self._deadline: float | None = None
        self._last: M | None = None
        self._done = False

    @property
    def last(self) -> M | None:
        """The latest state read so far."""
        return self._last

    def __aiter__(self) -> StatusWatcher[M]:
        return self

    async def __anext__(self) -> M:
        if self._done:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        if self._deadline is None and self._timeout is not None:
            self._deadline = loop.time() + self._timeout
        try:
            async with asyncio.timeout_at(self._deadline) as scope:
                return await self._next_change()
        except TimeoutError:
            if not scope.expired():
                raise  # a request's own timeout, already a typed error
            self._done = True
            status = self._last.status if self._last else "never read"
            raise WaitTimeoutError(
                f"{self._noun} {self._id} not concluded after {self._timeout:g}s "
                f"(last status: {status})",
                last=cast("JobBuild | JobRun | None", self._last),
            ) from None

    async def _next_change(self) -> M:
        first = self._last is None
        while True:
            if not first:
                await asyncio.sleep(self._schedule.current)
            first = False
            build = await self._get(self._id)
            if self._take(build):
                return build

    def _take(self, build: M) -> bool:
        """Keep a fresh state; whether it is a change worth yielding."""
        previous, self._last = self._last, build
        changed = previous is None or (
            build.status != previous.status or build.is_concluded != previous.is_concluded
        )
        self._schedule.next(changed=changed)
        if build.is_concluded:
            self._done = True
        return changed

    async def aclose(self) -> None:
        """Stop watching."""
        self._done = True


class BuildWatcher(StatusWatcher[JobBuild]):
    """Yields a build when first seen, then on each change of status, ending once concluded.

    A change is a new status or the build becoming concluded; the concluded build is always
    the last item. ``timeout`` (seconds, for the whole watch) raises
    `WaitTimeoutError` carrying the last build seen.
    """

    _noun = "build"

    def __init__(
        self,
        get: GetBuild,
        build_id: str,
        *,
        poll_interval: float,
        timeout: float | None,
        poller: JobPoller | None = None,
    ) -> None:
        super().__init__(get, build_id, poll_interval=poll_interval, timeout=timeout)
        self._poller = poller
        self._read_at: float | None = None

    async def _next_change(self) -> JobBuild:
        # Through the job's shared poller (``_coalesce``): the watchers of one job's builds in
        # one client share its rounds, one list request answering all of them.
        poller = self._poller
        if poller is None:
            return await super()._next_change()
        loop = asyncio.get_running_loop()
        while True:
            read_at = self._read_at
            due = loop.time() if read_at is None else read_at + self._schedule.current
            build = await poller.read(self._id, due=due)
            self._read_at = loop.time()
            if self._take(build):
                return build


class RunWatcher(StatusWatcher[JobRun]):
    """Yields a job run when first seen, then on each change of status, ending once concluded."""

    _noun = "run"


async def wait_for_build(watcher: StatusWatcher[M]) -> M:
    """Drain a watcher: the concluded state."""
    last: M | None = None
    async for build in watcher:
        last = build
    assert last is not None  # a watcher yields at least once or raises
    return last


# Failures a follower outlives: after the client's own retries, it keeps its watermark and
# tries again at the next poll. Anything else (401, 404, a decoding bug) is raised.
_TRANSIENT = (TransportError, ServerError, RateLimitError, PaginationError)


class BuildFollower(AsyncIterator[JobBuild]):
    """Yields every build created after a watermark, oldest first, each once, until stopped.

    The job's builds are listed newest first, so each poll pages only until it meets a build
    it has seen: an idle poll costs one request, a poll at most `MAX_FOLLOW_PAGES` requests
    (older new builds beyond them are skipped, with a warning). ``polls`` counts the polls made
    so far; ``poll_interval`` is at least ``MIN_POLL_INTERVAL`` (``ValueError`` below).
    """

    def __init__(
        self,
        pages: PageSize,
        get: GetBuild,
        *,
        since: str | datetime | None,
        poll_interval: float,
        per_page: int = 100,
    ) -> None:
        if isinstance(since, datetime) and since.tzinfo is None:
            raise ValueError("since must be a timezone-aware datetime (or a build id, or None)")
        check_poll_interval(poll_interval)
        self._fetch = pages(per_page)
        self._fetch_newest = pages(1)
        self._get = get
        self._since = since
        self._interval = poll_interval
        self._mark: Watermark | None = None
        self._ready: deque[JobBuild] = deque()
        self._closed = False
        self.polls = 0

    def __aiter__(self) -> BuildFollower:
        return self

    async def __anext__(self) -> JobBuild:
        while not self._ready:
            if self._closed:
                raise StopAsyncIteration
            if self.polls:
                await asyncio.sleep(self._interval)
            self.polls += 1
            try:
                if self._mark is None:
                    self._mark = await self._start()
                    if self._since is None:
                        continue  # "from now on": nothing can be new yet
                self._ready.extend(await self._poll(self._mark))
            except _TRANSIENT as error:
                logger.warning("follow: poll failed (%s); keeping the watermark, will retry", error)
                if isinstance(error, RateLimitError) and error.retry_after:
                    await asyncio.sleep(max(0.0, error.retry_after - self._interval))
        return self._ready.popleft()

    async def ready(self) -> None:
        """Return once the follower stands at its starting point (its first snapshot taken).

        Builds added after this are reported. It takes the snapshot now if no poll has yet
        (one request; a transient failure is retried at the poll interval).
        """
        while self._mark is None and not self._closed:
            self.polls += 1
            try:
                self._mark = await self._start()
            except _TRANSIENT as error:
                logger.warning("follow: first poll failed (%s); will retry", error)
                await asyncio.sleep(self._interval)
                continue
            if self._since is not None:
                # A since watermark reports the builds after it at the next poll, at once.
                self.polls -= 1

    async def _start(self) -> Watermark:
        if isinstance(self._since, datetime):
            return Watermark.at(self._since)
        if isinstance(self._since, str):
            build = await self._get(self._since)
            return Watermark.at(build.created_at, [build.id])
        newest = (await self._fetch_newest(None)).items
        return Watermark.at(newest[0].created_at if newest else None, [b.id for b in newest])

    async def _poll(self, mark: Watermark) -> list[JobBuild]:
        """New builds, oldest first; the watermark moves only once the whole poll succeeded."""
        new: list[JobBuild] = []
        walker = PageWalker(self._fetch)
        pages = 0
        while (step := await walker.step()) is not None:
            fresh, reached = mark.scan(step.page.items)
            new += fresh
            pages += 1
            if reached:
                break
            if pages >= MAX_FOLLOW_PAGES and not walker.done:
                logger.warning(
                    "follow: %d pages read without reaching the builds already seen: handing "
                    "out the %d newest, older ones are skipped",
                    pages,
                    len(new),
                )
                break
        mark.advance(new)
        new.reverse()
        return new

    async def aclose(self) -> None:
        """Stop following: the iterator ends (nothing runs between polls)."""
        self._closed = True
        self._ready.clear()
