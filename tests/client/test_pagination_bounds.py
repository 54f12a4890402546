"""Listings that must end: cancelled prefetching, endless empty pages, a retried abort."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import CallbackResult
from yarl import URL

from northflank_async import (
    ConflictError,
    NorthflankClient,
    PaginationError,
    TransportError,
)
from northflank_async._core.checks import MIN_POLL_INTERVAL
from northflank_async._core.models import Page
from northflank_async._engine.pagination import MAX_EMPTY_PAGES, CursorTracker
from northflank_async._engine.workflows import MAX_FOLLOW_PAGES
from northflank_async._transport.gates import RateLimitGate
from northflank_async.testing import FakeNorthflank

from .._virtual import in_flight_guard, on_virtual_clock
from ..conftest import BASE, LIST_URL, TOKEN, list_page, sent, wire_build

P, J = "proj", "job"
ANY_LIST = re.compile(r"^https://api\.northflank\.test/v1/projects/proj/jobs/job/build\?.*$")
BUILD_URL = f"{LIST_URL}/b1"
PREFETCH = "northflank-async-prefetch"
#: Where the fake server of the old code would give up: far beyond the bound, so a test of
#: the bound fails on a count instead of hanging.
GIVE_UP = 100


def empty_page(cursor: str | None) -> dict[str, Any]:
    return list_page(range(0), cursor=cursor)


# --------------------------------------------------------------------------- 5: cancellation


class HeldAnswers:
    """An aiohttp trace hook that holds answered requests in the client until released.

    When the hook runs, the server has received the request and answered it, so the fake's
    count is final for it; the client's task stays suspended here, a well-defined point at
    which its consumer is waiting for the page.
    """

    def __init__(self, expected: int, hold: Callable[[URL], bool]) -> None:
        self._expected = expected
        self._hold = hold
        self.held = 0
        self.all_held = asyncio.Event()
        self.release = asyncio.Event()

    async def on_request_end(
        self, session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any
    ) -> None:
        if self.release.is_set() or not self._hold(params.url):
            return
        self.held += 1
        if self.held == self._expected:
            self.all_held.set()
        await self.release.wait()


def prefetch_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == PREFETCH]


class TestCancelledPrefetch:
    @pytest.mark.parametrize("at", ["first page", "later page"])
    async def test_cancelled_consumers_stop_their_prefetch(self, at: str) -> None:
        """Consumers cancelled while they wait, errors kept: no task survives, nothing is sent."""
        listings_per_depth = 20
        depths = (1, 2, 3)
        count = listings_per_depth * len(depths)
        before = asyncio.all_tasks()
        later = at == "later page"
        held = HeldAnswers(
            count,
            hold=lambda url: url.path.endswith("/build") and (not later or "cursor" in url.query),
        )
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(held.on_request_end)
        async with FakeNorthflank(rate_limit=None) as fake:
            fake.add_job(P, J, builds=100)
            async with (
                aiohttp.ClientSession(trace_configs=[trace]) as session,
                NorthflankClient(fake.token, base_url=fake.base_url, session=session) as nf,
            ):
                # One answer first: until the gate has seen one, a request goes alone as its
                # probe, and a probe whose answer is held would keep the others back.
                await nf.jobs.get(P, J)
                warm = fake.request_count
                # Kept alive on purpose, as a kept CancelledError's traceback would keep them.
                listings = [
                    nf.jobs.builds.list(project_id=P, job_id=J, per_page=5, prefetch=depth)
                    for depth in depths
                    for _ in range(listings_per_depth)
                ]
                taken = [0] * count
                all_took_a_page = asyncio.Event()

                async def walk(index: int) -> None:
                    async for _ in listings[index]:
                        taken[index] += 1
                        if taken[index] == 5 and all(n >= 5 for n in taken):
                            all_took_a_page.set()

                tasks = [asyncio.create_task(walk(i)) for i in range(count)]
                # Every consumer now waits for a page whose answer the client holds.
                await held.all_held.wait()
                if later:
                    await all_took_a_page.wait()
                assert fake.request_count == warm + (2 if later else 1) * count
                producers = prefetch_tasks()
                assert len(producers) == count
                for task in tasks:
                    task.cancel()
                results = await asyncio.gather(*tasks, return_exceptions=True)
                assert all(isinstance(r, asyncio.CancelledError) for r in results)
                # Already told to stop: none waits on the consumer that is gone.
                assert all(t.done() or t.cancelling() for t in producers)
                held.release.set()
                await asyncio.wait(producers)
                assert prefetch_tasks() == []
                assert fake.request_count == warm + (2 if later else 1) * count
                gate = nf._transport._gate
                assert isinstance(gate, RateLimitGate) and gate.state.in_flight == 0
                for it in listings:  # a cancelled walk is over, as without prefetch
                    assert [b async for b in it] == []
            assert fake.request_count == warm + (2 if later else 1) * count
        assert results  # the kept errors lived until here
        assert asyncio.all_tasks() == before

    async def test_cancelled_before_the_task_ran_sends_nothing(self) -> None:
        """A consumer cancelled at its first wait, before the producer ever ran: no request."""
        async with FakeNorthflank(rate_limit=None) as fake:
            fake.add_job(P, J, builds=20)
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                it = nf.jobs.builds.list(project_id=P, job_id=J, per_page=5, prefetch=2)
                task = asyncio.create_task(it.__anext__())
                await asyncio.sleep(0)  # the consumer started the producer and waits on it
                producers = prefetch_tasks()
                assert len(producers) == 1
                task.cancel()
                (result,) = await asyncio.gather(task, return_exceptions=True)
                assert isinstance(result, asyncio.CancelledError)
                assert all(t.done() or t.cancelling() for t in producers)
                await asyncio.wait(producers)
                assert prefetch_tasks() == []
            assert fake.request_count == 0


# --------------------------------------------------------------------------- 9: empty pages


class TestEmptyPages:
    def test_tracker_bound_counts_only_a_run(self) -> None:
        """Empty pages that claim more end the walk at the bound; a page with items resets it."""
        tracker = CursorTracker()
        cursors = iter(f"c{i}" for i in range(100))

        def follow(items: int) -> str | None:
            page: Page[Any] = Page(
                items=[{}] * items, has_next_page=True, count=items, cursor=next(cursors)
            )
            return tracker.follow(page)

        for _ in range(3):
            for _ in range(MAX_EMPTY_PAGES - 1):
                assert follow(0) is not None
            assert follow(1) is not None
        for _ in range(MAX_EMPTY_PAGES - 1):
            follow(0)
        with pytest.raises(PaginationError, match=f"{MAX_EMPTY_PAGES} empty pages in a row"):
            follow(0)
        last_empty: Page[Any] = Page(items=[], has_next_page=False, count=0, cursor=None)
        assert CursorTracker().follow(last_empty) is None

    @pytest.mark.parametrize("prefetch", [0, 2])
    async def test_endless_empty_pages_end_with_resume_point(
        self, mocked: Any, prefetch: int
    ) -> None:
        """Endless empty pages with fresh cursors: PaginationError after exactly 3 requests."""
        calls = 0

        def endless(url: URL, **kwargs: Any) -> CallbackResult:
            nonlocal calls
            calls += 1
            return CallbackResult(payload=empty_page(f"c{calls}" if calls < GIVE_UP else None))

        mocked.get(ANY_LIST, callback=endless, repeat=True)
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=0) as nf:
            it = nf.jobs.builds.list(project_id=P, job_id=J, limit=5, prefetch=prefetch)
            with pytest.raises(PaginationError, match="empty pages in a row"):
                await it.collect()
        assert len(sent(mocked)) == MAX_EMPTY_PAGES == 3
        # The page that broke the bound, fetched again, loses nothing.
        assert it.resume_cursor == "c2"
        assert it.items_yielded == 0

    async def test_a_few_empty_pages_between_full_ones_are_walked(self, mocked: Any) -> None:
        """Two empty pages in a row, twice, between pages with items: every build, in order."""
        script = [
            list_page(range(2), cursor="a"),
            empty_page("b"),
            empty_page("c"),
            list_page(range(2, 4), cursor="d"),
            empty_page("e"),
            empty_page("f"),
            list_page(range(4, 5)),
        ]
        mocked.get(
            ANY_LIST, callback=lambda url, **kw: CallbackResult(payload=script.pop(0)), repeat=True
        )
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=0) as nf:
            builds = await nf.jobs.builds.list(project_id=P, job_id=J).collect()
        assert [b.id for b in builds] == [f"build-{i:04d}" for i in range(5)]
        assert len(sent(mocked)) == 7

    @on_virtual_clock  # the second poll comes MIN_POLL_INTERVAL (1 s) later: no real time
    async def test_follow_gives_up_the_poll_and_keeps_its_watermark(
        self, mocked: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """follow(): an endless empty poll stops after 3 requests; the next poll finds the build."""
        first_polls = 0

        def server(url: URL, **kwargs: Any) -> CallbackResult:
            nonlocal first_polls
            if "cursor" not in url.query:
                first_polls += 1
                if first_polls > 1:  # the second poll: a new build, the last page
                    return CallbackResult(payload=list_page(range(7, 8)))
            serial = len(sent(mocked))
            return CallbackResult(payload=empty_page(f"c{serial}" if serial < GIVE_UP else None))

        mocked.get(ANY_LIST, callback=server, repeat=True)
        since = datetime(2021, 1, 1, tzinfo=UTC)
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=0) as nf:
            follower = nf.jobs.builds.follow(project_id=P, job_id=J, since=since, poll_interval=1)
            build = await follower.__anext__()
        assert build.id == wire_build(7)["id"]
        assert follower.polls == 2
        assert len(sent(mocked)) == MAX_EMPTY_PAGES + 1 == 4
        assert "empty pages in a row" in caplog.text


# --------------------------------------------------------------------------- 11: retried abort


def conflict() -> dict[str, Any]:
    return {
        "status": 409,
        "payload": {"error": {"status": 409, "message": "Build has already concluded"}},
    }


class TestRetriedAbort:
    @pytest.mark.parametrize(
        "first",
        [
            {"exception": aiohttp.ServerDisconnectedError()},
            {"exception": aiohttp.ClientOSError(104, "Connection reset by peer")},
            {"status": 500},
            {"status": 502},
            {"status": 504},
        ],
        ids=["disconnected", "reset", "500", "502", "504"],
    )
    async def test_409_after_an_attempt_that_may_have_aborted(
        self, mocked: Any, first: dict[str, Any]
    ) -> None:
        """The first attempt may have aborted the build: the retry's 409 means it is done."""
        mocked.delete(BUILD_URL, **first)
        mocked.delete(BUILD_URL, **conflict())
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=3, backoff_base=0) as nf:
            await nf.jobs.builds.abort(project_id=P, job_id=J, build_id="b1")  # no ConflictError
        assert len(sent(mocked)) == 2

    async def test_first_attempt_409_raises(self, mocked: Any) -> None:
        """A 409 to the first attempt: the build had concluded before we asked."""
        mocked.delete(BUILD_URL, **conflict())
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=3, backoff_base=0) as nf:
            with pytest.raises(ConflictError, match="already concluded"):
                await nf.jobs.builds.abort(project_id=P, job_id=J, build_id="b1")
        assert len(sent(mocked)) == 1

    @pytest.mark.parametrize("refusal", [429, 503, 408])
    async def test_409_after_a_refusal_raises(self, mocked: Any, refusal: int) -> None:
        """A refused first attempt did nothing: the retry's 409 is the build's own state."""
        mocked.delete(BUILD_URL, status=refusal)
        mocked.delete(BUILD_URL, **conflict())
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=3, backoff_base=0) as nf:
            with pytest.raises(ConflictError):
                await nf.jobs.builds.abort(project_id=P, job_id=J, build_id="b1")
        assert len(sent(mocked)) == 2

    async def test_post_is_unaffected(self, mocked: Any) -> None:
        """start(): a lost answer is never retried, and a 409 after a 429 still raises."""
        mocked.post(LIST_URL, exception=aiohttp.ServerDisconnectedError())
        mocked.post(LIST_URL, **conflict())
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=3, backoff_base=0) as nf:
            with pytest.raises(TransportError):
                await nf.jobs.builds.start(project_id=P, job_id=J)
            assert len(sent(mocked)) == 1
            team_url = f"{BASE}/v1/teams/t/projects/proj/jobs/job/build"
            mocked.post(team_url, status=429)
            mocked.post(team_url, **conflict())
            with pytest.raises(ConflictError):
                await nf.jobs.builds.start(project_id=P, job_id=J, team_id="t")
        assert len(sent(mocked)) == 3


# ------------------------------------------------- issue 18, point 7: an endless follow() listing


class EndlessListing:
    """A job whose listing never ends: every page is new builds, newer than any before, and
    says ``hasNextPage`` with a cursor never given before. Records each list request as
    (loop time, cursor) and sets ``enough`` at the ``stop_at``-th (the old code never ends a
    poll: the test then stops it, and fails on what it sent)."""

    def __init__(self, stop_at: int) -> None:
        self.requests: list[tuple[float, str | None]] = []
        self.enough = asyncio.Event()
        self._stop_at = stop_at
        self._serial = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((asyncio.get_running_loop().time(), request.query.get("cursor")))
        if len(self.requests) >= self._stop_at:
            self.enough.set()
        builds = []
        for _ in range(min(int(request.query.get("per_page", "100")), 5)):
            self._serial += 1
            created = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=self._serial)
            builds.append(wire_build(self._serial, createdAt=created.isoformat()))
        builds.reverse()  # newest first
        pagination = {"hasNextPage": True, "cursor": f"c{len(self.requests)}", "count": 5}
        return web.json_response({"data": {"builds": builds}, "pagination": pagination})


class TestEndlessFollow:
    @on_virtual_clock
    async def test_each_poll_reads_at_most_max_follow_pages_and_polls_a_second_apart(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """follow(since=None) on a listing that never ends: at most MAX_FOLLOW_PAGES (100)
        requests a poll, polls at least MIN_POLL_INTERVAL (1 s) apart, and the newest builds
        found are handed out (issue 18 saw 27,244 requests in 5 s, and nothing yielded)."""
        listing = EndlessListing(stop_at=1 + 3 * MAX_FOLLOW_PAGES)  # the snapshot, three polls
        app = web.Application()
        app.router.add_get(f"/v1/projects/{P}/jobs/{J}/build", listing.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        got: list[str] = []
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            async with (
                aiohttp.ClientSession(trace_configs=[in_flight_guard()]) as session,
                NorthflankClient(TOKEN, base_url=base_url, session=session) as nf,
            ):
                follower = nf.jobs.builds.follow(project_id=P, job_id=J, poll_interval=1)

                async def follow() -> None:
                    async for build in follower:
                        got.append(build.id)

                task = asyncio.create_task(follow())
                async with asyncio.timeout(3600):  # virtual seconds: a guard only
                    await listing.enough.wait()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            await runner.cleanup()
        # A poll begins with a request without a cursor; the first one is the snapshot.
        starts = [i for i, (_, cursor) in enumerate(listing.requests) if cursor is None]
        polls = [listing.requests[a:b] for a, b in itertools.pairwise([*starts, None])]
        assert max(len(poll) for poll in polls) <= MAX_FOLLOW_PAGES
        assert starts[0] == 0 and len(starts) >= 3  # the snapshot, then polls one after another
        for before, after in itertools.pairwise(polls):
            assert after[0][0] - before[-1][0] >= MIN_POLL_INTERVAL  # a pause between polls
        assert got and len(got) == len(set(got))  # the newest builds found, each once
        assert "older ones are skipped" in caplog.text
