"""The one pagination engine: listings, pages, prefetch and follow() walk pages the same way."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from northflank_async import DecodeError, JobBuild, NorthflankClient, PaginationError, ServerError
from northflank_async._core.models import Page
from northflank_async._engine.pagination import (
    AsyncCursorIterator,
    DecodePage,
    FetchPage,
    PageWalker,
    Step,
)
from northflank_async.testing import FakeNorthflank

from .._virtual import on_virtual_clock, virtual_client

P, J = "proj", "job"


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped fixture's fake, with this module's data."""
    server = northflank_fake
    server.add_job(P, J, builds=250)
    return server


@pytest.fixture
async def nf(fake: FakeNorthflank) -> AsyncIterator[NorthflankClient]:
    """No retry: an error the fake scripts reaches the listing at once."""
    async with NorthflankClient(fake.token, base_url=fake.base_url, max_retries=0) as client:
        yield client


def pages_of(items: list[int], size: int) -> dict[str | None, Page[int]]:
    """A listing of ``items`` as pages keyed by the cursor that fetches each."""
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    cursors: list[str | None] = [None] + [f"c{i}" for i in range(1, len(chunks))]
    return {
        cursor: Page(
            items=chunk,
            has_next_page=i + 1 < len(chunks),
            count=len(chunk),
            cursor=cursors[i + 1] if i + 1 < len(chunks) else None,
        )
        for i, (cursor, chunk) in enumerate(zip(cursors, chunks, strict=True))
    }


class TestPageWalker:
    async def test_walks_every_page_once(self) -> None:
        """Each cursor is fetched once, in order, and the walk ends after the last page."""
        pages = pages_of(list(range(7)), 3)
        asked: list[str | None] = []

        async def fetch_page(cursor: str | None) -> Page[int]:
            asked.append(cursor)
            return pages[cursor]

        walker = PageWalker(fetch_page)
        steps = [step async for step in _steps(walker)]
        assert asked == [None, "c1", "c2"]
        assert [(s.cursor, list(s.page.items)) for s in steps] == [
            (None, [0, 1, 2]),
            ("c1", [3, 4, 5]),
            ("c2", [6]),
        ]
        assert await walker.step() is None

    async def test_limit_stops_fetching(self) -> None:
        """No page is fetched once the pages walked hold ``limit`` items."""
        pages = pages_of(list(range(9)), 3)
        asked: list[str | None] = []

        async def fetch_page(cursor: str | None) -> Page[int]:
            asked.append(cursor)
            return pages[cursor]

        assert len([s async for s in _steps(PageWalker(fetch_page, limit=4))]) == 2
        assert asked == [None, "c1"]

    async def test_resume_cursor_mid_page_and_at_boundaries(self) -> None:
        """The iterator knows where a new listing would continue, page by page."""
        pages = pages_of(list(range(6)), 3)

        async def fetch_page(cursor: str | None) -> Page[int]:
            return pages[cursor]

        it = AsyncCursorIterator(fetch_page)
        assert it.resume_cursor is None
        assert await it.__anext__() == 0
        assert (it.resume_cursor, it.items_yielded) == (None, 1)  # page 1 is not finished
        assert [await it.__anext__() for _ in range(2)] == [1, 2]
        boundary: tuple[str | None, int] = (it.resume_cursor, it.items_yielded)
        assert boundary == ("c1", 3)  # a page boundary
        assert await it.collect() == [3, 4, 5]


async def _steps(walker: PageWalker[int]) -> AsyncIterator[Step[int]]:
    while (step := await walker.step()) is not None:
        yield step


class TestFollowSharesTheLoop:
    async def test_follow_across_several_pages(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """A watermark 249 builds back: one poll walks 3 pages and yields all, oldest first."""
        history = fake.builds(P, J)
        follower = nf.jobs.builds.follow(project_id=P, job_id=J, since=history[-1]["id"])
        got = [(await follower.__anext__()).id for _ in range(249)]
        assert got == [b["id"] for b in reversed(history[:-1])]
        assert [r.query.get("cursor") is None for r in fake.requests] == [True, True, False, False]

    @on_virtual_clock  # the second poll comes MIN_POLL_INTERVAL (1 s) later: no real time
    async def test_follow_outlives_a_failed_page_with_nothing_lost_or_doubled(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Page 2 of a poll fails: the poll is dropped, the next one yields each build once."""
        async with FakeNorthflank(rate_limit=None) as fake:
            fake.add_job(P, J, builds=250)
            async with virtual_client(fake, max_retries=0) as nf:
                history = fake.builds(P, J)
                follower = nf.jobs.builds.follow(
                    project_id=P, job_id=J, since=history[-1]["id"], poll_interval=1
                )
                fake.script("ok", "ok", 503)  # the since lookup, page 1, then page 2 fails
                with caplog.at_level(logging.WARNING, logger="northflank_async"):
                    got = [(await follower.__anext__()).id for _ in range(249)]
        assert got == [b["id"] for b in reversed(history[:-1])]
        assert follower.polls == 2
        assert "poll failed" in caplog.text

    async def test_follow_gives_up_a_poll_of_endless_empty_pages(self) -> None:
        """Empty pages that claim more end the poll (PaginationError), like a listing."""
        calls = 0

        async def fetch_page(cursor: str | None) -> Page[int]:
            nonlocal calls
            calls += 1
            return Page(items=[], has_next_page=True, count=0, cursor=f"c{calls}")

        with pytest.raises(PaginationError, match="empty pages"):
            await AsyncCursorIterator(fetch_page, limit=5).collect()
        assert calls == 3


class TestDeprecatedErrorResumePoint:
    async def test_error_attributes_still_answer_with_a_warning(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """error.resume_cursor and error.items_yielded warn, and agree with the iterator."""
        fake.script("ok", 503)
        it = nf.jobs.builds.list(project_id=P, job_id=J)
        seen: list[object] = []

        async def walk() -> None:
            async for build in it:
                seen.append(build)

        with pytest.raises(ServerError) as info:
            await walk()
        with pytest.warns(DeprecationWarning, match="resume_cursor"):
            assert info.value.resume_cursor == it.resume_cursor is not None
        with pytest.warns(DeprecationWarning, match="items_yielded"):
            assert info.value.items_yielded == it.items_yielded == len(seen) == 100


class TestDecodingWhenTaken:
    """With ``decode``, a page is decoded when the consumer takes it, not when it arrives."""

    @staticmethod
    def recorder(
        pages: dict[str | None, Page[int]], events: list[str]
    ) -> tuple[FetchPage[int], DecodePage[int]]:
        async def fetch_page(cursor: str | None) -> Page[int]:
            events.append(f"sent {cursor}")
            await asyncio.sleep(0)  # the answer travels
            return pages[cursor]

        def decode(frame: Page[int]) -> Page[int]:
            events.append(f"decoded {frame.items[0]}")
            return Page(
                items=[item * 10 for item in frame.items],
                has_next_page=frame.has_next_page,
                count=frame.count,
                cursor=frame.cursor,
            )

        return fetch_page, decode

    async def test_prefetch_sends_the_next_request_before_decoding(self) -> None:
        """prefetch=1: the next page's request is out while the page in hand is decoded."""
        events: list[str] = []
        fetch_page, decode = self.recorder(pages_of(list(range(9)), 3), events)
        items = await AsyncCursorIterator(fetch_page, decode=decode, prefetch=1).collect()
        assert items == [i * 10 for i in range(9)]
        assert events == ["sent None", "sent c1", "decoded 0", "sent c2", "decoded 3", "decoded 6"]

    async def test_without_prefetch_nothing_is_sent_ahead(self) -> None:
        """The default walk sends a request only when the consumer needs its page."""
        events: list[str] = []
        fetch_page, decode = self.recorder(pages_of(list(range(9)), 3), events)
        iterator = AsyncCursorIterator(fetch_page, decode=decode)
        assert [await anext(iterator) for _ in range(3)] == [0, 10, 20]
        assert events == ["sent None", "decoded 0"]
        await iterator.aclose()

    async def test_a_page_that_fails_to_decode_ends_the_walk_with_its_resume_point(
        self, nf: NorthflankClient, fake: FakeNorthflank
    ) -> None:
        """A bad item met when its page is taken is a DecodeError; the prefetch stops there."""
        stored = fake.builds(P, J)
        stored[10]["concluded"] = "yes"  # the second page's first build: not a bool
        iterator = nf.jobs.builds.list(project_id=P, job_id=J, per_page=10, prefetch=1)
        seen: list[JobBuild] = []

        async def walk() -> None:
            async for build in iterator:
                seen.append(build)

        with pytest.raises(DecodeError) as info:
            await walk()
        assert info.value.field == "data.builds[0].concluded"
        assert [b.id for b in seen] == [b["id"] for b in stored[:10]]
        assert iterator.items_yielded == 10
        # Resuming where the iterator says goes on at the page that failed, nothing skipped.
        stored[10]["concluded"] = True
        again = nf.jobs.builds.list(project_id=P, job_id=J, cursor=iterator.resume_cursor, limit=1)
        assert [b.id async for b in again] == [stored[10]["id"]]
        await iterator.aclose()
        assert [t for t in asyncio.all_tasks() if t.get_name() == "northflank-async-prefetch"] == []
