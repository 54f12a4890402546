"""Endpoints: a path, a model and a key become a request that answers typed objects.

This is the layer between the resources, which only name routes and models, and the transport:
it builds the ``fetch_page`` callback that the pagination engine walks, and the single-object
calls. Nothing here calls back up into the resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from .._core.checks import check_number
from .._core.converter import decode
from .._core.errors import DecodeError
from .._core.models import Page
from .._core.wire import decode_frame, parse_data, read_list_frame
from .._transport.http import Transport
from .pagination import AsyncCursorIterator, DecodePage, FetchPage

__all__ = ["MAX_PER_PAGE", "call", "list_frames", "list_pages", "listing", "page_decoder"]

T = TypeVar("T")

MAX_PER_PAGE = 100


def list_frames(
    transport: Transport, path: str, key: str, per_page: int, *, retry: bool = True
) -> FetchPage[Any]:
    """The ``fetch_page(cursor)`` of a list endpoint whose items are left undecoded.

    One request per page; the envelope and its pagination are checked (`read_list_frame()`),
    so the walk can go on, and `page_decoder()` decodes the items when they are wanted.
    ``retry=False``: one attempt per page, no retries (see ``Transport.request``).
    """
    base = {"per_page": str(per_page)}

    async def fetch_frame(cursor: str | None) -> Page[Any]:
        params = base if cursor is None else {**base, "cursor": cursor}
        envelope = await transport.request("GET", path, params=params, retry=retry)
        try:
            return read_list_frame(envelope, key)
        except DecodeError as error:
            raise error.at("GET", path) from None

    return fetch_frame


def page_decoder(path: str, key: str, model: type[T]) -> DecodePage[T]:
    """Decode the items of a frame from `list_frames()` into ``model``."""

    def decode_page(frame: Page[Any]) -> Page[T]:
        try:
            return decode_frame(frame, key, model)
        except DecodeError as error:
            raise error.at("GET", path) from None

    return decode_page


def list_pages(
    transport: Transport,
    path: str,
    key: str,
    model: type[T],
    per_page: int,
    *,
    retry: bool = True,
) -> FetchPage[T]:
    """The ``fetch_page(cursor)`` of a list endpoint: one request, one decoded page.

    ``retry=False``: one attempt per page, no retries (see ``Transport.request``).
    """
    fetch_frame = list_frames(transport, path, key, per_page, retry=retry)
    decode_page = page_decoder(path, key, model)

    async def fetch_page(cursor: str | None) -> Page[T]:
        return decode_page(await fetch_frame(cursor))

    return fetch_page


def listing(
    transport: Transport,
    path: str,
    key: str,
    model: type[T],
    *,
    per_page: int,
    cursor: str | None,
    limit: int | None,
    prefetch: int,
) -> AsyncCursorIterator[T]:
    """An iterator over a list endpoint, its arguments checked before anything is sent."""
    check_number(per_page, "per_page", integer=True, minimum=1, maximum=MAX_PER_PAGE)
    if limit is not None:
        check_number(limit, "limit", integer=True)
    check_number(prefetch, "prefetch", integer=True)
    if cursor is not None and not isinstance(cursor, str):
        raise ValueError(f"cursor must be a string or None, got {cursor!r}")
    if limit is not None:
        per_page = max(1, min(per_page, limit))  # never fetch more than the caller wants
    # The walker fetches frames and the iterator decodes a page when the consumer takes it: with
    # prefetch, the next request is then in flight while the page in hand is decoded.
    return AsyncCursorIterator(
        list_frames(transport, path, key, per_page),
        decode=page_decoder(path, key, model),
        cursor=cursor,
        limit=limit,
        prefetch=prefetch,
    )


async def call(
    transport: Transport,
    method: str,
    path: str,
    model: type[T],
    *,
    json: Mapping[str, Any] | None = None,
    retry: bool = True,
) -> T:
    """One request whose ``data`` decodes into ``model`` (``retry=False``: one attempt)."""
    envelope = await transport.request(method, path, json=json, retry=retry)
    try:
        return decode(parse_data(envelope), model)
    except DecodeError as error:
        raise error.at(method, path) from None
