"""What each endpoint of the fake answers: jobs, branches, builds, runs and their logs.

`Handlers` serves routed calls (`._requests.Call`) over the store: lookups that answer 404,
pages with cursors, starts and aborts that move the progress engine, and the logs by range
(and the pieces a WebSocket tail reads). `ROUTES` is the one route table: a new endpoint is
one row there and a handler here (a list endpoint: over `Handlers.paginate`).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any, Final

from ._clock import Clock, wall_ms
from ._logquery import MAX_RANGE_LINES, LogQuery, check_shape, envelope, parse_log_query, select
from ._progress import ProgressEngine
from ._records import Job, Timed, build_concluded, build_key, run_concluded, run_key
from ._requests import (
    ApiError,
    BadBody,
    Call,
    check_run_body,
    check_service_start_body,
    check_start_body,
    int_param,
)
from ._store import Store

__all__ = ["LOG_KINDS", "ROUTES", "Handler", "Handlers"]

_MAX_CURSORS: Final = 100_000
_ID_PARAM: Final = {"build": "buildId", "run": "runId"}


class Handlers:
    """The endpoints' answers, over the store, with the log answers' settings."""

    def __init__(self, *, store: Store, progress: ProgressEngine, clock: Clock) -> None:
        self.store = store
        self.progress = progress
        self.clock = clock
        self._cursors: OrderedDict[str, tuple[tuple[str, ...], int]] = OrderedDict()
        self.log_shape = "data"
        self.log_pagination = True
        self.log_shapes: deque[tuple[str, bool | None]] = deque()
        self.log_page_limit = MAX_RANGE_LINES

    # ------------------------------------------------------------------ lookups, pages

    def find_project(self, call: Call) -> dict[str, Job]:
        jobs = self.store.projects.get(call.project_id)
        if jobs is None:
            raise ApiError(404, "Project not found", {"projectId": call.project_id})
        return jobs

    def find_job(self, call: Call) -> Job:
        """The job, or the service on a ``services`` route (both own builds alike)."""
        jobs = self.find_project(call)
        if call.segment == "services":
            service = self.store.services.get(call.project_id, {}).get(call.job_id)
            if service is None:
                raise ApiError(404, "Service not found", {"serviceId": call.job_id})
            return service
        job = jobs.get(call.job_id)
        if job is None:
            raise ApiError(404, "Job not found", {"jobId": call.job_id})
        return job

    def paginate(
        self, call: Call, scope: tuple[str, ...], items: Sequence[Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """Cut one page out of `items`; return it and the ``pagination`` member."""
        per_page = int_param(call.query, "per_page", default=50, high=100)
        offset = self._list_offset(call, scope, per_page)
        page = list(items[offset : offset + per_page])
        next_offset = offset + len(page)
        pagination: dict[str, Any] = {"hasNextPage": next_offset < len(items)}
        if pagination["hasNextPage"]:
            pagination["cursor"] = self._mint_cursor(scope, next_offset)
        pagination["count"] = len(page)
        return page, pagination

    def _list_offset(self, call: Call, scope: tuple[str, ...], per_page: int) -> int:
        """Where a page starts: the cursor's offset (it wins over page), else by page."""
        cursor = call.query.get("cursor")
        if cursor is None:
            return (int_param(call.query, "page", default=1) - 1) * per_page
        target = self._cursors.get(cursor)
        if target is None or target[0] != scope:
            raise ApiError(400, "Invalid cursor", {"cursor": "unknown or expired"})
        return target[1]

    def _mint_cursor(self, scope: tuple[str, ...], offset: int) -> str:
        cursor = secrets.token_urlsafe(16)
        self._cursors[cursor] = (scope, offset)
        if len(self._cursors) > _MAX_CURSORS:
            self._cursors.popitem(last=False)  # forget the oldest, like an expiry would
        return cursor

    # ------------------------------------------------------------------ jobs, branches

    def list_jobs(self, call: Call) -> dict[str, Any]:
        jobs = list(self.find_project(call).values())
        page, pagination = self.paginate(call, ("job", call.project_id), jobs)
        return {"data": {"jobs": [job.listed_record() for job in page]}, "pagination": pagination}

    def get_job(self, call: Call) -> dict[str, Any]:
        return {"data": self.find_job(call).record}

    def list_branches(self, call: Call) -> dict[str, Any]:
        job = self.find_job(call)
        branches = list(job.branches.values())
        page, pagination = self.paginate(call, ("branch", job.project_id, job.job_id), branches)
        return {"data": {"branches": page}, "pagination": pagination}

    # ------------------------------------------------------------------ builds

    def list_builds(self, call: Call) -> dict[str, Any]:
        job = self.find_job(call)
        page, pagination = self.paginate(call, ("build", job.project_id, job.job_id), job.builds)
        for build in page:
            self.progress.advance(build_key(job, build["id"]), poll=False)
        return {"data": {"builds": page}, "pagination": pagination}

    def _find_build(self, call: Call) -> tuple[Job, dict[str, Any]]:
        job = self.find_job(call)
        build = job.by_id.get(call.item_id)
        if build is None:
            raise ApiError(404, "Build not found", {"buildId": call.item_id})
        return job, build

    def get_build(self, call: Call) -> dict[str, Any]:
        job, build = self._find_build(call)
        self.progress.advance(build_key(job, build["id"]), poll=True)
        return {"data": build}

    def start_build(self, call: Call) -> dict[str, Any]:
        job = self.find_job(call)
        if call.segment == "services":
            fields = check_service_start_body(call.body)
        else:
            sha = check_start_body(call.body)
            fields = {} if sha is None else {"sha": sha}
        build = self.store.create_build(job, fields)
        return {"data": build}

    def abort_build(self, call: Call) -> dict[str, Any]:
        job, build = self._find_build(call)
        key = build_key(job, build["id"])
        self.progress.advance(key, poll=False)
        if build_concluded(build):
            raise ApiError(409, "Build has already concluded", {"buildId": build["id"]})
        self.progress.stop(key)
        self.store.conclude_build(job, build, "ABORTED")
        return {"data": {}}

    # ------------------------------------------------------------------ runs

    def list_runs(self, call: Call) -> dict[str, Any]:
        job = self.find_job(call)
        page, pagination = self.paginate(call, ("run", job.project_id, job.job_id), job.runs)
        for run in page:
            self.progress.advance(run_key(job, run["id"]), poll=False)
        return {"data": {"runs": page}, "pagination": pagination}

    def _find_run(self, call: Call) -> tuple[Job, dict[str, Any]]:
        job = self.find_job(call)
        run = job.runs_by_id.get(call.item_id)
        if run is None:
            raise ApiError(404, "Run not found", {"runId": call.item_id})
        return job, run

    def get_run(self, call: Call) -> dict[str, Any]:
        job, run = self._find_run(call)
        self.progress.advance(run_key(job, run["id"]), poll=True)
        return {"data": run}

    def start_run(self, call: Call) -> dict[str, Any]:
        job = self.find_job(call)
        deployment = check_run_body(call.body)
        internal = deployment.get("internal") if deployment else None
        build_id = internal.get("buildId") if isinstance(internal, dict) else None
        if build_id is not None and build_id not in job.by_id:
            raise ApiError(404, "Build not found", {"buildId": build_id})
        run = self.store.create_run(job, {}, deployment)
        return {"data": {"id": run["id"], "runName": run["runName"]}}

    def abort_run(self, call: Call) -> dict[str, Any]:
        job, run = self._find_run(call)
        key = run_key(job, run["id"])
        self.progress.advance(key, poll=False)
        if run_concluded(run):
            raise ApiError(409, "Run has already concluded", {"runId": run["id"]})
        self.progress.stop(key)
        self.store.conclude_run(run, "FAILED", job, aborted=True)
        return {"data": {}}

    # ------------------------------------------------------------------ integrations

    def list_integrations(self, call: Call) -> dict[str, Any]:
        items = list(self.store.integrations.by_id.values())
        page, pagination = self.paginate(call, ("integration",), items)
        listed = [integration.listed() for integration in page]
        return {"data": {"notificationIntegrations": listed}, "pagination": pagination}

    def create_integration(self, call: Call) -> dict[str, Any]:
        return {"data": self.store.integrations.create(_checked_body(call.body)).record}

    def get_integration(self, call: Call) -> dict[str, Any]:
        return {"data": self.store.integrations.find(call.params[0]).record}

    def update_integration(self, call: Call) -> dict[str, Any]:
        self.store.integrations.update(call.params[0], _checked_body(call.body))
        return {"data": {}}

    def delete_integration(self, call: Call) -> dict[str, Any]:
        self.store.integrations.delete(call.params[0])
        return {"data": {}}

    # ------------------------------------------------------------------ logs

    def item_lines(self, job: Job, kind: str, item_id: str) -> list[Timed]:
        """The visible lines of a build or run (time-based progress applied first)."""
        now_ms = wall_ms(self.clock)
        if kind == "build":
            build = job.by_id.get(item_id)
            if build is None:
                raise ApiError(404, "Build not found", {"buildId": item_id})
            key = build_key(job, item_id)
            self.progress.advance(key, poll=False)
            return self.store.logs.build_lines(key, build, now_ms)
        run = job.runs_by_id.get(item_id)
        if run is None:
            raise ApiError(404, "Run not found", {"runId": item_id})
        key = run_key(job, item_id)
        self.progress.advance(key, poll=False)
        return self.store.logs.run_lines(key, run, now_ms)

    def _logs(self, call: Call, kind: str) -> dict[str, Any]:
        query_type = call.query.get("queryType", "range")
        if query_type != "range":
            message = (
                "queryType=tail is served over a WebSocket only"
                if query_type == "tail"
                else "Invalid queryType"
            )
            raise ApiError(400, message, {"queryType": "must be range over HTTP"})
        job = self.find_job(call)
        parsed = parse_log_query(
            call.query, id_param=_ID_PARAM[kind], now_ms=wall_ms(self.clock), tail=False
        )
        lines = self.item_lines(job, kind, parsed.item_id)
        page, truncated = select(lines, parsed, self.log_page_limit)
        shape, pagination = self.log_shapes.popleft() if self.log_shapes else (None, None)
        return envelope(
            page,
            shape or self.log_shape,
            pagination=self.log_pagination if pagination is None else pagination,
            truncated=truncated,
        )

    def build_logs(self, call: Call) -> dict[str, Any]:
        return self._logs(call, "build")

    def run_logs(self, call: Call) -> dict[str, Any]:
        return self._logs(call, "run")

    def tail_source(
        self, call: Call, kind: str
    ) -> tuple[Callable[[], LogQuery], Callable[[LogQuery], list[Timed]]]:
        """What a WebSocket tail of `call` reads: its query, checked once its init frame was
        accepted (an unknown item is an error frame), and the lines visible at each look."""

        def parse() -> LogQuery:
            if call.query.get("queryType") != "tail":
                raise ApiError(400, "A WebSocket serves queryType=tail only")
            job = self.find_job(call)
            query = {key: value for key, value in call.query.items() if key != "queryType"}
            parsed = parse_log_query(
                query, id_param=_ID_PARAM[kind], now_ms=wall_ms(self.clock), tail=True
            )
            self.item_lines(job, kind, parsed.item_id)  # unknown item: an error frame
            return parsed

        def lines(parsed: LogQuery) -> list[Timed]:
            return self.item_lines(self.find_job(call), kind, parsed.item_id)

        return parse, lines

    def script_log_shapes(self, shapes: Sequence[str]) -> None:
        """Queue one envelope shape per upcoming range answer (all checked first)."""
        self.log_shapes.extend([check_shape(shape) for shape in shapes])


def _checked_body(body: Any) -> Any:
    if isinstance(body, BadBody):
        raise ApiError(400, body.message)
    return body


Handler = Callable[[Handlers, Call], dict[str, Any]]
_P = None  # a path parameter in a route pattern

#: The one route table: method, path after ``/v1`` or ``/v1/teams/{teamId}`` (None marks a
#: path parameter: projectId, jobId or serviceId, then a build or run id) and handler.
ROUTES: Final[tuple[tuple[str, tuple[str | None, ...], Handler], ...]] = (
    ("GET", ("projects", _P, "jobs"), Handlers.list_jobs),
    ("GET", ("projects", _P, "jobs", _P), Handlers.get_job),
    ("GET", ("projects", _P, "jobs", _P, "build"), Handlers.list_builds),
    ("POST", ("projects", _P, "jobs", _P, "build"), Handlers.start_build),
    ("GET", ("projects", _P, "jobs", _P, "build", _P), Handlers.get_build),
    ("DELETE", ("projects", _P, "jobs", _P, "build", _P), Handlers.abort_build),
    ("GET", ("projects", _P, "jobs", _P, "runs"), Handlers.list_runs),
    ("POST", ("projects", _P, "jobs", _P, "runs"), Handlers.start_run),
    ("GET", ("projects", _P, "jobs", _P, "runs", _P), Handlers.get_run),
    ("DELETE", ("projects", _P, "jobs", _P, "runs", _P), Handlers.abort_run),
    ("GET", ("projects", _P, "jobs", _P, "branches"), Handlers.list_branches),
    ("GET", ("projects", _P, "jobs", _P, "build-logs"), Handlers.build_logs),
    ("GET", ("projects", _P, "jobs", _P, "logs"), Handlers.run_logs),
    # A service's builds: the same handlers, the owner found under "services".
    ("GET", ("projects", _P, "services", _P, "build"), Handlers.list_builds),
    ("POST", ("projects", _P, "services", _P, "build"), Handlers.start_build),
    ("GET", ("projects", _P, "services", _P, "build", _P), Handlers.get_build),
    ("DELETE", ("projects", _P, "services", _P, "build", _P), Handlers.abort_build),
    ("GET", ("projects", _P, "services", _P, "build-logs"), Handlers.build_logs),
    # The account's notification integrations (no project in the path).
    ("GET", ("integrations", "notifications"), Handlers.list_integrations),
    ("POST", ("integrations", "notifications"), Handlers.create_integration),
    ("GET", ("integrations", "notifications", _P), Handlers.get_integration),
    ("POST", ("integrations", "notifications", _P), Handlers.update_integration),
    ("DELETE", ("integrations", "notifications", _P), Handlers.delete_integration),
)
#: The routes a WebSocket tail is served on, and the kind of item whose log it reads.
LOG_KINDS: Final[dict[Handler, str]] = {Handlers.build_logs: "build", Handlers.run_logs: "run"}
