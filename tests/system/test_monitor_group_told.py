"""An outcome a notification told a member of a monitoring group, on a real redis-server: once
the member claimed it for the group, it must reach some member even if this one dies.

The claim (the outcome's ``told`` key) stops the leader's poll from publishing that outcome
again, so the claimed event must be as durable as a polled one: in the group's stream, handed
to one member, handed again to another when not acknowledged within the lease.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import attrs
import pytest

from northflank_async import BuildStatus, JobBuild, RedisCoordinator
from northflank_async._core.events import BuildEvent, MonitorEvent
from northflank_async._core.fleet import claimed, decode_event
from northflank_async._engine.group import GroupLeadership
from northflank_async._engine.polls import WatchedJob

pytestmark = pytest.mark.system

GUARD = 15.0  # seconds: a hang fails the test instead of blocking the run (never a measure)
LEASE = 0.5
JOB = cast(WatchedJob, None)  # `tell` in a group needs no tracker: the job is not read


@pytest.fixture
def members(coordinators: list[RedisCoordinator]) -> list[GroupLeadership]:
    """Two members of the group ``bots``, one on each coordinator."""
    return [
        GroupLeadership(c.group_channel("bots"), name="bots", lease=LEASE, recheck=0.1, closed=bool)
        for c in coordinators
    ]


def concluded(build_id: str) -> BuildEvent:
    return BuildEvent("concluded", JobBuild(id=build_id, status=BuildStatus.SUCCESS), "p", "j")


def started(build_id: str) -> BuildEvent:
    """The start a member appends before an outcome told first (``created``, same build)."""
    return attrs.evolve(concluded(build_id), kind="created")


async def next_event(member: GroupLeadership) -> MonitorEvent:
    """The next event handed to ``member`` (each `receive` waits briefly on Redis)."""
    async with asyncio.timeout(GUARD):
        while True:
            got = await member.receive()
            if isinstance(got, BaseException):
                raise got
            if got is not None:
                return got


async def stream(coordinator: RedisCoordinator) -> list[MonitorEvent]:
    """The group's stream, oldest first."""
    channel: Any = coordinator.group_channel("bots")
    entries = await cast(Any, coordinator)._client.xrange(channel.events)
    return [decode_event(fields[b"e"].decode()) for _, fields in entries]


async def test_an_outcome_claimed_by_a_member_that_dies_before_handing_it_out_is_not_lost(
    members: list[GroupLeadership],
) -> None:
    quitter, survivor = members
    event = concluded("b1")
    await quitter.tell(JOB, [event])  # claimed for the group: no poll will publish it now
    await quitter.close(ack=False)  # dies before its consumer asked for the next event
    assert [await next_event(survivor), await next_event(survivor)] == [started("b1"), event]
    await survivor.settle()
    assert not await survivor.claim_outcome(event)  # still claimed: told once


async def test_a_told_outcome_handed_out_and_not_acknowledged_goes_to_another_member(
    members: list[GroupLeadership],
) -> None:
    quitter, survivor = members
    event = concluded("b2")
    await quitter.tell(JOB, [event])
    # Both handed out, then the member dies with them unacknowledged.
    assert [await next_event(quitter), await next_event(quitter)] == [started("b2"), event]
    await quitter.close(ack=False)
    again = [await next_event(survivor), await next_event(survivor)]  # after the lease
    assert sorted(e.kind for e in again) == ["concluded", "created"]
    assert survivor.redelivered == 2


async def test_an_outcome_told_by_two_members_is_handed_out_once(
    members: list[GroupLeadership], coordinators: list[RedisCoordinator]
) -> None:
    first, second = members
    await first.tell(JOB, [concluded("b3")])
    await second.tell(JOB, [concluded("b3"), concluded("b4")])
    assert await stream(coordinators[0]) == [
        started("b3"),
        concluded("b3"),
        started("b4"),
        concluded("b4"),
    ]
    got = [await next_event(first), await next_event(second)]
    got += [await next_event(first), await next_event(second)]
    assert sorted((e.build.id, e.kind) for e in got if isinstance(e, BuildEvent)) == [
        ("b3", "concluded"),
        ("b3", "created"),
        ("b4", "concluded"),
        ("b4", "created"),
    ]
    for member in members:
        await member.settle()
        assert await member.receive() is None  # nothing more: each handed out once


async def test_an_end_told_first_comes_after_its_start_and_the_poll_adds_nothing(
    members: list[GroupLeadership], coordinators: list[RedisCoordinator]
) -> None:
    """A notification of an end before any poll saw the build: the stream holds its start then
    its end, and the leader's poll that lists the build later appends nothing for it."""
    member = members[1]
    await member.tell(JOB, [concluded("b5")])
    channel: Any = coordinators[0].group_channel("bots")
    fence = await channel.acquire("leader", 5)
    assert fence is not None
    running = BuildEvent("status", JobBuild(id="b5", status=BuildStatus.BUILDING), "p", "j")
    polled = [started("b5"), running, concluded("b5")]
    assert await channel.publish("leader", fence, "p/j", "{}", [claimed(e) for e in polled])
    assert await stream(coordinators[0]) == [started("b5"), concluded("b5")]


async def test_a_start_a_poll_told_is_not_told_again_by_the_notification_of_the_end(
    members: list[GroupLeadership], coordinators: list[RedisCoordinator]
) -> None:
    channel: Any = coordinators[0].group_channel("bots")
    fence = await channel.acquire("leader", 5)
    assert fence is not None
    assert await channel.publish("leader", fence, "p/j", "{}", [claimed(started("b6"))])
    await members[0].tell(JOB, [concluded("b6")])
    await members[1].tell(JOB, [concluded("b6")])  # a duplicate, at another member
    assert await stream(coordinators[0]) == [started("b6"), concluded("b6")]
