"""The thin I/O layer: the one place that sends a request.

`Transport` owns (or borrows) the aiohttp session and wraps every request in the
rate-limit gate, a per-attempt timeout and the retry loop. Decisions are taken by the pure
rooms (``_retry``, ``_ratelimit``, ``_wire``, ``_secrets``); this module only sleeps, sends and
reads.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import attrs
from aiohttp import hdrs
from aiohttp.client_middlewares import ClientHandlerType, ClientMiddlewareType
from aiohttp.http_exceptions import DecompressSizeError
from multidict import CIMultiDict, CIMultiDictProxy

from .._core.errors import (
    APIError,
    ClientClosedError,
    ConfigurationError,
    DecodeError,
    NorthflankError,
    RateLimitGateError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from .._core.fleet import (
    BudgetView,
    Coordinator,
    CoordinatorUnavailable,
    GroupChannel,
    SharedBudget,
    Told,
    derive_budget_key,
)
from .._core.models import RateLimit
from .._core.observe import Hook, RequestEnd, RequestStart
from .._core.ratelimit import Attempt, RateLimitState, told_window
from .._core.retry import RetryPolicy, RetryRun
from .._core.secret import FRAGMENT_BODY, HIDDEN, Authorization, Secret
from .._core.urls import websocket_url
from .._core.wire import api_error, decipher_response
from .._version import __version__

__all__ = ["Transport", "WebSocket", "check_trace_configs"]

logger = logging.getLogger("northflank_async")

_USER_AGENT = f"northflank-async/{__version__}"
# Sent with every request, so that a lent session gets them too (they override its defaults).
_HEADERS = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
_CHUNK = 1 << 16
# Retry log lines and TransportError messages quote at most this much of aiohttp's reason.
_REASON_CHARS = 120


class _Failure:
    """An attempt that got no HTTP answer: the error to raise and whether to retry it."""

    __slots__ = ("error", "reached", "reason")

    def __init__(self, error: TransportError, *, reached: bool, reason: str) -> None:
        self.error = error
        self.reached = reached
        self.reason = reason


class _SendFailed(aiohttp.ClientError):
    """The one send of an attempt failed with ``failure``, which aiohttp would have repeated.

    aiohttp resends an idempotent request once, by itself, when the connection fails with
    `aiohttp.ClientOSError` or `aiohttp.ServerDisconnectedError` (a reused keep-alive
    connection the server closed). `_one_send` raises this instead: aiohttp passes any other
    `aiohttp.ClientError` through unchanged, and `Transport._attempt` unwraps it, so that our
    loop (counted, gated, decided by `RetryRun`) is the only one that repeats a request.
    """

    def __init__(self, failure: aiohttp.ClientError) -> None:
        super().__init__(str(failure))
        self.failure = failure


class _SentTwice(aiohttp.ClientError):
    """Something below our loop tried to send one attempt a second time: refused, unsent."""


def _one_send() -> ClientMiddlewareType:
    """A fresh middleware for one attempt: it lets the request reach the network once.

    Passed as the innermost middleware of every request (after a lent session's own), so that
    it wraps the very send: whoever would send the attempt again (aiohttp's own resend of an
    idempotent request, a future aiohttp's, a lent session's middleware) meets `_SentTwice`
    before any byte leaves, and the failures aiohttp repeats come out as `_SendFailed`.
    """
    sent = False

    async def middleware(
        request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        nonlocal sent
        if sent:
            raise _SentTwice(
                "the request was about to be sent again within one attempt (by aiohttp or a "
                "middleware of the session): refused"
            )
        sent = True
        try:
            return await handler(request)
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            if isinstance(exc, aiohttp.ClientConnectorError):
                raise  # never sent, and never repeated by aiohttp either
            raise _SendFailed(exc) from None

    return middleware


class _RateLimitGate:
    """One per client: every request of every task waits here while the window is spent.

    The decisions are `RateLimitState`'s; the gate only waits. Time is the event
    loop's, so that the gate runs on a virtual clock in tests. A request that waits for the
    probe is woken by the probe's release, whatever ended it (answer, failure, cancellation).
    """

    def __init__(self, max_wait: float) -> None:
        self.state = RateLimitState()
        self.max_wait = max_wait
        self._changed = asyncio.Event()
        self._waiting = 0  # tasks waiting on _changed: with none, there is no one to wake
        self._attempts: dict[asyncio.Task[Any], Attempt] = {}

    async def acquire(self, method: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self.state.delay(loop.time())
            if delay == 0:
                task = asyncio.current_task()
                assert task is not None
                self._attempts[task] = self.state.send()
                return
            if delay is not None and delay > self.max_wait:
                raise RateLimitGateError(
                    (
                        f"{method} {path}: not sent, the rate limit is spent; the window "
                        f"resets in {delay:.0f}s, longer than "
                        f"max_rate_limit_wait={self.max_wait:g}s"
                    ),
                    method=method,
                    path=path,
                    retry_after=delay,
                    reset_at=self.state.reset_at,
                )
            if delay is not None:
                logger.info(
                    "rate limit spent: %s %s waits up to %.2fs for the reset", method, path, delay
                )
            # Woken when the probe finishes or an answer tells the budget (a fresher answer
            # may give it back before the reset); else, for a spent window, at its reset.
            self._waiting += 1
            try:
                async with asyncio.timeout(delay) as scope:
                    await self._changed.wait()
            except TimeoutError:
                if not scope.expired():
                    raise
            finally:
                self._waiting -= 1

    def release(self, headers: Mapping[str, str] | None, status: int = 200) -> None:
        """The request that passed `acquire()` in this task is done; never raises."""
        task = asyncio.current_task()
        attempt = self._attempts.pop(task, None) if task is not None else None
        probe = attempt is not None and attempt.probe
        told = False
        try:
            if headers is not None:
                now = asyncio.get_running_loop().time()
                told = self.state.observe(headers, now, datetime.now(UTC), attempt, status=status)
        finally:
            cancelled = task is not None and task.cancelling() > 0
            self.state.finish(attempt=attempt, cancelled=cancelled)
            # Every answer tells the budget: the event is only swapped when someone waits on it.
            if (probe or told) and self._waiting:
                self._changed.set()
                self._changed = asyncio.Event()

    def snapshot(self) -> RateLimit | None:
        return self.state.snapshot()

    @property
    def remaining(self) -> int | None:
        """Requests left in the window by our own count (``None`` while unknown)."""
        return self.state.remaining

    async def close(self) -> None:
        """Nothing to release: the gate holds no connection."""


# A reservation outlives its attempt's timeout by this much before Redis forgets it.
_RESERVATION_SLACK = 10.0
_LOCAL = "local"  # the ticket of an attempt that went through the process's own gate


class _FleetGate:
    """The gate of a client with a coordinator: one budget for every process of the fleet.

    Each attempt reserves its slot in the shared budget before it is sent, and settles it
    with the answer's headers; the store's scripts take every decision. While a probe of the
    fleet is out, waiters ask again with a short backoff. When the store cannot be reached,
    attempts go through the process's own `_RateLimitGate` (one warning per outage)
    and the store is tried again every ``recheck_interval`` seconds. The own gate also
    observes every answer, so that it knows the window when it is needed.
    """

    def __init__(
        self, coordinator: Coordinator, budget: SharedBudget, max_wait: float, hold: float
    ) -> None:
        self.local = _RateLimitGate(max_wait)
        self.max_wait = max_wait
        self._budget = budget
        self._hold = hold + _RESERVATION_SLACK
        self._recheck = coordinator.recheck_interval
        self._tickets: dict[asyncio.Task[Any], str] = {}
        self._down = False
        self._retry_at = 0.0  # loop time at which an unreachable store is tried again
        self._settling: set[asyncio.Task[None]] = set()
        self._view: RateLimit | None = None

    async def acquire(self, method: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        give_up = loop.time() + self.max_wait
        backoff = 0.005
        while True:
            if self._down and loop.time() < self._retry_at:
                await self.local.acquire(method, path)
                self._tickets[task] = _LOCAL
                return
            self._retry_at = loop.time() + self._recheck  # one task checks a store that was down
            ticket = uuid.uuid4().hex
            try:
                grant = await self._budget.reserve(ticket, self._hold)
            except CoordinatorUnavailable as exc:
                self._unavailable(exc.reason)
                continue
            except ConfigurationError:  # Redis refused the credentials: nothing was reserved
                raise
            except BaseException:
                # Cancelled while the script may have run: give the slot back, in the
                # background (the reservation would expire anyway).
                self._settle(ticket, None, cancelled=True)
                raise
            self._available(grant.view)
            if grant.go:
                self._tickets[task] = ticket
                return
            if grant.wait is not None:  # the fleet spent the window
                if grant.wait > self.max_wait:
                    raise RateLimitGateError(
                        (
                            f"{method} {path}: not sent, the fleet's rate limit is spent; the "
                            f"window resets in {grant.wait:.0f}s, longer than "
                            f"max_rate_limit_wait={self.max_wait:g}s"
                        ),
                        method=method,
                        path=path,
                        retry_after=grant.wait,
                        reset_at=self._view.reset_at if self._view else None,
                    )
                logger.info(
                    "fleet rate limit spent: %s %s waits %.2fs for the reset",
                    method,
                    path,
                    grant.wait,
                )
                await asyncio.sleep(grant.wait)
                continue
            # Another member's probe is out: ask again shortly.
            if loop.time() + backoff > give_up:
                raise RateLimitGateError(
                    (
                        f"{method} {path}: not sent, the fleet's first request has not told "
                        f"the rate limit within max_rate_limit_wait={self.max_wait:g}s"
                    ),
                    method=method,
                    path=path,
                )
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 0.1)

    def release(self, headers: Mapping[str, str] | None, status: int = 200) -> None:
        """The attempt that passed `acquire()` in this task is done; never raises."""
        task = asyncio.current_task()
        ticket = self._tickets.pop(task, None) if task is not None else None
        if ticket == _LOCAL:
            self.local.release(headers, status)
            return
        told = None
        if headers is not None:
            loop = asyncio.get_running_loop()
            wall = datetime.now(UTC)
            self.local.state.observe(headers, loop.time(), wall, status=status)
            # A 429 tells the store its Retry-After (else its reset) as the spent window's end.
            window = told_window(status, headers, wall)
            if window is not None:
                limit, remaining, seconds = window
                if limit is None:  # a 429 that does not restate the limit
                    limit = self.local.state.limit
                if limit is not None and seconds is not None:
                    told = Told(limit, remaining, seconds)
        if ticket is not None:
            cancelled = task is not None and task.cancelling() > 0
            self._settle(ticket, told, cancelled=cancelled)

    def _settle(self, ticket: str, told: Told | None, *, cancelled: bool) -> None:
        settling = asyncio.get_running_loop().create_task(
            self._settle_now(ticket, told, cancelled=cancelled)
        )
        self._settling.add(settling)
        settling.add_done_callback(self._settling.discard)

    async def _settle_now(self, ticket: str, told: Told | None, *, cancelled: bool) -> None:
        try:
            view = await self._budget.settle(ticket, told, cancelled=cancelled)
        except CoordinatorUnavailable as exc:
            self._unavailable(exc.reason)  # the reservation expires by itself
            return
        except ConfigurationError:  # credentials refused since: the next reservation says it
            return
        self._available(view)

    def _unavailable(self, reason: str) -> None:
        self._retry_at = asyncio.get_running_loop().time() + self._recheck
        if not self._down:
            self._down = True
            logger.warning(
                "the fleet's coordinator is unreachable (%s): requests use this process's own "
                "rate-limit gate until it answers (tried again every %gs)",
                reason,
                self._recheck,
            )

    def _available(self, view: BudgetView | None) -> None:
        if self._down:
            self._down = False
            logger.warning("the fleet's coordinator answers again: requests share its budget")
        if view is not None and view.limit is not None and view.reset_in is not None:
            remaining = view.remaining if view.remaining is not None else view.limit
            reset_at = datetime.now(UTC) + timedelta(seconds=view.reset_in)
            self._view = RateLimit(limit=view.limit, remaining=remaining, reset_at=reset_at)

    @property
    def remaining(self) -> int | None:
        """Requests left in the window as this process last heard (``None`` while unknown)."""
        return self.local.remaining

    def snapshot(self) -> RateLimit | None:
        """The fleet's budget as the store last showed it (the own gate's while it is down)."""
        if self._down or self._view is None:
            return self._view or self.local.snapshot()
        return self._view

    async def close(self) -> None:
        """Wait (briefly) for the settlements still on their way to the store."""
        if self._settling:
            _, late = await asyncio.wait(set(self._settling), timeout=2.0)
            for task in late:
                task.cancel()


class Transport:
    """Sends requests for one client: session, gate, timeouts and retries in one place."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        session: aiohttp.ClientSession | None,
        timeout: float,
        connect_timeout: float,
        policy: RetryPolicy,
        max_rate_limit_wait: float,
        max_response_bytes: int,
        on_request_start: Hook[RequestStart] | None = None,
        on_request_end: Hook[RequestEnd] | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        coordinator: Coordinator | None = None,
    ) -> None:
        self.base_url = base_url
        self._token = Secret(token)
        # Built once: the same headers and timeouts go with every request, whoever made the
        # session (a lent one's defaults are overridden, so that behaviour never depends on it).
        self._headers = Authorization(self._token, _HEADERS)
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        self._on_start = on_request_start
        self._on_end = on_request_end
        self._hooked = on_request_start is not None or on_request_end is not None
        self._trace_configs = list(trace_configs)
        self.policy = policy
        self._no_retries = attrs.evolve(policy, max_retries=0)
        self._max_bytes = max_response_bytes
        self._gate: _RateLimitGate | _FleetGate | None = None
        self._coordinator = coordinator
        self._max_rate_limit_wait = max_rate_limit_wait
        self._closed = False
        self._rng = random.Random()
        self.pollers: dict[str, Any] = {}  # the shared build polls of wait()/watch() (_coalesce)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def coordinator(self) -> Coordinator | None:
        """The store this client shares with a fleet (``None``: the client is alone)."""
        return self._coordinator

    @property
    def max_rate_limit_wait(self) -> float:
        """The longest rate-limit wait of a request, in seconds: a longer one raises."""
        return self._max_rate_limit_wait

    def group_channel(self, group: str) -> GroupChannel:
        """The channel of monitoring group ``group`` on the coordinator (the coordinator's
        interface with the client is private: the transport is its one user)."""
        if self._coordinator is None:
            raise ConfigurationError("a monitoring group needs a client with a coordinator")
        return self._coordinator._group_channel(group)

    @property
    def rate_limit(self) -> RateLimit | None:
        return self._gate.snapshot() if self._gate else None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this NorthflankClient is closed; create a new one")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30),
                timeout=self._client_timeout,
                headers=_HEADERS,
                raise_for_status=False,
                trace_configs=self._trace_configs or None,
                # The token authenticates every request: a cookie a server (or a proxy in front
                # of it) sets is neither needed nor wanted, so none is kept or sent back.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        elif self._session.closed:
            raise ClientClosedError("the aiohttp session lent to NorthflankClient is closed")
        if self._gate is None:
            self._gate = self._new_gate()
        return self._session

    def _new_gate(self) -> _RateLimitGate | _FleetGate:
        if self._coordinator is None:
            return _RateLimitGate(self._max_rate_limit_wait)
        # Only a keyed hash of the token leaves the process (see _fleet.derive_budget_key).
        budget = self._coordinator._shared_budget(derive_budget_key(self._token))
        return _FleetGate(self._coordinator, budget, self._max_rate_limit_wait, self._timeout)

    async def close(self) -> None:
        self._closed = True
        if self._gate is not None:
            await self._gate.close()
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        done_if_repeated: Collection[int] = (),
        retry: bool = True,
    ) -> Any:
        """Send one API request with retries; the parsed JSON of its successful answer.

        ``done_if_repeated`` names error statuses that mean success on a retry once an earlier
        attempt may have taken effect (its answer was lost, or was a 500, 502 or 504): the
        request then returns ``None``. A first attempt's error is raised as always.
        ``retry=False`` sends one attempt only (the monitor budgets every attempt itself and
        retries a failed poll at its next turn); the rate-limit gate still applies.
        """
        session = self._ensure_session()
        gate = self._gate
        assert gate is not None
        policy = self.policy if retry else self._no_retries
        # The RetryRun is made on the first failure: most requests never need one.
        run: RetryRun | None = None
        attempt = 1
        # Asked once per request: with DEBUG off and no hooks, an attempt costs no clock read,
        # no event and no log record.
        observed = self._hooked or logger.isEnabledFor(logging.DEBUG)
        started = 0.0
        while True:
            await gate.acquire(method, path)
            if observed:
                started = self._starting(method, path, attempt, gate)
            try:
                outcome = await self._attempt(session, method, path, params, json)
            except BaseException as exc:
                gate.release(None)
                if observed:
                    self._ended(method, path, attempt, started, gate, None, type(exc).__name__)
                raise
            if isinstance(outcome, _Failure):
                # Raised here, outside any except block, with no aiohttp exception chained:
                # aiohttp's carry the request headers, token included (request_info, locals).
                gate.release(None)
                if observed:
                    error_name = type(outcome.error).__name__
                    self._ended(method, path, attempt, started, gate, None, error_name, outcome)
                if run is None:
                    run = RetryRun(policy, method, self._max_rate_limit_wait, self._rng)
                too_large = isinstance(outcome.error, ResponseTooLargeError)
                delay = run.after_failure(reached=outcome.reached, retryable=not too_large)
                if delay is None:
                    raise outcome.error
                await self._wait_to_retry(method, path, run, outcome.reason, delay)
                attempt = run.attempt
                continue
            status, headers, body = outcome
            gate.release(headers, status)
            if observed:
                self._ended(method, path, attempt, started, gate, status, None)
            if status < 300:
                data = decipher_response(status, headers, body, method=method, path=path)
                return self._token.redact_decoded(body, data)
            if run is None:
                run = RetryRun(policy, method, self._max_rate_limit_wait, self._rng)
            if run.done_on_repeat(status, done_if_repeated):
                return None
            error = self._redacted(api_error(status, headers, body, method=method, path=path))
            delay = run.after_status(status, error.headers, datetime.now(UTC))
            if delay is None:
                raise error
            await self._wait_to_retry(method, path, run, str(status), delay)
            attempt = run.attempt

    def _starting(
        self, method: str, path: str, attempt: int, gate: _RateLimitGate | _FleetGate
    ) -> float:
        """Report an attempt about to be sent; the loop time it starts at."""
        if self._on_start is not None:
            self._on_start(RequestStart(method, path, attempt, gate.remaining))
        return asyncio.get_running_loop().time()

    def _ended(
        self,
        method: str,
        path: str,
        attempt: int,
        started: float,
        gate: _RateLimitGate | _FleetGate,
        status: int | None,
        error: str | None,
        failure: _Failure | None = None,
    ) -> None:
        """Report an attempt that ended: one DEBUG line, then the ``on_request_end`` hook."""
        latency = asyncio.get_running_loop().time() - started
        remaining = gate.remaining
        if logger.isEnabledFor(logging.DEBUG):
            # The path carries no query string (params travel apart) and no token; a failure's
            # reason is aiohttp's message, redacted and cut by _describe.
            if status is not None:
                outcome: object = status
            else:
                outcome = failure.reason if failure is not None else error
            logger.debug(
                "%s %s -> %s (attempt %d, %.1f ms, rate limit remaining %s)",
                method,
                path,
                outcome,
                attempt,
                latency * 1e3,
                "unknown" if remaining is None else remaining,
            )
        if self._on_end is not None:
            event = RequestEnd(method, path, attempt, status, error, latency, remaining)
            self._on_end(event)

    async def _wait_to_retry(
        self, method: str, path: str, run: RetryRun, reason: str, delay: float
    ) -> None:
        logger.warning(
            "retrying %s %s after %s (attempt %d of %d) in %.2fs",
            method,
            path,
            reason,
            run.attempt,
            self.policy.max_retries + 1,
            delay,
        )
        await asyncio.sleep(delay)

    async def websocket(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        max_frame_bytes: int,
        first_frame: Callable[[str], str],
        heartbeat: float | None = None,
    ) -> WebSocket:
        """Open a WebSocket on ``path`` and send ``first_frame(token)``, once, unretried.

        ``wss://`` for an https base URL, ``ws://`` for the plain http the client accepted
        (its one decision, `check_base_url`). The connection waits at the
        rate-limit gate like a request; frames are bounded to ``max_frame_bytes``. The token
        goes in the first frame only, never in the URL; failures are typed as for requests.
        The handshake must be answered by a direct 101: a redirect is never followed
        (`UnexpectedRedirectError`, and nothing is sent). ``heartbeat`` pings the server every
        that many quiet seconds and drops the connection when no pong comes within half of it.
        """
        url = websocket_url(self.base_url) + path
        session = self._ensure_session()
        assert self._gate is not None
        await self._gate.acquire("GET", path)
        try:
            opened = await _open_websocket(
                self, session, url, path, params, max_frame_bytes, first_frame, heartbeat
            )
        finally:
            self._gate.release(None)
        if isinstance(opened, NorthflankError):
            raise opened
        ws, handshakes = opened
        return WebSocket(ws, self._token, path, handshakes)

    def _redacted(self, error: APIError) -> APIError:
        """``error`` with the token hidden in what the server echoed (after JSON unescaping)."""
        token = self._token
        error.message = token.redact(error.message)
        error.error_id = None if error.error_id is None else token.redact(error.error_id)
        error.details = token.redact_json(error.details)
        error.args = (str(error),)
        return error

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
    ) -> tuple[int, Mapping[str, str], bytes] | _Failure:
        """One exchange: the answer with the token hidden in it, or the failure to report.

        A failure is returned, not raised, so that no frame holding the raw answer or the
        aiohttp exception ends up in the traceback of the error the caller sees.
        """
        try:
            async with asyncio.timeout(self._timeout):
                async with session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json,
                    headers=self._headers,
                    timeout=self._client_timeout,
                    raise_for_status=False,
                    allow_redirects=False,
                    # Given per request, they replace the session's: a lent session's own
                    # middlewares are kept, and ours wraps the send itself.
                    middlewares=(*_session_middlewares(session), _one_send()),
                ) as response:
                    body = await self._read(response, method, path)
                    status = response.status
                    headers, body = self._token.redact_answer(status, response.headers, body)
                    return status, headers, body
        except TimeoutError as exc:
            reason = self._describe(exc) if str(exc) else f"no answer within {self._timeout:g}s"
            return _Failure(
                RequestTimeoutError(
                    f"{method} {path} timed out after {self._timeout:g}s", method=method, path=path
                ),
                reached=not isinstance(exc, _NOT_SENT),
                reason=f"{type(exc).__name__}: {reason}",
            )
        except aiohttp.ClientError as caught:
            failure = caught.failure if isinstance(caught, _SendFailed) else caught
            reason = f"{type(failure).__name__}: {self._describe(failure)}".rstrip(": ")
            return _Failure(
                TransportError(f"{method} {path} failed: {reason}", method=method, path=path),
                reached=not isinstance(failure, _NOT_SENT),
                reason=reason,
            )
        except ResponseTooLargeError as exc:
            fresh = ResponseTooLargeError(exc.message, method=method, path=path)
            return _Failure(fresh, reached=True, reason="ResponseTooLargeError")

    def _describe(self, exc: BaseException) -> str:
        """A short, token-free reason: aiohttp's message on one line, redacted and cut."""
        text = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
        line = self._token.redact(" ".join(text.split()))
        if len(line) > _REASON_CHARS:
            line = line[: _REASON_CHARS - 3] + "..."
        return line

    async def _read(self, response: aiohttp.ClientResponse, method: str, path: str) -> bytes:
        # The bound applies to the body as decoded: aiohttp inflates gzip, deflate, br and zstd
        # as it streams, so a Content-Length (the encoded size) says nothing of what a small
        # body may inflate to. Read in chunks and stop as soon as the bound is passed.
        length = response.content_length
        if length is not None and length > self._max_bytes:
            raise ResponseTooLargeError(
                f"{method} {path}: response of {length} bytes exceeds max_response_bytes",
                method=method,
                path=path,
            )
        if length is not None and hdrs.CONTENT_ENCODING not in response.headers:
            # Not compressed: aiohttp reads exactly Content-Length bytes (its parser refuses a
            # Transfer-Encoding beside it), so the bound is already kept. One read, no copies.
            return await response.read()
        body = bytearray()
        try:
            async for chunk in response.content.iter_chunked(_CHUNK):
                if len(body) + len(chunk) > self._max_bytes:
                    raise ResponseTooLargeError(
                        f"{method} {path}: response exceeds max_response_bytes={self._max_bytes}"
                        " (after decompression)",
                        method=method,
                        path=path,
                    )
                body += chunk
        except aiohttp.ClientPayloadError as exc:
            if not isinstance(exc.__cause__, DecompressSizeError):
                raise
            # aiohttp before 3.14 refuses one network read that inflates past its own limit
            # (32 MiB) instead of handing it over in pieces: the same verdict as ours.
            raise ResponseTooLargeError(
                f"{method} {path}: response exceeds aiohttp's decompression limit"
                " (after decompression)",
                method=method,
                path=path,
            ) from None
        return bytes(body)


class WebSocket:
    """An open WebSocket of `Transport.websocket()`: text frames in, token hidden."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        token: Secret,
        path: str,
        session: aiohttp.ClientSession,
    ) -> None:
        self._ws = ws
        self._token = token
        self._path = path
        self._session = session  # the handshake's own session (see _open_websocket)

    async def receive(self) -> str | None:
        """The next text frame, token hidden; ``None`` once the socket is closed or dropped.

        The whole token is hidden in the frame's text here; `hide()` hides it in the decoded
        frame (where JSON escapes could spell it) with its pieces. A frame larger than the
        bound is a `ResponseTooLargeError`; a binary frame that is not UTF-8 text, a
        `DecodeError`.
        """
        try:
            message = await self._ws.receive()
        except aiohttp.ClientError:
            return None
        kind, data = message.type, message.data
        if kind is aiohttp.WSMsgType.BINARY:
            try:
                data, kind = data.decode(), aiohttp.WSMsgType.TEXT
            except UnicodeDecodeError:
                raise DecodeError("binary frame is not UTF-8 text", field="frame") from None
        if kind is aiohttp.WSMsgType.TEXT:
            # As for a successful answer: the whole token here, the rest once decoded (hide()).
            text: str = data
            secret = self._token.reveal()
            return text.replace(secret, HIDDEN) if secret in text else text
        error = data if kind is aiohttp.WSMsgType.ERROR else None
        if isinstance(error, aiohttp.WebSocketError) and (
            error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        ):
            raise ResponseTooLargeError(
                f"GET {self._path}: a log stream frame exceeded the frame size bound",
                method="GET",
                path=self._path,
            )
        return None

    def hide(self, text: str, value: Any) -> Any:
        """``value``, decoded from a frame `receive()` returned, with the token hidden in it.

        The same step as for an HTTP answer (`Secret.redact_decoded`): a token spelled with
        JSON escapes (``\\u0074...``) is only seen once decoded. In frames up to
        ``FRAGMENT_BODY`` (64 KiB), pieces of 8 or more of its characters are hidden too, in
        the decoded strings (masking them in the JSON text could cut an escape in two).
        """
        return self._token.redact_decoded(text, value, fragments=len(text) <= FRAGMENT_BODY)

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        return self._ws.closed

    async def close(self) -> None:
        """Close the socket (idempotent)."""
        try:
            await self._ws.close()
        finally:
            await self._session.close()


class _Redirected(Exception):
    """A WebSocket handshake was answered by a redirect: stop before aiohttp follows it."""

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers


async def _refuse_redirects(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """A client middleware: a 3xx answer ends the handshake here, before any next hop."""
    response = await handler(request)
    if 300 <= response.status < 400:
        status, headers = response.status, CIMultiDictProxy(CIMultiDict(response.headers))
        response.close()
        raise _Redirected(status, headers)
    return response


def _handshake_session(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """A session for one WebSocket handshake that never follows a redirect.

    aiohttp's ``ws_connect`` follows redirects and takes no ``allow_redirects``: a session of
    its own, on the same connector (and with the same trace configs, headers, timeouts and
    cookie jar) refuses them with a middleware, whoever made ``session``.
    """
    return aiohttp.ClientSession(
        connector=session.connector,
        connector_owner=False,
        middlewares=(_refuse_redirects,),
        trace_configs=session.trace_configs or None,
        headers=session.headers,
        timeout=session.timeout,
        cookie_jar=session.cookie_jar,
        trust_env=session.trust_env,
        raise_for_status=False,
    )


async def _open_websocket(
    transport: Transport,
    session: aiohttp.ClientSession,
    url: str,
    path: str,
    params: Mapping[str, str],
    max_frame_bytes: int,
    first_frame: Callable[[str], str],
    heartbeat: float | None,
) -> tuple[aiohttp.ClientWebSocketResponse, aiohttp.ClientSession] | NorthflankError:
    """Connect and send the first frame; the socket and its session, or the error to raise.

    Anything but a direct 101 is refused before the first frame (the token) is sent; the error
    is returned, never chained to aiohttp's.
    """
    ws: aiohttp.ClientWebSocketResponse | None = None
    handshakes = _handshake_session(session)
    error: NorthflankError
    try:
        async with asyncio.timeout(transport._timeout):
            ws = await handshakes.ws_connect(
                url, params=params, max_msg_size=max_frame_bytes, heartbeat=heartbeat
            )
            await ws.send_str(first_frame(transport._token.reveal()))
            return ws, handshakes
    except _Redirected as exc:
        error = transport._redacted(
            api_error(exc.status, exc.headers, b"", method="GET", path=path)
        )
    except aiohttp.WSServerHandshakeError as exc:
        headers: Mapping[str, str] = exc.headers or {}
        error = transport._redacted(api_error(exc.status, headers, b"", method="GET", path=path))
    except TimeoutError:
        message = f"GET {path} (WebSocket) timed out after {transport._timeout:g}s"
        error = RequestTimeoutError(message, method="GET", path=path)
    except aiohttp.ClientError as exc:
        reason = f"{type(exc).__name__}: {transport._describe(exc)}".rstrip(": ")
        error = TransportError(f"GET {path} (WebSocket) failed: {reason}", method="GET", path=path)
    except BaseException:  # cancelled: nothing stays open
        await _close(ws, handshakes)
        raise
    await _close(ws, handshakes)
    return error


def _session_middlewares(session: aiohttp.ClientSession) -> tuple[ClientMiddlewareType, ...]:
    """The middlewares a (lent) session was made with: aiohttp keeps them in a private slot."""
    return tuple(getattr(session, "_middlewares", None) or ())


async def _close(
    ws: aiohttp.ClientWebSocketResponse | None, handshakes: aiohttp.ClientSession
) -> None:
    try:
        if ws is not None:
            await ws.close()
    finally:
        await handshakes.close()


# Failures that prove the request never reached the server: safe to repeat even for POST.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def check_trace_configs(
    trace_configs: Sequence[aiohttp.TraceConfig] | None, session: aiohttp.ClientSession | None
) -> list[aiohttp.TraceConfig]:
    """The client's ``trace_configs``, checked: a list of them, and none for a lent session."""
    if trace_configs is None:
        return []
    if isinstance(trace_configs, aiohttp.TraceConfig) or not isinstance(trace_configs, Sequence):
        raise ConfigurationError("trace_configs must be a list of aiohttp.TraceConfig")
    if not all(isinstance(trace, aiohttp.TraceConfig) for trace in trace_configs):
        raise ConfigurationError("trace_configs must be a list of aiohttp.TraceConfig")
    if session is not None and trace_configs:
        raise ConfigurationError(
            "trace_configs cannot be added to a lent session: pass them to the "
            "aiohttp.ClientSession you create (ClientSession(trace_configs=[...]))"
        )
    return list(trace_configs)
