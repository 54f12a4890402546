"""An in-memory fake of the Northflank job API, served by a real aiohttp server.

The fake is the *server* side of the project: it deliberately imports nothing from the
rest of ``northflank_async`` so that it can be used to test the client honestly.

`FakeNorthflank` is a face over rooms, each reading time from one clock:

- `._store` (`Store`): projects, jobs, services, builds, runs and branches (`._records`),
  seeded by the data generator (`._generate`), with their logs (`._logs`, `._logplan`);
- `._faults` (`FaultInjector`): scripted and random faults;
- `._progress` (`ProgressEngine`): moves started builds and runs along over time;
- `._integrations` and `._notify` (`Notifier`): notification integrations, and the events of
  live builds and runs POSTed to them (retries, faults, a record);
- `._handlers` (`Handlers`): what each endpoint answers, and the one route table;
- `._routes` (`Routes`): the aiohttp app: dispatch, faults, authentication, the rate-limit
  window (`._ratewindow`), the record; answers rendered by `._answers`, requests checked by
  `._requests`, tails served by `._tail`.

The face itself is one class in parts (mixins over `._rooms.Rooms`): this module holds the
settings, the lifecycle, the record and the faults; `._fake_data` the data methods,
`._fake_logs` the log methods, `._fake_activity` progress, outcomes and `simulate`, and
`._fake_notify` the notification integrations and their deliveries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from ._clock import Clock, loop_time
from ._fake_activity import ActivityFace
from ._fake_data import DataFace
from ._fake_logs import LogFace
from ._fake_notify import NotifyFace
from ._faults import DEFAULT_FAULT_KINDS, FaultInjector, FaultKind
from ._handlers import Handlers
from ._notify import NotificationDelivery, Notifier
from ._progress import ProgressEngine
from ._ratewindow import RateWindow
from ._records import Branch, Build, Run
from ._rooms import check_seconds
from ._routes import RECORD_LIMIT, RecordedRequest, Routes
from ._store import Store
from ._tail import TailRecord

__all__ = [
    "Branch",
    "Build",
    "FakeNorthflank",
    "FaultKind",
    "NotificationDelivery",
    "RecordedRequest",
    "Run",
    "TailRecord",
]


class FakeNorthflank(DataFace, LogFace, ActivityFace, NotifyFace):
    """An in-memory Northflank API for jobs, served over real HTTP on localhost.

    Use it as an async context manager (or call `start` and `close`)::

        async with FakeNorthflank() as fake:
            fake.add_job("demo", "nightly", builds=250)
            # point a client at fake.base_url with token fake.token

    It serves list/get/start/abort of job builds and job runs, list/get of jobs, the
    list of a job's branches and the notification integrations (whose URLs it POSTs
    the events of live builds and runs to: `add_notification_integration`), under both
    the team-token form (``/v1/projects/{projectId}/jobs/{jobId}/...``) and the
    organisation form
    (``/v1/teams/{teamId}/projects/...``, any team id), checks the bearer token,
    enforces a real rate-limit window (``rate_limit=None`` disables it; the headers then
    show a limit and remaining budget of 1,000,000 and a reset of 0), and can inject
    faults (`script`, `faults`, `latency`). Requests are recorded in `requests` (the
    newest `record_limit` of them). Authentication is checked before the rate limit, so
    401 answers and injected faults never spend the budget, nor do 429s.

    Time comes from one clock, `clock` (seconds, monotonic): by default the running
    event loop's ``loop.time()``, so the fake follows a virtual loop clock. Timestamps
    in the data (``createdAt``, ``startedAt``, ...) are 2025-06-30T12:00:00Z plus the
    clock's reading; generated history lies before that instant.
    """

    def __init__(
        self,
        *,
        token: str = "nf-fake-token",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: tuple[int, float] | None = (1000, 3600.0),
        latency: float = 0.0,
        seed: int = 0,
        clock: Clock | None = None,
        record_limit: int = RECORD_LIMIT,
    ) -> None:
        if isinstance(record_limit, bool) or not isinstance(record_limit, int):
            raise TypeError("record_limit must be an int")
        if record_limit < 1:
            raise ValueError("record_limit must be >= 1")
        self._host = host
        self._port = port
        self._clock: Clock = loop_time if clock is None else clock
        self._progress = ProgressEngine(self._clock)
        self._store = Store(seed=seed, clock=self._clock, progress=self._progress)
        self._faults = FaultInjector()
        self._notifier = Notifier(
            integrations=self._store.integrations,
            progress=self._progress,
            clock=self._clock,
            seed=seed,
        )
        self._store.listener = self._notifier.tell
        self._store.integrations.on_create = self._notifier.ensure_pump
        self._handlers = Handlers(store=self._store, progress=self._progress, clock=self._clock)
        self._routes = Routes(
            handlers=self._handlers,
            faults=self._faults,
            clock=self._clock,
            token=token,
            latency=check_seconds("latency", latency),
            record_limit=record_limit,
        )
        self._routes.rate = RateWindow(*rate_limit) if rate_limit else RateWindow(None, 3600.0)
        self._runner = None
        self._site: web.TCPSite | None = None
        self._base_url: str | None = None

    # ------------------------------------------------------------------ settings

    @property
    def token(self) -> str:
        """The bearer token the fake accepts."""
        return self._routes.token

    @token.setter
    def token(self, value: str) -> None:
        self._routes.token = value

    @property
    def latency(self) -> float:
        """Seconds added before each answer (0 by default)."""
        return self._routes.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self._routes.latency = check_seconds("latency", value)

    @property
    def retry_after(self) -> float:
        """Seconds a scripted ``429`` asks clients to wait (``Retry-After``)."""
        return self._routes.retry_after

    @retry_after.setter
    def retry_after(self, value: float) -> None:
        self._routes.retry_after = check_seconds("retry_after", value)

    @property
    def slow_seconds(self) -> float:
        """Seconds the ``slow`` fault waits before answering (30 by default)."""
        return self._routes.slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        self._routes.slow_seconds = check_seconds("slow_seconds", value)

    @property
    def clock(self) -> Clock:
        """The clock every part of the fake reads (seconds, monotonic)."""
        return self._clock

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving on the configured host and port.

        Port 0 (the default) binds a free port; read the address from `base_url`.
        Raises RuntimeError when already running and OSError when the port is taken.
        """
        if self._runner is not None:
            raise RuntimeError("FakeNorthflank is already running")
        self._routes.closing = asyncio.Event()  # a fresh one: each start may run in a new loop
        # handler_cancellation: a client that goes away cancels its handler (a "slow"
        # fault must not outlive its client); access_log=None keeps test output clean.
        runner = web.AppRunner(
            self._routes.make_app(),
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=5.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        self._start_activity()
        self._notifier.start()
        port = runner.addresses[0][1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop serving and release the port.

        The fake stops listening first, then drops the connections of requests still
        waiting (a ``slow`` fault, latency) instead of waiting for them, so closing is
        quick. Calling it again, or before `start`, does nothing. The data is kept.
        """
        runner, site = self._runner, self._site
        self._runner = self._site = None
        await self._stop_activity()
        await self._notifier.close()
        if runner is None or site is None:
            return
        # Stop listening before waking the waiting handlers: a client that retries the
        # connection they drop is then refused instead of racing the shutdown.
        await site.stop()
        self._routes.closing.set()
        await runner.cleanup()

    async def __aenter__(self) -> FakeNorthflank:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """The root URL to point a client at, e.g. ``http://127.0.0.1:54321``.

        It has no trailing slash and carries the real port when port 0 was asked for.
        Raises RuntimeError before `start`.
        """
        if self._base_url is None:
            raise RuntimeError("FakeNorthflank is not started")
        return self._base_url

    # ------------------------------------------------------------------ observability

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far (the newest `record_limit`), in arrival order.

        A fresh list of frozen `RecordedRequest` each time; a request still being
        answered shows ``status=None`` until its answer is sent.
        """
        return [slot.request for slot in self._routes.record]

    @property
    def record_limit(self) -> int:
        """How many requests `requests` keeps (the newest; 10,000 by default)."""
        maxlen = self._routes.record.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def request_count(self) -> int:
        """How many requests were received, also those the bounded record has dropped.

        Faulted, dropped, rate-limited and unauthorised requests are all counted.
        """
        return self._routes.total

    @property
    def connection_count(self) -> int:
        """How many distinct client TCP connections were seen.

        Connections are told apart by their source port, so a client reusing one
        keep-alive connection for many requests counts once.
        """
        return len(self._routes.peer_ports)

    def reset_stats(self) -> None:
        """Forget the recorded requests and connections, and zero `request_count`.

        Data, cursors, the rate-limit window and pending faults are left as they are.
        """
        self._routes.reset_stats()

    # ------------------------------------------------------------------ configuration

    def set_rate_limit(self, limit: int | None, window: float = 3600.0) -> None:
        """Replace the rate limit at runtime and start a fresh window.

        `limit` requests are allowed per window of `window` seconds, which opens at the
        next counted request. None disables enforcement; the headers then show a limit
        and remaining budget of 1,000,000.
        """
        self._routes.rate = RateWindow(limit, window)

    def script(self, *steps: FaultKind) -> None:
        """Queue one fault per upcoming request, in order, ahead of any random faults.

        A step is an HTTP status from 400 to 599 (answered with the JSON error envelope;
        ``429`` adds ``Retry-After``; ``502`` answers a proxy's HTML page), ``"html502"``,
        ``"drop"`` (close the connection without answering), ``"lost_answer"`` (handle
        the request, so that its effect happens, then close the connection without
        answering: a lost answer), ``"truncate"`` (a 200 whose body stops short of its
        Content-Length), ``"slow"`` (wait `slow_seconds`, then answer normally) or
        ``"ok"`` (answer normally).
        """
        self._faults.script(steps)

    def faults(
        self, rate: float, *, seed: int = 0, kinds: Sequence[FaultKind] = DEFAULT_FAULT_KINDS
    ) -> None:
        """Fail each unscripted request with probability `rate`, reproducibly from `seed`.

        The kind of each fault is drawn uniformly from `kinds` (see `script`).
        ``faults(0)`` turns random faults off.
        """
        self._faults.randomly(rate, seed, kinds)
