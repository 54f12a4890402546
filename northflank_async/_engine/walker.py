"""The one loop over a listing's pages: fetch a page, check its cursor, stop at the end.

`PageWalker` asks one ``fetch_page(cursor)`` callback (built by ``endpoints`` from a route, a
model and a key) for each page and checks with `CursorTracker` that the cursors move forward.
Every listing, prefetch and follower walks its pages here (see ``pagination``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import attrs

from .._core.errors import PaginationError
from .._core.models import Page

__all__ = ["MAX_EMPTY_PAGES", "CursorTracker", "DecodePage", "FetchPage", "PageWalker", "Step"]

T = TypeVar("T")

FetchPage = Callable[[str | None], Awaitable[Page[T]]]
"""``fetch_page(cursor)``: one decoded page of a listing (``cursor=None`` for the first)."""

DecodePage = Callable[[Page[Any]], Page[T]]
"""``decode(frame)``: a page whose items a ``FetchPage`` left undecoded, decoded."""

#: Empty pages in a row that claim a next page before a listing is refused as endless. One or
#: two can be legitimate (items deleted between two requests empty a page); a third in a row is
#: a server going nowhere, with fresh cursors that the loop check cannot catch.
MAX_EMPTY_PAGES = 3


@attrs.define
class CursorTracker:
    """Checks that a listing moves forward: a cursor for every next page, no loop, no stall.

    Pure bookkeeping, no I/O: fed each page in turn, it returns the cursor to fetch next.
    """

    max_empty_pages: int = MAX_EMPTY_PAGES
    _seen: set[str] = attrs.field(factory=set)
    _empty_in_a_row: int = 0

    def follow(self, page: Page[Any]) -> str | None:
        """The cursor to fetch after ``page``, or ``None`` when it was the last page."""
        if not page.has_next_page:
            return None
        cursor = page.cursor
        if not cursor:
            raise PaginationError("the API said hasNextPage is true but sent no cursor")
        if cursor in self._seen:
            raise PaginationError(f"the API repeated cursor {cursor!r}: refusing to loop")
        self._empty_in_a_row = 0 if page.items else self._empty_in_a_row + 1
        if self._empty_in_a_row >= self.max_empty_pages:
            raise PaginationError(
                f"the API sent {self._empty_in_a_row} empty pages in a row that each claimed "
                "a next page: refusing to walk an endless listing"
            )
        self._seen.add(cursor)
        return cursor


@attrs.frozen
class Step(Generic[T]):
    """A page and the cursor that fetched it (``None`` for the first page)."""

    cursor: str | None
    page: Page[T]


class PageWalker(Generic[T]):
    """The one loop over a listing's pages: fetch, check the cursor, stop at the end or limit."""

    def __init__(
        self, fetch_page: FetchPage[T], *, cursor: str | None = None, limit: int | None = None
    ) -> None:
        self._fetch = fetch_page
        self._cursor = cursor
        self._limit = limit
        self._tracker = CursorTracker()
        self._fetched = 0
        self.done = limit == 0

    def stop(self) -> None:
        """Fetch nothing more."""
        self.done = True

    async def step(self) -> Step[T] | None:
        """The next page, ``None`` once the listing (or its ``limit``) is exhausted.

        A failure ends the walk: the error propagates and later calls return ``None``.
        """
        if self.done:
            return None
        cursor = self._cursor
        try:
            page = await self._fetch(cursor)
            self._cursor = self._tracker.follow(page)
        except BaseException:
            self.done = True
            raise
        self._fetched += len(page.items)
        if self._cursor is None or (self._limit is not None and self._fetched >= self._limit):
            self.done = True
        return Step(cursor, page)
