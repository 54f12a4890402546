"""Build and run logs, the loops: a range read page by page, and a live tail.

Every decision is the pure core's (`.._core.logquery`, `.._core.logwire` and
`.._core.logresume`: queries, envelopes, frames, what a continuation repeats); this module
only sends through the transport, waits and yields. Time is read from the event loop, so
that the loops run on a virtual clock in tests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

import attrs

from .._core.errors import APIError, PaginationError, ResponseTooLargeError, TransportError
from .._core.logquery import LogQuery
from .._core.logresume import CLOCK_SKEW, ReconnectPace, Resume
from .._core.logwire import (
    MAX_FRAME_BYTES,
    MAX_RANGE_PAGES,
    init_frame,
    range_params,
    read_frame,
    read_range,
    tail_params,
)
from .._core.models import LogLine
from .._core.retry import RetryPolicy
from .._core.watching import PollSchedule
from .._transport.http import Transport, WebSocket

__all__ = ["LogStream", "range_lines", "tail_lines"]

logger = logging.getLogger("northflank_async")

#: A tail asks for the build's (run's) state once the stream has been quiet this long, then
#: less and less often while it still runs (x1.5 per check, up to CHECK_CAP): a quiet build of
#: 30 minutes costs about 35 requests, a talkative one fewer (lines postpone the checks).
CHECK_FIRST = 5.0
CHECK_CAP = 60.0
#: How long a tail waits for the server's answer to its init frame.
INIT_TIMEOUT = 30.0
#: A connection that stayed open this long resets the count of failed attempts, as a line does.
STABLE_SECONDS = 30.0
#: The tail pings the server after this many quiet seconds (aiohttp's WebSocket heartbeat) and
#: drops the connection when no pong comes within half of it: a dead connection is noticed in
#: at most 45 s, then reopened from the last line seen.
HEARTBEAT = 30.0
#: A tail with ``until_concluded=False`` whose connection answers pings but sends no frame for
#: this long reopens it too (a stream stalled behind a live connection): a quiet build costs one
#: handshake per such stretch. (Until concluded, quiet means reading the build's state instead.)
IDLE_RECONNECT = 600.0

Fetch = Callable[[Mapping[str, str]], Awaitable[Any]]


class Concludes(Protocol):
    """What a tail reads of the build (run) it follows."""

    @property
    def is_concluded(self) -> bool: ...


class LogStream(AsyncIterator[LogLine], AbstractAsyncContextManager["LogStream"]):
    """The lines of a build's (run's) log, as an async iterator that can be closed.

    Use it in ``async for``; ``async with`` (or `aclose()`) closes it when the loop is left
    early, which for a tail closes its WebSocket at once. An exhausted or failed stream has
    closed itself.
    """

    def __init__(self, lines: AsyncGenerator[LogLine, None]) -> None:
        self._lines = lines

    def __aiter__(self) -> LogStream:
        return self

    async def __anext__(self) -> LogLine:
        return await self._lines.__anext__()

    async def aclose(self) -> None:
        """Stop reading: close the stream's socket, if any; nothing more is sent."""
        await self._lines.aclose()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _now() -> datetime:
    return datetime.now(UTC)


def _take(resume: Resume, lines: list[LogLine], path: str) -> list[LogLine]:
    """`Resume.take` at the wall clock's now; the first doubted stamp is logged, once."""
    doubted = resume.doubted
    fresh = resume.take(lines, now=_now())
    if resume.doubted and not doubted:
        logger.warning(
            "a log line of %s is stamped more than %ds beyond this machine's clock: it is not "
            "used as the point to resume from (%d such line(s) so far; is a clock wrong?)",
            path,
            CLOCK_SKEW.total_seconds(),
            resume.doubted,
        )
    return fresh


async def range_lines(
    fetch: Fetch, query: LogQuery, resume: Resume | None = None, *, path: str = ""
) -> AsyncGenerator[LogLine, None]:
    """The lines of a range, one request per page, each line once, at most ``line_limit``.

    A truncated answer is continued from `Resume.point` (see `Resume`); ``resume`` continues
    a reader that already handed lines out (a tail's drain). An answer still truncated after
    `MAX_RANGE_PAGES` answers is a `PaginationError` naming the cap and where to read on.
    """
    resume = resume or Resume(forward=query.direction == "forward")
    origin = _now()
    limit, page = query.line_limit, None
    for _ in range(MAX_RANGE_PAGES):
        resume.restart()
        params = range_params(query, resume, origin=origin, page=page)
        lines, truncated = read_range(await fetch(params))
        asked, page = page, len(lines)
        before = resume.yielded
        fresh = _take(resume, lines, path)
        if limit is not None:
            fresh = fresh[: limit - before]
        for line in fresh:
            yield line
        if not truncated or (limit is not None and before + len(fresh) >= limit):
            return
        if not fresh and not (asked is None and query.line_limit is None and resume.repeats):
            # (A reader that continues another, a tail's drain, asks its first answer without
            # knowing the API's page: that one may hold only repeats; the next has room.)
            raise PaginationError(
                f"the log range is truncated at {resume.point} but its next answer held no new "
                "line: more lines share that timestamp than one answer holds (ask a larger "
                "line_limit)"
            )
    point = resume.point
    where = f"; read on with start={point.isoformat()}" if point is not None else ""
    raise PaginationError(
        f"the log range was still truncated after {MAX_RANGE_PAGES} answers, the most one "
        f"range call reads (MAX_RANGE_PAGES): {resume.yielded} lines were yielded{where}"
    )


@attrs.define
class _Tail:
    transport: Transport
    path: str
    query: LogQuery
    get: Callable[[], Awaitable[Concludes]]
    until_concluded: bool
    resume: Resume = attrs.field(factory=Resume)
    pace: ReconnectPace = attrs.field(factory=ReconnectPace)
    rng: random.Random = attrs.field(factory=random.Random)

    @property
    def policy(self) -> RetryPolicy:
        return self.transport.policy

    def retryable(self, error: Exception) -> bool:
        if isinstance(error, ResponseTooLargeError):
            return False
        if isinstance(error, TransportError):
            return True
        return isinstance(error, APIError) and self.policy.retry_status("GET", error.status)

    async def concluded(self) -> bool:
        return (await self.get()).is_concluded

    async def connect(self) -> WebSocket:
        self.resume.restart()
        self.pace.opened(asyncio.get_running_loop().time())
        return await self.transport.websocket(
            self.path,
            tail_params(self.query, self.resume),
            max_frame_bytes=MAX_FRAME_BYTES,
            first_frame=init_frame,
            heartbeat=HEARTBEAT,
        )

    def read(self, socket: WebSocket, text: str) -> list[LogLine]:
        """The lines of a frame not handed out yet (token hidden in the decoded frame)."""
        return _take(
            self.resume, read_frame(text, path=self.path, hide=socket.hide) or [], self.path
        )

    async def lines(self) -> AsyncGenerator[LogLine, None]:
        loop = asyncio.get_running_loop()
        schedule = PollSchedule(CHECK_FIRST, CHECK_CAP)
        failures = 0
        while True:
            try:
                socket = await self.connect()
            except (TransportError, APIError) as error:
                failures += 1
                if failures > self.policy.max_retries or not self.retryable(error):
                    raise
                await self.backoff(failures, type(error).__name__)
                continue
            opened = loop.time()
            reason = "a dropped log stream"
            try:
                try:
                    async with asyncio.timeout(INIT_TIMEOUT):
                        first = await socket.receive()
                except TimeoutError:
                    first = None  # no answer to the init frame: a dead connection
                if first is not None:
                    # None for the accepted init; a server that skips it sends lines at once.
                    for line in self.read(socket, first):
                        yield line
                ended = first is None
                heard = loop.time()
                deadline = heard + schedule.current
                while not ended:
                    # Until concluded, a quiet socket is a reason to read the build's state;
                    # otherwise, after IDLE_RECONNECT, to reconnect (nothing else would notice).
                    wake = deadline if self.until_concluded else heard + IDLE_RECONNECT
                    try:
                        async with asyncio.timeout_at(wake):
                            text = await socket.receive()
                    except TimeoutError:
                        if not self.until_concluded:
                            ended, reason = True, "an idle log stream"
                            break
                        if await self.concluded():
                            break
                        deadline = loop.time() + schedule.next(changed=False)
                        continue
                    if text is None:
                        ended = True
                        break
                    heard = loop.time()
                    fresh = self.read(socket, text)
                    if fresh:
                        failures = 0
                        deadline = loop.time() + schedule.current
                    for line in fresh:
                        yield line
            finally:
                await socket.close()
            if not ended:
                break  # concluded while the socket was open
            if self.until_concluded and await self.concluded():
                break
            if loop.time() - opened >= STABLE_SECONDS:
                failures = 0
            failures += 1
            if failures > self.policy.max_retries:
                raise TransportError(
                    f"GET {self.path}: the log stream dropped {failures} times without a new line",
                    method="GET",
                    path=self.path,
                )
            await self.backoff(failures, reason)
        # The build has concluded: what the socket had not delivered yet comes by range.
        drain = attrs.evolve(self.query, line_limit=None, direction="forward", end=None)
        async for line in range_lines(self.fetch, drain, self.resume, path=self.path):
            yield line

    async def fetch(self, params: Mapping[str, str]) -> Any:
        return await self.transport.request("GET", self.path, params=params)

    async def backoff(self, attempt: int, reason: str) -> None:
        """Wait before the next handshake: the client's backoff for ``attempt`` failures in a
        row, and at least what the recent rate of handshakes asks (`ReconnectPace`)."""
        now = asyncio.get_running_loop().time()
        delay = max(self.policy.backoff(attempt, self.rng), self.pace.wait(now))
        logger.warning(
            "reconnecting the log stream of %s after %s (attempt %d) in %.2fs",
            self.path,
            reason,
            attempt + 1,
            delay,
        )
        await asyncio.sleep(delay)


def tail_lines(
    transport: Transport,
    path: str,
    query: LogQuery,
    get: Callable[[], Awaitable[Concludes]],
    *,
    until_concluded: bool,
) -> AsyncGenerator[LogLine, None]:
    """The live lines of a build (run), each once across reconnections.

    With ``until_concluded`` it ends once ``get()`` says the build has concluded and the lines
    the socket had not delivered have been read by range.
    """
    tail = _Tail(transport, path, query, get, until_concluded)
    return tail.lines()


def log_range(transport: Transport, path: str, query: LogQuery) -> LogStream:
    """The lines of a range at ``path``: requests through the transport, one per answer."""

    def fetch(params: Mapping[str, str]) -> Awaitable[Any]:
        return transport.request("GET", path, params=params)

    return LogStream(range_lines(fetch, query, path=path))


def log_tail(
    transport: Transport,
    path: str,
    query: LogQuery,
    get: Callable[[], Awaitable[Concludes]],
    *,
    until_concluded: bool,
    allow_insecure: bool | None = None,
) -> LogStream:
    """The live lines at ``path``; its options are checked here, before anything is sent.

    ``allow_insecure`` is deprecated and ignored: whether plain ``ws://`` may carry the token
    was decided once, by the client, from its base URL (``NorthflankClient(allow_insecure=)``).
    """
    if not isinstance(until_concluded, bool):
        raise ValueError("until_concluded must be a boolean")
    if allow_insecure is not None:
        warnings.warn(
            "tail_logs(allow_insecure=...) is deprecated and ignored: the client's base URL "
            "check decides once (NorthflankClient(allow_insecure=True))",
            DeprecationWarning,
            stacklevel=3,
        )
    lines = tail_lines(transport, path, query, get, until_concluded=until_concluded)
    return LogStream(lines)
