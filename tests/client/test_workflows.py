"""Bot workflows (start, abort, wait, watch, follow) and prefetching, over real sockets."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from northflank_async import (
    BuildStatus,
    ConflictError,
    NorthflankClient,
    NorthflankError,
    ServerError,
    WaitTimeoutError,
)
from northflank_async._core.watching import PollSchedule, Watermark
from northflank_async.testing import FakeNorthflank

from .._virtual import on_virtual_clock, virtual_client
from ..conftest import wire_build

P, J = "proj", "job"
SHA = "0123456789abcdef0123456789abcdef01234567"
PROGRESS = ["PENDING", "STARTING", "CLONING", "BUILDING", "UPLOADING"]


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped fixture's fake, with this module's data."""
    server = northflank_fake
    server.add_job(P, J, builds=30)
    return server


@asynccontextmanager
async def served() -> AsyncIterator[tuple[FakeNorthflank, NorthflankClient]]:
    """The ``fake`` and ``nf`` fixtures' pair, for a test on the virtual clock (tests/_virtual.py).

    Polls are at least MIN_POLL_INTERVAL (1 s) apart: there they take no real time, and the
    fake's builds advance on the same clock.
    """
    async with FakeNorthflank(rate_limit=None) as fake:
        fake.add_job(P, J, builds=30)
        async with virtual_client(fake, backoff_base=0.001, backoff_max=0.005) as nf:
            yield fake, nf


class TestStartAbort:
    async def test_start_sends_sha_and_overrides(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """POST .../build with the body the API documents; the new build comes back."""
        overrides = {"buildArguments": {"A": "1"}}
        build = await nf.jobs.builds.start(project_id=P, job_id=J, sha=SHA, overrides=overrides)
        assert (build.status, build.sha, build.concluded) == (BuildStatus.QUEUED, SHA, False)
        [request] = fake.requests
        assert (request.method, request.path) == ("POST", f"/v1/projects/{P}/jobs/{J}/build")
        assert request.body == {"sha": SHA, "overrides": overrides}

    @pytest.mark.parametrize("sha", ["abc", SHA + "0", SHA[:-1] + "g", ""])
    async def test_bad_sha_refused_before_any_request(
        self, fake: FakeNorthflank, nf: NorthflankClient, sha: str
    ) -> None:
        """A sha that is not 40 hex characters never reaches the API."""
        with pytest.raises(ValueError, match="40-character"):
            await nf.jobs.builds.start(project_id=P, job_id=J, sha=sha)
        assert fake.request_count == 0

    async def test_start_without_sha_sends_empty_body(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """No sha, no overrides: an empty object."""
        await nf.jobs.builds.start(project_id=P, job_id=J, team_id="t")
        assert fake.requests[0].body == {}
        assert fake.requests[0].path == f"/v1/teams/t/projects/{P}/jobs/{J}/build"

    async def test_abort_sends_one_delete(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """abort is one DELETE; the build ends ABORTED; aborting again is a conflict."""
        build = await nf.jobs.builds.start(project_id=P, job_id=J)
        fake.reset_stats()
        await nf.jobs.builds.abort(project_id=P, job_id=J, build_id=build.id)
        assert [(r.method, r.path) for r in fake.requests] == [
            ("DELETE", f"/v1/projects/{P}/jobs/{J}/build/{build.id}")
        ]
        after = await nf.jobs.builds.get(project_id=P, job_id=J, build_id=build.id)
        assert (after.status, after.is_concluded, after.success) == (
            BuildStatus.ABORTED,
            True,
            False,
        )
        with pytest.raises(ConflictError):
            await nf.jobs.builds.abort(project_id=P, job_id=J, build_id=build.id)

    async def test_start_is_not_repeated_after_a_503(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """A 503 may hide a started build: the POST is sent once."""
        fake.script(503)
        with pytest.raises(ServerError):
            await nf.jobs.builds.start(project_id=P, job_id=J)
        assert fake.request_count == 1


class TestWaitWatch:
    @on_virtual_clock
    async def test_start_then_wait_succeeds(self) -> None:
        """wait returns the concluded SUCCESS build."""
        async with served() as (_, nf):
            build = await nf.jobs.builds.start(project_id=P, job_id=J, sha=SHA)
            done = await nf.jobs.builds.wait(
                project_id=P, job_id=J, build_id=build.id, poll_interval=1
            )
        assert (done.id, done.status, done.is_concluded, done.success) == (
            build.id,
            BuildStatus.SUCCESS,
            True,
            True,
        )
        assert done.build_concluded_at is not None

    @on_virtual_clock
    async def test_watch_yields_each_status_once_in_order(self) -> None:
        """Every status once, in order, ending with the concluded build."""
        async with served() as (_, nf):
            build = await nf.jobs.builds.start(project_id=P, job_id=J)
            seen = [
                b.status
                async for b in nf.jobs.builds.watch(
                    project_id=P, job_id=J, build_id=build.id, poll_interval=1
                )
            ]
        assert seen == [*PROGRESS, "SUCCESS"]

    @on_virtual_clock
    async def test_watch_skips_polls_that_show_no_change(self) -> None:
        """Builds advancing on a clock: polls in between yield nothing."""
        async with served() as (fake, nf):
            fake.configure_builds(step=5.0)
            build = await nf.jobs.builds.start(project_id=P, job_id=J)
            fake.reset_stats()
            seen = [
                b.status
                async for b in nf.jobs.builds.watch(
                    project_id=P, job_id=J, build_id=build.id, poll_interval=1
                )
            ]
            assert len(seen) == len(set(seen))
            assert seen[-1] == "SUCCESS"
            assert fake.request_count > len(seen)  # some polls saw no change and yielded nothing

    @on_virtual_clock
    async def test_failure_outcome(self) -> None:
        """The build's own outcome comes back, not an exception."""
        async with served() as (fake, nf):
            build = await nf.jobs.builds.start(project_id=P, job_id=J)
            fake.set_outcome(build.id, "FAILURE")
            done = await nf.jobs.builds.wait(
                project_id=P, job_id=J, build_id=build.id, poll_interval=1
            )
        assert (done.status, done.success) == (BuildStatus.FAILURE, False)

    @on_virtual_clock
    async def test_wait_timeout_carries_last_build(self) -> None:
        """On timeout: a NorthflankError that is a TimeoutError and carries the last build."""
        async with served() as (fake, nf):
            fake.configure_builds(step=60.0)
            build = await nf.jobs.builds.start(project_id=P, job_id=J)
            with pytest.raises(WaitTimeoutError) as info:
                await nf.jobs.builds.wait(
                    project_id=P, job_id=J, build_id=build.id, poll_interval=1, timeout=0.2
                )
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, NorthflankError)
        assert info.value.build is not None and info.value.build.status == BuildStatus.QUEUED

    @on_virtual_clock
    async def test_wait_survives_faults(self) -> None:
        """Polls that fail transiently are retried by the client."""
        async with served() as (fake, nf):
            build = await nf.jobs.builds.start(project_id=P, job_id=J)
            fake.faults(0.3, seed=3, kinds=(500, 502, 503, "drop"))
            done = await nf.jobs.builds.wait(
                project_id=P, job_id=J, build_id=build.id, poll_interval=1
            )
        assert done.status == BuildStatus.SUCCESS


class TestFollow:
    @on_virtual_clock
    async def test_follow_yields_new_builds_once_oldest_first_through_faults(self) -> None:
        """Builds pushed while following arrive once each, oldest first, despite 30% faults."""
        async with served() as (fake, nf):
            fake.faults(0.3, seed=11, kinds=(429, 500, 502, 503, 504, "html502", "drop"))
            follower = nf.jobs.builds.follow(project_id=P, job_id=J, poll_interval=1)
            pushed: list[str] = []

            async def push() -> None:
                for burst in (1, 3, 1, 2, 5):
                    await asyncio.sleep(3)
                    for _ in range(burst):
                        pushed.append(fake.add_build(P, J)["id"])

            pusher = asyncio.create_task(push())
            got: list[str] = []
            # A guard only, in virtual seconds: the pushes alone take 5 x 3 s.
            async with asyncio.timeout(60):
                async for build in follower:
                    got.append(build.id)
                    if len(got) == 12:
                        break
            await pusher
            assert got == pushed
            assert any(r.status != 200 for r in fake.requests)  # faults really happened

    @on_virtual_clock
    async def test_idle_poll_costs_one_request(self) -> None:
        """With nothing new, each poll is one request."""
        async with served() as (fake, nf):
            follower = nf.jobs.builds.follow(project_id=P, job_id=J, poll_interval=1)
            task = asyncio.create_task(follower.__anext__())
            # Wait for polls, not for time (the timeout is a guard only); the follower sets no
            # event.
            async with asyncio.timeout(30):
                while follower.polls < 6:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            polls = follower.polls
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert polls >= 5
            assert fake.request_count in (polls, polls - 1)  # the poll in flight may be unanswered
            assert all(r.query.get("per_page") in ("1", "100") for r in fake.requests)

    async def test_since_build_id_and_datetime(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """since= a build id or an aware datetime: builds after it, oldest first."""
        history = fake.builds(P, J)
        third_newest = history[2]
        by_id = nf.jobs.builds.follow(
            project_id=P, job_id=J, since=third_newest["id"], poll_interval=1
        )
        assert [(await by_id.__anext__()).id for _ in range(2)] == [
            history[1]["id"],
            history[0]["id"],
        ]
        when = datetime.fromisoformat(history[4]["createdAt"]) + timedelta(milliseconds=1)
        by_time = nf.jobs.builds.follow(project_id=P, job_id=J, since=when, poll_interval=1)
        assert [(await by_time.__anext__()).id for _ in range(4)] == [
            b["id"] for b in history[3::-1]
        ]

    async def test_naive_since_refused(self, nf: NorthflankClient) -> None:
        """A naive datetime is ambiguous."""
        with pytest.raises(ValueError, match="timezone-aware"):
            nf.jobs.builds.follow(project_id=P, job_id=J, since=datetime(2026, 1, 1))

    async def test_unauthorised_follow_raises(self, fake: FakeNorthflank) -> None:
        """Only transient failures are outlived; a bad token is raised."""
        async with NorthflankClient("wrong", base_url=fake.base_url) as client:
            with pytest.raises(NorthflankError):
                await client.jobs.builds.follow(project_id=P, job_id=J, poll_interval=1).__anext__()


class TestPrefetch:
    async def test_same_builds_with_prefetch(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """prefetch changes timing, never content."""
        plain = await nf.jobs.builds.list(project_id=P, job_id=J, per_page=7).collect()
        ahead = await nf.jobs.builds.list(project_id=P, job_id=J, per_page=7, prefetch=2).collect()
        assert (
            [b.id for b in ahead] == [b.id for b in plain] == [b["id"] for b in fake.builds(P, J)]
        )

    @pytest.mark.parametrize("depth", [1, 2, 3])
    async def test_never_more_than_n_pages_ahead(
        self, fake: FakeNorthflank, nf: NorthflankClient, depth: int
    ) -> None:
        """A slow consumer holds at most N fetched-but-unconsumed pages."""
        pages_taken = 0
        async for _page in nf.jobs.builds.list(
            project_id=P, job_id=J, per_page=3, prefetch=depth
        ).pages():
            pages_taken += 1
            await asyncio.sleep(0.02)
            assert fake.request_count <= pages_taken + depth
        assert pages_taken == 10

    async def test_limit_is_respected(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """No page beyond what limit needs, prefetch or not."""
        builds = await nf.jobs.builds.list(
            project_id=P, job_id=J, per_page=5, limit=12, prefetch=3
        ).collect()
        assert len(builds) == 12
        await asyncio.sleep(0.05)
        assert fake.request_count == 3

    async def test_break_cancels_the_fetch_in_flight(self, fake: FakeNorthflank) -> None:
        """Breaking out leaves no task, no connection and no warning behind."""
        fake.latency = 0.05
        before = asyncio.all_tasks()
        async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
            async for _ in nf.jobs.builds.list(project_id=P, job_id=J, per_page=3, prefetch=2):
                break
            gc.collect()
            await asyncio.sleep(0)
            assert [t for t in asyncio.all_tasks() - before if "prefetch" in t.get_name()] == []
            it = nf.jobs.builds.list(project_id=P, job_id=J, per_page=3, prefetch=1)
            await it.__anext__()
            await it.aclose()
            assert [t for t in asyncio.all_tasks() - before if "prefetch" in t.get_name()] == []
        await asyncio.sleep(0.1)
        assert asyncio.all_tasks() == before

    async def test_iterating_after_aclose_ends_at_once(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """A closed prefetching iterator is exhausted, even with its fetch cancelled mid-way."""
        fake.latency = 0.05
        it = nf.jobs.builds.list(project_id=P, job_id=J, per_page=3, prefetch=2)
        await it.__anext__()
        await it.aclose()
        async with asyncio.timeout(2):
            assert [b async for b in it] == []

    async def test_error_after_buffered_pages_keeps_resume_point(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """A failure arrives after the pages before it, with the right resume point."""
        fake.script("ok", "ok", 400)
        seen: list[str] = []
        it = nf.jobs.builds.list(project_id=P, job_id=J, per_page=10, prefetch=2)

        async def walk() -> None:
            async for build in it:
                seen.append(build.id)

        with pytest.raises(NorthflankError):
            await walk()
        assert len(seen) == 20 and it.items_yielded == 20
        rest = await nf.jobs.builds.list(
            project_id=P, job_id=J, per_page=10, cursor=it.resume_cursor
        ).collect()
        assert seen + [b.id for b in rest] == [b["id"] for b in fake.builds(P, J)]

    async def test_bad_prefetch(self, nf: NorthflankClient) -> None:
        """Negative prefetch is refused."""
        with pytest.raises(ValueError, match="prefetch"):
            nf.jobs.builds.list(project_id=P, job_id=J, prefetch=-1)


class TestPureParts:
    def test_poll_schedule_grows_while_idle_and_resets_on_change(self) -> None:
        """1, 1.5, 2.25, ..., capped; a change brings it back to the base."""
        schedule = PollSchedule(1.0, 3.0)
        assert [schedule.next(changed=False) for _ in range(4)] == [1.5, 2.25, 3.0, 3.0]
        assert schedule.next(changed=True) == 1.0

    def test_watermark_scan_and_advance(self) -> None:
        """New builds stop at the first seen id or at an older timestamp."""
        from northflank_async import JobBuild
        from northflank_async._core.converter import decode_list

        t = datetime(2026, 1, 1, tzinfo=UTC)
        wire = [wire_build(i, createdAt=(t - timedelta(minutes=i)).isoformat()) for i in range(5)]
        builds = decode_list(wire, JobBuild, root="data.builds")
        mark = Watermark.at(t - timedelta(minutes=2), ["build-0002"])
        new, reached = mark.scan(builds)
        assert ([b.id for b in new], reached) == (["build-0000", "build-0001"], True)
        mark.advance(new)
        assert mark.time == t
        assert mark.scan(builds) == ([], True)
        assert Watermark().scan(builds) == (builds, False)
