"""Type-checked by mypy in CI, never run: pins the public API's annotations."""

from __future__ import annotations

from datetime import datetime
from typing import assert_type

from northflank_async import (
    APIError,
    AsyncCursorIterator,
    BuildStatus,
    DecodeError,
    JobBuild,
    NorthflankClient,
    NorthflankError,
    Page,
    RateLimit,
    RateLimitError,
    Registry,
    WaitTimeoutError,
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
        assert_type(build.pull_request_id, int | None)
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
        assert_type(error.path, str)
    if isinstance(error, WaitTimeoutError):
        assert_type(error.build, JobBuild | None)
