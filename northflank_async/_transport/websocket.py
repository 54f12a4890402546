"""The log tail's WebSocket: a handshake that only a direct 101 completes, and its frames.

aiohttp's ``ws_connect`` follows redirects and takes no ``allow_redirects``: each handshake
runs in a session of its own on the same connector, whose middleware stops at any 3xx before
aiohttp follows it, so the first frame (the token) is never sent to another host.

A session that trusts the environment reaches ``wss://`` through ``WSS_PROXY``, else
``HTTPS_PROXY`` (``ws://``: ``WS_PROXY``, else ``HTTP_PROXY``), unless ``NO_PROXY`` names the
host: aiohttp alone reads only the ``WS(S)_PROXY`` variables, which few environments set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._core.errors import (
    DecodeError,
    NorthflankError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from .._core.secret import FRAGMENT_BODY, HIDDEN, Secret
from .._core.wire import api_error

__all__ = ["WebSocket", "WebSocketConnection", "open_websocket"]

#: An open socket and the handshake's own session, which closes with it.
WebSocketConnection = tuple[aiohttp.ClientWebSocketResponse, aiohttp.ClientSession]


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
        self._session = session  # the handshake's own session (see open_websocket)

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


#: The HTTP scheme whose proxy variable a WebSocket scheme falls back to.
_HTTP_SCHEME = {"wss": "https", "ws": "http"}


async def _env_proxy(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """``ws_connect``'s proxy arguments from the environment, for a session that trusts it."""
    if not session.trust_env:
        return {}
    target = URL(url)
    for scheme in (target.scheme, _HTTP_SCHEME.get(target.scheme, target.scheme)):
        try:
            # In a thread, as aiohttp does it: NO_PROXY matching may read system settings.
            proxy, auth = await asyncio.to_thread(get_env_proxy_for_url, target.with_scheme(scheme))
        except LookupError:  # no variable for this scheme, or NO_PROXY names the host
            continue
        headers = None if auth is None else {"Proxy-Authorization": auth.encode()}
        return {"proxy": proxy, "proxy_headers": headers}
    return {}


async def open_websocket(
    session: aiohttp.ClientSession,
    url: str,
    path: str,
    params: Mapping[str, str],
    *,
    timeout: float,
    max_frame_bytes: int,
    first_frame: Callable[[], str],
    heartbeat: float | None,
    describe: Callable[[BaseException], str],
) -> WebSocketConnection | NorthflankError:
    """Connect and send the first frame; the socket and its session, or the error to raise.

    Anything but a direct 101 is refused before the first frame (the token) is sent; the error
    is returned, never chained to aiohttp's. The caller hides the token in an error's text.
    """
    ws: aiohttp.ClientWebSocketResponse | None = None
    handshakes = _handshake_session(session)
    error: NorthflankError
    try:
        async with asyncio.timeout(timeout):
            ws = await handshakes.ws_connect(
                url,
                params=params,
                max_msg_size=max_frame_bytes,
                heartbeat=heartbeat,
                **await _env_proxy(handshakes, url),
            )
            await ws.send_str(first_frame())  # the token exists as text only here
            return ws, handshakes
    except _Redirected as exc:
        error = api_error(exc.status, exc.headers, b"", method="GET", path=path)
    except aiohttp.WSServerHandshakeError as exc:
        headers: Mapping[str, str] = exc.headers or {}
        error = api_error(exc.status, headers, b"", method="GET", path=path)
    except TimeoutError:
        message = f"GET {path} (WebSocket) timed out after {timeout:g}s"
        error = RequestTimeoutError(message, method="GET", path=path)
    except aiohttp.ClientError as exc:
        reason = f"{type(exc).__name__}: {describe(exc)}".rstrip(": ")
        error = TransportError(f"GET {path} (WebSocket) failed: {reason}", method="GET", path=path)
    except BaseException:  # cancelled: nothing stays open
        await _close(ws, handshakes)
        raise
    await _close(ws, handshakes)
    return error


async def _close(
    ws: aiohttp.ClientWebSocketResponse | None, handshakes: aiohttp.ClientSession
) -> None:
    try:
        if ws is not None:
            await ws.close()
    finally:
        await handshakes.close()
