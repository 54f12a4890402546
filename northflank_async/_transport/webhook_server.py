"""The webhook receiver's HTTP side: an aiohttp.web handler, and a server of its own.

`make_handler` turns an `Intake` (the receiver: verification, dedupe, queueing, all without
I/O) into a handler to mount in any aiohttp application; `serve` runs one on a port. The
handler reads no more of a body than the receiver accepts: a ``Content-Length`` over the bound
is refused before a byte is read, and a body without one is read up to ``max_body + 1`` bytes.

Every answer is JSON: ``{"data": {"queued": true}}`` (200, the event is queued),
``{"data": {"duplicate": true}}`` (200, a resend of an event already queued), or the API's
error envelope ``{"error": {"status": ..., "message": ...}}`` for a refusal (401, 400, 413,
405 for any method but POST, 503 when the queue is full or the receiver closed). No log
record holds a header value, the token or the secret.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Protocol

import attrs
from aiohttp import web

from .._core.errors import WebhookError, WebhookPayloadTooLargeError
from .._core.webhooks import WebhookEvent

__all__ = ["Intake", "WebhookHandler", "WebhookServer", "make_handler", "serve"]

logger = logging.getLogger("northflank_async")

_QUEUED = b'{"data": {"queued": true}}'
_DUPLICATE = b'{"data": {"duplicate": true}}'

#: What `make_handler` gives: an aiohttp.web request handler.
WebhookHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Intake(Protocol):
    """What the handler hands a delivery to (the receiver); each step raises `WebhookError`."""

    @property
    def max_body(self) -> int: ...

    def authenticate(self, headers: Mapping[str, str]) -> None: ...

    def check_size(self, size: int) -> None: ...

    async def accept(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None: ...


@attrs.frozen
class WebhookServer:
    """A running receiver's address: ``url`` is the full URL to register with Northflank."""

    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        """``http://host:port/path`` (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"


def make_handler(intake: Intake) -> WebhookHandler:
    """An aiohttp.web handler that hands each ``POST`` to ``intake``; see the module doc."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return _refusal(405, "only POST is accepted", {"Allow": "POST"})
        try:
            intake.authenticate(request.headers)
            if request.content_length is not None:
                intake.check_size(request.content_length)
            body = await _read(request, intake.max_body)
            event = await intake.accept(request.headers, body)
        except WebhookError as exc:
            # The message names what was wrong, never a header's value (see WebhookParser).
            logger.warning("webhook notification refused: %s %s", exc.status, exc.message)
            return _refusal(exc.status, exc.message)
        if event is None:
            logger.debug("webhook notification repeated: answered, not queued again")
            return web.Response(body=_DUPLICATE, content_type="application/json")
        logger.debug("webhook notification queued: %s %s", event.kind, event.event_id)
        return web.Response(body=_QUEUED, content_type="application/json")

    return handle


async def _read(request: web.Request, max_body: int) -> bytes:
    """The body, at most ``max_body`` bytes of it: one byte more is a 413, and no more is read."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(max_body + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body:
            raise WebhookPayloadTooLargeError(
                f"the body is larger than the receiver's max_body ({max_body} bytes)"
            )
    return b"".join(chunks)


def _refusal(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"status": status, "message": message}}, status=status, headers=headers
    )


@asynccontextmanager
async def serve(
    handler: WebhookHandler, *, host: str, port: int, path: str
) -> AsyncIterator[WebhookServer]:
    """Run ``handler`` at ``path`` (every method: the handler answers 405 itself) on a port.

    Port 0 binds a free port: the `WebhookServer` given says which. The server stops (and
    the port is released) when the block ends.
    """
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    app = web.Application()
    app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield WebhookServer(host, runner.addresses[0][1], path)
    finally:
        await runner.cleanup()
