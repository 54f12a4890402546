"""Cursor pagination: :class:`AsyncCursorIterator` walks ``pagination.cursor`` page by page.

Pages are fetched only when the consumer asks for an item the iterator does not hold yet, so
a consumer that stops early (``break``, ``limit=``) costs no extra request, and nothing runs in
the background between two items.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from ._core import CursorTracker
from ._errors import NorthflankError
from ._models import Page

__all__ = ["AsyncCursorIterator", "FetchPage"]

T = TypeVar("T")

FetchPage = Callable[[str | None, int], Awaitable[Page[T]]]
"""``fetch(cursor, per_page)``: one page of a listing (``cursor=None`` for the first)."""


class _Pager(Generic[T]):
    """Cursor bookkeeping for one walk through a listing."""

    def __init__(self, fetch: FetchPage[T], cursor: str | None, per_page: int, limit: int | None):
        self._fetch = fetch
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

    async def next_page(self) -> Page[T] | None:
        """The next page, ``None`` once the listing (or its ``limit``) is exhausted."""
        if self._done:
            return None
        cursor = self._cursor
        try:
            page = await self._fetch(cursor, self._per_page)
            self._cursor = self._tracker.follow(page)
        except NorthflankError as error:
            # Resuming from the failed page's cursor loses and repeats nothing.
            self._done = True
            error.resume_cursor = cursor
            error.items_yielded = self.items_yielded
            raise
        except BaseException:
            self._done = True
            raise
        self.items_seen += len(page.items)
        if self._cursor is None or (self._limit is not None and self.items_seen >= self._limit):
            self._done = True
        return page


class _PageIterator(AsyncIterator[Page[T]]):
    def __init__(self, pager: _Pager[T]) -> None:
        self._pager = pager

    async def __anext__(self) -> Page[T]:
        page = await self._pager.next_page()
        if page is None:
            raise StopAsyncIteration
        self._pager.items_yielded += len(page.items)
        return page


class AsyncCursorIterator(AsyncIterator[T]):
    """An async iterator over every item of a listing, following the API's cursors.

    ``async for item in it`` yields items in the API's order; :meth:`collect` gathers them into
    a list; :meth:`pages` walks whole :class:`Page` objects instead. An iterator is single-use:
    call ``list()`` again for a second walk. Errors raised while fetching a page carry
    ``resume_cursor`` and ``items_yielded`` so that a new listing can continue exactly there.
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        per_page: int,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> None:
        self._pager = _Pager(fetch, cursor, per_page, limit)
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
            page = await pager.next_page()
            if page is None:
                raise StopAsyncIteration
            self._buffer = page.items  # type: ignore[assignment]
            self._index = 0
        item = self._buffer[self._index]
        self._index += 1
        pager.items_yielded += 1
        if self._limit is not None and pager.items_yielded >= self._limit:
            self._buffer = ()
            pager.stop()
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
        return _PageIterator(self._pager)

    async def aclose(self) -> None:
        """Stop the walk: no further page is fetched. Safe to call more than once."""
        self._pager.stop()
        self._buffer = ()
