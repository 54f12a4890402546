"""`ManualClock`: the fake's time moves only when a test says so, with no sleep."""

from __future__ import annotations

import math

import pytest

from northflank_async import NorthflankClient
from northflank_async.testing import FakeNorthflank, ManualClock


def test_it_moves_only_forward_and_only_when_told() -> None:
    clock = ManualClock(5)
    assert clock() == 5.0
    assert clock.advance(2.5) == 7.5 == clock()
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="forward"):
            clock.advance(bad)
    assert clock() == 7.5
    assert repr(clock) == "ManualClock(now=7.5)"


async def test_a_build_progresses_when_the_clock_is_advanced() -> None:
    clock = ManualClock()
    async with FakeNorthflank(clock=clock) as fake:
        fake.add_job("p", "j", builds=0)
        fake.configure_builds(step=30.0, outcome="FAILURE")
        async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
            builds = nf.job("p", "j").builds
            started = await builds.start()
            assert not (await builds.get(started.id)).concluded  # no time has passed
            assert not (await builds.get(started.id)).concluded  # reads alone move nothing
            clock.advance(3600)
            final = await builds.get(started.id)
    assert final.concluded and final.status == "FAILURE"
