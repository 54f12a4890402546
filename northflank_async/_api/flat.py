"""The flat form: ``nf.jobs.builds.get(project_id=..., job_id=..., build_id=...)``.

Each method is declared (its signature is the contract) and derived from the scoped one with
`flat_method`: the call makes the owner from its ids, the client's default team applied, and
runs the scoped method with the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from .._core.logfilter import LogFilter
from .._core.models import Branch, Job, JobBuild, JobRun, RunStarted
from .._core.owners import JOB, Owner
from .._core.wire import project_path
from .._engine.context import ClientContext
from .._engine.endpoints import MAX_PER_PAGE, listing
from .._engine.log_streams import LogStream
from .._engine.pagination import AsyncCursorIterator
from .._engine.workflows import BuildFollower, BuildWatcher, RunWatcher
from .builds import ScopedBuilds
from .derive import flat_method
from .handles import JobHandle
from .runs import ScopedBranches, ScopedRuns

__all__ = ["JobBranches", "JobBuilds", "JobRuns", "Jobs"]

# The declared methods' bodies are derived (see .derive): they are never run.
# mypy: disable-error-code="empty-body"


class _Flat:
    """The flat form's shared part: an owner per call, the client's default team applied."""

    _kind = JOB

    def __init__(self, ctx: ClientContext) -> None:
        self._ctx = ctx
        self._transport = ctx.transport

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: ids given per call (nf.job(...) names them once)>"

    def _owner(self, project_id: str, owner_id: str, team_id: str | None) -> Owner:
        return Owner(self._kind, project_id, owner_id, self._ctx.team(team_id)).checked()

    def _scoped(self, owner: Owner) -> Any:
        raise NotImplementedError


class JobBuilds(_Flat):
    """``nf.jobs.builds``: the builds of a job, its ids passed on every call."""

    def _scoped(self, owner: Owner) -> ScopedBuilds:
        return ScopedBuilds(self._ctx, owner)

    @flat_method(ScopedBuilds.list)
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

    @flat_method(ScopedBuilds.get)
    async def get(
        self, *, project_id: str, job_id: str, build_id: str, team_id: str | None = None
    ) -> JobBuild:
        """One build of a job, by id."""

    @flat_method(ScopedBuilds.start)
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

    @flat_method(ScopedBuilds.abort)
    async def abort(
        self, *, project_id: str, job_id: str, build_id: str, team_id: str | None = None
    ) -> None:
        """Abort a running build (``ConflictError`` if it has already concluded)."""

    @flat_method(ScopedBuilds.watch)
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

    @flat_method(ScopedBuilds.wait)
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

    @flat_method(ScopedBuilds.follow)
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

    @flat_method(ScopedBuilds.logs)
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
        filter: LogFilter | None = None,
    ) -> LogStream:
        """The build's log lines in a time window (see `ScopedBuilds.logs()`)."""

    @flat_method(ScopedBuilds.tail_logs)
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
        filter: LogFilter | None = None,
    ) -> LogStream:
        """The build's log lines live (see `ScopedBuilds.tail_logs()`)."""

    @flat_method(ScopedBuilds.outcomes)
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


class JobRuns(_Flat):
    """``nf.jobs.runs``: the runs of a job, its ids passed on every call."""

    def _scoped(self, owner: Owner) -> ScopedRuns:
        return ScopedRuns(self._ctx, owner)

    @flat_method(ScopedRuns.list)
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

    @flat_method(ScopedRuns.get)
    async def get(
        self, *, project_id: str, job_id: str, run_id: str, team_id: str | None = None
    ) -> JobRun:
        """One run of a job, by id."""

    @flat_method(ScopedRuns.start)
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

    @flat_method(ScopedRuns.abort)
    async def abort(
        self, *, project_id: str, job_id: str, run_id: str, team_id: str | None = None
    ) -> None:
        """Abort a running run."""

    @flat_method(ScopedRuns.watch)
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

    @flat_method(ScopedRuns.wait)
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

    @flat_method(ScopedRuns.logs)
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
        filter: LogFilter | None = None,
    ) -> LogStream:
        """The run's log lines in a time window (see `ScopedRuns.logs()`)."""

    @flat_method(ScopedRuns.tail_logs)
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
        filter: LogFilter | None = None,
    ) -> LogStream:
        """The run's log lines live (see `ScopedRuns.tail_logs()`)."""


class JobBranches(_Flat):
    """``nf.jobs.branches``: the branches of a job's repository."""

    def _scoped(self, owner: Owner) -> ScopedBranches:
        return ScopedBranches(self._ctx, owner)

    @flat_method(ScopedBranches.list)
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


class Jobs(_Flat):
    """``nf.jobs``: the jobs of a project, and their builds, runs and branches."""

    def __init__(self, ctx: ClientContext) -> None:
        super().__init__(ctx)
        self.builds = JobBuilds(ctx)
        self.runs = JobRuns(ctx)
        self.branches = JobBranches(ctx)

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
        return listing(
            self._transport,
            project_path(project_id, self._ctx.team(team_id), "jobs"),
            "jobs",
            Job,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=prefetch,
        )

    async def get(self, project_id: str, job_id: str, *, team_id: str | None = None) -> Job:
        """One job, by id."""
        return await JobHandle(self._ctx, self._owner(project_id, job_id, team_id)).get()
