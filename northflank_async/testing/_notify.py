"""The fake sends notifications: each event of a live build or run, POSTed to its integrations.

The store tells the `Notifier` each event (``build:start`` when a build is created,
``build:success``/``failure``/``abort`` when it concludes, ``job-run:*`` for runs); for every
integration that sends it, one delivery task POSTs ``{"event", "data"}`` with the real headers
(``X-Northflank-Notification-Integration-Id``, ``-Name``, ``-Token``, ``-Event-Id``,
``-Event-Type``). A non-2xx answer or a connection error is a failed request: counted on the
integration (disabled at `Settings.disable_after`) and retried with exponential backoff,
`Settings.retries` times, sleeping on the event loop (a virtual clock runs hours at once).

Faults (`NotifyFaults`), drawn reproducibly per delivery: ``lose`` (never sent), ``duplicate``
(sent again once delivered, same event id), ``delay`` (held up to that many seconds) and
``reorder`` (a start held back until its item's end has been sent). While an integration
exists and the fake's clock follows the loop's (`follows_loop`), a pump moves builds and runs
in time mode along at the moment their stage ends, so their events leave on time even when
nobody polls. `close()` cancels and awaits every task: nothing outlives the fake.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Sequence
from typing import Any, Final

import aiohttp

from ._clock import Clock, follows_loop
from ._integrations import Integration, Integrations
from ._progress import ProgressEngine
from ._records import Job

__all__ = ["NotificationDelivery", "Notifier", "NotifyFaults", "Settings"]

_HEADER: Final = "X-Northflank-Notification-"
_BUILD_FIELDS: Final[tuple[str, ...]] = (
    "id", "branch", "pullRequestId", "status", "sha", "concluded", "createdAt"
)  # fmt: skip
_BUILD_END_FIELDS: Final[tuple[str, ...]] = ("success", "buildConcludedAt")
_RUN_FIELDS: Final[tuple[str, ...]] = (
    "id", "runName", "status", "concluded", "startedAt", "concludedAt"
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class NotificationDelivery:
    """One delivery attempt of a notification, as the fake made it.

    ``outcome`` is ``"delivered"`` (a 2xx), ``"failed"`` (another status, in ``status``, or a
    connection error, in ``error``), ``"lost"`` (the ``lose`` fault: never sent) or
    ``"dropped"`` (the integration was disabled, or deleted, before it was sent).
    ``attempt`` counts from 1 (a duplicate starts again at 1); ``at`` is the loop's time.
    """

    event_id: str
    event_type: str
    integration_id: str
    attempt: int
    outcome: str
    status: int | None = None
    error: str | None = None
    at: float = 0.0


@dataclasses.dataclass(slots=True)
class Settings:
    """How deliveries are retried and when an integration gives up."""

    retries: int = 3
    backoff: float = 5.0  # seconds before the first retry; doubled each time
    max_backoff: float = 60.0
    timeout: float = 10.0  # seconds for one attempt
    disable_after: int | None = 10  # failed requests in a row; None: never disabled
    trace_configs: Sequence[aiohttp.TraceConfig] = ()


@dataclasses.dataclass(slots=True)
class NotifyFaults:
    """The delivery faults, each a probability per delivery, and their random source."""

    lose: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0  # at most this many seconds, uniformly drawn
    reorder: float = 0.0  # starts only: held until the item's end is sent
    rng: random.Random = dataclasses.field(default_factory=lambda: random.Random(0))


@dataclasses.dataclass(slots=True)
class _Event:
    id: str
    type: str
    item: tuple[str, ...]  # the build's or run's key: reordering pairs a start with its end
    project_id: str
    body: dict[str, Any]


class Notifier:
    """Sends the store's events to the integrations, with retries, faults and a record."""

    def __init__(
        self,
        *,
        integrations: Integrations,
        progress: ProgressEngine,
        clock: Clock,
        seed: int,
    ) -> None:
        self.integrations = integrations
        self.progress = progress
        self.clock = clock
        self.settings = Settings()
        self.faults = NotifyFaults()
        self.record: list[NotificationDelivery] = []
        self._ids = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[tuple[str, tuple[str, ...]], list[_Event]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._pump: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._running = False
        self._idle: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Deliver from now on (called when the fake starts serving)."""
        self._running = True
        self._wake = asyncio.Event()
        self.ensure_pump()

    def ensure_pump(self) -> None:
        """Run the pump while the fake serves and follows the loop's time (it works only
        while an integration exists); wake it, as an integration may have been added."""
        self._wake.set()
        if self._running and self._pump is None and follows_loop(self.clock):
            self._pump = asyncio.get_running_loop().create_task(
                self._run_pump(), name="fake-northflank-notify-pump"
            )

    async def close(self) -> None:
        """Stop: cancel the pump and every delivery in flight, and wait for them."""
        self._running = False
        tasks = [*self._tasks, *([self._pump] if self._pump is not None else [])]
        self._pump = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._held.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def settled(self) -> None:
        """Wait until no delivery is pending (held starts excepted)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ events

    def tell(self, event_type: str, job: Job, item: dict[str, Any]) -> None:
        """The store's listener: one event of a live build or run."""
        self._wake.set()  # a new item may be in time mode: the pump looks again
        if not self._running:
            return
        every = self.integrations.by_id.values()
        targets = [i for i in every if i.sends(event_type, job.project_id)]
        if not targets:
            return
        event = self._event(event_type, job, item)
        for integration in targets:
            self._schedule(integration, event)

    def _event(self, event_type: str, job: Job, item: dict[str, Any]) -> _Event:
        event_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        owner = {"id": job.job_id, "name": job.record.get("name", job.job_id)}
        project = {"id": job.project_id, "name": job.project_id}
        if event_type.startswith("job-run:"):
            payload = {k: item[k] for k in _RUN_FIELDS if k in item}
            data = {"run": payload, "job": owner, "project": project}
            key: tuple[str, ...] = ("run", job.project_id, job.job_id, item["id"])
        else:
            fields = _BUILD_FIELDS + (_BUILD_END_FIELDS if item.get("concluded") else ())
            payload = {k: item.get(k) for k in fields if k in item or k == "pullRequestId"}
            data = {"build": payload, job.kind: owner, "project": project}
            key = ("build", job.project_id, job.kind, job.job_id, item["id"])
        body = {"event": event_type, "data": data}
        return _Event(event_id, event_type, key, job.project_id, body)

    def _schedule(self, integration: Integration, event: _Event) -> None:
        faults = self.faults
        rng = faults.rng
        if faults.lose and rng.random() < faults.lose:
            self._note(event, integration, 0, "lost")
            self._release(integration, event)
            return
        if event.type.endswith(":start") and faults.reorder and rng.random() < faults.reorder:
            self._held.setdefault((integration.id, event.item), []).append(event)
            return
        delay = rng.uniform(0, faults.delay) if faults.delay else 0.0
        copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
        self._spawn(self._deliver(integration, event, delay, copies))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name="fake-northflank-notify")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ delivery

    async def _deliver(
        self, integration: Integration, event: _Event, delay: float, copies: int
    ) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        for _ in range(copies):
            await self._send(integration, event)
        self._release(integration, event)

    def _release(self, integration: Integration, event: _Event) -> None:
        """An end has gone (or was lost): the starts held back for it go now, after it."""
        if not event.type.endswith(":start"):
            for held in self._held.pop((integration.id, event.item), []):
                self._spawn(self._deliver(integration, held, 0.0, 1))

    async def _send(self, integration: Integration, event: _Event) -> None:
        settings = self.settings
        for attempt in range(1, settings.retries + 2):
            if (
                self.integrations.by_id.get(integration.id) is not integration
                or (integration.status["disabled"])
            ):
                self._note(event, integration, attempt, "dropped")
                return
            status, error = await self._post(integration, event)
            if status is not None and 200 <= status < 300:
                self.integrations.succeeded(integration)
                self._note(event, integration, attempt, "delivered", status)
                return
            self.integrations.failed(integration, settings.disable_after)
            self._note(event, integration, attempt, "failed", status, error)
            if attempt <= settings.retries and not integration.status["disabled"]:
                wait = min(settings.backoff * 2 ** (attempt - 1), settings.max_backoff)
                await asyncio.sleep(wait)
        # Retries ran out: the notification is lost, as Northflank's would be.

    async def _post(self, integration: Integration, event: _Event) -> tuple[int | None, str | None]:
        headers = {
            f"{_HEADER}Integration-Id": integration.id,
            f"{_HEADER}Integration-Name": integration.record["name"],
            f"{_HEADER}Event-Id": event.id,
            f"{_HEADER}Event-Type": event.type,
        }
        if integration.secret is not None:
            headers[f"{_HEADER}Token"] = integration.secret
        session = self._session
        if session is None or session.closed:
            session = self._session = aiohttp.ClientSession(
                trace_configs=list(self.settings.trace_configs) or None,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        try:
            async with session.post(
                integration.record["webhook"],
                json=event.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, type(exc).__name__

    def _note(
        self,
        event: _Event,
        integration: Integration,
        attempt: int,
        outcome: str,
        status: int | None = None,
        error: str | None = None,
    ) -> None:
        self.record.append(
            NotificationDelivery(
                event.id,
                event.type,
                integration.id,
                attempt,
                outcome,
                status,
                error,
                asyncio.get_running_loop().time(),
            )
        )

    # ------------------------------------------------------------------ the pump

    async def _run_pump(self) -> None:
        """Advance items in time mode when their stage ends, so their events leave on time."""
        while True:
            self._wake.clear()
            if not self.integrations.by_id:
                await self._wake.wait()  # no integration: nothing to send, nothing moved
                continue
            self.progress.advance_where(lambda key: True)
            due = self.progress.next_due()
            if due is None:
                await self._wake.wait()
                continue
            # A hair past the boundary: the stage arithmetic then sees it reached.
            wait = max(0.0, due - self.clock()) + 1e-6
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass
