"""Resources: each method names its route and its model, and nothing more."""

from __future__ import annotations

from ._converter import decode
from ._core import job_path, parse_data, parse_list_page
from ._http import Transport
from ._models import JobBuild, Page
from ._pagination import AsyncCursorIterator

__all__ = ["JobBuilds", "Jobs"]

MAX_PER_PAGE = 100


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class JobBuilds:
    """``client.jobs.builds``: the builds of a job."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(
        self,
        *,
        project_id: str,
        job_id: str,
        team_id: str | None = None,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> AsyncCursorIterator[JobBuild]:
        """Every build of a job, newest first as the API orders them, fetched page by page.

        ``per_page`` (1..100) sets the page size; ``cursor`` resumes from a page's cursor (or
        an error's ``resume_cursor``); ``limit`` stops after that many builds and fetches no
        page it does not need. Nothing is sent until the iterator is consumed.
        """
        if not _is_int(per_page) or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be an integer from 1 to {MAX_PER_PAGE}: {per_page!r}")
        if limit is not None and (not _is_int(limit) or limit < 0):
            raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
        path = job_path(project_id=project_id, job_id=job_id, team_id=team_id, tail=("build",))
        transport = self._transport

        async def fetch(page_cursor: str | None, size: int) -> Page[JobBuild]:
            params = {"per_page": str(size)}
            if page_cursor is not None:
                params["cursor"] = page_cursor
            envelope = await transport.request("GET", path, params=params)
            return parse_list_page(envelope, "builds", JobBuild)

        return AsyncCursorIterator(fetch, per_page=per_page, cursor=cursor, limit=limit)

    async def get(
        self, *, project_id: str, job_id: str, build_id: str, team_id: str | None = None
    ) -> JobBuild:
        """One build of a job, by id."""
        path = job_path(
            project_id=project_id, job_id=job_id, team_id=team_id, tail=("build", build_id)
        )
        envelope = await self._transport.request("GET", path)
        return decode(parse_data(envelope), JobBuild)


class Jobs:
    """``client.jobs``: job endpoints, grouped by sub-resource."""

    def __init__(self, transport: Transport) -> None:
        self.builds = JobBuilds(transport)
