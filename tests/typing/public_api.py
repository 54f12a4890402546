"""Type-checked by mypy in CI, never run: pins the public API's annotations."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, assert_type

from northflank_async import (
    APIError,
    AsyncCursorIterator,
    Branch,
    BranchCommit,
    BuildStatus,
    Coordinator,
    DecodeError,
    Job,
    JobBuild,
    JobHandle,
    JobRun,
    JobType,
    NorthflankClient,
    NorthflankError,
    Page,
    RateLimit,
    RateLimitError,
    RateLimitGateError,
    RedisCoordinator,
    Registry,
    RunStarted,
    RunStatus,
    TooManyRequestsError,
    WaitTimeoutError,
    to_json,
)


async def listing(nf: NorthflankClient) -> None:
    it = nf.jobs.builds.list(project_id="p", job_id="j")
    assert_type(it, AsyncCursorIterator[JobBuild])
    async for build in it:
        assert_type(build, JobBuild)
        assert_type(build.id, str)
        assert_type(build.status, BuildStatus | str | None)
        assert_type(build.created_at, datetime | None)
        assert_type(build.registry, Registry | None)
        assert_type(build.pull_request_id, int | str | None)
        assert_type(build.is_concluded, bool)
    assert_type(await nf.jobs.builds.list(project_id="p", job_id="j").collect(), list[JobBuild])
    async for page in nf.jobs.builds.list(project_id="p", job_id="j").pages():
        assert_type(page, Page[JobBuild])
        assert_type(page.cursor, str | None)
        assert_type(page.has_next_page, bool)
    assert_type(await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b"), JobBuild)
    assert_type(await nf.jobs.builds.start(project_id="p", job_id="j"), JobBuild)
    assert_type(await nf.jobs.builds.abort(project_id="p", job_id="j", build_id="b"), None)
    assert_type(await nf.jobs.builds.wait(project_id="p", job_id="j", build_id="b"), JobBuild)
    async for state in nf.jobs.builds.watch(project_id="p", job_id="j", build_id="b"):
        assert_type(state, JobBuild)
    async for new in nf.jobs.builds.follow(project_id="p", job_id="j"):
        assert_type(new, JobBuild)
    assert_type(nf.rate_limit, RateLimit | None)


def models(run: JobRun, started: RunStarted, job: Job, branch: Branch) -> None:
    assert_type(run.id, str)
    assert_type(run.run_name, str | None)
    assert_type(run.status, RunStatus | str | None)
    assert_type(run.concluded, bool | None)
    assert_type(run.active, int | None)
    assert_type(run.succeeded, int | None)
    assert_type(run.failed, int | None)
    assert_type(run.backoff_limit, int | None)
    assert_type(run.completions, int | None)
    assert_type(run.started_at, datetime | None)
    assert_type(run.concluded_at, datetime | None)
    assert_type(run.is_concluded, bool)
    assert_type(RunStatus.RUNNING.is_terminal, bool)
    assert_type(started.id, str)
    assert_type(started.run_name, str | None)
    assert_type(job.id, str)
    assert_type(job.app_id, str | None)
    assert_type(job.name, str | None)
    assert_type(job.description, str | None)
    assert_type(job.tags, tuple[str, ...])
    assert_type(job.project_id, str | None)
    assert_type(job.job_type, JobType | str | None)
    assert_type(job.created_at, datetime | None)
    assert_type(job.disabled_ci, bool | None)
    assert_type(job.disabled_cd, bool | None)
    assert_type(job.suspended, bool | None)
    assert_type(branch.id, str)
    assert_type(branch.name, str | None)
    assert_type(branch.commit, BranchCommit | None)
    if branch.commit is not None:
        assert_type(branch.commit.sha, str | None)


def errors(error: NorthflankError) -> None:
    assert_type(error.resume_cursor, str | None)
    assert_type(error.items_yielded, int | None)
    if isinstance(error, APIError):
        assert_type(error.status, int)
        assert_type(error.message, str)
        assert_type(error.error_id, str | None)
        assert_type(error.method, str)
        assert_type(error.path, str)
    if isinstance(error, RateLimitError):
        assert_type(error.retry_after, float | None)
        assert_type(error.reset_at, datetime | None)
    if isinstance(error, DecodeError):
        assert_type(error.field, str)
        assert_type(error.path, str)
    if isinstance(error, RateLimitGateError):
        assert_type(error.retry_after, float | None)
        assert_type(error.path, str)
    if isinstance(error, TooManyRequestsError):
        assert_type(error.status, int)
        assert_type(error.retry_after, float | None)
    if isinstance(error, WaitTimeoutError):
        assert_type(error.build, JobBuild | None)
        assert_type(error.last, JobBuild | JobRun | None)


async def scoped(nf: NorthflankClient) -> None:
    job = nf.job("p", "j")
    assert_type(job, JobHandle)
    assert_type(job.builds.list(), AsyncCursorIterator[JobBuild])
    assert_type(await job.builds.get("b"), JobBuild)
    assert_type(await job.builds.start(branch="main"), JobBuild)
    assert_type(await job.builds.wait("b"), JobBuild)
    assert_type(job.runs.list(), AsyncCursorIterator[JobRun])
    assert_type(await job.runs.get("r"), JobRun)
    assert_type(await job.runs.start(build_id="b"), RunStarted)
    assert_type(await job.runs.wait("r"), JobRun)
    async for state in job.runs.watch("r"):
        assert_type(state, JobRun)
    assert_type(job.branches.list(), AsyncCursorIterator[Branch])
    assert_type(await job.get(), Job)
    assert_type(nf.jobs.list("p"), AsyncCursorIterator[Job])
    assert_type(await nf.jobs.get("p", "j"), Job)
    assert_type(nf.jobs.runs.list(project_id="p", job_id="j"), AsyncCursorIterator[JobRun])
    it = nf.jobs.builds.list(project_id="p", job_id="j")
    assert_type(it.resume_cursor, str | None)
    assert_type(it.items_yielded, int)


def json_ready(build: JobBuild) -> None:
    assert_type(build.duration, timedelta | None)
    assert_type(to_json(build), Any)
    assert_type(to_json(build, wire_names=True), Any)


async def logs(nf: NorthflankClient) -> None:
    from datetime import timedelta

    from northflank_async import LogLine, LogStream

    job = nf.job("p", "j")
    stream = job.builds.logs("b", duration=timedelta(minutes=10), text_includes="error")
    assert_type(stream, LogStream)
    async for line in stream:
        assert_type(line, LogLine)
        assert_type(line.ts, datetime)
        assert_type(line.container_id, str | None)
        assert_type(line.text, str)
        assert_type(line.raw, object | None)
    async with job.runs.tail_logs("r", until_concluded=False) as live:
        async for line in live:
            assert_type(line, LogLine)
    assert_type(nf.jobs.builds.logs(project_id="p", job_id="j", build_id="b"), LogStream)
    assert_type(nf.jobs.runs.tail_logs(project_id="p", job_id="j", run_id="r"), LogStream)


async def fleet() -> None:
    coordinator = RedisCoordinator.from_url("redis://localhost:6379/0", namespace="acme")
    assert_type(coordinator, RedisCoordinator)
    shared: Coordinator = RedisCoordinator.from_url("redis://r", budget_key="acme-prod")
    async with NorthflankClient("t", coordinator=coordinator) as nf:
        assert_type(nf.rate_limit, RateLimit | None)
    await shared.aclose()
    async with coordinator as same:
        assert_type(same, RedisCoordinator)


async def _monitor(nf: NorthflankClient) -> None:
    from northflank_async import BuildEvent, Monitor, MonitorPlan, PlanEntry

    async with nf.monitor(500) as monitor:
        assert_type(monitor, Monitor)
        monitor.watch_job("p", "j", since=None)
        monitor.watch(nf.job("p", "k"))
        await monitor.ready()
        plan = monitor.plan
        assert_type(plan, MonitorPlan)
        assert_type(plan.jobs[0], PlanEntry)
        async for event in monitor:
            assert_type(event, BuildEvent)
            assert_type(event.build, JobBuild)
    async for build in nf.job("p", "j").builds.outcomes(since="b"):
        assert_type(build, JobBuild)


async def _monitor_runs(nf: NorthflankClient) -> None:
    from northflank_async import BuildEvent, Monitor, RunEvent

    async with nf.monitor(500, runs=True) as monitor:
        assert_type(monitor, Monitor[BuildEvent | RunEvent])
        monitor.watch_job("p", "j", runs=True)
        async for event in monitor:
            assert_type(event, BuildEvent | RunEvent)
            if isinstance(event, RunEvent):
                assert_type(event.run, JobRun)
                continue
            assert_type(event.build, JobBuild)
    runs: bool = True
    assert_type(nf.monitor(runs=runs), Monitor[BuildEvent | RunEvent])
    assert_type(nf.monitor(runs=False), Monitor[BuildEvent])
    assert_type(nf.monitor(runs=False), Monitor)


async def services(nf: NorthflankClient) -> None:
    from northflank_async import (
        Builds,
        LogFilter,
        LogStream,
        ScopedBuilds,
        ServiceBuilds,
        ServiceHandle,
    )

    service = nf.service("p", "s", team_id=None)
    assert_type(service, ServiceHandle)
    assert_type(service.service_id, str)
    assert_type(service.builds, ServiceBuilds)
    builds: Builds = service.builds
    job_builds: Builds = nf.job("p", "j").builds
    assert_type(nf.job("p", "j").builds, ScopedBuilds)
    assert_type(builds.list(), AsyncCursorIterator[JobBuild])
    assert_type(await builds.get("b"), JobBuild)
    assert_type(await job_builds.wait("b", timeout=60.0), JobBuild)
    assert_type(await service.builds.start(branch="main"), JobBuild)
    assert_type(await service.builds.start(pull_request_id=42, sha="a" * 40), JobBuild)
    assert_type(await service.builds.abort("b"), None)
    assert_type(await service.builds.wait("b"), JobBuild)
    async for state in service.builds.watch("b"):
        assert_type(state, JobBuild)
    only = LogFilter(container="main", text_includes="error")
    assert_type(only.text_includes, str | None)
    assert_type(service.builds.logs("b", filter=only), LogStream)
    assert_type(service.builds.tail_logs("b", text_includes="x"), LogStream)
    assert_type(
        nf.jobs.builds.logs(project_id="p", job_id="j", build_id="b", filter=only), LogStream
    )
    async for build in service.builds.outcomes():
        assert_type(build, JobBuild)
