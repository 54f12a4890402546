"""The listing's shortcuts answer exactly as the long way round.

`AsyncCursorIterator.__anext__` hands out the items of the page in hand with no check but a
count; `decode_list` calls the model's structure function on each item itself instead of
cattrs' ``list[cls]`` hook; `decode_frame` builds its `Page` directly. Each test below holds a
shortcut to the answer the plain rule gives: every item once, ``limit`` exact, the walk ended at
the limit or at ``aclose()``, a bad item still named.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from northflank_async import DecodeError, JobBuild
from northflank_async._core.converter import decode_list
from northflank_async._core.models import Page
from northflank_async._core.wire import decode_frame, read_list_frame
from northflank_async._engine.pagination import AsyncCursorIterator


def listing(items: list[int], size: int) -> tuple[dict[str | None, Page[int]], list[str | None]]:
    """Pages of ``items`` keyed by the cursor that fetches each, and a log of the fetches."""
    chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
    cursors: list[str | None] = [None] + [f"c{i}" for i in range(1, len(chunks))]
    pages = {
        cursor: Page(
            items=chunk,
            has_next_page=i + 1 < len(chunks),
            count=len(chunk),
            cursor=cursors[i + 1] if i + 1 < len(chunks) else None,
        )
        for i, (cursor, chunk) in enumerate(zip(cursors, chunks, strict=True))
    }
    return pages, []


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=25),
    size=st.integers(min_value=1, max_value=7),
    limit=st.none() | st.integers(min_value=0, max_value=30),
    prefetch=st.sampled_from([0, 1]),
)
async def test_items_limit_and_fetches_are_exact(
    total: int, size: int, limit: int | None, prefetch: int
) -> None:
    """Every item once, in order, ``limit`` at most; no page is fetched past the limit."""
    items = list(range(total))
    pages, asked = listing(items, size)

    async def fetch_page(cursor: str | None) -> Page[int]:
        asked.append(cursor)
        return pages[cursor]

    it = AsyncCursorIterator(fetch_page, limit=limit, prefetch=prefetch)
    seen = []
    async for item in it:
        seen.append(item)
        assert it.items_yielded == len(seen)
    await it.aclose()
    wanted = items if limit is None else items[:limit]
    assert seen == wanted
    assert it.items_yielded == len(wanted)
    # Pages needed to hand out `wanted` (none for limit=0), and no more.
    needed = 0 if limit == 0 else max(1, -(-len(wanted) // size))
    assert len(asked) == needed or (prefetch and len(asked) <= needed + prefetch)
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()


async def test_limit_inside_a_page_ends_the_walk_at_the_last_item() -> None:
    """Yielding the limit-th item ends the walk at once: the next call ends, nothing fetched."""
    pages, asked = listing(list(range(10)), 4)

    async def fetch_page(cursor: str | None) -> Page[int]:
        asked.append(cursor)
        return pages[cursor]

    it = AsyncCursorIterator(fetch_page, limit=6)
    assert [await it.__anext__() for _ in range(6)] == [0, 1, 2, 3, 4, 5]
    assert it._ended  # ended by the 6th item itself, before anyone asks for a 7th
    assert (it.resume_cursor, it.items_yielded) == ("c1", 6)  # page 2 was not finished
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()
    assert asked == [None, "c1"]


async def test_aclose_in_the_middle_of_a_page_stops_the_items() -> None:
    """After aclose(), the items left in the page in hand are not handed out."""
    pages, _ = listing(list(range(10)), 5)

    async def fetch_page(cursor: str | None) -> Page[int]:
        return pages[cursor]

    it = AsyncCursorIterator(fetch_page)
    assert [await it.__anext__() for _ in range(2)] == [0, 1]
    await it.aclose()
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()
    assert (it.resume_cursor, it.items_yielded) == (None, 2)


def wire_build(index: int) -> dict[str, object]:
    return {
        "id": f"b{index}",
        "status": "SUCCESS",
        "registry": {"uri": f"r/{index}"},
        "createdAt": "2021-07-28T15:55:38.296Z",
        "buildConcludedAt": 1627487738.5 + index,
    }


def test_decode_frame_keeps_the_frame_and_decodes_its_items() -> None:
    envelope = {
        "data": {"builds": [wire_build(0), wire_build(1)]},
        "pagination": {"hasNextPage": True, "cursor": "next", "count": 2},
    }
    frame = read_list_frame(envelope, "builds")
    page = decode_frame(frame, "builds", JobBuild)
    assert (page.has_next_page, page.count, page.cursor) == (True, 2, "next")
    assert [build.id for build in page.items] == ["b0", "b1"]
    assert page.items == decode_list([wire_build(0), wire_build(1)], JobBuild, root="data.x")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("not an object", "data.builds[1]"),
        ({"id": 5}, "data.builds[1].id"),
        ({"id": "x", "registry": []}, "data.builds[1].registry"),
        ({"id": "x", "createdAt": "yesterday"}, "data.builds[1].createdAt"),
    ],
)
def test_decode_list_still_names_a_bad_item(bad: object, field: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_list([wire_build(0), bad, wire_build(2)], JobBuild, root="data.builds")
    assert info.value.field == field
