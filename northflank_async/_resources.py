"""Resources: each method names its route and its model, and nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._core import check_sha, job_path
from ._endpoints import MAX_PER_PAGE, call, list_pages, listing
from ._http import Transport
from ._models import JobBuild
from ._pagination import AsyncCursorIterator
from ._workflows import BuildFollower, BuildWatcher, GetBuild, wait_for_build

__all__ = ["JobBuilds", "Jobs"]


class JobBuilds:
    """``client.jobs.builds``: the builds of a job. Every method accepts ``team_id=``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def _getter(self, project_id: str, job_id: str, team_id: str | None) -> GetBuild:
        async def get(build_id: str) -> JobBuild:
            return await self.get(
                project_id=project_id, job_id=job_id, build_id=build_id, team_id=team_id
            )

        return get

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
        """Every build of a job, newest first as the API orders them, fetched page by page.

        ``per_page`` (1..100) sets the page size; ``cursor`` resumes from a page's cursor (or
        an error's ``resume_cursor``); ``limit`` stops after that many builds and fetches no
        page it does not need; ``prefetch=N`` keeps up to N pages fetched ahead of the consumer
        in a background task (default 0: a page is fetched only when it is reached, so a
        consumer that stops early wastes no request). Nothing is sent until the iterator is
        consumed.
        """
        path = job_path(project_id=project_id, job_id=job_id, team_id=team_id, tail=("build",))
        return listing(
            self._transport,
            path,
            "builds",
            JobBuild,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=prefetch,
        )

    async def get(
        self, *, project_id: str, job_id: str, build_id: str, team_id: str | None = None
    ) -> JobBuild:
        """One build of a job, by id."""
        path = job_path(
            project_id=project_id, job_id=job_id, team_id=team_id, tail=("build", build_id)
        )
        return await call(self._transport, "GET", path, JobBuild)

    async def start(
        self,
        *,
        project_id: str,
        job_id: str,
        sha: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        team_id: str | None = None,
    ) -> JobBuild:
        """Start a build of the job (of ``sha``, else the branch's latest commit).

        ``overrides`` is sent as given (``buildArguments``, ``buildFiles``, ``docker``, ...).
        A POST is retried only when it cannot have started a build (a 429, a refused
        connection), so a flaky network never starts two.
        """
        check_sha(sha)
        body: dict[str, Any] = {}
        if sha is not None:
            body["sha"] = sha
        if overrides is not None:
            body["overrides"] = dict(overrides)
        path = job_path(project_id=project_id, job_id=job_id, team_id=team_id, tail=("build",))
        return await call(self._transport, "POST", path, JobBuild, json=body)

    async def abort(
        self, *, project_id: str, job_id: str, build_id: str, team_id: str | None = None
    ) -> None:
        """Abort a running build (``ConflictError`` if it has already concluded)."""
        path = job_path(
            project_id=project_id, job_id=job_id, team_id=team_id, tail=("build", build_id)
        )
        await self._transport.request("DELETE", path)

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
        """Yield the build when first seen, then at each change of status, until it concludes.

        Polls every ``poll_interval`` seconds, stretching up to 4x that while nothing changes.
        ``timeout`` bounds the whole watch (``WaitTimeoutError``, carrying the last build seen).
        """
        return BuildWatcher(
            self._getter(project_id, job_id, team_id),
            build_id,
            poll_interval=poll_interval,
            timeout=timeout,
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
        """Poll until the build has concluded and return it (see :meth:`watch`)."""
        watcher = self.watch(
            project_id=project_id,
            job_id=job_id,
            build_id=build_id,
            team_id=team_id,
            poll_interval=poll_interval,
            timeout=timeout,
        )
        return await wait_for_build(watcher)

    def follow(
        self,
        *,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        since: str | datetime | None = None,
        poll_interval: float = 30.0,
    ) -> BuildFollower:
        """Yield every build created after ``since``, oldest first, each once, until stopped.

        ``since`` is a build id, an aware datetime, or ``None`` for "from now on". An idle
        poll costs one request; failed polls (after the client's retries) are logged and
        tried again at the next interval with the watermark unchanged.
        """
        path = job_path(project_id=project_id, job_id=job_id, team_id=team_id, tail=("build",))
        transport = self._transport
        return BuildFollower(
            lambda per_page: list_pages(transport, path, "builds", JobBuild, per_page),
            self._getter(project_id, job_id, team_id),
            since=since,
            poll_interval=poll_interval,
        )


class Jobs:
    """``client.jobs``: job endpoints, grouped by sub-resource."""

    def __init__(self, transport: Transport) -> None:
        self.builds = JobBuilds(transport)
