"""A receiving group's queue in Redis: `RedisWebhooks`, the `WebhookChannel` of a coordinator.

Any replica may receive a notification (a load balancer in front of several); each is queued
once for the whole group and handed to one member:

- ``queue`` runs one script (`redis_scripts._QUEUE`): unless the event id's ``seen`` key
  exists, it appends the notification to the group's stream and sets that key with the
  dedupe time (``SET ... PX``), both or neither; a full stream (``limit`` entries) refuses it;
- members read the stream through one consumer group (``XREADGROUP``), first taking what
  another member left unacknowledged for ``claim_after`` seconds (``XAUTOCLAIM``: a member
  that died or stalled);
- ``ack`` acknowledges and deletes the entries at once (`redis_scripts._DONE`), so the stream
  holds only the backlog.

The ``seen`` key is named by a SHA-256 of the event id (any id, one short key).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .._core.fleet import CoordinatorUnavailable, Delivery
from .redis_scripts import _CONSUMERS

__all__ = ["RedisWebhooks", "Store", "StreamConsumers", "text"]

_T = TypeVar("_T")


class Store(Protocol):
    """What a stream's readers use of their coordinator (`redis_store.RedisCoordinator`):
    its namespace, its client, its scripts, its guard around a command and its read wait."""

    namespace: str
    _client: Any
    _block: float

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> list[Any]: ...

    async def _call(self, command: Callable[[], Awaitable[_T]]) -> _T: ...


class RedisWebhooks:
    """`WebhookChannel` on the keys named in the module's docstring."""

    def __init__(self, coordinator: Store, group: str) -> None:
        self._coordinator = coordinator
        self.base = f"{coordinator.namespace}:webhooks:{{{group}}}"
        self.events = f"{self.base}:events"
        self._consumers = StreamConsumers(coordinator, self.events)

    def seen_key(self, event_id: str) -> str:
        digest = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.base}:seen:{digest}"

    async def queue(self, event_id: str, payload: str, ttl: float, limit: int) -> bool | None:
        keys = [self.seen_key(event_id), self.events]
        ms = 0 if math.isinf(ttl) else max(1, round(ttl * 1000))  # 0: remembered for ever
        (code,) = await self._coordinator._run("queue", keys, [ms, limit, payload])
        code = int(code)
        return None if code < 0 else bool(code)

    async def receive(self, member: str, claim_after: float, count: int) -> list[Delivery]:
        return await self._consumers.read(member, claim_after, count)

    async def ack(self, entry_ids: list[str]) -> None:
        if entry_ids:
            await self._coordinator._run("done", [self.events], list(entry_ids))


class StreamConsumers:
    """One stream read through its consumer group ``members``: a receiving group's queue, or
    a monitoring group's events (`redis_store`).

    The consumer group is made on first use (again once the server lost it); ``read`` first
    takes what another member left unacknowledged for ``claim_after`` seconds (when given).
    """

    def __init__(self, coordinator: Store, stream: str) -> None:
        self._coordinator = coordinator
        self._stream = stream
        self._ready = False  # the consumer group exists (as far as this member knows)

    async def _ensure_group(self) -> None:
        if self._ready:
            return
        client = self._coordinator._client
        from redis.exceptions import ResponseError

        async def create() -> None:
            try:
                await client.xgroup_create(self._stream, _CONSUMERS, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self._coordinator._call(create)
        self._ready = True

    async def read(self, member: str, claim_after: float | None, count: int) -> list[Delivery]:
        """Up to ``count`` events for ``member``; none after a short wait with nothing to hand."""
        await self._ensure_group()
        client = self._coordinator._client
        stream = self._stream
        try:
            if claim_after is not None:
                idle = max(1, round(claim_after * 1000))
                reply: Any = await self._coordinator._call(
                    lambda: client.xautoclaim(
                        stream, _CONSUMERS, member, idle, start_id="0-0", count=count
                    )
                )
                got = [_delivery(i, f, redelivered=True) for i, f in reply[1] if f is not None]
                if got:
                    return got
            block = max(1, round(self._coordinator._block * 1000))
            answer: Any = await self._coordinator._call(
                lambda: client.xreadgroup(
                    _CONSUMERS, member, {stream: ">"}, count=count, block=block
                )
            )
        except CoordinatorUnavailable as exc:
            if "NOGROUP" in exc.reason:  # the server lost the group (a restart without data)
                self._ready = False
            raise
        return [
            _delivery(entry_id, fields, redelivered=False)
            for _stream, entries in answer or []
            for entry_id, fields in entries
            if fields is not None
        ]


def text(value: Any) -> str:
    """A Redis reply's value as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _delivery(entry_id: Any, fields: Any, *, redelivered: bool) -> Delivery:
    payload = fields.get(b"e", fields.get("e", b""))
    return Delivery(text(entry_id), text(payload), redelivered=redelivered)
