"""The thin I/O layer: the one place that sends a request.

`Transport` wraps every request of a client in its rate-limit gate (`gates`), one attempt at
a time through its sender (`sender`: aiohttp, or a test's stand-in), the token hidden in every
answer, and the retry loop. Decisions are taken by the pure core (``retry``, ``ratelimit``,
``wire``, ``secret``); this module only waits, sends and reads.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from .._core.errors import APIError, NorthflankError, ResponseTooLargeError
from .._core.models import RateLimit
from .._core.observe import Hook, RequestEnd, RequestStart
from .._core.retry import RetryPolicy, RetryRun
from .._core.secret import Authorization, Secret
from .._core.urls import websocket_url
from .._core.wire import api_error, decipher_response
from .gates import Gate
from .sender import HEADERS, Answer, Failure, Sender
from .websocket import WebSocket

__all__ = ["Transport", "WebSocket"]

logger = logging.getLogger("northflank_async")


class Transport:
    """Sends requests for one client: its gate, its sender (session, timeouts), retries."""

    def __init__(
        self,
        *,
        base_url: str,
        token: Secret,
        sender: Sender,
        gate: Gate,
        policy: RetryPolicy,
        max_rate_limit_wait: float,
        on_request_start: Hook[RequestStart] | None = None,
        on_request_end: Hook[RequestEnd] | None = None,
    ) -> None:
        self.base_url = base_url
        self._token = token
        # Built once: the same headers go with every request, whoever made the session (a lent
        # one's defaults are overridden, so that behaviour never depends on it).
        self._headers = Authorization(self._token, HEADERS)
        self._sender = sender
        self._gate = gate
        self._on_start = on_request_start
        self._on_end = on_request_end
        self._hooked = on_request_start is not None or on_request_end is not None
        self.policy = policy
        self._no_retries = attrs.evolve(policy, max_retries=0)
        self._max_rate_limit_wait = max_rate_limit_wait
        self._closed = False
        self._rng = random.Random()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def rate_limit(self) -> RateLimit | None:
        return self._gate.snapshot()

    @property
    def max_rate_limit_wait(self) -> float:
        """The longest wait for the rate limit the client accepts (``max_rate_limit_wait``)."""
        return self._max_rate_limit_wait

    @property
    def _session(self) -> Any:
        """The aiohttp session of the default sender (``None`` before the first request)."""
        return getattr(self._sender, "session", None)

    async def close(self) -> None:
        self._closed = True
        try:
            await self._gate.close()
        finally:
            await self._sender.close()

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
        self._sender.check_open()
        gate = self._gate
        url = self.base_url + path
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
                outcome = await self._exchange(method, url, path, params, json)
            except BaseException as exc:
                gate.release(None)
                if observed:
                    self._ended(method, path, attempt, started, gate, None, type(exc).__name__)
                raise
            if isinstance(outcome, Failure):
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

    async def _exchange(
        self, method: str, url: str, path: str, params: Mapping[str, str] | None, json: Any
    ) -> Answer | Failure:
        """One attempt through the sender, the token hidden in its answer.

        The answer as read lives only in this frame, which has returned before anything can
        raise: no traceback of the caller's error holds it.
        """
        outcome = await self._sender.send(
            method, url, path, params=params, json=json, headers=self._headers
        )
        if isinstance(outcome, Failure):
            return outcome
        status, headers, body = outcome
        return (status, *self._token.redact_answer(status, headers, body))

    def _starting(self, method: str, path: str, attempt: int, gate: Gate) -> float:
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
        gate: Gate,
        status: int | None,
        error: str | None,
        failure: Failure | None = None,
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
        self._sender.check_open()
        await self._gate.acquire("GET", path)
        try:
            opened = await self._sender.open_websocket(
                url,
                path,
                params,
                max_frame_bytes=max_frame_bytes,
                first_frame=lambda: first_frame(self._token.reveal()),
                heartbeat=heartbeat,
            )
        finally:
            self._gate.release(None)
        if isinstance(opened, APIError):
            raise self._redacted(opened)
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
