"""The HTTP side of the fake: the aiohttp app, routing, envelopes, rate limit, recording.

Every answer the fake gives, its own and aiohttp's (413 for a body over `MAX_BODY_BYTES`,
an unexpected 500), uses the API's error envelope ``{"error": {"status", "message",
"id", "details"?}}``, except the faults that imitate a proxy (``html502``) or a broken
connection (``drop``, ``truncate``, ``lost_answer``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, Final
from urllib.parse import unquote

from aiohttp import web

from .._version import __version__
from ._clock import Clock, wall_ms
from ._faults import FaultInjector, FaultKind
from ._logquery import (
    MAX_RANGE_LINES,
    LogQuery,
    QueryError,
    check_shape,
    envelope,
    parse_log_query,
    select,
)
from ._logs import Timed
from ._progress import ProgressEngine
from ._store import (
    Job,
    Store,
    build_concluded,
    build_key,
    run_concluded,
    run_key,
)
from ._tail import Tails, redact_query

__all__ = [
    "MAX_BODY_BYTES",
    "RECORD_LIMIT",
    "SERVER_HEADER",
    "UNLIMITED",
    "RecordedRequest",
    "Routes",
]

#: The ``Server`` header of every answer of the fake, WebSocket handshakes included: no one
#: reaching it takes it for a service.
SERVER_HEADER: Final = f"northflank-async-fake/{__version__}"

#: What the rate-limit headers show when enforcement is disabled (``rate_limit=None``).
UNLIMITED: Final = 1_000_000
#: How many requests the record keeps by default (the newest); `request_count` counts all.
RECORD_LIMIT: Final = 10_000
#: The largest request body accepted (aiohttp's default); a larger one is answered 413.
MAX_BODY_BYTES: Final = 1024**2
_MAX_CURSORS: Final = 100_000
_SHA_RE: Final = re.compile(r"[0-9a-fA-F]{40}")
_DIGITS_RE: Final = re.compile(r"[0-9]+")
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


class _ApiError(Exception):
    """An error answer, rendered as the API's JSON error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


@dataclasses.dataclass(frozen=True, slots=True)
class _BadBody:
    """A request body that could not be parsed, and why."""

    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Call:
    """A routed, authenticated API call: decoded path parameters plus query and body."""

    params: tuple[str, ...]  # projectId, then jobId (serviceId), then the build or run id
    query: Mapping[str, str]
    body: Any
    segment: str = "jobs"  # the owner's route segment: "jobs" or "services"

    @property
    def project_id(self) -> str:
        return self.params[0]

    @property
    def job_id(self) -> str:
        return self.params[1]

    @property
    def item_id(self) -> str:
        return self.params[2]


class RateWindow:
    """A fixed window opening at the first counted request and lasting `window` seconds."""

    def __init__(self, limit: int | None, window: float) -> None:
        if limit is not None and limit < 0:
            raise ValueError("rate limit must be >= 0")
        if not window > 0 or math.isinf(window):
            raise ValueError("rate-limit window must be a finite number of seconds > 0")
        self.limit = limit
        self.window = window
        self._opened: float | None = None
        self._used = 0

    def _roll(self, now: float) -> None:
        if self._opened is not None and now >= self._opened + self.window:
            self._opened, self._used = None, 0

    def take(self, now: float) -> bool:
        """Count one request; False (and nothing counted) when the budget is spent."""
        if self.limit is None:
            return True
        self._roll(now)
        if self._opened is None:
            self._opened = now
        if self._used >= self.limit:
            return False
        self._used += 1
        return True

    def reset_in(self, now: float) -> int:
        """Whole seconds (rounded up) until the current window resets."""
        if self.limit is None:
            return 0
        self._roll(now)
        if self._opened is None:
            return math.ceil(self.window)
        return max(0, math.ceil(self._opened + self.window - now))

    def headers(self, now: float) -> dict[str, str]:
        """Return the ``x-ratelimit-*`` headers describing the window at `now`."""
        if self.limit is None:
            limit = remaining = UNLIMITED
        else:
            self._roll(now)
            limit, remaining = self.limit, self.limit - self._used
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(self.reset_in(now)),
        }


_Handler = Callable[["Routes", _Call], dict[str, Any]]
_P = None  # a path parameter in a route pattern


class Routes:
    """Serves the API over an aiohttp app, on the store, with faults, limits and a record."""

    def __init__(
        self,
        *,
        store: Store,
        progress: ProgressEngine,
        faults: FaultInjector,
        clock: Clock,
        token: str,
        latency: float,
        record_limit: int,
    ) -> None:
        self.store = store
        self.progress = progress
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
        self._cursors: OrderedDict[str, tuple[tuple[str, ...], int]] = OrderedDict()
        self.tails = Tails()
        self.log_shape = "data"
        self.log_pagination = True
        self.log_shapes: deque[tuple[str, bool | None]] = deque()
        self.log_page_limit = MAX_RANGE_LINES

    def make_app(self) -> web.Application:
        """Build the aiohttp application: one catch-all route behind the error middleware."""
        app = web.Application(middlewares=[_envelope_errors], client_max_size=MAX_BODY_BYTES)
        app.on_response_prepare.append(_label)
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
            error = _ApiError(
                413,
                "Request body too large",
                details={"maxBytes": MAX_BODY_BYTES},
            )
            slot.request = dataclasses.replace(slot.request, status=413)
            return _error_response(error, self.rate.headers(self.clock()))
        body = _parse_json(raw_body)
        slot = self._record(request, None if isinstance(body, _BadBody) else body)
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
            return _drop(request)
        fault = self.faults.next()
        if fault == "slow" and not await self._pause(self.slow_seconds):
            return _drop(request)
        if fault is None or fault in ("ok", "slow"):
            if _is_upgrade(request):
                return await self._serve_tail(request, body), True
            return self._serve(request, body), True
        if fault == "drop":
            return _drop(request)
        if fault == "lost_answer":
            self._serve(request, body)  # the effect happens; the answer is lost
            return _drop(request)
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
            return _error_response(_ApiError(429, "Rate limit exceeded"), headers)
        return _error_response(_ApiError(fault, _phrase(fault)), headers)

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
        _drop(request)
        return response, False

    def _serve(self, request: web.Request, body: Any) -> web.Response:
        """Authenticate, count against the rate limit, route and run the handler."""
        try:
            self._authenticate(request)
            self._spend_rate_limit()
            handler, call = self._route(request, body)
            payload = handler(self, call)
        except _ApiError as error:
            headers = self.rate.headers(self.clock())
            headers.update(error.headers)
            return _error_response(error, headers)
        return _json_response(200, payload, self.rate.headers(self.clock()))

    async def _serve_tail(self, request: web.Request, body: Any) -> web.StreamResponse:
        """Serve a WebSocket tail on a logs route; other upgrades are plain requests.

        The upgrade spends one request of the rate-limit budget; the token is checked
        in the tail's init frame, not in a header.
        """
        try:
            handler, call = self._route(request, body)
            if handler not in (Routes._build_logs, Routes._run_logs):
                return self._serve(request, body)
            self._spend_rate_limit()
        except _ApiError as error:
            headers = self.rate.headers(self.clock())
            headers.update(error.headers)
            return _error_response(error, headers)
        kind = "build" if handler is Routes._build_logs else "run"
        query = dict(call.query)
        query.pop("queryType", None)

        def parse() -> LogQuery:
            if call.query.get("queryType") != "tail":
                raise QueryError(400, "A WebSocket serves queryType=tail only")
            try:
                job = self._find_job(call)
            except _ApiError as error:
                raise QueryError(error.status, error.message) from None
            parsed = parse_log_query(
                query, id_param=_ID_PARAM[kind], now_ms=wall_ms(self.clock), tail=True
            )
            self.item_lines(job, kind, parsed.item_id)  # unknown item: an error frame
            return parsed

        def lines(parsed: LogQuery) -> list[Timed]:
            job = self._find_job(call)
            return self.item_lines(job, kind, parsed.item_id)

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
            raise _ApiError(401, "Unauthorized")

    def _spend_rate_limit(self) -> None:
        now = self.clock()
        if not self.rate.take(now):
            wait = str(self.rate.reset_in(now))
            raise _ApiError(429, "Rate limit exceeded", headers={"Retry-After": wait})

    def _route(self, request: web.Request, body: Any) -> tuple[_Handler, _Call]:
        segments = _api_segments(request.raw_path)
        if segments is None:
            raise _ApiError(404, "Route not found")
        allowed = []
        for method, pattern, handler in self._ROUTES:
            params = _match(pattern, segments)
            if params is None:
                continue
            if method == request.method:
                query = {key: request.query[key] for key in request.query}
                segment = pattern[2] if len(pattern) > 2 else "jobs"
                return handler, _Call(params, query, body, str(segment))
            allowed.append(method)
        if allowed:
            raise _ApiError(405, "Method not allowed", headers={"Allow": ", ".join(allowed)})
        raise _ApiError(404, "Route not found")

    # ------------------------------------------------------------------ lookups, pages

    def _find_project(self, call: _Call) -> dict[str, Job]:
        jobs = self.store.projects.get(call.project_id)
        if jobs is None:
            raise _ApiError(404, "Project not found", details={"projectId": call.project_id})
        return jobs

    def _find_job(self, call: _Call) -> Job:
        """The job, or the service on a ``services`` route (both own builds alike)."""
        jobs = self._find_project(call)
        if call.segment == "services":
            service = self.store.services.get(call.project_id, {}).get(call.job_id)
            if service is None:
                raise _ApiError(404, "Service not found", details={"serviceId": call.job_id})
            return service
        job = jobs.get(call.job_id)
        if job is None:
            raise _ApiError(404, "Job not found", details={"jobId": call.job_id})
        return job

    def _paginate(
        self, call: _Call, scope: tuple[str, ...], items: Sequence[Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """Cut one page out of `items`; return it and the ``pagination`` member."""
        per_page = _int_param(call.query, "per_page", default=50, high=100)
        offset = self._list_offset(call, scope, per_page)
        page = list(items[offset : offset + per_page])
        next_offset = offset + len(page)
        pagination: dict[str, Any] = {"hasNextPage": next_offset < len(items)}
        if pagination["hasNextPage"]:
            pagination["cursor"] = self._mint_cursor(scope, next_offset)
        pagination["count"] = len(page)
        return page, pagination

    def _list_offset(self, call: _Call, scope: tuple[str, ...], per_page: int) -> int:
        """Where a page starts: the cursor's offset (it wins over page), else by page."""
        cursor = call.query.get("cursor")
        if cursor is None:
            return (_int_param(call.query, "page", default=1) - 1) * per_page
        target = self._cursors.get(cursor)
        if target is None or target[0] != scope:
            raise _ApiError(400, "Invalid cursor", details={"cursor": "unknown or expired"})
        return target[1]

    def _mint_cursor(self, scope: tuple[str, ...], offset: int) -> str:
        cursor = secrets.token_urlsafe(16)
        self._cursors[cursor] = (scope, offset)
        if len(self._cursors) > _MAX_CURSORS:
            self._cursors.popitem(last=False)  # forget the oldest, like an expiry would
        return cursor

    # ------------------------------------------------------------------ builds

    def _list_builds(self, call: _Call) -> dict[str, Any]:
        job = self._find_job(call)
        page, pagination = self._paginate(call, ("build", job.project_id, job.job_id), job.builds)
        for build in page:
            self.progress.advance(build_key(job, build["id"]), poll=False)
        return {"data": {"builds": page}, "pagination": pagination}

    def _find_build(self, call: _Call) -> tuple[Job, dict[str, Any]]:
        job = self._find_job(call)
        build = job.by_id.get(call.item_id)
        if build is None:
            raise _ApiError(404, "Build not found", details={"buildId": call.item_id})
        return job, build

    def _get_build(self, call: _Call) -> dict[str, Any]:
        job, build = self._find_build(call)
        self.progress.advance(build_key(job, build["id"]), poll=True)
        return {"data": build}

    def _start_build(self, call: _Call) -> dict[str, Any]:
        job = self._find_job(call)
        if call.segment == "services":
            fields = _validate_service_start_body(call.body)
        else:
            sha = _validate_start_body(call.body)
            fields = {} if sha is None else {"sha": sha}
        build = self.store.create_build(job, fields)
        return {"data": build}

    def _abort_build(self, call: _Call) -> dict[str, Any]:
        job, build = self._find_build(call)
        key = build_key(job, build["id"])
        self.progress.advance(key, poll=False)
        if build_concluded(build):
            raise _ApiError(409, "Build has already concluded", details={"buildId": build["id"]})
        self.progress.stop(key)
        self.store.conclude_build(job, build, "ABORTED")
        return {"data": {}}

    # ------------------------------------------------------------------ runs

    def _list_runs(self, call: _Call) -> dict[str, Any]:
        job = self._find_job(call)
        page, pagination = self._paginate(call, ("run", job.project_id, job.job_id), job.runs)
        for run in page:
            self.progress.advance(run_key(job, run["id"]), poll=False)
        return {"data": {"runs": page}, "pagination": pagination}

    def _find_run(self, call: _Call) -> tuple[Job, dict[str, Any]]:
        job = self._find_job(call)
        run = job.runs_by_id.get(call.item_id)
        if run is None:
            raise _ApiError(404, "Run not found", details={"runId": call.item_id})
        return job, run

    def _get_run(self, call: _Call) -> dict[str, Any]:
        job, run = self._find_run(call)
        self.progress.advance(run_key(job, run["id"]), poll=True)
        return {"data": run}

    def _start_run(self, call: _Call) -> dict[str, Any]:
        job = self._find_job(call)
        deployment = _validate_run_body(call.body)
        internal = deployment.get("internal") if deployment else None
        build_id = internal.get("buildId") if isinstance(internal, dict) else None
        if build_id is not None and build_id not in job.by_id:
            raise _ApiError(404, "Build not found", details={"buildId": build_id})
        run = self.store.create_run(job, {}, deployment)
        return {"data": {"id": run["id"], "runName": run["runName"]}}

    def _abort_run(self, call: _Call) -> dict[str, Any]:
        job, run = self._find_run(call)
        key = run_key(job, run["id"])
        self.progress.advance(key, poll=False)
        if run_concluded(run):
            raise _ApiError(409, "Run has already concluded", details={"runId": run["id"]})
        self.progress.stop(key)
        self.store.conclude_run(run, "FAILED", job)
        return {"data": {}}

    # ------------------------------------------------------------------ logs

    def item_lines(self, job: Job, kind: str, item_id: str) -> list[Timed]:
        """The visible lines of a build or run (time-based progress applied first)."""
        now_ms = wall_ms(self.clock)
        if kind == "build":
            build = job.by_id.get(item_id)
            if build is None:
                raise QueryError(404, "Build not found", {"buildId": item_id})
            key = build_key(job, item_id)
            self.progress.advance(key, poll=False)
            return self.store.logs.build_lines(key, build, now_ms)
        run = job.runs_by_id.get(item_id)
        if run is None:
            raise QueryError(404, "Run not found", {"runId": item_id})
        key = run_key(job, item_id)
        self.progress.advance(key, poll=False)
        return self.store.logs.run_lines(key, run, now_ms)

    def _logs(self, call: _Call, kind: str) -> dict[str, Any]:
        query_type = call.query.get("queryType", "range")
        if query_type != "range":
            message = (
                "queryType=tail is served over a WebSocket only"
                if query_type == "tail"
                else "Invalid queryType"
            )
            raise _ApiError(400, message, details={"queryType": "must be range over HTTP"})
        job = self._find_job(call)
        try:
            parsed = parse_log_query(
                call.query, id_param=_ID_PARAM[kind], now_ms=wall_ms(self.clock), tail=False
            )
            lines = self.item_lines(job, kind, parsed.item_id)
        except QueryError as error:
            raise _ApiError(error.status, error.message, details=error.details) from None
        page, truncated = select(lines, parsed, self.log_page_limit)
        shape, pagination = self.log_shapes.popleft() if self.log_shapes else (None, None)
        return envelope(
            page,
            shape or self.log_shape,
            pagination=self.log_pagination if pagination is None else pagination,
            truncated=truncated,
        )

    def _build_logs(self, call: _Call) -> dict[str, Any]:
        return self._logs(call, "build")

    def _run_logs(self, call: _Call) -> dict[str, Any]:
        return self._logs(call, "run")

    def script_log_shapes(self, shapes: Sequence[str]) -> None:
        """Queue one envelope shape per upcoming range answer (all checked first)."""
        self.log_shapes.extend([check_shape(shape) for shape in shapes])

    # ------------------------------------------------------------------ jobs, branches

    def _list_jobs(self, call: _Call) -> dict[str, Any]:
        jobs = list(self._find_project(call).values())
        page, pagination = self._paginate(call, ("job", call.project_id), jobs)
        return {"data": {"jobs": [job.listed_record() for job in page]}, "pagination": pagination}

    def _get_job(self, call: _Call) -> dict[str, Any]:
        return {"data": self._find_job(call).record}

    def _list_branches(self, call: _Call) -> dict[str, Any]:
        job = self._find_job(call)
        branches = list(job.branches.values())
        page, pagination = self._paginate(call, ("branch", job.project_id, job.job_id), branches)
        return {"data": {"branches": page}, "pagination": pagination}

    # The one route table: method, path after ``/v1`` or ``/v1/teams/{teamId}`` (None
    # marks a path parameter: projectId, jobId, then a build or run id) and handler.
    _ROUTES: ClassVar[tuple[tuple[str, tuple[str | None, ...], _Handler], ...]] = (
        ("GET", ("projects", _P, "jobs"), _list_jobs),
        ("GET", ("projects", _P, "jobs", _P), _get_job),
        ("GET", ("projects", _P, "jobs", _P, "build"), _list_builds),
        ("POST", ("projects", _P, "jobs", _P, "build"), _start_build),
        ("GET", ("projects", _P, "jobs", _P, "build", _P), _get_build),
        ("DELETE", ("projects", _P, "jobs", _P, "build", _P), _abort_build),
        ("GET", ("projects", _P, "jobs", _P, "runs"), _list_runs),
        ("POST", ("projects", _P, "jobs", _P, "runs"), _start_run),
        ("GET", ("projects", _P, "jobs", _P, "runs", _P), _get_run),
        ("DELETE", ("projects", _P, "jobs", _P, "runs", _P), _abort_run),
        ("GET", ("projects", _P, "jobs", _P, "branches"), _list_branches),
        ("GET", ("projects", _P, "jobs", _P, "build-logs"), _build_logs),
        ("GET", ("projects", _P, "jobs", _P, "logs"), _run_logs),
        # A service's builds: the same handlers, the owner found under "services".
        ("GET", ("projects", _P, "services", _P, "build"), _list_builds),
        ("POST", ("projects", _P, "services", _P, "build"), _start_build),
        ("GET", ("projects", _P, "services", _P, "build", _P), _get_build),
        ("DELETE", ("projects", _P, "services", _P, "build", _P), _abort_build),
        ("GET", ("projects", _P, "services", _P, "build-logs"), _build_logs),
    )


# ---------------------------------------------------------------------- module helpers

_ID_PARAM: Final = {"build": "buildId", "run": "runId"}


def _is_upgrade(request: web.Request) -> bool:
    """Whether the request asks for a WebSocket."""
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"


@web.middleware
async def _envelope_errors(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    """Render aiohttp's own error answers and unexpected failures as the error envelope."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        api_error = _ApiError(error.status, error.reason or _phrase(error.status))
        return _error_response(api_error, {})
    except Exception as error:  # any bug answers an enveloped 500
        return _error_response(_ApiError(500, f"Internal error: {type(error).__name__}"), {})
    return response


def _validate_body_object(body: Any) -> dict[str, Any] | None:
    """Check that a body is a JSON object (or absent) and return it."""
    if isinstance(body, _BadBody):
        raise _ApiError(400, body.message)
    if body is None:
        return None
    if not isinstance(body, dict):
        raise _ApiError(400, "Request body must be a JSON object")
    return body


def _refuse_unknown(body: Mapping[str, Any], allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        details = {f"{prefix}{key}": "not allowed" for key in unknown}
        raise _ApiError(400, "Invalid request body", details=details)


def _invalid(field: str, complaint: str) -> _ApiError:
    return _ApiError(400, "Invalid request body", details={field: complaint})


def _validate_start_body(body: Any) -> str | None:
    """Check a start-build body and return the requested sha, if any."""
    checked = _validate_body_object(body)
    if checked is None:
        return None  # no body at all: start the branch head
    _refuse_unknown(checked, {"sha", "overrides"})
    sha = checked.get("sha")
    if sha is not None and not (isinstance(sha, str) and _SHA_RE.fullmatch(sha)):
        raise _invalid("sha", "must be 40 hex characters")
    if "overrides" in checked and not isinstance(checked["overrides"], dict):
        raise _invalid("overrides", "must be an object")
    return sha


def _validate_service_start_body(body: Any) -> dict[str, Any]:
    """Check a service's start-build body: sha, branch or pullRequestId (not both), overrides."""
    checked = _validate_body_object(body)
    if checked is None:
        return {}
    _refuse_unknown(checked, {"sha", "branch", "pullRequestId", "overrides"})
    _validate_start_body({k: v for k, v in checked.items() if k in ("sha", "overrides")})
    if "branch" in checked and "pullRequestId" in checked:
        raise _invalid("pullRequestId", "not allowed with branch")
    branch, pull = checked.get("branch"), checked.get("pullRequestId")
    if "branch" in checked and not (isinstance(branch, str) and branch):
        raise _invalid("branch", "must be a non-empty string")
    if "pullRequestId" in checked and (isinstance(pull, bool) or not isinstance(pull, int | str)):
        raise _invalid("pullRequestId", "must be an integer or a string")
    return {k: checked[k] for k in ("sha", "branch", "pullRequestId") if k in checked}


_RUN_OBJECTS: Final = frozenset({"runtimeEnvironment", "runtimeFiles", "billing", "docker"})
_RUN_KEYS: Final = _RUN_OBJECTS | {"deployment", "storage"}
_INTERNAL_KEYS: Final = frozenset({"id", "branch", "buildSHA", "buildId"})


def _validate_run_body(body: Any) -> dict[str, Any] | None:
    """Check a start-run body and return its ``deployment``, if any."""
    checked = _validate_body_object(body)
    if checked is None:
        return None
    _refuse_unknown(checked, set(_RUN_KEYS))
    for key in sorted(_RUN_OBJECTS | {"storage"}):
        if key in checked and not isinstance(checked[key], dict):
            raise _invalid(key, "must be an object")
    if "deployment" not in checked:
        return None
    deployment = checked["deployment"]
    if not isinstance(deployment, dict) or len(deployment) != 1:
        raise _invalid("deployment", 'must be an object with one of "internal" or "external"')
    _refuse_unknown(deployment, {"internal", "external"}, "deployment.")
    if "internal" in deployment:
        internal = deployment["internal"]
        if not isinstance(internal, dict):
            raise _invalid("deployment.internal", "must be an object")
        _refuse_unknown(internal, set(_INTERNAL_KEYS), "deployment.internal.")
        for key, value in internal.items():
            if not isinstance(value, str) or not value:
                raise _invalid(f"deployment.internal.{key}", "must be a non-empty string")
        sha = internal.get("buildSHA")
        if sha is not None and sha != "latest" and not _SHA_RE.fullmatch(sha):
            raise _invalid("deployment.internal.buildSHA", '40 hex characters or "latest"')
    else:
        external = deployment["external"]
        if not isinstance(external, dict):
            raise _invalid("deployment.external", "must be an object")
        _refuse_unknown(external, {"imagePath", "credentials"}, "deployment.external.")
        if not isinstance(external.get("imagePath"), str) or not external["imagePath"]:
            raise _invalid("deployment.external.imagePath", "must be a non-empty string")
        if "credentials" in external and not isinstance(external["credentials"], str):
            raise _invalid("deployment.external.credentials", "must be a string")
    return deployment


def _int_param(
    query: Mapping[str, str], name: str, *, default: int, high: int | None = None
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if _DIGITS_RE.fullmatch(raw) else 0
    except ValueError:  # more digits than int() accepts
        value = 0
    if value < 1 or (high is not None and value > high):
        bounds = f"between 1 and {high}" if high is not None else ">= 1"
        raise _ApiError(400, f"Invalid {name}", details={name: f"must be an integer {bounds}"})
    return value


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


def _parse_json(raw: bytes) -> Any:
    """Parse a body: None when empty, a `_BadBody` when it is not usable JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except RecursionError:
        return _BadBody("Request body is nested too deeply")
    except ValueError:
        return _BadBody("Request body is not valid JSON")


def _redact(name: str, value: str) -> str:
    if name.lower() not in _SENSITIVE_HEADERS:
        return value
    scheme = value.partition(" ")[0]
    return f"{scheme} <redacted>" if scheme.lower() == "bearer" else "<redacted>"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error_response(error: _ApiError, headers: Mapping[str, str]) -> web.Response:
    envelope: dict[str, Any] = {
        "status": error.status,
        "message": error.message,
        "id": secrets.token_hex(6),
    }
    if error.details is not None:
        envelope["details"] = error.details
    return _json_response(error.status, {"error": envelope}, headers)


def _json_response(status: int, payload: Any, headers: Mapping[str, str]) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )


async def _label(request: web.Request, response: web.StreamResponse) -> None:
    """Sign every answer (a WebSocket's 101 too) as the fake's: ``Server: SERVER_HEADER``."""
    response.headers["Server"] = SERVER_HEADER


def _drop(request: web.Request) -> tuple[web.StreamResponse, bool]:
    """Close the connection without an answer.

    The response returned to aiohttp is never written: the transport is closing, so
    aiohttp treats it as a client that went away, quietly.
    """
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500), False
