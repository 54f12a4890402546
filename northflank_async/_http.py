"""The thin I/O layer: the one place that sends a request.

:class:`Transport` owns (or borrows) the aiohttp session and wraps every request in the
rate-limit gate, a per-attempt timeout and the retry loop. Decisions are taken by the pure
functions of ``_core``; this module only sleeps, sends and reads.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from ._core import RateLimitState, RetryPolicy, api_error, decipher_response, reset_seconds
from ._core import retry_after_seconds as _retry_after
from ._errors import (
    APIError,
    ClientClosedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from ._models import RateLimit
from ._version import __version__

__all__ = ["Transport"]

logger = logging.getLogger("northflank_async")

_USER_AGENT = f"northflank-async/{__version__}"
_CHUNK = 1 << 16


class _Secret:
    """Holds the token so that no repr, log line or formatted local ever shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<token hidden>"

    __str__ = __repr__


class _RateLimitGate:
    """One per client: every request of every task waits here while the window is spent."""

    def __init__(self, max_wait: float) -> None:
        self.state = RateLimitState()
        self.max_wait = max_wait
        self._answered = asyncio.Event()

    async def acquire(self, method: str, path: str) -> None:
        while True:
            delay = self.state.delay(time.monotonic())
            if delay == 0:
                self.state.start()
                return
            if delay is None:
                await self._next_answer()
                continue
            if delay > self.max_wait:
                raise RateLimitError(
                    status=429,
                    message=(
                        f"rate limit spent; the window resets in {delay:.0f}s, longer than "
                        f"max_rate_limit_wait={self.max_wait:g}s"
                    ),
                    method=method,
                    path=path,
                    retry_after=delay,
                    reset_at=self.state.reset_at,
                )
            logger.info("rate limit spent: %s %s waits %.2fs for the reset", method, path, delay)
            await asyncio.sleep(delay)

    async def _next_answer(self) -> None:
        event = self._answered
        try:
            async with asyncio.timeout(1.0):
                await event.wait()
        except TimeoutError:
            pass

    def release(self, headers: Mapping[str, str] | None) -> None:
        if headers is not None and self.state.observe(headers, time.monotonic(), datetime.now(UTC)):
            self._answered.set()
            self._answered = asyncio.Event()
        self.state.finish()


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
        self._token = _Secret(token)
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
    ) -> Any:
        """Send one API request with retries; the parsed JSON of its successful answer.

        ``done_if_repeated`` names error statuses that mean success on a retry once an earlier
        attempt may have taken effect (its answer was lost, or was a 500, 502 or 504): the
        request then returns ``None``. A first attempt's error is raised as always.
        """
        session = self._ensure_session()
        assert self._gate is not None
        attempts = self.policy.max_retries + 1
        may_have_acted = False  # whether an earlier attempt may have reached and moved the server
        for attempt in range(1, attempts + 1):
            await self._gate.acquire(method, path)
            try:
                status, headers, body = await self._attempt(session, method, path, params, json)
            except TransportError as exc:
                self._gate.release(None)
                reached = not isinstance(exc.__cause__, _NOT_SENT)
                may_have_acted = may_have_acted or reached
                if (
                    attempt == attempts
                    or isinstance(exc, ResponseTooLargeError)
                    or not self.policy.retry_exception(method, reached_server=reached)
                ):
                    raise
                await self._backoff(method, path, attempt, attempts, repr(exc.__cause__), None)
                continue
            except BaseException:
                self._gate.release(None)
                raise
            self._gate.release(headers)
            if status < 300:
                return decipher_response(status, headers, body, method=method, path=path)
            if may_have_acted and status in done_if_repeated:
                return None
            error = api_error(status, headers, body, method=method, path=path)
            if attempt == attempts or not self.policy.retry_status(method, status):
                raise error
            may_have_acted = may_have_acted or self.policy.may_have_acted(status)
            await self._backoff(method, path, attempt, attempts, str(status), error)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _backoff(
        self,
        method: str,
        path: str,
        attempt: int,
        attempts: int,
        reason: str,
        error: APIError | None,
    ) -> None:
        delay = self.policy.backoff(attempt, self._rng)
        if error is not None:
            announced = _retry_after(error.headers, datetime.now(UTC))
            if announced is None and isinstance(error, RateLimitError):
                announced = reset_seconds(error.headers)
            if announced is not None:
                if announced > self._max_rate_limit_wait:
                    raise error  # the caller decides; we do not sleep for that long
                delay = announced
        logger.warning(
            "retrying %s %s after %s (attempt %d of %d) in %.2fs",
            method,
            path,
            reason,
            attempt + 1,
            attempts,
            delay,
        )
        await asyncio.sleep(delay)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        try:
            async with asyncio.timeout(self._timeout):
                async with session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json,
                    headers=headers,
                    allow_redirects=False,
                ) as response:
                    body = await self._read(response, method, path)
                    return response.status, response.headers, body
        except TimeoutError as exc:
            raise RequestTimeoutError(
                f"{method} {path} timed out after {self._timeout:g}s", method=method, path=path
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(
                f"{method} {path} failed: {type(exc).__name__}: {exc}", method=method, path=path
            ) from exc

    async def _read(self, response: aiohttp.ClientResponse, method: str, path: str) -> bytes:
        length = response.content_length
        if length is not None and length <= self._max_bytes:
            return await response.read()
        if length is not None:
            raise ResponseTooLargeError(
                f"{method} {path}: response of {length} bytes exceeds max_response_bytes",
                method=method,
                path=path,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                raise ResponseTooLargeError(
                    f"{method} {path}: response exceeds max_response_bytes={self._max_bytes}",
                    method=method,
                    path=path,
                )
            chunks.append(chunk)
        return b"".join(chunks)


# Failures that prove the request never reached the server: safe to repeat even for POST.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
