"""Cursor pagination: :class:`AsyncCursorIterator` walks ``pagination.cursor`` page by page.

By default pages are fetched only when the consumer asks for an item the iterator does not hold
yet, so a consumer that stops early (``break``, ``limit=``) costs no extra request, and nothing
runs in the background between two items. ``prefetch=N`` opts into a background task that keeps
up to N pages ready ahead of the consumer, overlapping the network with the consumer's work.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from ._core import CursorTracker
from ._errors import NorthflankError
from ._models import Page

__all__ = ["AsyncCursorIterator", "DecodeFrame", "FetchFrame", "FetchPage"]

T = TypeVar("T")

FetchPage = Callable[[str | None, int], Awaitable[Page[T]]]
"""``fetch(cursor, per_page)``: one decoded page of a listing (``cursor=None`` for the first)."""

FetchFrame = Callable[[str | None, int], Awaitable[Page[Any]]]
"""``fetch(cursor, per_page)``: one page whose items are still undecoded JSON."""

DecodeFrame = Callable[[Page[Any]], Page[T]]
"""Decode the items of a frame."""

# A fetched frame and the cursor that fetched it (where to resume if decoding it fails).
_Frame = tuple[Page[Any], str | None]


class _Pager(Generic[T]):
    """Cursor bookkeeping for one walk through a listing.

    Fetching a page and decoding its items are two steps, so that a prefetcher can send the
    next request while the consumer decodes the page it has.
    """

    def __init__(
        self,
        fetch: FetchFrame,
        decode: DecodeFrame[T],
        cursor: str | None,
        per_page: int,
        limit: int | None,
    ) -> None:
        self._fetch = fetch
        self._decode = decode
        self._cursor = cursor
        self._per_page = per_page if limit is None else max(1, min(per_page, limit))
        self._limit = limit
        self._tracker = CursorTracker()
        self._done = limit == 0
        self.items_seen = 0  # items of the pages handed out so far
        self.items_yielded = 0  # items the consumer has actually received

    @property
    def done(self) -> bool:
        return self._done

    def stop(self) -> None:
        self._done = True

    async def next_frame(self) -> _Frame | None:
        """The next undecoded page, ``None`` once the listing (or its ``limit``) is exhausted."""
        if self._done:
            return None
        cursor = self._cursor
        try:
            frame = await self._fetch(cursor, self._per_page)
            self._cursor = self._tracker.follow(frame)
        except NorthflankError as error:
            raise self._failed(error, cursor) from None
        except BaseException:
            self._done = True
            raise
        self.items_seen += len(frame.items)
        if self._cursor is None or (self._limit is not None and self.items_seen >= self._limit):
            self._done = True
        return frame, cursor

    def decode(self, frame: _Frame) -> Page[T]:
        """Decode a frame's items; a failure says where to resume, like a failed fetch."""
        try:
            return self._decode(frame[0])
        except NorthflankError as error:
            raise self._failed(error, frame[1]) from None

    def _failed(self, error: NorthflankError, cursor: str | None) -> NorthflankError:
        # Resuming from the failed page's cursor loses and repeats nothing.
        self._done = True
        error.resume_cursor = cursor
        error.items_yielded = self.items_yielded
        return error

    async def next_page(self) -> Page[T] | None:
        """The next decoded page, ``None`` once the listing is exhausted."""
        frame = await self.next_frame()
        return None if frame is None else self.decode(frame)


class _PageSource(Protocol[T]):
    """What the iterators draw pages from: the pager itself, or a prefetcher in front of it."""

    @property
    def pager(self) -> _Pager[T]: ...

    async def next_page(self) -> Page[T] | None: ...

    def stop(self) -> None: ...

    async def aclose(self) -> None: ...


class _Direct(Generic[T]):
    """Pages fetched on demand, in the consumer's task."""

    def __init__(self, pager: _Pager[T]) -> None:
        self.pager = pager

    async def next_page(self) -> Page[T] | None:
        return await self.pager.next_page()

    def stop(self) -> None:
        self.pager.stop()

    async def aclose(self) -> None:
        self.pager.stop()


_END = object()


class _Prefetcher(Generic[T]):
    """A background task that keeps up to ``depth`` pages fetched ahead of the consumer.

    A page counts against ``depth`` from the moment its request starts until the consumer takes
    it, so at most ``depth`` pages are ever in flight or waiting. A failure travels through the
    queue in order, after the pages fetched before it.
    """

    def __init__(self, pager: _Pager[T], depth: int) -> None:
        self.pager = pager
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._slots = asyncio.Semaphore(depth)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    async def next_page(self) -> Page[T] | None:
        if self._stopped:
            return None  # the task may have been cancelled before it could queue the end
        if self._task is None:
            if self.pager.done:
                return None
            self._task = asyncio.get_running_loop().create_task(
                _produce(self.pager, self._queue, self._slots), name="northflank-async-prefetch"
            )
        try:
            item = await self._queue.get()
        except BaseException:
            # The consumer was cancelled while it waited: nobody will take what the task would
            # fetch next, and a kept CancelledError can keep this iterator (and so the task)
            # alive long after. Stop now, as a cancelled fetch in the consumer's task would.
            self.stop()
            raise
        if item is _END:
            self._queue.put_nowait(_END)  # later calls see the end too
            return None
        if isinstance(item, BaseException):
            self._queue.put_nowait(_END)
            if isinstance(item, NorthflankError):
                item.items_yielded = self.pager.items_yielded
            raise item
        self._slots.release()
        try:
            # Let the producer put its next request on the wire, then decode this page here,
            # in the consumer's task, while that request travels.
            await asyncio.sleep(0)
            return self.pager.decode(item)  # type: ignore[arg-type]
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._stopped = True
        self.pager.stop()
        task = self._task
        # Also called by a finalizer, possibly after the loop is gone: nothing to cancel then.
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()

    async def aclose(self) -> None:
        self.stop()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def _produce(
    pager: _Pager[T], queue: asyncio.Queue[object], slots: asyncio.Semaphore
) -> None:
    # A plain function of pager and queue: the task must not keep the iterator alive, so that
    # an iterator dropped after `break` is collected and its finalizer cancels this task.
    try:
        while not pager.done:
            await slots.acquire()
            frame = await pager.next_frame()
            if frame is None:
                break
            queue.put_nowait(frame)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # delivered to the consumer, in order
        queue.put_nowait(error)
        return
    queue.put_nowait(_END)


class _PageIterator(AsyncIterator[Page[T]]):
    def __init__(self, source: _PageSource[T], owner: object) -> None:
        self._source = source
        # `list(...).pages()` drops the cursor iterator at once: keep it alive while pages are
        # walked, or its finalizer would stop the prefetch under our feet.
        self._owner = owner

    async def __anext__(self) -> Page[T]:
        page = await self._source.next_page()
        if page is None:
            raise StopAsyncIteration
        self._source.pager.items_yielded += len(page.items)
        return page

    async def aclose(self) -> None:
        await self._source.aclose()


class AsyncCursorIterator(AsyncIterator[T]):
    """An async iterator over every item of a listing, following the API's cursors.

    ``async for item in it`` yields items in the API's order; :meth:`collect` gathers them into
    a list; :meth:`pages` walks whole :class:`Page` objects instead. An iterator is single-use:
    call ``list()`` again for a second walk. Errors raised while fetching a page carry
    ``resume_cursor`` and ``items_yielded`` so that a new listing can continue exactly there.
    """

    def __init__(
        self,
        fetch: FetchFrame,
        decode: DecodeFrame[T],
        *,
        per_page: int,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> None:
        self._pager = _Pager(fetch, decode, cursor, per_page, limit)
        self._source: _PageSource[T]
        if prefetch > 0:
            prefetcher = _Prefetcher(self._pager, prefetch)
            self._source = prefetcher
            # Breaking out of `async for` drops the iterator without telling it: when it is
            # collected, the background fetch is cancelled, as an async generator's would be.
            weakref.finalize(self, prefetcher.stop)
        else:
            self._source = _Direct(self._pager)
        self._limit = limit
        self._buffer: list[T] | tuple[T, ...] = ()
        self._index = 0
        self._walked = False

    def __aiter__(self) -> AsyncCursorIterator[T]:
        return self

    async def __anext__(self) -> T:
        self._walked = True
        pager = self._pager
        while self._index >= len(self._buffer):
            page = await self._source.next_page()
            if page is None:
                raise StopAsyncIteration
            self._buffer = page.items  # type: ignore[assignment]
            self._index = 0
        item = self._buffer[self._index]
        self._index += 1
        pager.items_yielded += 1
        if self._limit is not None and pager.items_yielded >= self._limit:
            self._buffer = ()
            self._source.stop()
        return item

    async def collect(self) -> list[T]:
        """Every remaining item, as a list (all pages are fetched before this returns)."""
        return [item async for item in self]

    def pages(self) -> AsyncIterator[Page[T]]:
        """Iterate whole pages instead of items.

        ``limit`` still bounds the requests: no page is fetched once the pages handed out hold
        ``limit`` items, but pages are never cut short (their cursors stay valid for resuming).
        """
        if self._walked:
            raise RuntimeError("this iterator has already yielded items; call list() again")
        self._walked = True
        return _PageIterator(self._source, self)

    async def aclose(self) -> None:
        """Stop the walk: no further page is fetched, a prefetch in flight is cancelled.

        Safe to call more than once. Also available as ``async with list(...) as it:``.
        """
        self._buffer = ()
        await self._source.aclose()

    async def __aenter__(self) -> AsyncCursorIterator[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
