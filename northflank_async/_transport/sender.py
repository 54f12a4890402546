"""The low-level sender: the aiohttp session, and one attempt of a request over it.

`AiohttpSender` owns (or borrows) the session. `send()` is one exchange, bounded in time and
size, sent once whatever aiohttp would do; its failures are returned as `Failure`, never raised,
so that no aiohttp exception (which holds the request's headers, token included) is chained to
the errors users see. The transport's loop decides what to do with them. A test may hand the
transport another sender (`Sender`), as httpx's ``MockTransport`` replaces the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import aiohttp
from aiohttp import hdrs
from aiohttp.client_middlewares import ClientHandlerType, ClientMiddlewareType
from aiohttp.http_exceptions import DecompressSizeError

from .._core.errors import (
    ClientClosedError,
    ConfigurationError,
    NorthflankError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from .._version import __version__
from .websocket import WebSocketConnection, open_websocket

__all__ = ["AiohttpSender", "Answer", "Failure", "Sender", "check_trace_configs"]

_USER_AGENT = f"northflank-async/{__version__}"
HEADERS = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
_CHUNK = 1 << 16
# Retry log lines and TransportError messages quote at most this much of aiohttp's reason.
_REASON_CHARS = 120

#: An answer: its status, headers and body (as read, before the token is hidden).
Answer = tuple[int, Mapping[str, str], bytes]


class Failure:
    """An attempt that got no HTTP answer: the error to raise and whether to retry it."""

    __slots__ = ("error", "reached", "reason")

    def __init__(self, error: TransportError, *, reached: bool, reason: str) -> None:
        self.error = error
        self.reached = reached
        self.reason = reason


class Sender(Protocol):
    """What a transport sends through: one attempt at a time, and WebSocket handshakes."""

    def check_open(self) -> None:
        """Raise `ClientClosedError` if nothing can be sent any more."""

    async def send(
        self,
        method: str,
        url: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str],
    ) -> Answer | Failure:
        """One attempt: the answer, or the failure (returned, never raised)."""

    async def open_websocket(
        self,
        url: str,
        path: str,
        params: Mapping[str, str],
        *,
        max_frame_bytes: int,
        first_frame: Callable[[], str],
        heartbeat: float | None,
    ) -> WebSocketConnection | NorthflankError:
        """A WebSocket after a direct 101 and ``first_frame`` sent, or the error to raise."""

    async def close(self) -> None:
        """Release the connections (a lent session stays open)."""


class _SendFailed(aiohttp.ClientError):
    """The one send of an attempt failed with ``failure``, which aiohttp would have repeated.

    aiohttp resends an idempotent request once, by itself, when the connection fails with
    `aiohttp.ClientOSError` or `aiohttp.ServerDisconnectedError` (a reused keep-alive
    connection the server closed). `one_send` raises this instead: aiohttp passes any other
    `aiohttp.ClientError` through unchanged, and `Transport._attempt` unwraps it, so that our
    loop (counted, gated, decided by `RetryRun`) is the only one that repeats a request.
    """

    def __init__(self, failure: aiohttp.ClientError) -> None:
        super().__init__(str(failure))
        self.failure = failure


class _SentTwice(aiohttp.ClientError):
    """Something below our loop tried to send one attempt a second time: refused, unsent."""


def one_send() -> ClientMiddlewareType:
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


def _session_middlewares(session: aiohttp.ClientSession) -> tuple[ClientMiddlewareType, ...]:
    """The middlewares a (lent) session was made with: aiohttp keeps them in a private slot."""
    return tuple(getattr(session, "_middlewares", None) or ())


# Failures that prove the request never reached the server: safe to repeat even for POST.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


class AiohttpSender:
    """Attempts over one pooled aiohttp session, created on first use unless one is lent."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None,
        timeout: float,
        connect_timeout: float,
        max_response_bytes: int,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        redact: Callable[[str], str],
        trust_env: bool = False,
    ) -> None:
        self.session = session
        self._owns_session = session is None
        self._trust_env = trust_env  # the owned session's: a lent one keeps its own
        self._timeout = timeout
        self._client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        self._max_bytes = max_response_bytes
        self._trace_configs = list(trace_configs)
        self._redact = redact
        self._closed = False

    def check_open(self) -> None:
        self._ensure_session()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this NorthflankClient is closed; create a new one")
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30),
                timeout=self._client_timeout,
                headers=HEADERS,
                raise_for_status=False,
                trace_configs=self._trace_configs or None,
                # The token authenticates every request: a cookie a server (or a proxy in front
                # of it) sets is neither needed nor wanted, so none is kept or sent back.
                cookie_jar=aiohttp.DummyCookieJar(),
                # HTTP(S)_PROXY, NO_PROXY (and netrc for a proxy's credentials), as curl does.
                trust_env=self._trust_env,
            )
        elif self.session.closed:
            raise ClientClosedError("the aiohttp session lent to NorthflankClient is closed")
        return self.session

    async def close(self) -> None:
        self._closed = True
        if self._owns_session and self.session is not None:
            await self.session.close()

    async def open_websocket(
        self,
        url: str,
        path: str,
        params: Mapping[str, str],
        *,
        max_frame_bytes: int,
        first_frame: Callable[[], str],
        heartbeat: float | None,
    ) -> WebSocketConnection | NorthflankError:
        return await open_websocket(
            self._ensure_session(),
            url,
            path,
            params,
            timeout=self._timeout,
            max_frame_bytes=max_frame_bytes,
            first_frame=first_frame,
            heartbeat=heartbeat,
            describe=self._describe,
        )

    async def send(
        self,
        method: str,
        url: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str],
    ) -> Answer | Failure:
        """One exchange: the answer as read, or the failure to report.

        A failure is returned, not raised, so that no frame holding the raw answer or the
        aiohttp exception ends up in the traceback of the error the caller sees.
        """
        session = self._ensure_session()
        try:
            async with asyncio.timeout(self._timeout):
                async with session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=self._client_timeout,
                    raise_for_status=False,
                    allow_redirects=False,
                    # Given per request, they replace the session's: a lent session's own
                    # middlewares are kept, and ours wraps the send itself.
                    middlewares=(*_session_middlewares(session), one_send()),
                ) as response:
                    body = await self._read(response, method, path)
                    return response.status, response.headers, body
        except TimeoutError as exc:
            reason = self._describe(exc) if str(exc) else f"no answer within {self._timeout:g}s"
            return Failure(
                RequestTimeoutError(
                    f"{method} {path} timed out after {self._timeout:g}s", method=method, path=path
                ),
                reached=not isinstance(exc, _NOT_SENT),
                reason=f"{type(exc).__name__}: {reason}",
            )
        except aiohttp.ClientError as caught:
            failure = caught.failure if isinstance(caught, _SendFailed) else caught
            reason = f"{type(failure).__name__}: {self._describe(failure)}".rstrip(": ")
            return Failure(
                TransportError(f"{method} {path} failed: {reason}", method=method, path=path),
                reached=not isinstance(failure, _NOT_SENT),
                reason=reason,
            )
        except ResponseTooLargeError as exc:
            fresh = ResponseTooLargeError(exc.message, method=method, path=path)
            return Failure(fresh, reached=True, reason="ResponseTooLargeError")

    def _describe(self, exc: BaseException) -> str:
        """A short, token-free reason: aiohttp's message on one line, redacted and cut."""
        text = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
        line = self._redact(" ".join(text.split()))
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
