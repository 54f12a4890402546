"""An outcome a notification told a member of a monitoring group, on a real redis-server: once
the member claimed it for the group, it must reach some member even if this one dies.

The claim (the outcome's ``told`` key) stops the leader's poll from publishing that outcome
again, so the claimed event must be as durable as a polled one: in the group's stream, handed
to one member, handed again to another when not acknowledged within the lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

from northflank_async import BuildStatus, JobBuild, RedisCoordinator
from northflank_async._core.events import BuildEvent, MonitorEvent
from northflank_async._engine.group import GroupLeadership
from northflank_async._engine.polls import WatchedJob

from ._redis import RedisServer

pytestmark = pytest.mark.system

GUARD = 15.0  # seconds: a hang fails the test instead of blocking the run (never a measure)
LEASE = 0.5
JOB = cast(WatchedJob, None)  # `tell` in a group needs no tracker: the job is not read


@pytest.fixture
async def members(redis_server: RedisServer) -> AsyncIterator[list[GroupLeadership]]:
    """Two members of the group ``bots``, each on its own coordinator (its own connections)."""
    async with (
        RedisCoordinator.from_url(redis_server.url, namespace="t", recheck=0.1) as one,
        RedisCoordinator.from_url(redis_server.url, namespace="t", recheck=0.1) as two,
    ):
        yield [
            GroupLeadership(
                c.group_channel("bots"), name="bots", lease=LEASE, recheck=0.1, closed=bool
            )
            for c in (one, two)
        ]


def concluded(build_id: str) -> BuildEvent:
    return BuildEvent("concluded", JobBuild(id=build_id, status=BuildStatus.SUCCESS), "p", "j")


async def next_event(member: GroupLeadership) -> MonitorEvent:
    """The next event handed to ``member`` (each `receive` waits briefly on Redis)."""
    async with asyncio.timeout(GUARD):
        while True:
            got = await member.receive()
            if isinstance(got, BaseException):
                raise got
            if got is not None:
                return got


async def test_an_outcome_claimed_by_a_member_that_dies_before_handing_it_out_is_not_lost(
    members: list[GroupLeadership],
) -> None:
    quitter, survivor = members
    event = concluded("b1")
    await quitter.tell(JOB, [event])  # claimed for the group: no poll will publish it now
    await quitter.close(ack=False)  # dies before its consumer asked for the next event
    got = await next_event(survivor)
    assert got == event
    await survivor.settle()
    assert not await survivor.claim_outcome(event)  # still claimed: told once


async def test_a_told_outcome_handed_out_and_not_acknowledged_goes_to_another_member(
    members: list[GroupLeadership],
) -> None:
    quitter, survivor = members
    event = concluded("b2")
    await quitter.tell(JOB, [event])
    assert await next_event(quitter) == event  # handed out, then the member dies unacknowledged
    await quitter.close(ack=False)
    assert await next_event(survivor) == event  # after the lease
    assert survivor.redelivered == 1


async def test_an_outcome_told_by_two_members_is_handed_out_once(
    members: list[GroupLeadership],
) -> None:
    first, second = members
    await first.tell(JOB, [concluded("b3")])
    await second.tell(JOB, [concluded("b3"), concluded("b4")])
    got = [await next_event(first), await next_event(second)]
    assert sorted(e.build.id for e in got if isinstance(e, BuildEvent)) == ["b3", "b4"]
    for member in members:
        await member.settle()
        assert await member.receive() is None  # nothing more: each handed out once
