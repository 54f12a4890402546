"""An in-memory fake of the Northflank job-build API, served by a real aiohttp server.

The fake is the *server* side of the project: it deliberately imports nothing from the
rest of ``northflank_async`` so that it can be used to test the client honestly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from types import TracebackType
from typing import Any, ClassVar, Final, Literal
from urllib.parse import unquote

from aiohttp import web

__all__ = ["FakeNorthflank", "RecordedRequest"]

Build = dict[str, Any]
"""A build as stored and served: a JSON object in the wire format of the API."""

FaultKind = int | str
"""A fault step: an HTTP status (400..599) or one of ``html502 drop truncate slow ok``."""

#: Every status value the reference documents for a build.
STATUSES: Final = (
    "QUEUED",
    "PENDING",
    "UNSCHEDULABLE",
    "STARTING",
    "CLONING",
    "BUILDING",
    "UPLOADING",
    "ABORTED",
    "FAILURE",
    "SUBMISSION_FAILURE",
    "SUCCESS",
    "CRASHED",
    "IN_PROGRESS",
)
#: The stages a started build walks through, one step at a time, before its outcome.
_PIPELINE: Final = ("QUEUED", "PENDING", "STARTING", "CLONING", "BUILDING", "UPLOADING")
#: Statuses a build can end in; they are the allowed outcomes of `configure_builds`.
_FINAL: Final = frozenset({"SUCCESS", "FAILURE", "CRASHED", "SUBMISSION_FAILURE", "ABORTED"})
_MESSAGES: Final = {
    "SUCCESS": "Image successfully built",
    "FAILURE": "Build failed",
    "CRASHED": "Build crashed",
    "SUBMISSION_FAILURE": "Build submission failed",
    "ABORTED": "Build aborted",
}
#: Weights of the statuses of generated history: mostly concluded, a few still running.
_HISTORY_WEIGHTS: Final = {
    "SUCCESS": 60,
    "FAILURE": 18,
    "ABORTED": 6,
    "CRASHED": 2,
    "SUBMISSION_FAILURE": 2,
    "UNSCHEDULABLE": 1,
    "QUEUED": 1,
    "PENDING": 1,
    "STARTING": 1,
    "CLONING": 1,
    "BUILDING": 3,
    "UPLOADING": 1,
    "IN_PROGRESS": 3,
}
# fmt: off
_ADJECTIVES: Final = (
    "amber", "autumn", "bold", "brave", "brisk", "calm", "clever", "cosmic", "crimson",
    "daring", "eager", "fancy", "fierce", "gentle", "golden", "happy", "hidden", "jolly",
    "joyous", "keen", "lively", "lucky", "mellow", "misty", "noble", "patient", "polished",
    "quiet", "rapid", "rustic", "shiny", "silent", "silver", "smooth", "snowy", "solar", "spry",
    "steady", "stellar", "sunny", "swift", "tidy", "vivid", "wandering", "witty", "young",
    "zesty",
)
_NOUNS: Final = (
    "anchor", "badger", "beacon", "brook", "canyon", "cedar", "comet", "coral", "delta",
    "ember", "falcon", "field", "forest", "galaxy", "garden", "glacier", "harbor", "heron",
    "island", "lagoon", "lantern", "maple", "meadow", "mesa", "meteor", "nebula", "oasis",
    "orbit", "otter", "pebble", "pine", "prairie", "quartz", "raven", "reef", "river",
    "sparrow", "summit", "thunder", "tide", "trail", "valley", "view", "willow", "zephyr",
)
# fmt: on
_BRANCHES: Final = ("main", "main", "main", "main", "develop", "release/2.4", "fix/flaky-ci")
_FAULT_WORDS: Final = frozenset({"html502", "drop", "truncate", "slow", "ok"})
_DEFAULT_FAULT_KINDS: Final[tuple[FaultKind, ...]] = (429, 500, 502, 503, 504, "html502", "drop")
_HTML_502: Final = "<html><body><h1>502 Bad Gateway</h1></body></html>"
#: What the rate-limit headers show when enforcement is disabled (``rate_limit=None``).
UNLIMITED: Final = 1_000_000
_MAX_CURSORS: Final = 100_000
_SHA_RE: Final = re.compile(r"[0-9a-fA-F]{40}")
_DIGITS_RE: Final = re.compile(r"[0-9]+")
_SENSITIVE_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: The newest generated build of a fresh job is created shortly before this instant.
_HISTORY_ANCHOR_MS: Final = 1_751_284_800_000  # 2025-06-30T12:00:00Z


@dataclasses.dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received, as it arrived on the wire.

    ``path`` is the raw, still percent-encoded path (no query string); ``query`` maps each
    query parameter to its first value; ``headers`` keeps the header names as sent, with
    the value of ``Authorization`` replaced by ``Bearer <redacted>`` (the token is never
    stored); ``body`` is the parsed JSON body, or None when the body was empty or not
    JSON. ``peer_port`` is the client's TCP source port, which tells connections apart.
    ``status`` is the status answered, or None when the connection was dropped (the
    ``drop`` and ``truncate`` faults, a client that went away, the fake closing).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    peer_port: int | None
    status: int | None


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
class _Call:
    """A routed, authenticated API call: decoded path parameters plus query and body."""

    project_id: str
    job_id: str
    build_id: str
    query: Mapping[str, str]
    body: Any


@dataclasses.dataclass(slots=True)
class _Job:
    """The builds of one job, newest first, with an index by id."""

    project_id: str
    job_id: str
    builds: list[Build] = dataclasses.field(default_factory=list)
    by_id: dict[str, Build] = dataclasses.field(default_factory=dict)
    newest_ms: int | None = None
    oldest_ms: int | None = None

    def note_created(self, created_ms: int | None) -> None:
        """Widen the known createdAt range with one build's creation time."""
        if created_ms is None:
            return
        self.newest_ms = created_ms if self.newest_ms is None else max(self.newest_ms, created_ms)
        self.oldest_ms = created_ms if self.oldest_ms is None else min(self.oldest_ms, created_ms)


@dataclasses.dataclass(slots=True)
class _Progress:
    """How a started build moves through `_PIPELINE`: on each poll, or with time."""

    stage: int
    step: float | None  # None: one stage per single GET ("poll"); else seconds per stage
    outcome: str
    started: float  # time.monotonic() at creation
    start_stage: int

    def stage_at(self, now: float) -> int:
        """Return the stage reached by `now` in time mode."""
        assert self.step is not None
        if self.step <= 0:
            return len(_PIPELINE)
        return self.start_stage + int((now - self.started) / self.step)


class _RateWindow:
    """A fixed window opening at the first counted request and lasting `window` seconds."""

    def __init__(self, limit: int | None, window: float) -> None:
        if limit is not None and limit < 0:
            raise ValueError("rate limit must be >= 0")
        if window <= 0:
            raise ValueError("rate-limit window must be > 0 seconds")
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


_Handler = Callable[["FakeNorthflank", _Call], dict[str, Any]]


class FakeNorthflank:
    """An in-memory Northflank API for job builds, served over real HTTP on localhost.

    Use it as an async context manager (or call `start` and `close`)::

        async with FakeNorthflank() as fake:
            fake.add_job("demo", "nightly", builds=250)
            # point a client at fake.base_url with token fake.token

    It serves list/get/start/abort of job builds under both the team-token form
    (``/v1/projects/{projectId}/jobs/{jobId}/build``) and the organisation form
    (``/v1/teams/{teamId}/projects/...``, any team id), checks the bearer token,
    enforces a real rate-limit window (``rate_limit=None`` disables it; the headers then
    show a limit and remaining budget of 1,000,000 and a reset of 0), and can inject
    faults (`script`, `faults`, `latency`). Every request is recorded in `requests`.
    Authentication is checked before the rate limit, so 401 answers and injected faults
    never spend the budget, nor do 429s.
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
    ) -> None:
        self.token = token
        self.latency = latency
        #: Seconds a scripted ``429`` asks clients to wait (``Retry-After``).
        self.retry_after: float = 0.0
        #: Seconds the ``slow`` fault waits before answering.
        self.slow_seconds: float = 30.0
        self._host = host
        self._port = port
        self._rng = random.Random(seed)
        self._rate = _RateWindow(*rate_limit) if rate_limit else _RateWindow(None, 3600.0)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._base_url: str | None = None
        self._closing = asyncio.Event()
        # Data.
        self._projects: dict[str, dict[str, _Job]] = {}
        self._ids: set[str] = set()
        self._active: dict[tuple[str, str, str], _Progress] = {}
        self._outcomes: dict[str, str] = {}
        self._cursors: OrderedDict[str, tuple[str, str, int]] = OrderedDict()
        self._step: float | None = None
        self._outcome = "SUCCESS"
        # Faults.
        self._script: deque[FaultKind] = deque()
        self._fault_rate = 0.0
        self._fault_rng = random.Random(0)
        self._fault_kinds: tuple[FaultKind, ...] = _DEFAULT_FAULT_KINDS
        # Observability.
        self._requests: list[RecordedRequest] = []
        self._peer_ports: set[int] = set()
        self._stats_generation = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving on the configured host and port.

        Port 0 (the default) binds a free port; read the address from `base_url`.
        Raises RuntimeError when already running and OSError when the port is taken.
        """
        if self._runner is not None:
            raise RuntimeError("FakeNorthflank is already running")
        self._closing = asyncio.Event()  # a fresh one: each start may run in a new loop
        app = web.Application()
        # One catch-all route: the fake routes on the raw path itself so that an
        # encoded slash inside an id can never change which route matches.
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that goes away cancels its handler (a "slow"
        # fault must not outlive its client); access_log=None keeps test output clean.
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
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
        if runner is None or site is None:
            return
        # Stop listening before waking the waiting handlers: a client that retries the
        # connection they drop is then refused instead of racing the shutdown.
        await site.stop()
        self._closing.set()
        await runner.cleanup()

    async def __aenter__(self) -> FakeNorthflank:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
        """The requests received so far, in arrival order.

        A fresh list of frozen `RecordedRequest` each time; a request still being
        answered shows ``status=None`` until its answer is sent.
        """
        return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many requests were received.

        Faulted, dropped, rate-limited and unauthorised requests are all counted.
        """
        return len(self._requests)

    @property
    def connection_count(self) -> int:
        """How many distinct client TCP connections were seen.

        Connections are told apart by their source port, so a client reusing one
        keep-alive connection for many requests counts once.
        """
        return len(self._peer_ports)

    def reset_stats(self) -> None:
        """Forget the recorded requests and connections.

        Builds, cursors, the rate-limit window and pending faults are left as they are.
        """
        self._requests.clear()
        self._peer_ports.clear()
        self._stats_generation += 1

    # ------------------------------------------------------------------ configuration

    def set_rate_limit(self, limit: int | None, window: float = 3600.0) -> None:
        """Replace the rate limit at runtime and start a fresh window.

        `limit` requests are allowed per window of `window` seconds, which opens at the
        next counted request. None disables enforcement; the headers then show a limit
        and remaining budget of 1,000,000.
        """
        self._rate = _RateWindow(limit, window)

    def script(self, *steps: FaultKind) -> None:
        """Queue one fault per upcoming request, in order, ahead of any random faults.

        A step is an HTTP status from 400 to 599 (answered with the JSON error envelope;
        ``429`` adds ``Retry-After``; ``502`` answers a proxy's HTML page), ``"html502"``,
        ``"drop"`` (close the connection without answering), ``"truncate"`` (a 200 whose
        body stops short of its Content-Length), ``"slow"`` (wait `slow_seconds`, then
        answer normally) or ``"ok"`` (answer normally).
        """
        for step in steps:
            _check_fault(step)
        self._script.extend(steps)

    def faults(
        self, rate: float, *, seed: int = 0, kinds: Sequence[FaultKind] = _DEFAULT_FAULT_KINDS
    ) -> None:
        """Fail each unscripted request with probability `rate`, reproducibly from `seed`.

        The kind of each fault is drawn uniformly from `kinds` (see `script`).
        ``faults(0)`` turns random faults off.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        if not kinds:
            raise ValueError("kinds must not be empty")
        for kind in kinds:
            _check_fault(kind)
        self._fault_rate = rate
        self._fault_rng = random.Random(seed)
        self._fault_kinds = tuple(kinds)

    def configure_builds(
        self, step: Literal["poll"] | float = "poll", outcome: str = "SUCCESS"
    ) -> None:
        """Choose how builds started from now on progress, and how they end.

        With ``step="poll"`` each single GET of a build advances it one stage before
        answering; with a number it advances one stage every `step` seconds (computed
        when read). A build walks QUEUED, PENDING, STARTING, CLONING, BUILDING, UPLOADING
        and then ends with `outcome` (or the outcome given to `set_outcome`).
        """
        if step != "poll" and (isinstance(step, str) or step < 0):
            raise ValueError('step must be "poll" or a number of seconds >= 0')
        _check_outcome(outcome)
        self._step = None if step == "poll" else float(step)
        self._outcome = outcome

    def set_outcome(self, build_id: str, outcome: str) -> None:
        """Make the started build `build_id` end with `outcome`.

        `outcome` is one of SUCCESS, FAILURE, CRASHED, SUBMISSION_FAILURE or ABORTED. It
        may be set before or after the build is started (the id comes from the start
        answer or `add_build`); historical builds are not affected.
        """
        _check_outcome(outcome)
        self._outcomes[build_id] = outcome

    # ------------------------------------------------------------------ data

    def add_job(self, project_id: str, job_id: str, builds: int | list[Build] = 0) -> list[Build]:
        """Register a job (and its project), with builds appended after existing ones.

        An int generates that many realistic historical builds, newest first and
        reproducible from the constructor's `seed`; a list stores (deep copies of) the
        given builds as they are, newest first. Generated or given builds go after the
        job's existing ones (they are older). Historical builds never progress. Returns
        the builds stored by this call (the live objects the fake serves).
        """
        job = self._projects.setdefault(project_id, {}).setdefault(job_id, _Job(project_id, job_id))
        if isinstance(builds, int):
            stored = self._generate_history(job, builds)
        else:
            stored = [self._checked_copy(job, build) for build in builds]
        for build in stored:
            job.builds.append(build)
            job.by_id[build["id"]] = build
            job.note_created(_parse_created(build.get("createdAt")))
        return stored

    def add_build(self, project_id: str, job_id: str, **fields: Any) -> Build:
        """Push a new build at the head of a registered job, as if it was started now.

        It gets a fresh unique id, ``createdAt`` now (later than any other build of the
        job) and status QUEUED; `fields` override anything. A build left in a pipeline
        stage (QUEUED..UPLOADING) progresses like a started one. Returns the live build.
        """
        job = self._job(project_id, job_id)
        if "id" in fields and (not isinstance(fields["id"], str) or fields["id"] in job.by_id):
            raise ValueError(f"build id {fields.get('id')!r} is not a new string id")
        return self._create_build(job, fields)

    def builds(self, project_id: str, job_id: str) -> list[Build]:
        """Return the builds of a registered job, newest first.

        Time-based progress is applied first. The dicts are the live objects the fake
        serves: changing them changes its answers. Raises KeyError for an unknown job.
        """
        job = self._job(project_id, job_id)
        now = time.monotonic()
        for key in [key for key in self._active if key[:2] == (project_id, job_id)]:
            self._advance(job, job.by_id[key[2]], poll=False, now=now)
        return list(job.builds)

    # ------------------------------------------------------------------ data helpers

    def _job(self, project_id: str, job_id: str) -> _Job:
        try:
            return self._projects[project_id][job_id]
        except KeyError:
            raise KeyError(f"unknown job {project_id}/{job_id}: call add_job first") from None

    def _checked_copy(self, job: _Job, build: Build) -> Build:
        if not isinstance(build, dict) or not isinstance(build.get("id"), str):
            raise ValueError(f"each build must be a dict with a string id, got {build!r}")
        if build["id"] in job.by_id:
            raise ValueError(f"each build needs a new string id, got {build.get('id')!r}")
        copied: Build = json.loads(json.dumps(build))  # also proves it is JSON
        self._ids.add(copied["id"])
        return copied

    def _new_id(self) -> str:
        while True:
            adjective, noun = self._rng.choice(_ADJECTIVES), self._rng.choice(_NOUNS)
            build_id = f"{adjective}-{noun}-{self._rng.randint(1000, 9999)}"
            if build_id not in self._ids:
                self._ids.add(build_id)
                return build_id

    def _new_sha(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"

    def _registry_uri(self, job: _Job, build_id: str) -> str:
        return f"registry.northflank.com/{job.project_id}/{job.job_id}:{build_id}"

    def _generate_history(self, job: _Job, count: int) -> list[Build]:
        if count < 0:
            raise ValueError("builds must be >= 0")
        rng = self._rng
        created_ms = job.oldest_ms if job.oldest_ms is not None else _HISTORY_ANCHOR_MS
        builds = []
        for _ in range(count):
            # Between 1 minute and 4 hours apart, so createdAt strictly decreases.
            created_ms -= rng.randint(60_000, 4 * 3_600_000)
            builds.append(self._historic_build(job, created_ms))
        return builds

    def _historic_build(self, job: _Job, created_ms: int) -> Build:
        rng = self._rng
        status = rng.choices(list(_HISTORY_WEIGHTS), weights=list(_HISTORY_WEIGHTS.values()))[0]
        build: Build = {"id": self._new_id()}
        if rng.random() < 0.95:
            build["branch"] = rng.choice(_BRANCHES)
        pull_request = rng.random()
        if pull_request < 0.25:
            build["pullRequestId"] = rng.randint(1, 2500)
        elif pull_request < 0.5:
            build["pullRequestId"] = None
        build["status"] = status
        if rng.random() < 0.97:
            build["sha"] = self._new_sha()
        if status == "SUCCESS":
            build["registry"] = {"uri": self._registry_uri(job, build["id"])}
        concluded = status in _FINAL
        build["concluded"] = concluded
        build["createdAt"] = _format_ms(created_ms)
        if concluded:
            build["success"] = status == "SUCCESS"
            build["message"] = _MESSAGES[status] if rng.random() < 0.8 else None
            duration_ms = rng.randint(20_000, 900_000)
            build["buildConcludedAt"] = round((created_ms + duration_ms) / 1000, 3)
        elif rng.random() < 0.5:
            build["message"] = None
        return build

    def _create_build(self, job: _Job, fields: Mapping[str, Any]) -> Build:
        """Prepend a build created now; it progresses if it sits in a pipeline stage."""
        created_ms = max(_now_ms(), (job.newest_ms or 0) + 1)
        build_id = fields["id"] if "id" in fields else self._new_id()
        self._ids.add(build_id)
        build: Build = {
            "id": build_id,
            "branch": "main",
            "status": "QUEUED",
            "sha": self._new_sha(),
            "concluded": False,
            "createdAt": _format_ms(created_ms),
        }
        status = fields.get("status", "QUEUED")
        if status in _FINAL:
            self._conclude(job, build, status)
        build.update(fields)
        job.builds.insert(0, build)
        job.by_id[build_id] = build
        job.note_created(_parse_created(build.get("createdAt")))
        if status in _PIPELINE and build.get("concluded") is not True:
            stage = _PIPELINE.index(status)
            self._active[(job.project_id, job.job_id, build_id)] = _Progress(
                stage, self._step, self._outcome, time.monotonic(), stage
            )
        return build

    def _conclude(self, job: _Job, build: Build, status: str) -> None:
        """Give `build` its final status with consistent concluded/success fields."""
        created_ms = _parse_created(build.get("createdAt")) or 0
        build["status"] = status
        build["concluded"] = True
        build["success"] = status == "SUCCESS"
        build["message"] = _MESSAGES.get(status, status.capitalize())
        # After createdAt even if createdAt was pushed into the future by ordering.
        build["buildConcludedAt"] = round(max(time.time(), created_ms / 1000 + 0.001), 3)
        if status == "SUCCESS":
            build["registry"] = {"uri": self._registry_uri(job, build["id"])}

    def _advance(self, job: _Job, build: Build, *, poll: bool, now: float) -> None:
        """Move a started build forward: one stage on a poll, or as far as time says."""
        key = (job.project_id, job.job_id, build["id"])
        progress = self._active.get(key)
        if progress is None:
            return
        if progress.step is None:
            if not poll:
                return
            stage = progress.stage + 1
        else:
            stage = progress.stage_at(now)
        progress.stage = stage
        if stage < len(_PIPELINE):
            build["status"] = _PIPELINE[stage]
            return
        del self._active[key]
        self._conclude(job, build, self._outcomes.get(build["id"], progress.outcome))

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_body = await request.read()
        body = _parse_json(raw_body)
        recorded_body = None if body is _INVALID_JSON else body
        index, generation = self._record(request, recorded_body), self._stats_generation
        status: int | None = None
        try:
            response, answered = await self._respond(request, body)
            if answered:
                status = response.status
            return response
        finally:
            if generation == self._stats_generation:
                self._requests[index] = dataclasses.replace(self._requests[index], status=status)

    def _record(self, request: web.Request, body: Any) -> int:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        peer_port = peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else None
        if peer_port is not None:
            self._peer_ports.add(peer_port)
        query = {key: request.query[key] for key in request.query}
        headers = {name: _redact(name, value) for name, value in request.headers.items()}
        path = request.raw_path.split("?", 1)[0]
        self._requests.append(
            RecordedRequest(request.method, path, query, headers, body, peer_port, None)
        )
        return len(self._requests) - 1

    async def _respond(self, request: web.Request, body: Any) -> tuple[web.StreamResponse, bool]:
        """Apply latency and any pending fault, else serve; the flag says "answered"."""
        if not await self._pause(self.latency):
            return _drop(request)
        fault = self._next_fault()
        if fault == "slow" and not await self._pause(self.slow_seconds):
            return _drop(request)
        if fault is None or fault in ("ok", "slow"):
            return self._serve(request, body), True
        if fault == "drop":
            return _drop(request)
        if fault == "truncate":
            return await self._truncate(request)
        return self._fault_response(fault), True

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds`; False when the fake started closing meanwhile."""
        if seconds > 0:
            try:
                async with asyncio.timeout(seconds):
                    await self._closing.wait()
            except TimeoutError:
                return True
        return not self._closing.is_set()

    def _next_fault(self) -> FaultKind | None:
        if self._script:
            return self._script.popleft()
        if self._fault_rate > 0 and self._fault_rng.random() < self._fault_rate:
            return self._fault_rng.choice(self._fault_kinds)
        return None

    def _fault_response(self, fault: FaultKind) -> web.Response:
        if fault in ("html502", 502):
            # What a proxy in front of the API answers: HTML, no rate-limit headers.
            return web.Response(status=502, text=_HTML_502, content_type="text/html")
        assert isinstance(fault, int)
        headers = self._rate.headers(time.monotonic())
        if fault == 429:
            # Tell clients to wait retry_after whichever header they read.
            wait = str(max(0, math.ceil(self.retry_after)))
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": wait})
            headers["Retry-After"] = wait
            return _error_response(_ApiError(429, "Rate limit exceeded"), headers)
        return _error_response(_ApiError(fault, _phrase(fault)), headers)

    async def _truncate(self, request: web.Request) -> tuple[web.StreamResponse, bool]:
        body = b'{"data":{"builds":[{"id":"truncated-response-0001","status":"SUCC'
        response = web.StreamResponse(status=200, headers=self._rate.headers(time.monotonic()))
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
            headers = self._rate.headers(time.monotonic())
            headers.update(error.headers)
            return _error_response(error, headers)
        return _json_response(200, payload, self._rate.headers(time.monotonic()))

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != self.token:
            raise _ApiError(401, "Unauthorized")

    def _spend_rate_limit(self) -> None:
        now = time.monotonic()
        if not self._rate.take(now):
            wait = str(self._rate.reset_in(now))
            raise _ApiError(429, "Rate limit exceeded", headers={"Retry-After": wait})

    def _route(self, request: web.Request, body: Any) -> tuple[_Handler, _Call]:
        parsed = _split_path(request.raw_path)
        if parsed is None:
            raise _ApiError(404, "Route not found")
        project_id, job_id, tail = parsed
        allowed = []
        for method, pattern, handler in self._ROUTES:
            if _matches(pattern, tail):
                if method == request.method:
                    build_id = tail[1] if len(tail) > 1 else ""
                    query = {key: request.query[key] for key in request.query}
                    return handler, _Call(project_id, job_id, build_id, query, body)
                allowed.append(method)
        if allowed:
            raise _ApiError(405, "Method not allowed", headers={"Allow": ", ".join(allowed)})
        raise _ApiError(404, "Route not found")

    # ------------------------------------------------------------------ API handlers

    def _find_job(self, call: _Call) -> _Job:
        jobs = self._projects.get(call.project_id)
        if jobs is None:
            raise _ApiError(404, "Project not found", details={"projectId": call.project_id})
        job = jobs.get(call.job_id)
        if job is None:
            raise _ApiError(404, "Job not found", details={"jobId": call.job_id})
        return job

    def _find_build(self, call: _Call) -> tuple[_Job, Build]:
        job = self._find_job(call)
        build = job.by_id.get(call.build_id)
        if build is None:
            raise _ApiError(404, "Build not found", details={"buildId": call.build_id})
        return job, build

    def _list_builds(self, call: _Call) -> dict[str, Any]:
        job = self._find_job(call)
        per_page = _int_param(call.query, "per_page", default=50, high=100)
        offset = self._list_offset(call, job, per_page)
        items = job.builds[offset : offset + per_page]
        now = time.monotonic()
        if self._active:
            for build in items:
                self._advance(job, build, poll=False, now=now)
        next_offset = offset + len(items)
        pagination: dict[str, Any] = {"hasNextPage": next_offset < len(job.builds)}
        if pagination["hasNextPage"]:
            pagination["cursor"] = self._mint_cursor(job, next_offset)
        pagination["count"] = len(items)
        return {"data": {"builds": items}, "pagination": pagination}

    def _list_offset(self, call: _Call, job: _Job, per_page: int) -> int:
        """Where a page starts: the cursor's offset (it wins over page), else by page."""
        cursor = call.query.get("cursor")
        if cursor is None:
            return (_int_param(call.query, "page", default=1) - 1) * per_page
        target = self._cursors.get(cursor)
        if target is None or target[:2] != (job.project_id, job.job_id):
            raise _ApiError(400, "Invalid cursor", details={"cursor": "unknown or expired"})
        return target[2]

    def _mint_cursor(self, job: _Job, offset: int) -> str:
        cursor = secrets.token_urlsafe(16)
        self._cursors[cursor] = (job.project_id, job.job_id, offset)
        if len(self._cursors) > _MAX_CURSORS:
            self._cursors.popitem(last=False)  # forget the oldest, like an expiry would
        return cursor

    def _get_build(self, call: _Call) -> dict[str, Any]:
        job, build = self._find_build(call)
        self._advance(job, build, poll=True, now=time.monotonic())
        return {"data": build}

    def _start_build(self, call: _Call) -> dict[str, Any]:
        job = self._find_job(call)
        sha = _validate_start_body(call.body)
        build = self._create_build(job, {} if sha is None else {"sha": sha})
        return {"data": build}

    def _abort_build(self, call: _Call) -> dict[str, Any]:
        job, build = self._find_build(call)
        self._advance(job, build, poll=False, now=time.monotonic())
        if _is_concluded(build):
            raise _ApiError(409, "Build has already concluded", details={"buildId": build["id"]})
        self._active.pop((job.project_id, job.job_id, build["id"]), None)
        self._conclude(job, build, "ABORTED")
        return {"data": {}}

    # The one route table: method, path after ``.../jobs/{jobId}`` (None marks the
    # build id) and handler.
    _ROUTES: ClassVar[tuple[tuple[str, tuple[str | None, ...], _Handler], ...]] = (
        ("GET", ("build",), _list_builds),
        ("POST", ("build",), _start_build),
        ("GET", ("build", None), _get_build),
        ("DELETE", ("build", None), _abort_build),
    )


# ---------------------------------------------------------------------- module helpers


def _check_fault(kind: object) -> None:
    if isinstance(kind, bool) or not (
        (isinstance(kind, int) and 400 <= kind <= 599) or kind in _FAULT_WORDS
    ):
        raise ValueError(f"unknown fault {kind!r}: use a status 400..599 or {sorted(_FAULT_WORDS)}")


def _check_outcome(outcome: str) -> None:
    if outcome not in _FINAL:
        raise ValueError(f"outcome must be one of {sorted(_FINAL)}, got {outcome!r}")


def _is_concluded(build: Build) -> bool:
    concluded = build.get("concluded")
    if isinstance(concluded, bool):
        return concluded
    return build.get("status") in _FINAL


def _validate_start_body(body: Any) -> str | None:
    """Check a start-build body and return the requested sha, if any."""
    if body is _INVALID_JSON:
        raise _ApiError(400, "Request body is not valid JSON")
    if body is None:
        return None  # no body at all: start the branch head
    if not isinstance(body, dict):
        raise _ApiError(400, "Request body must be a JSON object")
    unknown = sorted(set(body) - {"sha", "overrides"})
    if unknown:
        raise _ApiError(400, "Invalid request body", details=dict.fromkeys(unknown, "not allowed"))
    sha = body.get("sha")
    if sha is not None and not (isinstance(sha, str) and _SHA_RE.fullmatch(sha)):
        raise _ApiError(400, "Invalid request body", details={"sha": "must be 40 hex characters"})
    if "overrides" in body and not isinstance(body["overrides"], dict):
        raise _ApiError(400, "Invalid request body", details={"overrides": "must be an object"})
    return sha


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


def _split_path(raw_path: str) -> tuple[str, str, tuple[str, ...]] | None:
    """Split a raw path into (projectId, jobId, rest), decoding each segment on its own.

    Splitting before decoding is what keeps ``..%2Fx`` one segment, ``../x``.
    """
    segments = [unquote(segment) for segment in raw_path.split("?", 1)[0].split("/")]
    if segments[:2] != ["", "v1"]:
        return None
    rest = segments[2:]
    if rest[:1] == ["teams"]:
        if len(rest) < 2 or not rest[1]:
            return None
        rest = rest[2:]  # any team id serves the same store
    if len(rest) < 4 or rest[0] != "projects" or rest[2] != "jobs" or not rest[1] or not rest[3]:
        return None
    return rest[1], rest[3], tuple(rest[4:])


def _matches(pattern: tuple[str | None, ...], tail: tuple[str, ...]) -> bool:
    return len(pattern) == len(tail) and all(
        bool(part) if fixed is None else part == fixed
        for fixed, part in zip(pattern, tail, strict=True)
    )


_INVALID_JSON: Final = object()


def _parse_json(raw: bytes) -> Any:
    """Parse a body: None when empty, `_INVALID_JSON` when it is not JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


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


def _drop(request: web.Request) -> tuple[web.StreamResponse, bool]:
    """Close the connection without an answer.

    The response returned to aiohttp is never written: the transport is closing, so
    aiohttp treats it as a client that went away, quietly.
    """
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500), False


def _now_ms() -> int:
    return int(time.time() * 1000)


def _format_ms(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_created(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
