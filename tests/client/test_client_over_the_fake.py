"""The client against FakeNorthflank over real loopback sockets."""

from __future__ import annotations

import asyncio
import gc

import pytest

from northflank_async import (
    AuthenticationError,
    BadRequestError,
    JobBuild,
    NorthflankClient,
    NotFoundError,
)
from northflank_async.testing import FakeNorthflank

pytestmark = pytest.mark.northflank_fake(rate_limit=(1000, 3600.0))


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped fixture's fake, with this module's data."""
    server = northflank_fake
    server.add_job("proj", "job", builds=250)
    return server


def ids(builds: list[JobBuild]) -> list[str]:
    return [b.id for b in builds]


class TestListing:
    async def test_250_builds_three_requests_one_connection(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """All 250 builds, in the API's order, in exactly 3 requests over one TCP connection."""
        builds = await nf.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert ids(builds) == [b["id"] for b in fake.builds("proj", "job")]
        assert len(builds) == 250
        assert fake.request_count == 3
        assert fake.connection_count == 1

    async def test_pages_100_100_50(self, nf: NorthflankClient) -> None:
        """pages() gives 100, 100, 50, the last with no cursor."""
        pages = [p async for p in nf.jobs.builds.list(project_id="proj", job_id="job").pages()]
        assert [len(p.items) for p in pages] == [100, 100, 50]
        assert [p.count for p in pages] == [100, 100, 50]
        assert [p.has_next_page for p in pages] == [True, True, False]
        assert pages[0].cursor
        assert pages[1].cursor
        assert pages[2].cursor is None

    async def test_resume_from_first_page_cursor(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """Resuming from page 1's cursor yields builds 100..249."""
        it = nf.jobs.builds.list(project_id="proj", job_id="job").pages()
        first = await it.__anext__()
        rest = await nf.jobs.builds.list(
            project_id="proj", job_id="job", cursor=first.cursor
        ).collect()
        assert ids(rest) == [b["id"] for b in fake.builds("proj", "job")[100:250]]

    async def test_limit_120_two_requests(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """limit=120 yields 120 builds in at most 2 requests."""
        builds = await nf.jobs.builds.list(project_id="proj", job_id="job", limit=120).collect()
        assert ids(builds) == [b["id"] for b in fake.builds("proj", "job")[:120]]
        assert fake.request_count == 2

    async def test_default_fake_page_size_is_not_assumed(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """per_page=7 is sent and honoured."""
        pages = [
            p
            async for p in nf.jobs.builds.list(
                project_id="proj", job_id="job", per_page=7, limit=14
            ).pages()
        ]
        assert [len(p.items) for p in pages] == [7, 7]

    async def test_team_route(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """The team route form reaches the same builds."""
        builds = await nf.jobs.builds.list(
            project_id="proj", job_id="job", team_id="t1", limit=3
        ).collect()
        assert len(builds) == 3
        assert fake.requests[0].path.startswith("/v1/teams/t1/projects/proj/jobs/job/build")

    async def test_every_generated_build_decodes(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """Varied statuses, nulls and missing optionals all decode to aware datetimes."""
        builds = await nf.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert len({b.status for b in builds}) >= 4
        assert all(b.created_at is not None and b.created_at.tzinfo is not None for b in builds)
        concluded = [b.build_concluded_at for b in builds if b.build_concluded_at is not None]
        assert concluded
        assert all(d.tzinfo is not None for d in concluded)
        times = [b.created_at for b in builds]
        assert times == sorted(times, reverse=True)  # type: ignore[type-var]


class TestGetAndErrors:
    async def test_get(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """get returns the same build the list holds."""
        wanted = fake.builds("proj", "job")[17]
        build = await nf.jobs.builds.get(project_id="proj", job_id="job", build_id=wanted["id"])
        assert build.id == wanted["id"]
        assert build.sha == wanted.get("sha")

    async def test_traversal_id_is_a_404_not_another_route(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """An id with a slash stays one path segment."""
        with pytest.raises(NotFoundError):
            await nf.jobs.builds.get(project_id="proj", job_id="job", build_id="../../job/build")
        assert fake.requests[-1].path == "/v1/projects/proj/jobs/job/build/..%2F..%2Fjob%2Fbuild"

    async def test_unknown_job(self, nf: NorthflankClient) -> None:
        """Unknown job: NotFoundError with the API's message."""
        with pytest.raises(NotFoundError) as info:
            await nf.jobs.builds.list(project_id="proj", job_id="nope").collect()
        assert info.value.status == 404
        assert info.value.message

    async def test_wrong_token_is_401_not_retried(self, fake: FakeNorthflank) -> None:
        """A bad token fails once, with no retry."""
        async with NorthflankClient("wrong", base_url=fake.base_url, max_retries=3) as client:
            with pytest.raises(AuthenticationError):
                await client.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert fake.request_count == 1

    async def test_bad_cursor_is_400(self, nf: NorthflankClient) -> None:
        """A forged cursor is refused by the API, and the error says where it was."""
        it = nf.jobs.builds.list(project_id="proj", job_id="job", cursor="forged")
        with pytest.raises(BadRequestError) as info:
            await it.collect()
        assert it.resume_cursor == "forged"
        assert "cursor='forged'" in "".join(info.value.__notes__)

    async def test_rate_limit_exposed(self, nf: NorthflankClient) -> None:
        """client.rate_limit shows the latest headers."""
        assert nf.rate_limit is None
        await nf.jobs.builds.list(project_id="proj", job_id="job", limit=1).collect()
        assert nf.rate_limit is not None
        assert nf.rate_limit.limit == 1000
        assert nf.rate_limit.remaining == 999


class TestRelease:
    async def test_break_leaves_nothing_behind(self, fake: FakeNorthflank) -> None:
        """Breaking out, then closing, leaves no task, no open connection and no warning."""
        before = asyncio.all_tasks()
        async with NorthflankClient(fake.token, base_url=fake.base_url) as client:
            async for _ in client.jobs.builds.list(project_id="proj", job_id="job"):
                break
            it = client.jobs.builds.list(project_id="proj", job_id="job")
            await it.__anext__()
            await it.aclose()
            connector = client._transport._session.connector
            assert connector is not None
            assert sum(len(v) for v in connector._acquired_per_host.values()) == 0
        gc.collect()
        await asyncio.sleep(0.05)  # let the fake's server side finish with the closed socket
        assert asyncio.all_tasks() == before
        assert fake.request_count == 2
