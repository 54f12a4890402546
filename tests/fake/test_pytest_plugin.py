"""The shipped pytest plugin; the first test is docs/testing.md's example, word for word."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from northflank_async import JobBuild, NorthflankClient, RateLimitError
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


POLLS = 1500
REAL_WINDOW = pytest.mark.northflank_fake(rate_limit=(1000, 3600.0))


async def _wait_through_polls(fake: FakeNorthflank, client: NorthflankClient) -> JobBuild:
    """``get()`` again and again on a build that only concludes after ``POLLS`` reads.

    (Issue 18: ``wait()`` polls at most once a second, ``MIN_POLL_INTERVAL``; a test that reads
    a build thousands of times in no time reads it itself.)
    """
    (build,) = fake.add_job("proj", "nightly", builds=[{"id": "b1", "status": "BUILDING"}])

    async def conclude_after_polls() -> None:
        # The fake has no per-request event to await; each yield lets the poller run.
        while fake.request_count < POLLS:  # noqa: ASYNC110
            await asyncio.sleep(0)
        build.update(status="SUCCESS", concluded=True, success=True)

    concluder = asyncio.create_task(conclude_after_polls())
    try:
        while not (
            read := await client.jobs.builds.get(project_id="proj", job_id="nightly", build_id="b1")
        ).is_concluded:
            pass
        return read
    finally:
        concluder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await concluder


async def test_polling_is_not_rate_limited_by_default(
    northflank_fake: FakeNorthflank, northflank_client: NorthflankClient
) -> None:
    """A user's test may poll 1,500 times: the plugin's fake has no rate limit by default."""
    build = await _wait_through_polls(northflank_fake, northflank_client)
    assert build.status == "SUCCESS"
    assert northflank_fake.request_count >= POLLS
    assert {r.status for r in northflank_fake.requests} == {200}


@REAL_WINDOW
async def test_the_marker_brings_back_the_real_window(
    northflank_fake: FakeNorthflank, northflank_client: NorthflankClient
) -> None:
    """``@pytest.mark.northflank_fake(rate_limit=(1000, 3600.0))``: poll 1,001 is refused.

    The fake announced the spent window (``x-ratelimit-remaining: 0``), so the client's gate
    refuses the next poll itself rather than wait an hour for the reset.
    """
    with pytest.raises(RateLimitError) as caught:
        await _wait_through_polls(northflank_fake, northflank_client)
    assert [r.status for r in northflank_fake.requests] == [200] * 1000
    assert northflank_fake.requests[-1].path.endswith("/build/b1")
    assert caught.value.retry_after is not None and caught.value.retry_after > 3000


@pytest.mark.northflank_fake(latency=0.01, token="nf-marker-token")
async def test_the_marker_passes_fake_arguments(
    northflank_fake: FakeNorthflank, northflank_client: NorthflankClient
) -> None:
    """Any FakeNorthflank argument can be given; the client follows the fake's token."""
    assert northflank_fake.latency == 0.01
    assert northflank_fake.token == "nf-marker-token"
    northflank_fake.add_job("proj", "nightly", builds=2)
    builds = await northflank_client.jobs.builds.list(project_id="proj", job_id="nightly").collect()
    assert len(builds) == 2
