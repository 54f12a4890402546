"""What builds and runs share: one owner's items, listed, read, aborted, waited on, logged.

`Items` holds the definitions; `Builds` and `ScopedRuns` declare the public methods (their
item id is ``build_id`` or ``run_id``) and derive their bodies from these with
`item_method`. An `ItemRoute` says where an owner's items and their logs live.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs

from .._core.logquery import log_query
from .._core.models import JobBuild, JobRun
from .._core.owners import Owner
from .._engine.context import ClientContext
from .._engine.endpoints import MAX_PER_PAGE, call, listing
from .._engine.log_streams import LogStream, log_range, log_tail
from .._engine.pagination import AsyncCursorIterator
from .._engine.workflows import StatusWatcher, wait_for_build

__all__ = ["BUILDS", "RUNS", "ItemRoute", "Items"]

T = TypeVar("T", JobBuild, JobRun)


@attrs.frozen
class ItemRoute:
    """Where an owner's items live: their segment, list key, log segment and log id key."""

    segment: str  # "build": .../build, .../build/{id}
    key: str  # "builds": the list envelope's key
    log_segment: str  # "build-logs"
    log_id: str  # "buildId": the logs query's key


BUILDS = ItemRoute("build", "builds", "build-logs", "buildId")
RUNS = ItemRoute("runs", "runs", "logs", "runId")


class Items(Generic[T]):
    """The items (builds, runs) of one owner: the definitions their resources share."""

    _route: ItemRoute
    _model: type[T]

    def __init__(self, ctx: ClientContext, owner: Owner) -> None:
        self._ctx = ctx
        self._transport = ctx.transport
        self._owner = owner

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._owner.describe()}>"

    def list(
        self,
        *,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> AsyncCursorIterator[T]:
        """Every item, in the API's order (builds: newest first), fetched page by page.

        ``per_page`` (1..100) sets the page size; ``cursor`` resumes from a page's cursor (or
        an iterator's ``resume_cursor``); ``limit`` stops after that many items and fetches no
        page it does not need; ``prefetch=N`` keeps up to N pages fetched ahead of the consumer
        in a background task (default 0: a page is fetched only when it is reached, so a
        consumer that stops early wastes no request). Nothing is sent until the iterator is
        consumed.
        """
        return listing(
            self._transport,
            self._owner.path(self._route.segment),
            self._route.key,
            self._model,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=prefetch,
        )

    async def _get(self, item_id: str) -> T:
        path = self._owner.path(self._route.segment, item_id)
        return await call(self._transport, "GET", path, self._model)

    async def _abort(self, item_id: str) -> None:
        # A 409 after an attempt that may have aborted it means the item no longer runs.
        path = self._owner.path(self._route.segment, item_id)
        await self._transport.request("DELETE", path, done_if_repeated=(409,))

    def _watch(
        self, item_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> StatusWatcher[T]:
        raise NotImplementedError

    async def _wait(
        self, item_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> T:
        return await wait_for_build(
            self._watch(item_id, poll_interval=poll_interval, timeout=timeout)
        )

    def _logs(self, item_id: str, **arguments: Any) -> LogStream:
        # The window and the filter (``filter=`` or its keywords) are checked by `log_query`.
        query = log_query(self._route.log_id, item_id, **arguments)
        return log_range(self._transport, self._owner.path(self._route.log_segment), query)

    def _tail_logs(
        self,
        item_id: str,
        *,
        until_concluded: bool = True,
        allow_insecure: bool | None = None,
        **arguments: Any,
    ) -> LogStream:
        query = log_query(self._route.log_id, item_id, **arguments)
        return log_tail(
            self._transport,
            self._owner.path(self._route.log_segment),
            query,
            lambda: self._get(item_id),
            until_concluded=until_concluded,
            allow_insecure=allow_insecure,
        )
