"""The HTTP side of the fake: the aiohttp app, dispatch, faults, authentication, the record.

`Routes` takes every request: it records it (`RecordedRequest`, the token never stored),
applies latency and any pending fault (`._faults`), checks the bearer token, spends the rate
limit (`._ratewindow`), routes the raw path through `._handlers.ROUTES` and renders what the
handler answers, or the error it raised, as `._answers` says. A WebSocket upgrade on a logs
route is a tail (`._tail`). The faults that imitate a proxy (``html502``) or a broken
connection (``drop``, ``truncate``, ``lost_answer``) are the only answers outside the API's
error envelope.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections import deque
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import web

from ._answers import (
    MAX_BODY_BYTES,
    drop,
    envelope_errors,
    error_response,
    is_upgrade,
    json_response,
    label,
    phrase,
)
from ._clock import Clock
from ._faults import FaultInjector, FaultKind
from ._handlers import LOG_KINDS, ROUTES, Handler, Handlers
from ._ratewindow import RateWindow
from ._requests import ApiError, BadBody, Call, parse_json
from ._tail import Tails, redact_query

__all__ = ["RECORD_LIMIT", "RecordedRequest", "Routes"]

#: How many requests the record keeps by default (the newest); `request_count` counts all.
RECORD_LIMIT: Final = 10_000
_SENSITIVE_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})
_HTML_502: Final = "<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received, as it arrived on the wire.

    ``path`` is the raw, still percent-encoded path (no query string); ``query`` maps each
    query parameter to its first value; ``headers`` keeps the header names as sent, with
    the value of ``Authorization`` replaced by ``Bearer <redacted>`` (the token is never
    stored); ``body`` is the parsed JSON body, or None when the body was empty, not
    JSON, too deeply nested or too large. ``peer_port`` is the client's TCP source port,
    which tells connections apart. ``status`` is the status answered, or None when the
    connection was dropped (the ``drop``, ``truncate`` and ``lost_answer`` faults, a
    client that went away, the fake closing). ``at`` is the fake's clock reading when the
    request arrived.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    peer_port: int | None
    status: int | None
    at: float | None = None


@dataclasses.dataclass(slots=True)
class _Slot:
    """A place in the record, so that a request's status can be filled in later even
    after older requests have left the bounded record."""

    request: RecordedRequest


class Routes:
    """Serves the API over an aiohttp app, through the handlers, with faults, limits and a
    record."""

    def __init__(
        self,
        *,
        handlers: Handlers,
        faults: FaultInjector,
        clock: Clock,
        token: str,
        latency: float,
        record_limit: int,
    ) -> None:
        self.handlers = handlers
        self.faults = faults
        self.clock = clock
        self.token = token
        self.latency = latency
        self.retry_after = 0.0
        self.slow_seconds = 30.0
        self.rate = RateWindow(1000, 3600.0)
        self.closing = asyncio.Event()
        self.record: deque[_Slot] = deque(maxlen=record_limit)
        self.total = 0
        self.peer_ports: set[int] = set()
        self.tails = Tails()

    def make_app(self) -> web.Application:
        """Build the aiohttp application: one catch-all route behind the error middleware."""
        app = web.Application(middlewares=[envelope_errors], client_max_size=MAX_BODY_BYTES)
        app.on_response_prepare.append(label)
        # One catch-all route: the fake routes on the raw path itself so that an
        # encoded slash inside an id can never change which route matches.
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def reset_stats(self) -> None:
        """Forget the recorded requests and connections."""
        self.record.clear()
        self.total = 0
        self.peer_ports.clear()
        self.tails.sessions.clear()

    # ------------------------------------------------------------------ plumbing

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request, then answer it (or not, as a fault says)."""
        try:
            raw_body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            slot = self._record(request, None)
            error = ApiError(
                413,
                "Request body too large",
                details={"maxBytes": MAX_BODY_BYTES},
            )
            slot.request = dataclasses.replace(slot.request, status=413)
            return error_response(error, self.rate.headers(self.clock()))
        body = parse_json(raw_body)
        slot = self._record(request, None if isinstance(body, BadBody) else body)
        status: int | None = None
        try:
            response, answered = await self._respond(request, body)
            if answered:
                status = response.status
            return response
        finally:
            slot.request = dataclasses.replace(slot.request, status=status)

    def _record(self, request: web.Request, body: Any) -> _Slot:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        peer_port = peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else None
        if peer_port is not None:
            self.peer_ports.add(peer_port)
        query = redact_query({key: request.query[key] for key in request.query}, self.token)
        headers = {name: _redact(name, value) for name, value in request.headers.items()}
        path = request.raw_path.split("?", 1)[0]
        slot = _Slot(
            RecordedRequest(
                request.method, path, query, headers, body, peer_port, None, self.clock()
            )
        )
        self.record.append(slot)
        self.total += 1
        return slot

    async def _respond(self, request: web.Request, body: Any) -> tuple[web.StreamResponse, bool]:
        """Apply latency and any pending fault, else serve; the flag says "answered"."""
        if not await self._pause(self.latency):
            return drop(request)
        fault = self.faults.next()
        if fault == "slow" and not await self._pause(self.slow_seconds):
            return drop(request)
        if fault is None or fault in ("ok", "slow"):
            if is_upgrade(request):
                return await self._serve_tail(request, body), True
            return self._serve(request, body), True
        if fault == "drop":
            return drop(request)
        if fault == "lost_answer":
            self._serve(request, body)  # the effect happens; the answer is lost
            return drop(request)
        if fault == "truncate":
            return await self._truncate(request)
        return self._fault_response(fault), True

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds`; False when the fake started closing meanwhile."""
        if seconds > 0:
            try:
                async with asyncio.timeout(seconds):
                    await self.closing.wait()
            except TimeoutError:
                return True
        return not self.closing.is_set()

    def _fault_response(self, fault: FaultKind) -> web.Response:
        if fault in ("html502", 502):
            # What a proxy in front of the API answers: HTML, no rate-limit headers.
            return web.Response(status=502, text=_HTML_502, content_type="text/html")
        assert isinstance(fault, int)
        headers = self.rate.headers(self.clock())
        if fault == 429:
            # Tell clients to wait retry_after whichever header they read.
            wait = str(max(0, math.ceil(self.retry_after)))
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": wait})
            headers["Retry-After"] = wait
            return error_response(ApiError(429, "Rate limit exceeded"), headers)
        return error_response(ApiError(fault, phrase(fault)), headers)

    async def _truncate(self, request: web.Request) -> tuple[web.StreamResponse, bool]:
        body = b'{"data":{"builds":[{"id":"truncated-response-0001","status":"SUCC'
        response = web.StreamResponse(status=200, headers=self.rate.headers(self.clock()))
        response.content_type = "application/json"
        response.content_length = len(body) * 4  # promise more than will ever come
        try:
            await response.prepare(request)
            await response.write(body)
        except ConnectionError:
            pass  # the client left first; the effect is the same
        drop(request)
        return response, False

    def _serve(self, request: web.Request, body: Any) -> web.Response:
        """Authenticate, count against the rate limit, route and run the handler."""
        try:
            self._authenticate(request)
            self._spend_rate_limit()
            handler, call = self._route(request, body)
            payload = handler(self.handlers, call)
        except ApiError as error:
            headers = self.rate.headers(self.clock())
            headers.update(error.headers)
            return error_response(error, headers)
        return json_response(200, payload, self.rate.headers(self.clock()))

    async def _serve_tail(self, request: web.Request, body: Any) -> web.StreamResponse:
        """Serve a WebSocket tail on a logs route; other upgrades are plain requests.

        The upgrade spends one request of the rate-limit budget; the token is checked
        in the tail's init frame, not in a header.
        """
        try:
            handler, call = self._route(request, body)
            kind = LOG_KINDS.get(handler)
            if kind is None:
                return self._serve(request, body)
            self._spend_rate_limit()
        except ApiError as error:
            headers = self.rate.headers(self.clock())
            headers.update(error.headers)
            return error_response(error, headers)
        parse, lines = self.handlers.tail_source(call, kind)
        return await self.tails.serve(
            request,
            token=self.token,
            closing=self.closing,
            headers=self.rate.headers(self.clock()),
            parse=parse,
            lines=lines,
        )

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != self.token:
            raise ApiError(401, "Unauthorized")

    def _spend_rate_limit(self) -> None:
        now = self.clock()
        if not self.rate.take(now):
            wait = str(self.rate.reset_in(now))
            raise ApiError(429, "Rate limit exceeded", headers={"Retry-After": wait})

    def _route(self, request: web.Request, body: Any) -> tuple[Handler, Call]:
        segments = _api_segments(request.raw_path)
        if segments is None:
            raise ApiError(404, "Route not found")
        allowed = []
        for method, pattern, handler in ROUTES:
            params = _match(pattern, segments)
            if params is None:
                continue
            if method == request.method:
                query = {key: request.query[key] for key in request.query}
                segment = pattern[2] if len(pattern) > 2 else "jobs"
                return handler, Call(params, query, body, str(segment))
            allowed.append(method)
        if allowed:
            raise ApiError(405, "Method not allowed", headers={"Allow": ", ".join(allowed)})
        raise ApiError(404, "Route not found")


def _api_segments(raw_path: str) -> tuple[str, ...] | None:
    """The decoded segments after ``/v1`` (and ``/teams/{teamId}``), or None off the API.

    Each segment is decoded on its own after splitting, which keeps ``..%2Fx`` one
    segment, ``../x``. Any team id serves the same store.
    """
    segments = [unquote(segment) for segment in raw_path.split("?", 1)[0].split("/")]
    if segments[:2] != ["", "v1"]:
        return None
    rest = segments[2:]
    if rest[:1] == ["teams"]:
        if len(rest) < 2 or not rest[1]:
            return None
        rest = rest[2:]
    return tuple(rest)


def _match(pattern: tuple[str | None, ...], segments: tuple[str, ...]) -> tuple[str, ...] | None:
    """The path parameters when `segments` fit `pattern` (parameters never empty)."""
    if len(pattern) != len(segments):
        return None
    params = []
    for fixed, part in zip(pattern, segments, strict=True):
        if fixed is None:
            if not part:
                return None
            params.append(part)
        elif part != fixed:
            return None
    return tuple(params)


def _redact(name: str, value: str) -> str:
    if name.lower() not in _SENSITIVE_HEADERS:
        return value
    scheme = value.partition(" ")[0]
    return f"{scheme} <redacted>" if scheme.lower() == "bearer" else "<redacted>"
