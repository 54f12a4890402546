"""Resources: each method names its route and its model, and nothing more.

A job's resources come in two forms. The scoped form is the real one: ``nf.job(project_id,
job_id)`` returns a `JobHandle` whose ``.builds``, ``.runs`` and ``.branches`` need no ids
repeated. The flat form (``nf.jobs.builds.get(project_id=..., job_id=..., build_id=...)``)
makes a scope for the call and hands it on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._core.checks import check_sha
from .._core.logquery import log_query
from .._core.models import Branch, Job, JobBuild, JobRun, RunStarted
from .._core.wire import check_id, job_path, project_path
from .._engine.coalesce import poller_for
from .._engine.endpoints import MAX_PER_PAGE, call, list_pages, listing
from .._engine.log_streams import LogStream, log_range, log_tail
from .._engine.monitor import Monitor
from .._engine.pagination import AsyncCursorIterator
from .._engine.workflows import BuildFollower, BuildWatcher, RunWatcher, wait_for_build
from .._transport.http import Transport

__all__ = [
    "JobBranches",
    "JobBuilds",
    "JobHandle",
    "JobRuns",
    "Jobs",
    "ScopedBranches",
    "ScopedBuilds",
    "ScopedRuns",
]


@attrs.frozen
class _Scope:
    """Where a job lives: its project, its id and, for organisation tokens, its team."""

    project_id: str
    job_id: str
    team_id: str | None

    def path(self, *tail: str) -> str:
        return job_path(
            project_id=self.project_id, job_id=self.job_id, team_id=self.team_id, tail=tail
        )


class ScopedBuilds:
    """``nf.job(...).builds``: the builds of one job."""

    def __init__(self, transport: Transport, scope: _Scope) -> None:
        self._transport = transport
        self._scope = scope

    def list(
        self,
        *,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> AsyncCursorIterator[JobBuild]:
        """Every build of the job, newest first as the API orders them, fetched page by page.

        ``per_page`` (1..100) sets the page size; ``cursor`` resumes from a page's cursor (or
        an iterator's ``resume_cursor``); ``limit`` stops after that many builds and fetches no
        page it does not need; ``prefetch=N`` keeps up to N pages fetched ahead of the consumer
        in a background task (default 0: a page is fetched only when it is reached, so a
        consumer that stops early wastes no request). Nothing is sent until the iterator is
        consumed.
        """
        return listing(
            self._transport,
            self._scope.path("build"),
            "builds",
            JobBuild,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=prefetch,
        )

    async def get(self, build_id: str) -> JobBuild:
        """One build of the job, by id."""
        return await call(self._transport, "GET", self._scope.path("build", build_id), JobBuild)

    async def start(
        self,
        *,
        sha: str | None = None,
        branch: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> JobBuild:
        """Start a build of ``sha``, of ``branch``'s head commit, or of the job's default branch.

        ``branch`` costs one more request (usually): the API starts builds of a commit only, so
        the branch's head is read from the job's branches first. ``overrides`` is sent as given
        (``buildArguments``, ``buildFiles``, ``docker``, ...). A POST is retried only when it
        cannot have started a build (a 429, a refused connection), so a flaky network never
        starts two.
        """
        if sha is not None and branch is not None:
            raise ValueError("pass sha or branch, not both")
        check_sha(sha)
        if branch is not None:
            sha = await ScopedBranches(self._transport, self._scope).head(branch)
        body: dict[str, Any] = {}
        if sha is not None:
            body["sha"] = sha
        if overrides is not None:
            body["overrides"] = dict(overrides)
        return await call(self._transport, "POST", self._scope.path("build"), JobBuild, json=body)

    async def abort(self, build_id: str) -> None:
        """Abort a running build (``ConflictError`` if it has already concluded).

        A retry that meets 409 after an attempt whose answer was lost returns normally: that
        attempt aborted the build.
        """
        # A 409 after an attempt that may have aborted it means the build no longer runs.
        await self._transport.request(
            "DELETE", self._scope.path("build", build_id), done_if_repeated=(409,)
        )

    def watch(
        self, build_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> BuildWatcher:
        """Yield the build when first seen, then at each change of status, until it concludes.

        Polls every ``poll_interval`` seconds, stretching up to 4x that while nothing changes.
        ``timeout`` bounds the whole watch (``WaitTimeoutError``, carrying the last build seen).

        Concurrent watches and waits on builds of one job, in one client, share their polls:
        one list request of the job's newest builds answers all of them, and only a build
        not on it costs a ``get`` (a lone watcher reads its build with ``get``, as before).
        """
        self._scope.path("build", build_id)  # a bad id surfaces at the call, not the first poll
        transport, path = self._transport, self._scope.path("build")
        poller = poller_for(
            transport.pollers,
            path,
            self.get,
            lambda: list_pages(transport, path, "builds", JobBuild, MAX_PER_PAGE),
        )
        return BuildWatcher(
            self.get, build_id, poll_interval=poll_interval, timeout=timeout, poller=poller
        )

    async def wait(
        self, build_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> JobBuild:
        """Poll until the build has concluded and return it (see `watch()`)."""
        return await wait_for_build(
            self.watch(build_id, poll_interval=poll_interval, timeout=timeout)
        )

    def follow(
        self, *, since: str | datetime | None = None, poll_interval: float = 30.0
    ) -> BuildFollower:
        """Yield every build created after ``since``, oldest first, each once, until stopped.

        ``since`` is a build id, an aware datetime, or ``None`` for "from now on". An idle
        poll costs one request; failed polls (after the client's retries) are logged and
        tried again at the next interval with the watermark unchanged.
        """
        if isinstance(since, str):
            check_id(since, "since")
        transport, path = self._transport, self._scope.path("build")
        return BuildFollower(
            lambda per_page: list_pages(transport, path, "builds", JobBuild, per_page),
            self.get,
            since=since,
            poll_interval=poll_interval,
        )

    def logs(
        self,
        build_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duration: float | timedelta | None = None,
        line_limit: int | None = None,
        direction: str = "forward",
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
    ) -> LogStream:
        """The build's log lines in a time window, oldest first (``direction="backward"``: newest).

        ``start``/``end`` are aware datetimes, ``duration`` seconds (or a timedelta): at most
        two of the three (none: the API's default window). ``line_limit`` stops after that many
        lines; ``container`` picks one container; at most one of the four text/regex filters
        applies. Bad arguments raise ``ValueError`` here, before anything is sent. One request
        per answer the API truncates, each continued from the last line's timestamp, no line
        repeated or skipped. See docs/logs.md.
        """
        query = log_query(
            "buildId",
            build_id,
            start=start,
            end=end,
            duration=duration,
            line_limit=line_limit,
            direction=direction,
            container=container,
            text_includes=text_includes,
            text_not_includes=text_not_includes,
            regex_includes=regex_includes,
            regex_not_includes=regex_not_includes,
        )
        return log_range(self._transport, self._scope.path("build-logs"), query)

    def tail_logs(
        self,
        build_id: str,
        *,
        start: datetime | None = None,
        line_limit: int | None = None,
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
        until_concluded: bool = True,
        allow_insecure: bool | None = None,
    ) -> LogStream:
        """The build's log lines live, over a WebSocket, each once across reconnections.

        Starts with the API's default backlog (its last 10 lines), or ``line_limit`` lines, or
        every line since ``start``. With ``until_concluded`` it ends once the build has
        concluded and its last lines have arrived (the build is read when the stream has been
        quiet for 5 s, then less often, up to once a minute). A dropped connection reconnects
        with the client's backoff and resumes after the last line. ``wss://`` only, unless the
        base URL is loopback or the client was made with ``allow_insecure=True`` (this
        method's ``allow_insecure`` is deprecated and ignored). Use ``async with`` to close it
        early.
        """
        query = log_query(
            "buildId",
            build_id,
            start=start,
            line_limit=line_limit,
            container=container,
            text_includes=text_includes,
            text_not_includes=text_not_includes,
            regex_includes=regex_includes,
            regex_not_includes=regex_not_includes,
        )
        return log_tail(
            self._transport,
            self._scope.path("build-logs"),
            query,
            lambda: self.get(build_id),
            until_concluded=until_concluded,
            allow_insecure=allow_insecure,
        )

    def outcomes(
        self, *, since: str | datetime | JobBuild | None = None, budget_per_hour: int | None = None
    ) -> AsyncIterator[JobBuild]:
        """Every build created after ``since`` (default: from now on), once it has concluded.

        A one-job `Monitor`: each build is yielded once, with its
        outcome, in the order the builds conclude, about one request per poll. Break out of
        the loop (or ``aclose()`` the iterator) to stop; the monitor's task ends with it.
        ``since`` and the budget are checked here, before anything is sent.
        """
        monitor = Monitor(
            self._transport, budget_per_hour=budget_per_hour, default_team=self._scope.team_id
        )
        monitor.watch_job(self._scope.project_id, self._scope.job_id, self._scope.team_id, since)
        return _concluded(monitor)


async def _concluded(monitor: Monitor) -> AsyncIterator[JobBuild]:
    async with monitor:
        async for event in monitor:
            if event.kind == "concluded":
                yield event.build


class ScopedRuns:
    """``nf.job(...).runs``: the runs of one job."""

    def __init__(self, transport: Transport, scope: _Scope) -> None:
        self._transport = transport
        self._scope = scope

    def list(
        self,
        *,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> AsyncCursorIterator[JobRun]:
        """Every run of the job, in the API's order, fetched page by page (see builds' list)."""
        return listing(
            self._transport,
            self._scope.path("runs"),
            "runs",
            JobRun,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=prefetch,
        )

    async def get(self, run_id: str) -> JobRun:
        """One run of the job, by id."""
        return await call(self._transport, "GET", self._scope.path("runs", run_id), JobRun)

    async def start(
        self,
        *,
        build_id: str | None = None,
        sha: str | None = None,
        runtime_environment: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> RunStarted:
        """Start a run of the job; ``build_id`` or ``sha`` picks exactly which build it runs.

        Both map to ``deployment.internal`` (``buildId`` / ``buildSHA``), so a bot can run the
        build it has just made; with neither, the job's own deployment settings apply.
        ``runtime_environment`` becomes ``runtimeEnvironment``; ``options`` holds any other
        field of the start-run body, sent as given (``runtimeFiles``, ``billing``, ``docker``,
        ``storage``). Like every POST, it is never repeated after it may have reached the API.
        """
        if build_id is not None and sha is not None:
            raise ValueError("pass build_id or sha, not both")
        if build_id is not None and (not isinstance(build_id, str) or not build_id):
            raise ValueError(f"build_id must be a non-empty string, got {build_id!r}")
        check_sha(sha)
        body: dict[str, Any] = dict(options or {})
        if build_id is not None:
            body["deployment"] = {"internal": {"buildId": build_id}}
        elif sha is not None:
            body["deployment"] = {"internal": {"buildSHA": sha}}
        if runtime_environment is not None:
            body["runtimeEnvironment"] = dict(runtime_environment)
        return await call(self._transport, "POST", self._scope.path("runs"), RunStarted, json=body)

    async def abort(self, run_id: str) -> None:
        """Abort a running run (``ConflictError`` if it has already concluded)."""
        await self._transport.request(
            "DELETE", self._scope.path("runs", run_id), done_if_repeated=(409,)
        )

    def watch(
        self, run_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> RunWatcher:
        """Yield the run when first seen, then at each change of status, until it concludes."""
        self._scope.path("runs", run_id)  # a bad id surfaces at the call, not the first poll
        return RunWatcher(self.get, run_id, poll_interval=poll_interval, timeout=timeout)

    async def wait(
        self, run_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> JobRun:
        """Poll until the run has concluded and return it (see `watch()`)."""
        return await wait_for_build(
            self.watch(run_id, poll_interval=poll_interval, timeout=timeout)
        )

    def logs(
        self,
        run_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duration: float | timedelta | None = None,
        line_limit: int | None = None,
        direction: str = "forward",
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
    ) -> LogStream:
        """The run's log lines in a time window, oldest first (``direction="backward"``: newest).

        ``start``/``end`` are aware datetimes, ``duration`` seconds (or a timedelta): at most
        two of the three (none: the API's default window). ``line_limit`` stops after that many
        lines; ``container`` picks one container; at most one of the four text/regex filters
        applies. Bad arguments raise ``ValueError`` here, before anything is sent. One request
        per answer the API truncates, each continued from the last line's timestamp, no line
        repeated or skipped. See docs/logs.md.
        """
        query = log_query(
            "runId",
            run_id,
            start=start,
            end=end,
            duration=duration,
            line_limit=line_limit,
            direction=direction,
            container=container,
            text_includes=text_includes,
            text_not_includes=text_not_includes,
            regex_includes=regex_includes,
            regex_not_includes=regex_not_includes,
        )
        return log_range(self._transport, self._scope.path("logs"), query)

    def tail_logs(
        self,
        run_id: str,
        *,
        start: datetime | None = None,
        line_limit: int | None = None,
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
        until_concluded: bool = True,
        allow_insecure: bool | None = None,
    ) -> LogStream:
        """The run's log lines live, over a WebSocket, each once across reconnections.

        Starts with the API's default backlog (its last 10 lines), or ``line_limit`` lines, or
        every line since ``start``. With ``until_concluded`` it ends once the run has
        concluded and its last lines have arrived (the run is read when the stream has been
        quiet for 5 s, then less often, up to once a minute). A dropped connection reconnects
        with the client's backoff and resumes after the last line. ``wss://`` only, unless the
        base URL is loopback or the client was made with ``allow_insecure=True`` (this
        method's ``allow_insecure`` is deprecated and ignored). Use ``async with`` to close it
        early.
        """
        query = log_query(
            "runId",
            run_id,
            start=start,
            line_limit=line_limit,
            container=container,
            text_includes=text_includes,
            text_not_includes=text_not_includes,
            regex_includes=regex_includes,
            regex_not_includes=regex_not_includes,
        )
        return log_tail(
            self._transport,
            self._scope.path("logs"),
            query,
            lambda: self.get(run_id),
            until_concluded=until_concluded,
            allow_insecure=allow_insecure,
        )


class ScopedBranches:
    """``nf.job(...).branches``: the branches of one job's repository."""

    def __init__(self, transport: Transport, scope: _Scope) -> None:
        self._transport = transport
        self._scope = scope

    def list(
        self, *, per_page: int = MAX_PER_PAGE, cursor: str | None = None, limit: int | None = None
    ) -> AsyncCursorIterator[Branch]:
        """Every branch of the job's repository, fetched page by page."""
        return listing(
            self._transport,
            self._scope.path("branches"),
            "branches",
            Branch,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=0,
        )

    async def head(self, name: str) -> str:
        """The sha of branch ``name``'s head commit (one request unless it is past page 1)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"branch must be a non-empty string, got {name!r}")
        checked = 0
        async for branch in self.list():
            checked += 1
            if branch.name == name:
                sha = branch.commit.sha if branch.commit is not None else None
                if sha is None:
                    raise ValueError(f"branch {name!r} has no head commit")
                return sha
        raise ValueError(f"no branch named {name!r} among the job's {checked} branches")


class JobHandle:
    """One job, named once: ``job = nf.job("my-project", "nightly")``.

    ``job.builds``, ``job.runs`` and ``job.branches`` take no project or job ids;
    ``await job.get()`` reads the job itself.
    """

    def __init__(self, transport: Transport, scope: _Scope) -> None:
        self._transport = transport
        self._scope = scope
        self.builds = ScopedBuilds(transport, scope)
        self.runs = ScopedRuns(transport, scope)
        self.branches = ScopedBranches(transport, scope)

    @property
    def project_id(self) -> str:
        """The job's project."""
        return self._scope.project_id

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self._scope.job_id

    @property
    def team_id(self) -> str | None:
        """The team of the route form used (``None``: the project form)."""
        return self._scope.team_id

    async def get(self) -> Job:
        """The job itself."""
        return await call(self._transport, "GET", self._scope.path(), Job)

    def __repr__(self) -> str:
        team = f" team_id={self.team_id!r}" if self.team_id is not None else ""
        return f"<JobHandle project_id={self.project_id!r} job_id={self.job_id!r}{team}>"


class _Flat:
    """The flat form's shared part: a scope per call, the client's default team applied."""

    def __init__(self, transport: Transport, default_team: str | None) -> None:
        self._transport = transport
        self._default_team = default_team

    def _job(self, project_id: str, job_id: str, team_id: str | None) -> JobHandle:
        scope = _Scope(project_id, job_id, team_id if team_id is not None else self._default_team)
        scope.path()  # the ids are checked at the call, before anything is sent
        return JobHandle(self._transport, scope)


class JobBuilds(_Flat):
    """``nf.jobs.builds``: the builds of a job, its ids passed on every call."""

    def list(
        self,
        *,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> AsyncCursorIterator[JobBuild]:
        """Every build of a job, newest first (see `ScopedBuilds.list()`)."""
        return self._job(project_id, job_id, team_id).builds.list(
            per_page=per_page, cursor=cursor, limit=limit, prefetch=prefetch
        )

    async def get(
        self, *, project_id: str, job_id: str, build_id: str, team_id: str | None = None
    ) -> JobBuild:
        """One build of a job, by id."""
        return await self._job(project_id, job_id, team_id).builds.get(build_id)

    async def start(
        self,
        *,
        project_id: str,
        job_id: str,
        sha: str | None = None,
        branch: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        team_id: str | None = None,
    ) -> JobBuild:
        """Start a build (see `ScopedBuilds.start()`)."""
        return await self._job(project_id, job_id, team_id).builds.start(
            sha=sha, branch=branch, overrides=overrides
        )

    async def abort(
        self, *, project_id: str, job_id: str, build_id: str, team_id: str | None = None
    ) -> None:
        """Abort a running build (``ConflictError`` if it has already concluded)."""
        await self._job(project_id, job_id, team_id).builds.abort(build_id)

    def watch(
        self,
        *,
        project_id: str,
        job_id: str,
        build_id: str,
        team_id: str | None = None,
        poll_interval: float = 5.0,
        timeout: float | None = None,
    ) -> BuildWatcher:
        """Yield the build at each change of status until it concludes (see ScopedBuilds)."""
        return self._job(project_id, job_id, team_id).builds.watch(
            build_id, poll_interval=poll_interval, timeout=timeout
        )

    async def wait(
        self,
        *,
        project_id: str,
        job_id: str,
        build_id: str,
        team_id: str | None = None,
        poll_interval: float = 5.0,
        timeout: float | None = None,
    ) -> JobBuild:
        """Poll until the build has concluded and return it."""
        return await self._job(project_id, job_id, team_id).builds.wait(
            build_id, poll_interval=poll_interval, timeout=timeout
        )

    def follow(
        self,
        *,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        since: str | datetime | None = None,
        poll_interval: float = 30.0,
    ) -> BuildFollower:
        """Yield every build created after ``since``, oldest first, each once, until stopped."""
        return self._job(project_id, job_id, team_id).builds.follow(
            since=since, poll_interval=poll_interval
        )

    def logs(
        self,
        *,
        project_id: str,
        job_id: str,
        build_id: str,
        team_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        duration: float | timedelta | None = None,
        line_limit: int | None = None,
        direction: str = "forward",
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
    ) -> LogStream:
        """The build's log lines in a time window (see `ScopedBuilds.logs()`)."""
        return self._job(project_id, job_id, team_id).builds.logs(
            build_id,
            start=start,
            end=end,
            duration=duration,
            line_limit=line_limit,
            direction=direction,
            container=container,
            text_includes=text_includes,
            text_not_includes=text_not_includes,
            regex_includes=regex_includes,
            regex_not_includes=regex_not_includes,
        )

    def tail_logs(
        self,
        *,
        project_id: str,
        job_id: str,
        build_id: str,
        team_id: str | None = None,
        start: datetime | None = None,
        line_limit: int | None = None,
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
        until_concluded: bool = True,
        allow_insecure: bool | None = None,
    ) -> LogStream:
        """The build's log lines live (see `ScopedBuilds.tail_logs()`)."""
        return self._job(project_id, job_id, team_id).builds.tail_logs(
            build_id,
            start=start,
            line_limit=line_limit,
            container=container,
            text_includes=text_includes,
            text_not_includes=text_not_includes,
            regex_includes=regex_includes,
            regex_not_includes=regex_not_includes,
            until_concluded=until_concluded,
            allow_insecure=allow_insecure,
        )

    def outcomes(
        self,
        *,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        since: str | datetime | JobBuild | None = None,
        budget_per_hour: int | None = None,
    ) -> AsyncIterator[JobBuild]:
        """Every build created after ``since``, once concluded (see ScopedBuilds.outcomes)."""
        return self._job(project_id, job_id, team_id).builds.outcomes(
            since=since, budget_per_hour=budget_per_hour
        )


class JobRuns(_Flat):
    """``nf.jobs.runs``: the runs of a job, its ids passed on every call."""

    def list(
        self,
        *,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> AsyncCursorIterator[JobRun]:
        """Every run of a job."""
        return self._job(project_id, job_id, team_id).runs.list(
            per_page=per_page, cursor=cursor, limit=limit, prefetch=prefetch
        )

    async def get(
        self, *, project_id: str, job_id: str, run_id: str, team_id: str | None = None
    ) -> JobRun:
        """One run of a job, by id."""
        return await self._job(project_id, job_id, team_id).runs.get(run_id)

    async def start(
        self,
        *,
        project_id: str,
        job_id: str,
        build_id: str | None = None,
        sha: str | None = None,
        runtime_environment: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        team_id: str | None = None,
    ) -> RunStarted:
        """Start a run (see `ScopedRuns.start()`)."""
        return await self._job(project_id, job_id, team_id).runs.start(
            build_id=build_id, sha=sha, runtime_environment=runtime_environment, options=options
        )

    async def abort(
        self, *, project_id: str, job_id: str, run_id: str, team_id: str | None = None
    ) -> None:
        """Abort a running run."""
        await self._job(project_id, job_id, team_id).runs.abort(run_id)

    def watch(
        self,
        *,
        project_id: str,
        job_id: str,
        run_id: str,
        team_id: str | None = None,
        poll_interval: float = 5.0,
        timeout: float | None = None,
    ) -> RunWatcher:
        """Yield the run at each change of status until it concludes."""
        return self._job(project_id, job_id, team_id).runs.watch(
            run_id, poll_interval=poll_interval, timeout=timeout
        )

    async def wait(
        self,
        *,
        project_id: str,
        job_id: str,
        run_id: str,
        team_id: str | None = None,
        poll_interval: float = 5.0,
        timeout: float | None = None,
    ) -> JobRun:
        """Poll until the run has concluded and return it."""
        return await self._job(project_id, job_id, team_id).runs.wait(
            run_id, poll_interval=poll_interval, timeout=timeout
        )

    def logs(
        self,
        *,
        project_id: str,
        job_id: str,
        run_id: str,
        team_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        duration: float | timedelta | None = None,
        line_limit: int | None = None,
        direction: str = "forward",
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
    ) -> LogStream:
        """The run's log lines in a time window (see `ScopedRuns.logs()`)."""
        return self._job(project_id, job_id, team_id).runs.logs(
            run_id,
            start=start,
            end=end,
            duration=duration,
            line_limit=line_limit,
            direction=direction,
            container=container,
            text_includes=text_includes,
            text_not_includes=text_not_includes,
            regex_includes=regex_includes,
            regex_not_includes=regex_not_includes,
        )

    def tail_logs(
        self,
        *,
        project_id: str,
        job_id: str,
        run_id: str,
        team_id: str | None = None,
        start: datetime | None = None,
        line_limit: int | None = None,
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
        until_concluded: bool = True,
        allow_insecure: bool | None = None,
    ) -> LogStream:
        """The run's log lines live (see `ScopedRuns.tail_logs()`)."""
        return self._job(project_id, job_id, team_id).runs.tail_logs(
            run_id,
            start=start,
            line_limit=line_limit,
            container=container,
            text_includes=text_includes,
            text_not_includes=text_not_includes,
            regex_includes=regex_includes,
            regex_not_includes=regex_not_includes,
            until_concluded=until_concluded,
            allow_insecure=allow_insecure,
        )


class JobBranches(_Flat):
    """``nf.jobs.branches``: the branches of a job's repository."""

    def list(
        self,
        *,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> AsyncCursorIterator[Branch]:
        """Every branch of the job's repository."""
        return self._job(project_id, job_id, team_id).branches.list(
            per_page=per_page, cursor=cursor, limit=limit
        )


class Jobs(_Flat):
    """``nf.jobs``: the jobs of a project, and their builds, runs and branches."""

    def __init__(self, transport: Transport, default_team: str | None = None) -> None:
        super().__init__(transport, default_team)
        self.builds = JobBuilds(transport, default_team)
        self.runs = JobRuns(transport, default_team)
        self.branches = JobBranches(transport, default_team)

    def list(
        self,
        project_id: str,
        *,
        team_id: str | None = None,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> AsyncCursorIterator[Job]:
        """Every job of a project (the list answer leaves out some fields: see `Job`)."""
        team = team_id if team_id is not None else self._default_team
        return listing(
            self._transport,
            project_path(project_id, team, "jobs"),
            "jobs",
            Job,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=prefetch,
        )

    async def get(self, project_id: str, job_id: str, *, team_id: str | None = None) -> Job:
        """One job, by id."""
        return await self._job(project_id, job_id, team_id).get()
