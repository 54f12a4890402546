"""An in-memory fake of the Northflank job API, served by a real aiohttp server.

The fake is the *server* side of the project: it deliberately imports nothing from the
rest of ``northflank_async`` so that it can be used to test the client honestly.

`FakeNorthflank` is a small face over four rooms, each reading time from one clock:

- `._store` (`Store`): projects, jobs, builds, runs and branches, and the data generator;
- `._faults` (`FaultInjector`): scripted and random faults;
- `._progress` (`ProgressEngine`): moves started builds and runs along over time;
- `._routes` (`Routes`): the aiohttp app: routing, envelopes, rate-limit window, recording.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

from ._clock import Clock, loop_time, wall_ms
from ._faults import DEFAULT_FAULT_KINDS, FaultInjector, FaultKind
from ._logquery import QueryError, check_shape
from ._logs import check_hand_lines
from ._progress import ProgressEngine
from ._routes import RECORD_LIMIT, RateWindow, RecordedRequest, Routes
from ._store import (
    BUILD_FINAL,
    BUILD_PIPELINE,
    RUN_FINAL,
    Branch,
    Build,
    Run,
    Store,
    build_key,
    run_key,
)
from ._store import (
    Job as _Job,
)
from ._tail import TailRecord

__all__ = [
    "Branch",
    "Build",
    "FakeNorthflank",
    "FaultKind",
    "RecordedRequest",
    "Run",
    "TailRecord",
]


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


class FakeNorthflank:
    """An in-memory Northflank API for jobs, served over real HTTP on localhost.

    Use it as an async context manager (or call `start` and `close`)::

        async with FakeNorthflank() as fake:
            fake.add_job("demo", "nightly", builds=250)
            # point a client at fake.base_url with token fake.token

    It serves list/get/start/abort of job builds and job runs, list/get of jobs and the
    list of a job's branches, under both the team-token form
    (``/v1/projects/{projectId}/jobs/{jobId}/...``) and the organisation form
    (``/v1/teams/{teamId}/projects/...``, any team id), checks the bearer token,
    enforces a real rate-limit window (``rate_limit=None`` disables it; the headers then
    show a limit and remaining budget of 1,000,000 and a reset of 0), and can inject
    faults (`script`, `faults`, `latency`). Requests are recorded in `requests` (the
    newest `record_limit` of them). Authentication is checked before the rate limit, so
    401 answers and injected faults never spend the budget, nor do 429s.

    Time comes from one clock, `clock` (seconds, monotonic): by default the running
    event loop's ``loop.time()``, so the fake follows a virtual loop clock. Timestamps
    in the data (``createdAt``, ``startedAt``, ...) are 2025-06-30T12:00:00Z plus the
    clock's reading; generated history lies before that instant.
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
        clock: Clock | None = None,
        record_limit: int = RECORD_LIMIT,
    ) -> None:
        if isinstance(record_limit, bool) or not isinstance(record_limit, int):
            raise TypeError("record_limit must be an int")
        if record_limit < 1:
            raise ValueError("record_limit must be >= 1")
        self._host = host
        self._port = port
        self._clock: Clock = loop_time if clock is None else clock
        self._progress = ProgressEngine(self._clock)
        self._store = Store(seed=seed, clock=self._clock, progress=self._progress)
        self._faults = FaultInjector()
        self._routes = Routes(
            store=self._store,
            progress=self._progress,
            faults=self._faults,
            clock=self._clock,
            token=token,
            latency=_check_seconds("latency", latency),
            record_limit=record_limit,
        )
        self._routes.rate = RateWindow(*rate_limit) if rate_limit else RateWindow(None, 3600.0)
        self._activity: _Activity | None = None
        self._activity_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._base_url: str | None = None

    # ------------------------------------------------------------------ settings

    @property
    def token(self) -> str:
        """The bearer token the fake accepts."""
        return self._routes.token

    @token.setter
    def token(self, value: str) -> None:
        self._routes.token = value

    @property
    def latency(self) -> float:
        """Seconds added before each answer (0 by default)."""
        return self._routes.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self._routes.latency = _check_seconds("latency", value)

    @property
    def retry_after(self) -> float:
        """Seconds a scripted ``429`` asks clients to wait (``Retry-After``)."""
        return self._routes.retry_after

    @retry_after.setter
    def retry_after(self, value: float) -> None:
        self._routes.retry_after = _check_seconds("retry_after", value)

    @property
    def slow_seconds(self) -> float:
        """Seconds the ``slow`` fault waits before answering (30 by default)."""
        return self._routes.slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        self._routes.slow_seconds = _check_seconds("slow_seconds", value)

    @property
    def clock(self) -> Clock:
        """The clock every part of the fake reads (seconds, monotonic)."""
        return self._clock

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving on the configured host and port.

        Port 0 (the default) binds a free port; read the address from `base_url`.
        Raises RuntimeError when already running and OSError when the port is taken.
        """
        if self._runner is not None:
            raise RuntimeError("FakeNorthflank is already running")
        self._routes.closing = asyncio.Event()  # a fresh one: each start may run in a new loop
        # handler_cancellation: a client that goes away cancels its handler (a "slow"
        # fault must not outlive its client); access_log=None keeps test output clean.
        runner = web.AppRunner(
            self._routes.make_app(),
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=5.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        self._start_activity()
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
        task, self._activity_task = self._activity_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if runner is None or site is None:
            return
        # Stop listening before waking the waiting handlers: a client that retries the
        # connection they drop is then refused instead of racing the shutdown.
        await site.stop()
        self._routes.closing.set()
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
        """The requests received so far (the newest `record_limit`), in arrival order.

        A fresh list of frozen `RecordedRequest` each time; a request still being
        answered shows ``status=None`` until its answer is sent.
        """
        return [slot.request for slot in self._routes.record]

    @property
    def record_limit(self) -> int:
        """How many requests `requests` keeps (the newest; 10,000 by default)."""
        maxlen = self._routes.record.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def request_count(self) -> int:
        """How many requests were received, also those the bounded record has dropped.

        Faulted, dropped, rate-limited and unauthorised requests are all counted.
        """
        return self._routes.total

    @property
    def connection_count(self) -> int:
        """How many distinct client TCP connections were seen.

        Connections are told apart by their source port, so a client reusing one
        keep-alive connection for many requests counts once.
        """
        return len(self._routes.peer_ports)

    def reset_stats(self) -> None:
        """Forget the recorded requests and connections, and zero `request_count`.

        Data, cursors, the rate-limit window and pending faults are left as they are.
        """
        self._routes.reset_stats()

    # ------------------------------------------------------------------ configuration

    def set_rate_limit(self, limit: int | None, window: float = 3600.0) -> None:
        """Replace the rate limit at runtime and start a fresh window.

        `limit` requests are allowed per window of `window` seconds, which opens at the
        next counted request. None disables enforcement; the headers then show a limit
        and remaining budget of 1,000,000.
        """
        self._routes.rate = RateWindow(limit, window)

    def script(self, *steps: FaultKind) -> None:
        """Queue one fault per upcoming request, in order, ahead of any random faults.

        A step is an HTTP status from 400 to 599 (answered with the JSON error envelope;
        ``429`` adds ``Retry-After``; ``502`` answers a proxy's HTML page), ``"html502"``,
        ``"drop"`` (close the connection without answering), ``"lost_answer"`` (handle
        the request, so that its effect happens, then close the connection without
        answering: a lost answer), ``"truncate"`` (a 200 whose body stops short of its
        Content-Length), ``"slow"`` (wait `slow_seconds`, then answer normally) or
        ``"ok"`` (answer normally).
        """
        self._faults.script(steps)

    def faults(
        self, rate: float, *, seed: int = 0, kinds: Sequence[FaultKind] = DEFAULT_FAULT_KINDS
    ) -> None:
        """Fail each unscripted request with probability `rate`, reproducibly from `seed`.

        The kind of each fault is drawn uniformly from `kinds` (see `script`).
        ``faults(0)`` turns random faults off.
        """
        self._faults.randomly(rate, seed, kinds)

    def configure_builds(
        self, step: Literal["poll"] | float = "poll", outcome: str = "SUCCESS"
    ) -> None:
        """Choose how builds started from now on progress, and how they end.

        With ``step="poll"`` each single GET of a build advances it one stage before
        answering; with a number it advances one stage every `step` seconds of the
        fake's clock (computed when read). A build walks QUEUED, PENDING, STARTING,
        CLONING, BUILDING, UPLOADING and then ends with `outcome` (or the outcome given
        to `set_outcome`).
        """
        _check_outcome(outcome, BUILD_FINAL)
        self._progress.configure("build", step, outcome)

    def simulate(
        self,
        *,
        new_build_every: float | None = 60.0,
        step: float | None = 10.0,
        failure_rate: float = 0.25,
        jobs: Sequence[tuple[str, str]] | None = None,
        max_builds: int | None = None,
        seed: int = 0,
    ) -> None:
        """Let the fake move on its own: builds run to an outcome, and new ones appear.

        Running builds of the jobs (the historical ones left in a pipeline stage too) move
        one stage every `step` seconds (``None``: keep the current `configure_builds`
        setting), so a build takes ``6 * step`` seconds. While the fake serves, a new build
        is pushed every `new_build_every` seconds on average (exponential gaps; ``None``:
        none) to a job drawn from `jobs` (default: every registered job), until
        `max_builds` were pushed; a fraction `failure_rate` of them ends in FAILURE or
        CRASHED, the others in SUCCESS. The draws are reproducible from `seed`; the
        schedule sleeps on the event loop, so a virtual loop clock runs it in no time.
        Calling it again replaces the activity.
        """
        if new_build_every is not None:
            _check_seconds("new_build_every", new_build_every)
            if new_build_every <= 0:
                raise ValueError("new_build_every must be > 0 (or None)")
        if not (isinstance(failure_rate, int | float) and 0 <= failure_rate <= 1):
            raise ValueError("failure_rate must be between 0 and 1")
        if max_builds is not None and (
            isinstance(max_builds, bool) or not isinstance(max_builds, int) or max_builds < 0
        ):
            raise ValueError("max_builds must be an int >= 0 (or None)")
        chosen = None if jobs is None else [self._store.job(p, j) for p, j in jobs]
        if step is not None:
            self.configure_builds(step=_check_seconds("step", step))
        for job in chosen if chosen is not None else self._all_jobs():
            for build in job.builds:
                if build.get("concluded") is not True and build.get("status") in BUILD_PIPELINE:
                    self._store.track_build(job, build)
        self._activity = _Activity(
            new_build_every, failure_rate, chosen, max_builds, random.Random(seed)
        )
        if self._activity_task is not None:
            self._activity_task.cancel()
            self._activity_task = None
        if self._runner is not None:
            self._start_activity()

    def _all_jobs(self) -> list[_Job]:
        return [job for jobs in self._store.projects.values() for job in jobs.values()]

    def _start_activity(self) -> None:
        activity = self._activity
        if activity is None or activity.every is None or self._activity_task is not None:
            return
        self._activity_task = asyncio.get_running_loop().create_task(
            self._push_builds(activity), name="fake-northflank-activity"
        )

    async def _push_builds(self, activity: _Activity) -> None:
        rng = activity.rng
        assert activity.every is not None
        while activity.max_builds is None or activity.pushed < activity.max_builds:
            await asyncio.sleep(rng.expovariate(1 / activity.every))
            jobs = activity.jobs if activity.jobs is not None else self._all_jobs()
            if not jobs:
                continue
            job = rng.choice(jobs)
            build = self._store.create_build(job, {})
            if rng.random() < activity.failure_rate:
                self.set_outcome(build["id"], rng.choice(("FAILURE", "CRASHED")))
            activity.pushed += 1

    def set_outcome(self, build_id: str, outcome: str) -> None:
        """Make the started build `build_id` end with `outcome`.

        `outcome` is one of SUCCESS, FAILURE, CRASHED, SUBMISSION_FAILURE or ABORTED. It
        may be set before or after the build is started (the id comes from the start
        answer or `add_build`); historical builds are not affected.
        """
        _check_outcome(outcome, BUILD_FINAL)
        self._progress.set_outcome("build", build_id, outcome)

    def configure_runs(
        self, step: Literal["poll"] | float = "poll", outcome: str = "SUCCESS"
    ) -> None:
        """Choose how runs started from now on progress, and how they end.

        With ``step="poll"`` a run answers RUNNING to its first two single GETs and
        concludes on the third; with a number it advances one of those three stages
        every `step` seconds of the fake's clock. It ends with `outcome` (SUCCESS or
        FAILED), or the outcome given to `set_run_outcome`.
        """
        _check_outcome(outcome, RUN_FINAL)
        self._progress.configure("run", step, outcome)

    def set_run_outcome(self, run_id: str, outcome: str) -> None:
        """Make the started run `run_id` end with `outcome` (SUCCESS or FAILED).

        It may be set before or after the run is started (the id comes from the start
        answer or `add_run`).
        """
        _check_outcome(outcome, RUN_FINAL)
        self._progress.set_outcome("run", run_id, outcome)

    # ------------------------------------------------------------------ data

    def add_job(
        self,
        project_id: str,
        job_id: str,
        builds: int | list[Build] = 0,
        *,
        runs: int = 0,
        **fields: Any,
    ) -> list[Build]:
        """Register a job (and its project), with builds appended after existing ones.

        An int generates that many realistic historical builds, newest first and
        reproducible from the constructor's `seed`; a list stores (deep copies of) the
        given builds as they are, newest first. Generated or given builds go after the
        job's existing ones (they are older). Historical builds never progress. Returns
        the builds stored by this call (the live objects the fake serves).

        A new job gets a record (name `job_id`, jobType ``manual``, tags ``[]``, served
        by the jobs endpoints; `fields` override or add its wire fields, e.g.
        ``name="Nightly"``), the branches main, develop, release/2.4 and fix/flaky-ci
        with stable head commits (`branch_head`), and `runs` generated concluded runs.
        """
        if isinstance(builds, bool) or not isinstance(builds, int | list):
            raise TypeError("builds must be an int or a list of builds")
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 0:
            raise ValueError("runs must be an int >= 0")
        if isinstance(builds, int) and builds < 0:
            raise ValueError("builds must be >= 0")
        job = self._store.add_job(project_id, job_id, fields)
        stored = self._store.add_builds(job, builds)
        self._store.add_run_history(job, runs)
        return stored

    def add_service(
        self, project_id: str, service_id: str, builds: int | list[Build] = 0, **fields: Any
    ) -> list[Build]:
        """Register a service (and its project), its builds appended after existing ones.

        Its builds are served under ``/v1/projects/{p}/services/{s}/build`` (and the team
        form), with their logs at ``.../build-logs``, exactly like a job's; ``builds`` works
        as in `add_job`. A started service build takes ``sha``, ``branch`` or
        ``pullRequestId`` (not both of the last two: 400). Returns the builds stored.
        """
        if isinstance(builds, bool) or not isinstance(builds, int | list):
            raise TypeError("builds must be an int or a list of builds")
        if isinstance(builds, int) and builds < 0:
            raise ValueError("builds must be >= 0")
        service = self._store.add_service(project_id, service_id, fields)
        return self._store.add_builds(service, builds)

    def service_builds(self, project_id: str, service_id: str) -> list[Build]:
        """Return the builds of a registered service, newest first (the live objects)."""
        service = self._store.services.get(project_id, {}).get(service_id)
        if service is None:
            raise KeyError(f"unknown service {project_id}/{service_id}: call add_service first")
        for build in service.builds:
            self._progress.advance(build_key(service, build["id"]), poll=False)
        return list(service.builds)

    def add_build(self, project_id: str, job_id: str, **fields: Any) -> Build:
        """Push a new build at the head of a registered job, as if it was started now.

        It gets a fresh unique id, ``createdAt`` now (later than any other build of the
        job) and status QUEUED; `fields` override anything. A build left in a pipeline
        stage (QUEUED..UPLOADING) progresses like a started one. Returns the live build.
        """
        job = self._store.job(project_id, job_id)
        if "id" in fields and (not isinstance(fields["id"], str) or fields["id"] in job.by_id):
            raise ValueError(f"build id {fields.get('id')!r} is not a new string id")
        return self._store.create_build(job, fields)

    def builds(self, project_id: str, job_id: str) -> list[Build]:
        """Return the builds of a registered job, newest first.

        Time-based progress is applied first. The dicts are the live objects the fake
        serves: changing them changes its answers. Raises KeyError for an unknown job.
        """
        job = self._store.job(project_id, job_id)
        for build in job.builds:
            self._progress.advance(build_key(job, build["id"]), poll=False)
        return list(job.builds)

    def add_run(
        self, project_id: str, job_id: str, *, deployment: Any = None, **fields: Any
    ) -> Run:
        """Push a new run at the head of a registered job, as if it was started now.

        It gets a fresh unique id and ``runName``, ``startedAt`` now and status RUNNING;
        `fields` override anything (``status="SUCCESS"`` or ``"FAILED"`` makes it
        concluded). A RUNNING run progresses like a started one. `deployment` is kept as
        if sent in the start body (see `run_deployment`). Returns the live run.
        """
        job = self._store.job(project_id, job_id)
        if "id" in fields and (not isinstance(fields["id"], str) or fields["id"] in job.runs_by_id):
            raise ValueError(f"run id {fields.get('id')!r} is not a new string id")
        json.dumps(fields)  # refuse what the fake could not serve, before storing anything
        return self._store.create_run(job, fields, deployment)

    def runs(self, project_id: str, job_id: str) -> list[Run]:
        """Return the runs of a registered job, newest first (live dicts, progress applied).

        Raises KeyError for an unknown job.
        """
        job = self._store.job(project_id, job_id)
        for run in job.runs:
            self._progress.advance(run_key(job, run["id"]), poll=False)
        return list(job.runs)

    def run_deployment(self, project_id: str, job_id: str, run_id: str) -> Any:
        """Return the ``deployment`` a run was started with, or None.

        It is a copy of the start body's ``deployment`` (e.g. ``{"internal": {"buildId":
        ...}}``), so tests can check which build or commit a run was started from.
        """
        job = self._store.job(project_id, job_id)
        if run_id not in job.runs_by_id:
            raise KeyError(f"unknown run {run_id!r} of job {project_id}/{job_id}")
        return job.run_deployments.get(run_id)

    def job(self, project_id: str, job_id: str) -> dict[str, Any]:
        """Return the live record of a registered job (as ``GET {job}`` serves it)."""
        return self._store.job(project_id, job_id).record

    def branches(self, project_id: str, job_id: str) -> list[Branch]:
        """Return the branches of a registered job (live dicts, in the order served)."""
        return list(self._store.job(project_id, job_id).branches.values())

    def branch_head(self, project_id: str, job_id: str, branch: str = "main") -> str:
        """Return the sha of the head commit of a job's branch (KeyError when unknown)."""
        branches = self._store.job(project_id, job_id).branches
        if branch not in branches:
            raise KeyError(f"unknown branch {branch!r} of job {project_id}/{job_id}")
        sha: str = branches[branch]["commit"]["sha"]
        return sha

    def add_branch(self, project_id: str, job_id: str, name: str, sha: str | None = None) -> Branch:
        """Add branch `name` to a job, or move it, with head commit `sha`.

        Without `sha` the branch moves to a new (reproducible) commit. Returns the live
        branch. Raises ValueError for an empty name or a sha that is not 40 hex digits.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("a branch name must be a non-empty string")
        if sha is not None and not (
            isinstance(sha, str) and len(sha) == 40 and all(c in _HEX for c in sha)
        ):
            raise ValueError(f"sha must be 40 hex characters, got {sha!r}")
        return self._store.set_branch(self._store.job(project_id, job_id), name, sha)

    # ------------------------------------------------------------------ logs

    def build_logs(self, project_id: str, job_id: str, build_id: str) -> list[dict[str, Any]]:
        """Return the log lines of a build visible now, oldest first, in wire form.

        Each line is ``{"containerId", "log", "ts"}`` (``log`` is usually a string). A
        build's generated log (clone, build steps, push; a failed build ends with an
        error line) grows as the build progresses; lines added with `add_log_lines`
        are merged in by ``ts``. Time-based progress is applied first. These are the
        lines a range without a window, filter or limit would answer, and a tail sends.
        Raises KeyError for an unknown job or build.
        """
        return [line for _, line in self._item_lines(project_id, job_id, build_id, "build")]

    def run_logs(self, project_id: str, job_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return the log lines of a run visible now, oldest first (see `build_logs`)."""
        return [line for _, line in self._item_lines(project_id, job_id, run_id, "run")]

    def _item_lines(
        self, project_id: str, job_id: str, item_id: str, kind: str
    ) -> list[tuple[int, dict[str, Any]]]:
        job = self._store.job(project_id, job_id)
        try:
            return self._routes.item_lines(job, kind, item_id)
        except QueryError as error:  # an unknown build or run
            raise KeyError(f"unknown {kind} {item_id!r} of job {project_id}/{job_id}") from error

    def add_log_lines(
        self,
        project_id: str,
        job_id: str,
        item_id: str,
        lines: Sequence[str | dict[str, Any]],
        *,
        kind: Literal["build", "run"] = "build",
    ) -> list[dict[str, Any]]:
        """Add lines by hand to the log of a build (or, with ``kind="run"``, a run).

        A line is a string (its ``log``) or a dict with ``log`` (any JSON value) and
        optionally ``ts`` (ISO-8601; default: now) and ``containerId`` (default: the
        item's main container, ``{id}-builder`` or ``{id}-main``). A line shows once the
        fake's clock reaches its ``ts``; at one ``ts``, generated lines come first. A
        tail only sends lines newer than the last one it sent: add lines with a ``ts``
        of now or later to see them in a running tail. Returns the wire lines added.
        Raises KeyError for an unknown item, TypeError/ValueError for a bad line (its
        JSON may hold at most 16 KiB, so that every line fits a tail frame).
        """
        if kind not in ("build", "run"):
            raise ValueError('kind must be "build" or "run"')
        job = self._store.job(project_id, job_id)
        items = job.by_id if kind == "build" else job.runs_by_id
        if item_id not in items:
            raise KeyError(f"unknown {kind} {item_id!r} of job {project_id}/{job_id}")
        container = f"{item_id}-builder" if kind == "build" else f"{item_id}-main"
        timed = check_hand_lines(lines, container, wall_ms(self._clock))
        key = build_key(job, item_id) if kind == "build" else run_key(job, item_id)
        self._store.logs.add(key, timed)
        return [dict(line) for _, line in timed]

    def set_log_shape(self, shape: str, *, pagination: bool = True) -> None:
        """Choose the envelope of range answers of the logs endpoints.

        `shape` is ``"data"`` (``{"data": [lines]}``, the default), ``"data.logs"``
        (``{"data": {"logs": [lines]}}``) or ``"data.data"`` (``{"data": {"data":
        [lines]}}``). With `pagination` (the default) every answer carries
        ``pagination: {"hasNextPage", "cursor"?, "count"}``, the cursor being the
        ``ts`` of the answer's last line when it was truncated; without it no answer
        says whether it was truncated.
        """
        name, flag = check_shape(shape)
        if flag is not None:
            raise ValueError("give pagination as the keyword argument")
        if not isinstance(pagination, bool):
            raise TypeError("pagination must be a bool")
        self._routes.log_shape, self._routes.log_pagination = name, pagination

    def script_log_shapes(self, *shapes: str) -> None:
        """Answer the next range requests of the logs endpoints in these shapes, in order.

        Each step is a shape of `set_log_shape`, optionally followed by
        ``":pagination"`` or ``":nopagination"`` (else the fake's setting applies), e.g.
        ``fake.script_log_shapes("data.logs", "data.data:nopagination")``.
        """
        self._routes.script_log_shapes(shapes)

    @property
    def log_page_limit(self) -> int:
        """The most lines one range answer holds (1000 by default); past it the answer
        is truncated (``hasNextPage: true``) whatever ``lineLimit`` asked."""
        return self._routes.log_page_limit

    @log_page_limit.setter
    def log_page_limit(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("log_page_limit must be an int >= 1")
        self._routes.log_page_limit = value

    def script_tail(self, *steps: str) -> None:
        """Queue one fault per upcoming WebSocket tail connection, in order.

        A step is ``"ok"`` (a normal tail), ``"refuse_auth"`` (answer the init frame
        with ``auth: "failed"`` whatever the token, then close), or one of these
        followed by ``:N``, acted out once the connection has sent N ``log-lines``
        frames (0: right after a successful init): ``drop_after`` (close the TCP
        connection without a close frame), ``close_after`` (a clean close, code 1012),
        ``error_after`` (an ``error`` frame, then close with code 1011),
        ``unknown_after`` (a frame of an unknown type, then go on) or
        ``oversized_after`` (a ``log-lines`` frame larger than the 32 kB bound holding
        one made-up line, then go on). E.g. ``fake.script_tail("drop_after:2",
        "drop_after:2", "drop_after:2")`` drops the next three tails.
        """
        self._routes.tails.add_steps(steps)

    @property
    def tail_poll_interval(self) -> float:
        """Seconds of loop time between two looks at the log by a tail (0.05)."""
        return self._routes.tails.poll

    @tail_poll_interval.setter
    def tail_poll_interval(self, value: float) -> None:
        seconds = _check_seconds("tail_poll_interval", value)
        if seconds <= 0:
            raise ValueError("tail_poll_interval must be > 0")
        self._routes.tails.poll = seconds

    @property
    def tails(self) -> list[TailRecord]:
        """The WebSocket tail connections accepted so far, oldest first.

        A fresh list of frozen `TailRecord` (path, query with any credential redacted,
        auth result, frames and lines sent, scripted step, how it ended); a running
        tail shows ``ended="open"``. `reset_stats` forgets them.
        """
        return [session.record for session in self._routes.tails.sessions]

    @property
    def tail_count(self) -> int:
        """How many WebSocket tail connections were accepted (see `tails`)."""
        return len(self._routes.tails.sessions)


@dataclasses.dataclass(slots=True)
class _Activity:
    every: float | None
    failure_rate: float
    jobs: list[_Job] | None
    max_builds: int | None
    rng: random.Random
    pushed: int = 0


_HEX = frozenset("0123456789abcdefABCDEF")


def _check_outcome(outcome: str, allowed: frozenset[str]) -> None:
    if outcome not in allowed:
        raise ValueError(f"outcome must be one of {sorted(allowed)}, got {outcome!r}")
