"""The one engine that walks a listing's pages, and the iterator users hold.

Every listing and every follower walks pages through `PageWalker` (``walker``): it asks one
``fetch_page(cursor)`` callback (built by ``endpoints`` from a route, a model and a key) for
each page, checks with `CursorTracker` that the cursors move forward, and stops at the
last page or at ``limit``. On top of it:

* `AsyncCursorIterator` hands out items (or whole pages with ``pages()``) and knows where
  a new listing would resume (``resume_cursor``, ``items_yielded``);
* ``prefetch=N`` puts `_Prefetch`, a background task, between the walker and the
  iterator, keeping up to N pages ready;
* ``BuildFollower`` (``workflows``) walks one poll's pages with a walker and stops it at its
  watermark.

By default pages are fetched only when the consumer asks for an item the iterator does not hold
yet, so a consumer that stops early (``break``, ``limit=``) costs no extra request.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar, overload

from .._core.errors import NorthflankError
from .._core.models import Page
from .walker import MAX_EMPTY_PAGES, CursorTracker, DecodePage, FetchPage, PageWalker, Step

__all__ = [
    "MAX_EMPTY_PAGES",
    "AsyncCursorIterator",
    "CursorTracker",
    "DecodePage",
    "FetchPage",
    "PageWalker",
    "Step",
]

T = TypeVar("T")


class _Source(Protocol[T]):
    """Where an iterator takes its pages from: the walker itself, or a prefetch in front of it."""

    async def step(self) -> Step[T] | None: ...

    def stop(self) -> None: ...


_END = None


class _Prefetch(Generic[T]):
    """A background task that keeps up to ``depth`` pages of a walker ready for the consumer.

    A page counts against ``depth`` from the moment its request starts until the consumer takes
    it, so at most ``depth`` pages are ever in flight or waiting. A failure travels through the
    queue after the pages fetched before it. Once the consumer stops, is cancelled or meets an
    error, the task is cancelled and nothing more is sent.
    """

    def __init__(self, walker: PageWalker[T], depth: int) -> None:
        self._walker = walker
        self._queue: asyncio.Queue[Step[T] | BaseException | None] = asyncio.Queue()
        self._slots = asyncio.Semaphore(depth)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    async def step(self) -> Step[T] | None:
        if self._stopped:
            return None
        if self._task is None:
            if self._walker.done:
                return None
            self._task = asyncio.get_running_loop().create_task(
                _produce(self._walker, self._queue, self._slots), name="northflank-async-prefetch"
            )
        try:
            item = await self._queue.get()
        except BaseException:
            # Cancelled while waiting: whether or not the caller keeps the CancelledError, this
            # listing is over, and its task must not go on sending requests.
            self.stop()
            raise
        if item is _END or isinstance(item, BaseException):
            self.stop()
            if item is _END:
                return None
            raise item
        self._slots.release()
        return item

    def stop(self) -> None:
        self._stopped = True
        self._walker.stop()
        task = self._task
        # Also called by a finalizer, possibly after the loop is gone: nothing to cancel then.
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()

    async def wait_stopped(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def _produce(
    walker: PageWalker[T],
    queue: asyncio.Queue[Step[T] | BaseException | None],
    slots: asyncio.Semaphore,
) -> None:
    # A plain function of walker and queue: the task must not keep the iterator alive, so that
    # an iterator dropped after `break` is collected and its finalizer cancels this task.
    try:
        while not walker.done:
            await slots.acquire()
            step = await walker.step()
            if step is None:
                break
            queue.put_nowait(step)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # delivered to the consumer, in order
        queue.put_nowait(error)
        return
    queue.put_nowait(_END)


class AsyncCursorIterator(AsyncIterator[T], AbstractAsyncContextManager["AsyncCursorIterator[T]"]):
    """An async iterator over every item of a listing, following the API's cursors.

    ``async for item in it`` yields items in the API's order; `collect()` gathers them into
    a list; `pages()` walks whole `Page` objects instead. An iterator is single-use:
    call ``list()`` again for a second walk.

    Given ``decode``, ``fetch_page`` answers pages whose items are still raw and each page is
    decoded when the consumer takes it, not when it arrives: with ``prefetch``, the request for
    the next page then travels while this one is decoded.

    ``resume_cursor`` and ``items_yielded`` say at any moment where a new listing would go on:
    after an error, ``list(..., cursor=it.resume_cursor)`` continues with nothing lost or
    repeated (the error's notes say the same).
    """

    @overload
    def __init__(
        self,
        fetch_page: FetchPage[T],
        *,
        decode: None = None,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> None: ...

    @overload
    def __init__(
        self,
        fetch_page: FetchPage[Any],
        *,
        decode: DecodePage[T],
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> None: ...

    def __init__(
        self,
        fetch_page: FetchPage[Any],
        *,
        decode: DecodePage[T] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> None:
        walker: PageWalker[Any] = PageWalker(fetch_page, cursor=cursor, limit=limit)
        self._walker = walker
        self._decode = decode
        self._source: _Source[Any] = walker
        self._prefetch: _Prefetch[Any] | None = None
        if prefetch > 0:
            self._prefetch = self._source = _Prefetch(walker, prefetch)
            # Breaking out of `async for` drops the iterator without telling it: when it is
            # collected, the background fetch is cancelled, as an async generator's would be.
            weakref.finalize(self, self._prefetch.stop)
        self._limit = limit
        self._buffer: Sequence[T] = ()
        self._index = 0
        # Items of the buffer, up to this index, that need no check but counting: not the last
        # one that `limit` allows (yielding it ends the walk), none once the walk has ended.
        self._ready = 0
        self._page_cursor = cursor  # the cursor that fetched the page in the buffer
        self._next_cursor = cursor  # the cursor of the page after it
        self._ended = False
        self._walked = False
        self.items_yielded = 0
        """Items handed to the consumer so far (whole pages, with `pages()`)."""

    @property
    def resume_cursor(self) -> str | None:
        """The cursor from which a new ``list()`` continues this one (``None``: the first page).

        Exact at page boundaries, which is where every error is raised. After a ``break`` in the
        middle of a page it is that page's cursor, whose first items were already yielded.
        """
        if self._index < len(self._buffer):
            return self._page_cursor
        return self._next_cursor

    def __aiter__(self) -> AsyncCursorIterator[T]:
        return self

    async def __anext__(self) -> T:
        index = self._index
        if index < self._ready:  # the common case: the next item of the page in hand
            self._index = index + 1
            self.items_yielded += 1
            return self._buffer[index]
        self._walked = True
        while self._index >= len(self._buffer):
            step = await self._next_step()
            if step is None:
                raise StopAsyncIteration
            self._buffer, self._index = step.page.items, 0
        if self._ended:
            raise StopAsyncIteration
        item = self._buffer[self._index]
        self._index += 1
        self.items_yielded += 1
        limit = self._limit
        if limit is not None and self.items_yielded >= limit:
            self._end()
        elif limit is None:
            self._ready = len(self._buffer)
        else:
            self._ready = min(len(self._buffer), self._index + limit - self.items_yielded - 1)
        return item

    async def _next_step(self) -> Step[T] | None:
        if self._ended:
            return None
        try:
            step = await self._source.step()
            if step is not None and self._decode is not None:
                if self._prefetch is not None:
                    await self._let_prefetch_send()
                step = Step(step.cursor, self._decode(step.page))
        except NorthflankError as error:
            self._end()
            error.add_note(
                f"resume with list(..., cursor={self.resume_cursor!r}): "
                f"{self.items_yielded} items were yielded before this error"
            )
            error._set_resume_point(self.resume_cursor, self.items_yielded)
            raise
        if step is None:
            self._end()
            return None
        self._page_cursor, self._next_cursor = step.cursor, step.page.cursor
        return step

    async def _let_prefetch_send(self) -> None:
        # Taking the page freed a prefetch slot: one turn of the loop lets the task write its
        # request, so that the server works on the next page while this one is decoded.
        try:
            await asyncio.sleep(0)
        except BaseException:
            self._end()  # cancelled: the listing is over, whether or not the caller keeps it
            raise

    def _end(self) -> None:
        self._ended = True
        self._ready = 0
        self._source.stop()

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
        return _PageIterator(self)

    async def aclose(self) -> None:
        """Stop the walk: no further page is fetched, a prefetch in flight is cancelled.

        Safe to call more than once. Also available as ``async with list(...) as it:``.
        """
        self._end()
        if self._prefetch is not None:
            await self._prefetch.wait_stopped()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _PageIterator(AsyncIterator[Page[T]]):
    def __init__(self, items: AsyncCursorIterator[T]) -> None:
        # Holding the item iterator keeps it alive while pages are walked: `list(...).pages()`
        # drops it at once, and its finalizer would stop the prefetch under our feet.
        self._items = items

    async def __anext__(self) -> Page[T]:
        step = await self._items._next_step()
        if step is None:
            raise StopAsyncIteration
        self._items.items_yielded += len(step.page.items)
        return step.page

    async def aclose(self) -> None:
        await self._items.aclose()
