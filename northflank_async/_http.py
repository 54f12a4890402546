"""The thin I/O layer: the one place that sends a request.

:class:`Transport` owns (or borrows) the aiohttp session and wraps every request in the
rate-limit gate, a per-attempt timeout and the retry loop. Decisions are taken by the pure
rooms (``_retry``, ``_ratelimit``, ``_wire``, ``_secrets``); this module only sleeps, sends and
reads.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import attrs

from ._errors import (
    APIError,
    ClientClosedError,
    RateLimitGateError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from ._models import RateLimit
from ._ratelimit import RateLimitState
from ._retry import RetryPolicy, RetryRun
from ._secrets import Authorization, Secret
from ._version import __version__
from ._wire import api_error, decipher_response

__all__ = ["Transport"]

logger = logging.getLogger("northflank_async")

_USER_AGENT = f"northflank-async/{__version__}"
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


class _RateLimitGate:
    """One per client: every request of every task waits here while the window is spent.

    The decisions are :class:`RateLimitState`'s; the gate only waits. Time is the event
    loop's, so that the gate runs on a virtual clock in tests. A request that waits for the
    probe is woken by the probe's release, whatever ended it (answer, failure, cancellation).
    """

    def __init__(self, max_wait: float) -> None:
        self.state = RateLimitState()
        self.max_wait = max_wait
        self._changed = asyncio.Event()
        self._probe: asyncio.Task[Any] | None = None

    async def acquire(self, method: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self.state.delay(loop.time())
            if delay == 0:
                if self.state.start():
                    self._probe = asyncio.current_task()
                return
            if delay is None:
                await self._changed.wait()  # set when the probe finishes or a budget is told
                continue
            if delay > self.max_wait:
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
            logger.info("rate limit spent: %s %s waits %.2fs for the reset", method, path, delay)
            await asyncio.sleep(delay)

    def release(self, headers: Mapping[str, str] | None) -> None:
        """The request that passed :meth:`acquire` in this task is done; never raises."""
        task = asyncio.current_task()
        probe = task is not None and task is self._probe
        if probe:
            self._probe = None
        told = False
        try:
            if headers is not None:
                now = asyncio.get_running_loop().time()
                told = self.state.observe(headers, now, datetime.now(UTC))
        finally:
            cancelled = task is not None and task.cancelling() > 0
            self.state.finish(probe=probe, cancelled=cancelled)
            if probe or told:
                self._changed.set()
                self._changed = asyncio.Event()


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
    ) -> None:
        self.base_url = base_url
        self._token = Secret(token)
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self.policy = policy
        self._max_bytes = max_response_bytes
        self._gate: _RateLimitGate | None = None
        self._max_rate_limit_wait = max_rate_limit_wait
        self._closed = False
        self._rng = random.Random()
        self.pollers: dict[str, Any] = {}  # the shared build polls of wait()/watch() (_coalesce)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def rate_limit(self) -> RateLimit | None:
        return self._gate.state.snapshot() if self._gate else None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this NorthflankClient is closed; create a new one")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
                raise_for_status=False,
                # The token authenticates every request: a cookie a server (or a proxy in front
                # of it) sets is neither needed nor wanted, so none is kept or sent back.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        elif self._session.closed:
            raise ClientClosedError("the aiohttp session lent to NorthflankClient is closed")
        if self._gate is None:
            self._gate = _RateLimitGate(self._max_rate_limit_wait)
        return self._session

    async def close(self) -> None:
        self._closed = True
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
        policy = self.policy if retry else attrs.evolve(self.policy, max_retries=0)
        run = RetryRun(policy, method, self._max_rate_limit_wait, self._rng)
        while True:
            await gate.acquire(method, path)
            try:
                outcome = await self._attempt(session, method, path, params, json)
            except BaseException:
                gate.release(None)
                raise
            if isinstance(outcome, _Failure):
                # Raised here, outside any except block, with no aiohttp exception chained:
                # aiohttp's carry the request headers, token included (request_info, locals).
                gate.release(None)
                too_large = isinstance(outcome.error, ResponseTooLargeError)
                delay = run.after_failure(reached=outcome.reached, retryable=not too_large)
                if delay is None:
                    raise outcome.error
                await self._wait_to_retry(method, path, run, outcome.reason, delay)
                continue
            status, headers, body = outcome
            gate.release(headers)
            if status < 300:
                data = decipher_response(status, headers, body, method=method, path=path)
                return self._token.redact_decoded(body, data)
            if run.done_on_repeat(status, done_if_repeated):
                return None
            error = self._redacted(api_error(status, headers, body, method=method, path=path))
            delay = run.after_status(status, error.headers, datetime.now(UTC))
            if delay is None:
                raise error
            await self._wait_to_retry(method, path, run, str(status), delay)

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
                    headers=Authorization(self._token),
                    allow_redirects=False,
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
        except aiohttp.ClientError as exc:
            reason = f"{type(exc).__name__}: {self._describe(exc)}".rstrip(": ")
            return _Failure(
                TransportError(f"{method} {path} failed: {reason}", method=method, path=path),
                reached=not isinstance(exc, _NOT_SENT),
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
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            if len(body) + len(chunk) > self._max_bytes:
                raise ResponseTooLargeError(
                    f"{method} {path}: response exceeds max_response_bytes={self._max_bytes}"
                    " (after decompression)",
                    method=method,
                    path=path,
                )
            body += chunk
        return bytes(body)


# Failures that prove the request never reached the server: safe to repeat even for POST.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
