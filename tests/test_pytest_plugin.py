"""The shipped pytest plugin; the first test is docs/testing.md's example, word for word."""

from __future__ import annotations

from northflank_async import NorthflankClient
from northflank_async.testing import FakeNorthflank


async def test_list_builds_from_the_fake(
    northflank_fake: FakeNorthflank, northflank_client: NorthflankClient
) -> None:
    """The documented example: seed a job, list it through the client fixture."""
    northflank_fake.add_job("proj", "nightly", builds=3)
    builds = await northflank_client.jobs.builds.list(project_id="proj", job_id="nightly").collect()
    assert len(builds) == 3


async def test_fixtures_are_wired_together(
    northflank_fake: FakeNorthflank, northflank_client: NorthflankClient
) -> None:
    """The client points at the fake, and retries there without waiting."""
    assert northflank_client.base_url == northflank_fake.base_url
    northflank_fake.add_job("proj", "nightly", builds=1)
    northflank_fake.script(503, 503)
    builds = await northflank_client.jobs.builds.list(project_id="proj", job_id="nightly").collect()
    assert len(builds) == 1
    assert northflank_fake.request_count == 3
