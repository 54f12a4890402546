"""`WebhookReceiver`: Northflank's notifications, verified, deduplicated and queued.

The pure steps (the token, the bounds, the decoding) are `_core.webhooks.WebhookParser`'s, the
dedupe window `_core.dedupe.DedupeWindow`'s, the HTTP side `_transport.webhook_server`'s. The
receiver joins them around a bounded queue, which its consumer (a user's loop, or a monitor)
reads with ``async for`` or `WebhookReceiver.take_pending`. In a receiving group (a
coordinator and a group name), the queue is the group's, in the coordinator's store
(`_engine.webhook_group.GroupQueue`), with the same two ways to read it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from .._core.checks import check_number
from .._core.dedupe import DEDUPE_SIZE, DEDUPE_TTL, DedupeWindow
from .._core.errors import ConfigurationError, WebhookUnavailableError
from .._core.fleet import Coordinator, check_name
from .._core.webhooks import MAX_BODY, WebhookEvent, WebhookParser
from .._engine.webhook_group import GroupQueue, GroupSettings
from .._transport import webhook_server
from .._transport.webhook_server import WebhookHandler, WebhookServer

__all__ = ["QUEUE_SIZE", "REDELIVER_AFTER", "WebhookReceiver"]

#: How many verified events a receiver (or a receiving group) holds for its consumers by default.
QUEUE_SIZE = 10_000
#: Seconds after which an event a group member took and did not acknowledge goes to another.
REDELIVER_AFTER = 30.0


class WebhookReceiver:
    """Receives Northflank's notifications (an integration of type ``RAW_WEBHOOK``).

    ```python
    receiver = WebhookReceiver(os.environ["NF_WEBHOOK_SECRET"])
    async with receiver.serve(host="0.0.0.0", port=8080, path="/northflank") as server:
        print("register", server.url)  # behind TLS: the token travels in plain text
        async for event in receiver:
            print(event.kind, event.job_id or event.service_id, event.build)
    ```

    Or mount `handler` in an aiohttp application of your own
    (``app.router.add_route("*", "/northflank", receiver.handler)``), or call `receive` from
    any other framework.

    Args:
        secret: the integration's secret, or several while one is rotated (any one passes).
            Never shown in a repr, a log record or an error.
        max_body: the largest body accepted, in bytes (more is answered 413, unread).
        dedupe_size: how many event ids are remembered, the oldest forgotten first.
        dedupe_ttl: how long (seconds) an event id is remembered.
        queue_size: how many events wait for the consumer; when that many wait, a new
            notification is answered 503 (Northflank resends it later), never dropped.
        coordinator: with ``group``, receive as one replica of a group (both or neither):
            each notification is queued in the coordinator's store (a Redis stream) before it
            is answered 2xx, once for the whole group, and handed to one member that reads;
            see the guide's "Receiving in a group". ``queue_size`` then bounds the group's
            queue.
        group: the receiving group's name (with ``coordinator``).
        redeliver_after: in a group, seconds after which an event a member took and did not
            acknowledge (it died, or is still busy) is handed to another member.

    Each event id is handed out once while it is remembered, in the order the notifications
    arrived; Northflank itself promises no order (an end may come before its start).
    """

    def __init__(
        self,
        secret: str | Iterable[str],
        *,
        max_body: int = MAX_BODY,
        dedupe_size: int = DEDUPE_SIZE,
        dedupe_ttl: float = DEDUPE_TTL,
        queue_size: int = QUEUE_SIZE,
        coordinator: Coordinator | None = None,
        group: str | None = None,
        redeliver_after: float = REDELIVER_AFTER,
    ) -> None:
        check_number(queue_size, "queue_size", minimum=1, integer=True)
        check_number(redeliver_after, "redeliver_after", minimum=0, above=True)
        self._parser = WebhookParser(secret, max_body=max_body)
        self._window = DedupeWindow(dedupe_size, dedupe_ttl)
        self._queue: deque[WebhookEvent] = deque()
        self._queue_size = queue_size
        self._arrived = asyncio.Event()
        self._closed = False
        self._group: GroupQueue | None = None
        if (coordinator is None) != (group is None):
            raise ConfigurationError("a receiving group needs both coordinator= and group=")
        if coordinator is not None:
            name = check_name(group, "group")
            settings = GroupSettings(
                name, self._window.ttl, queue_size, redeliver_after, coordinator.recheck_interval
            )
            self._group = GroupQueue(coordinator.webhook_channel(name), settings)
        self._handler = webhook_server.make_handler(self)

    def __repr__(self) -> str:
        return (
            f"WebhookReceiver(<secret hidden>, max_body={self.max_body}, "
            f"queued={self.pending}, closed={self._closed})"
        )

    @property
    def max_body(self) -> int:
        """The largest body accepted, in bytes."""
        return self._parser.max_body

    @property
    def handler(self) -> WebhookHandler:
        """An aiohttp.web handler: mount it for every method (it answers 405 but to POST)."""
        return self._handler

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify and decode one delivery, without queueing it: pure, no I/O.

        Raises `WebhookAuthError` (401), `WebhookPayloadTooLargeError` (413) or
        `WebhookPayloadError` (400); an event type this version does not know is no error.
        """
        return self._parser.parse(headers, body)

    def authenticate(self, headers: Mapping[str, str]) -> None:
        """Raise `WebhookAuthError` unless the token header matches a secret (before a body)."""
        self._parser.authenticate(headers)

    def check_size(self, size: int) -> None:
        """Raise `WebhookPayloadTooLargeError` for a body of more than `max_body` bytes."""
        self._parser.check_size(size)

    def receive(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        """Verify, decode, dedupe and queue one delivery; answer 2xx once this returns.

        Returns the event queued, or ``None`` for a repeat of an event id still remembered
        (answer it 2xx too: it is not queued again). Raises what `parse` raises, or
        `WebhookUnavailableError` (503) when the queue is full or the receiver is closed.
        In a group, use `accept` (the group's queue is reached over the network).
        """
        if self._group is not None:
            raise ConfigurationError("a receiver in a group queues with `await accept(...)`")
        admitted = self._admit(headers, body)
        if admitted is None:
            return None
        event, now = admitted
        if len(self._queue) >= self._queue_size:
            raise WebhookUnavailableError(
                f"the receiver's queue is full ({self._queue_size} events wait): send it later"
            )
        self._window.add(event.event_id, now)
        self._queue.append(event)
        self._arrived.set()
        return event

    async def accept(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        """`receive`, in a group too: once this returns, the event is durably queued for the
        group (answer 2xx); ``None`` for a repeat received by any replica. Raises what
        `receive` raises; in a group, `WebhookUnavailableError` (503) also while the store
        is unreachable or the group's queue is full.
        """
        if self._group is None:
            return self.receive(headers, body)
        admitted = self._admit(headers, body)
        if admitted is None:
            return None
        event, now = admitted
        queued = await self._group.queue(event)
        self._window.add(event.event_id, now)
        return event if queued else None

    def _admit(self, headers: Mapping[str, str], body: bytes) -> tuple[WebhookEvent, float] | None:
        """The steps before queueing, alone or in a group: the event and the time it came,
        ``None`` for a repeat still remembered; raises what `receive` raises (but a full queue)."""
        event = self._parser.parse(headers, body)
        now = _now()
        if self._window.seen(event.event_id, now):
            return None
        if self._closed:
            raise WebhookUnavailableError("the receiver is closed")
        return event, now

    @asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, path: str = "/"
    ) -> AsyncIterator[WebhookServer]:
        """Run a standalone aiohttp server for this receiver while the block runs.

        Gives an object whose ``url`` is the full address to register (``port=0`` binds a
        free port). Plain HTTP: put TLS in front of it (the token travels as is).
        """
        async with webhook_server.serve(self._handler, host=host, port=port, path=path) as server:
            yield server

    def __aiter__(self) -> AsyncIterator[WebhookEvent]:
        return self

    async def __anext__(self) -> WebhookEvent:
        """The next event, waiting for one; iteration ends once the receiver is closed and
        every event queued before has been taken. In a group, asking for the next event
        acknowledges the one before."""
        if self._group is not None:
            event = await self._group.next()
            if event is None:
                raise StopAsyncIteration
            return event
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        return self._queue.popleft()

    async def wait_pending(self) -> None:
        """Return once an event waits (without taking it), or the receiver is closed. In a
        group: once this member has taken one from the group's queue (see `take_pending`)."""
        if self._group is not None:
            await self._group.wait()
            return
        while not self._queue and not self._closed:
            self._arrived.clear()
            await self._arrived.wait()

    def take_pending(self) -> list[WebhookEvent]:
        """Every event waiting, oldest first, without waiting for more (for a polling loop).

        In a group: the events this member has taken from the group's queue (the first call
        starts taking; the next call acknowledges those it returned before).
        """
        if self._group is not None:
            return self._group.take()
        events = list(self._queue)
        self._queue.clear()
        return events

    async def ack(self, event: WebhookEvent) -> None:
        """In a group: ``event`` was handled (else done when the next one is asked for)."""
        if self._group is not None:
            await self._group.ack(event)

    @property
    def pending(self) -> int:
        """How many events wait for the consumer (in a group: taken by this member)."""
        return self._group.pending if self._group is not None else len(self._queue)

    @property
    def redelivered(self) -> int:
        """In a group: how many events this member took after another left them."""
        return self._group.redelivered if self._group is not None else 0

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    def close(self) -> None:
        """Refuse new notifications (503: Northflank resends them) and end the iteration once
        the events already queued have been taken. In a group, nothing more is taken and
        nothing is acknowledged: prefer `aclose`."""
        self._closed = True
        self._arrived.set()
        if self._group is not None:
            self._group.stop()

    async def aclose(self, *, ack: bool = True) -> None:
        """`close`; in a group, the events handed out are acknowledged first (unless
        ``ack=False``: another member gets them after ``redeliver_after``), and those this
        member took but did not hand out pass to another member after that time."""
        self._closed = True
        self._arrived.set()
        if self._group is not None:
            await self._group.close(ack=ack)


def _now() -> float:
    # The loop's clock (a virtual one in tests); monotonic time when called outside a loop.
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()
