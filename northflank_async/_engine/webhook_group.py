"""A webhook receiver as one member of a receiving group: `GroupQueue`.

Every replica queues what it receives in the group's `WebhookChannel` (Redis) before it
answers 2xx, so a notification is durable once acknowledged to Northflank, and a repeat
received by any replica is answered without being queued again. A member that consumes takes
events from the channel through a pump task (started by the first read), a few at a time, and
acknowledges each once its consumer asks for the next one (or calls ``ack``): an event handed
to a member that dies or stalls is handed to another ``redeliver_after`` seconds later.

While the store is unreachable, notifications are answered 503 (Northflank resends them) and
the pump waits; one warning when it goes and one when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque

import attrs

from .._core.errors import WebhookUnavailableError
from .._core.fleet import CoordinatorUnavailable, WebhookChannel
from .._core.webhooks import WebhookEvent, decode_event, encode_event

__all__ = ["BATCH", "GroupQueue", "GroupSettings"]

logger = logging.getLogger("northflank_async")

#: How many events a member takes from the group's queue at once (its local buffer).
BATCH = 16


@attrs.frozen
class GroupSettings:
    """A receiving group's settings, as its `WebhookReceiver` was given them."""

    #: The group's name (in log records).
    name: str
    #: How long (seconds) the group remembers an event id (its ``seen`` key).
    dedupe_ttl: float
    #: How many events the group's queue holds before a notification is answered 503.
    limit: int
    #: Seconds after which an event a member took and did not acknowledge goes to another.
    redeliver_after: float
    #: Seconds between looks at a store that did not answer.
    recheck: float


class GroupQueue:
    """The group side of a `WebhookReceiver`: queueing, taking, acknowledging."""

    def __init__(self, channel: WebhookChannel, settings: GroupSettings) -> None:
        self._channel = channel
        self._settings = settings
        self.member = uuid.uuid4().hex
        self._buffer: deque[tuple[str, WebhookEvent]] = deque()
        self._handed: dict[str, str] = {}  # event id -> entry id: handed out, not acknowledged
        self._released: dict[str, None] = {}  # entry ids to acknowledge (in order)
        self._arrived = asyncio.Event()
        self._wanted = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        self._failure: Exception | None = None  # what ended the pump (refused credentials)
        self._down = False
        self.redelivered = 0

    @property
    def pending(self) -> int:
        return len(self._buffer)

    # -- receiving (any replica)

    async def queue(self, event: WebhookEvent) -> bool:
        """Queue ``event`` for the group: False for a repeat; `WebhookUnavailableError` (503)
        when the store is unreachable or the group's queue is full."""
        try:
            ttl, limit = self._settings.dedupe_ttl, self._settings.limit
            queued = await self._channel.queue(event.event_id, encode_event(event), ttl, limit)
        except CoordinatorUnavailable as exc:
            self._unreachable(exc.reason)
            raise WebhookUnavailableError(
                "the receiving group's store is unreachable: send it later"
            ) from None
        self._reachable()
        if queued is None:
            raise WebhookUnavailableError(
                f"the receiving group's queue is full ({limit} events wait): send it later"
            )
        return queued

    # -- consuming (the members that read)

    async def next(self) -> WebhookEvent | None:
        """The next event (the one handed before is acknowledged first); None once closed
        and the local buffer is empty."""
        self._release_all()
        await self._settle()
        self._start()
        while not self._buffer:
            if self._failure is not None:
                raise self._failure
            if self._closed:
                return None
            self._arrived.clear()
            self._wanted.set()
            await self._arrived.wait()
        return self._hand(*self._buffer.popleft())

    def take(self) -> list[WebhookEvent]:
        """Every event in the local buffer (those taken before are acknowledged by the pump)."""
        if self._failure is not None:
            raise self._failure
        self._release_all()
        self._start()
        events = [self._hand(entry, event) for entry, event in self._buffer]
        self._buffer.clear()
        self._wanted.set()
        return events

    async def wait(self) -> None:
        """Return once the local buffer holds an event (taking starts), or once closed."""
        self._start()
        while not self._buffer and not self._closed:
            if self._failure is not None:
                raise self._failure
            self._arrived.clear()
            self._wanted.set()
            await self._arrived.wait()

    async def ack(self, event: WebhookEvent) -> None:
        entry = self._handed.pop(event.event_id, None)
        if entry is not None:
            self._released[entry] = None
            await self._settle()

    def _hand(self, entry: str, event: WebhookEvent) -> WebhookEvent:
        self._handed[event.event_id] = entry
        return event

    def _release_all(self) -> None:
        for entry in self._handed.values():
            self._released[entry] = None
        self._handed.clear()

    async def _settle(self) -> None:
        """Acknowledge what was released, waiting for the store while it is unreachable."""
        while self._released:
            entries = list(self._released)
            try:
                await self._channel.ack(entries)
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)
                if self._closed:
                    return
                await asyncio.sleep(self._settings.recheck)
                continue
            self._reachable()
            for entry in entries:
                self._released.pop(entry, None)

    def _start(self) -> None:
        if self._pump is None and not self._closed:
            self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await self._take_turns()
        except Exception as exc:  # a ConfigurationError (credentials): raised to the reader
            self._failure = exc
            self._arrived.set()

    async def _take_turns(self) -> None:
        while not self._closed:
            await self._settle()
            if self._buffer:
                self._wanted.clear()
                await self._wanted.wait()
                continue
            try:
                got = await self._channel.receive(
                    self.member, self._settings.redeliver_after, BATCH
                )
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)
                await asyncio.sleep(self._settings.recheck)
                continue
            self._reachable()
            for delivery in got:
                try:
                    event = decode_event(delivery.payload)
                except ValueError as error:
                    logger.warning("webhook group %s: %s: skipped", self._settings.name, error)
                    self._released[delivery.entry_id] = None
                    continue
                self.redelivered += delivery.redelivered
                self._buffer.append((delivery.entry_id, event))
            if self._buffer:
                self._arrived.set()

    # -- closing

    async def close(self, *, ack: bool) -> None:
        """Stop taking events. With ``ack``, those handed out are acknowledged (best effort,
        bounded); the others, and those in the local buffer, pass to another member after
        ``redeliver_after``."""
        self._closed = True
        self._arrived.set()
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            await asyncio.wait([pump])
        if ack:
            self._release_all()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(1.0, self._settings.recheck)):
                    await self._settle()

    def stop(self) -> None:
        """`close` without waiting: nothing acknowledged (handed again after a while)."""
        self._closed = True
        self._arrived.set()
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None

    # -- the store's health

    def _unreachable(self, reason: str) -> None:
        if not self._down:
            self._down = True
            logger.warning(
                "webhook group %s: the coordinator is unreachable (%s): "
                "notifications are refused (503) and delivery pauses",
                self._settings.name,
                reason,
            )

    def _reachable(self) -> None:
        if self._down:
            self._down = False
            logger.warning("webhook group %s: the coordinator answers again", self._settings.name)
