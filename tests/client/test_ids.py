"""Ids are checked where they are given: what no id can hold is a ValueError, before a request.

No Northflank id is empty, a dot segment, or holds a control character or surrounding
whitespace (a trailing newline is how an id read from a file usually goes wrong); anything else
(a slash, a space inside, ``?``) is percent-encoded into one path segment, so it cannot reach
another route, and an id that does not exist is a 404 (`NotFoundError`).
"""

from __future__ import annotations

import pytest

from northflank_async import NorthflankClient, NotFoundError
from northflank_async.testing import FakeNorthflank

ODD = ["", ".", "..", "nightly\n", "\tnightly", " nightly", "nightly ", "night\x00ly", "a\x7fb"]


@pytest.mark.parametrize("odd", ODD)
@pytest.mark.parametrize("which", ["project", "job", "team"])
def test_a_handle_refuses_an_odd_id(odd: str, which: str) -> None:
    """nf.job(...) raises ValueError naming the argument, with no request made."""
    ids = {"project": "proj", "job": "nightly", "team": None} | {which: odd}
    nf = NorthflankClient("token")
    with pytest.raises(ValueError, match=f"{which}_id"):
        nf.job(ids["project"], ids["job"], team_id=ids["team"])  # type: ignore[arg-type]


@pytest.mark.parametrize("odd", ODD)
async def test_a_call_refuses_an_odd_id_before_any_request(odd: str) -> None:
    """A build id that no build has is refused before the request (flat form too)."""
    async with (
        FakeNorthflank(rate_limit=None) as fake,
        NorthflankClient(fake.token, base_url=fake.base_url) as nf,
    ):
        fake.add_job("proj", "nightly", builds=1)
        with pytest.raises(ValueError, match=r"build|path parameter"):
            await nf.job("proj", "nightly").builds.get(odd)
        with pytest.raises(ValueError, match="job_id"):
            await nf.jobs.builds.get(project_id="proj", job_id=odd, build_id="b")
        assert fake.requests == []


@pytest.mark.parametrize("unusual", ["my/project", "sp ace", "q?x=1", "é"])
async def test_other_ids_are_sent_as_one_segment(unusual: str) -> None:
    """Anything else is encoded, reaches the API as one segment, and is a 404 there."""
    async with (
        FakeNorthflank(rate_limit=None) as fake,
        NorthflankClient(fake.token, base_url=fake.base_url) as nf,
    ):
        with pytest.raises(NotFoundError):
            await nf.job(unusual, "nightly").get()
        assert len(fake.requests) == 1
