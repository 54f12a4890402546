"""Webhook receivers in a group: one queue in a real redis-server, each event to one member.

Redis runs on real time (no virtual clock here); waits are bounded by events (a guard on each
against a hang, never a measure). The acceptance runs with real processes behind a
round-robin sender (tests/_webhook_group_run.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from northflank_async import (
    BuildStatus,
    ConfigurationError,
    JobBuild,
    RedisCoordinator,
    WebhookEvent,
    WebhookReceiver,
)
from northflank_async._core.events import BuildEvent
from northflank_async._core.fleet import claimed, encode_event, outcome_key, outcome_of
from northflank_async._core.webhooks import decode_event as decode_notification
from northflank_async._core.webhooks import encode_event as encode_notification
from northflank_async._engine.group import GroupLeadership
from northflank_async._transport.redis_store import _RedisGroup
from northflank_async._transport.redis_webhooks import RedisWebhooks

from ..unit.test_webhooks_parse import DOCUMENTED, PARSER, SECRET, body, build_event, headers
from ._redis import RedisServer
from ._webhook_group_run import run_receivers

pytestmark = pytest.mark.system

GUARD = 60.0  # seconds: a hang fails the test instead of blocking the run (never a measure)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def member(coordinator: RedisCoordinator, **options: Any) -> WebhookReceiver:
    return WebhookReceiver(SECRET, coordinator=coordinator, group="hooks", **options)


def channel(coordinator: RedisCoordinator) -> RedisWebhooks:
    found = coordinator.webhook_channel("hooks")
    assert isinstance(found, RedisWebhooks)
    return found


async def backlog(coordinator: RedisCoordinator) -> tuple[int, int]:
    """The group's stream: entries left, and entries handed out but not acknowledged."""
    client: Any = coordinator._client
    events = channel(coordinator).events
    groups = await client.xinfo_groups(events) if await client.exists(events) else []
    return await client.xlen(events), sum(g["pending"] for g in groups)


async def post(session: aiohttp.ClientSession, url: str, event_id: str) -> tuple[int, Any]:
    payload = body(build_event(id=f"b-{event_id}", status="SUCCESS", concluded=True))
    async with session.post(url, data=payload, headers=headers(event_id=event_id)) as answer:
        return answer.status, await answer.json()


async def collect(
    receiver: WebhookReceiver, into: list[str], total: list[int], enough: asyncio.Event
) -> None:
    """Read ``receiver`` into ``into`` until it ends; ``enough`` once ``total[1]`` events
    were read by all the readers (``total[0]``)."""
    async for event in receiver:
        into.append(event.event_id)
        total[0] += 1
        if total[0] >= total[1]:
            enough.set()


# -- pure parts and options --------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [DOCUMENTED, build_event(status="FAILURE", concluded=True), {"event": "new:thing", "x": [1]}],
)
def test_an_event_survives_the_group_queue(payload: dict[str, Any]) -> None:
    event = PARSER.parse(headers(event_id="e-7"), body(payload))
    text = encode_notification(event)
    assert SECRET not in text
    back = decode_notification(text)
    assert back == event and back.raw == event.raw
    with pytest.raises(ValueError, match="not a queued notification"):
        decode_notification('{"id": "x"}')


async def test_a_group_needs_both_a_coordinator_and_a_name(
    coordinators: list[RedisCoordinator],
) -> None:
    with pytest.raises(ConfigurationError, match="both"):
        WebhookReceiver(SECRET, coordinator=coordinators[0])
    with pytest.raises(ConfigurationError, match="both"):
        WebhookReceiver(SECRET, group="hooks")
    with pytest.raises(ConfigurationError, match="group must be"):
        WebhookReceiver(SECRET, coordinator=coordinators[0], group="a b")
    receiver = member(coordinators[0])
    with pytest.raises(ConfigurationError, match="accept"):
        receiver.receive(headers(), body(DOCUMENTED))
    assert "SECRET" not in repr(receiver)


# -- (a) each event once across the group ------------------------------------------------


async def test_two_replicas_hand_each_event_to_one_member_once(
    coordinators: list[RedisCoordinator], session: aiohttp.ClientSession
) -> None:
    """Every notification posted to both replicas (a resend that the load balancer sent
    elsewhere) is queued once and yielded once, by one of the two members."""
    receivers = [member(c) for c in coordinators]
    ids = [f"evt-{n}" for n in range(40)]
    got: list[list[str]] = [[], []]
    async with (
        receivers[0].serve() as first,
        receivers[1].serve() as second,
    ):
        answers: Counter[str] = Counter()
        for n, event_id in enumerate(ids):
            urls = [first.url, second.url][:: 1 if n % 2 else -1]
            for url in urls:
                status, answer = await post(session, url, event_id)
                assert status == 200
                answers.update(answer["data"])
        assert answers == {"queued": len(ids), "duplicate": len(ids)}
        enough, total = asyncio.Event(), [0, len(ids)]
        readers = [
            asyncio.create_task(collect(r, into, total, enough))
            for r, into in zip(receivers, got, strict=True)
        ]
        async with asyncio.timeout(GUARD):
            await enough.wait()
        for receiver in receivers:
            await receiver.aclose()
        await asyncio.gather(*readers)
    assert sorted(got[0] + got[1]) == sorted(ids)
    assert await backlog(coordinators[0]) == (0, 0)  # each acknowledged, nothing left


async def test_take_pending_reads_the_group_queue_and_acknowledges_on_the_next_call(
    coordinators: list[RedisCoordinator],
) -> None:
    receivers = [member(c) for c in coordinators]
    for n in range(5):
        assert await receivers[n % 2].accept(headers(event_id=f"e{n}"), body(DOCUMENTED))
    assert await receivers[1].accept(headers(event_id="e0"), body(DOCUMENTED)) is None
    taken: list[WebhookEvent] = []
    async with asyncio.timeout(GUARD):
        while len(taken) < 5:  # each turn waits on a Redis round trip, not on time
            taken += receivers[0].take_pending()
            await backlog(coordinators[0])
    assert [e.event_id for e in taken] == [f"e{n}" for n in range(5)]
    assert (await backlog(coordinators[0]))[0] == 5  # handed out, not yet acknowledged
    assert receivers[0].take_pending() == []  # the next call acknowledges them
    async with asyncio.timeout(GUARD):
        while (await backlog(coordinators[0]))[0]:
            pass
    await receivers[0].aclose()
    await receivers[1].aclose()


# -- (b) a member that dies without acknowledging ----------------------------------------


@pytest.mark.parametrize("how", ["aclose(ack=False)", "close()"])
async def test_an_event_left_unacknowledged_goes_to_another_member(
    coordinators: list[RedisCoordinator], how: str
) -> None:
    quitter = member(coordinators[0], redeliver_after=0.2)
    survivor = member(coordinators[1], redeliver_after=0.2)
    await quitter.accept(headers(event_id="only"), body(DOCUMENTED))
    async with asyncio.timeout(GUARD):
        taken = await anext(quitter)
    assert taken.event_id == "only"
    if how == "close()":
        quitter.close()
    else:
        await quitter.aclose(ack=False)
    async with asyncio.timeout(GUARD):
        again = await anext(survivor)  # handed again once it was idle 0.2 s on Redis' clock
    assert again == taken and survivor.redelivered == 1
    await survivor.aclose()
    assert await backlog(coordinators[0]) == (0, 0)


async def test_an_acknowledged_event_is_never_handed_again(
    coordinators: list[RedisCoordinator],
) -> None:
    first = member(coordinators[0], redeliver_after=0.2)
    second = member(coordinators[1], redeliver_after=0.2)
    await first.accept(headers(event_id="one"), body(DOCUMENTED))
    async with asyncio.timeout(GUARD):
        taken = await anext(first)
    await first.ack(taken)
    await first.aclose(ack=False)
    await second.accept(headers(event_id="two"), body(DOCUMENTED))
    async with asyncio.timeout(GUARD):
        nxt = await anext(second)
    assert nxt.event_id == "two" and second.redelivered == 0
    await second.aclose()


# -- the store's trouble and bounds ------------------------------------------------------


async def test_no_2xx_while_redis_is_down_and_a_full_queue_is_refused(
    redis_server: RedisServer,
    coordinators: list[RedisCoordinator],
    session: aiohttp.ClientSession,
) -> None:
    receiver = member(coordinators[0], queue_size=2)
    async with receiver.serve() as server:
        assert (await post(session, server.url, "a"))[0] == 200
        assert (await post(session, server.url, "b"))[0] == 200
        status, answer = await post(session, server.url, "c")
        assert status == 503 and "full" in answer["error"]["message"]
        redis_server.stop()
        status, answer = await post(session, server.url, "d")
        assert status == 503 and "unreachable" in answer["error"]["message"]
        redis_server.start()  # without its data (no persistence): an empty queue
        assert (await post(session, server.url, "d"))[0] == 200
    await receiver.aclose()


# -- a notification and a poll that tell the same outcome --------------------------------


async def test_an_outcome_told_by_a_notification_and_a_poll_is_handed_out_once(
    coordinators: list[RedisCoordinator],
) -> None:
    """The group monitor's publishing script and a notification's claim share one key per
    outcome: whichever tells it first hands it out; the other writes nothing for it."""
    monitor_group = coordinators[0].group_channel("bots")
    assert isinstance(monitor_group, _RedisGroup)
    fence = await monitor_group.acquire("leader", 5)
    assert fence is not None
    notified = BuildEvent("concluded", JobBuild(id="b1", status=BuildStatus.SUCCESS), "p", "j")
    polled = [
        BuildEvent("created", JobBuild(id="b2"), "p", "j"),
        BuildEvent("concluded", JobBuild(id="b2", status=BuildStatus.FAILURE), "p", "j"),
        notified,
    ]
    # A member took b1's outcome from a notification (the claim key of the webhook's fields).
    member = GroupLeadership(monitor_group, name="bots", lease=5, recheck=0.2, closed=bool)
    assert outcome_of(notified) == outcome_key("p", "j", "b1")
    assert await member.claim_outcome(notified)
    assert not await member.claim_outcome(notified)  # a repeat, from another replica
    # The leader's poll then tells b1 and b2: b1's outcome is not appended again.
    texts = [encode_event(e) for e in polled]
    assert await monitor_group.publish("leader", fence, "p/j", "{}", [claimed(e) for e in polled])
    client: Any = coordinators[0]._client
    stream = await client.xrange(monitor_group.events)
    assert [fields[b"e"].decode() for _id, fields in stream] == texts[:2]
    # ... and a notification that comes after the poll finds b2's outcome told.
    assert not await member.claim_outcome(polled[1])
    assert await member.claim_outcome(polled[0])  # a start is no outcome: never claimed


# -- (c) acceptance: replicas in processes, one killed -----------------------------------


def check_handled(run: dict[str, Any]) -> Counter[str]:
    """Every event a replica accepted (2xx) handled, nothing else; the counts per event."""
    counts = Counter(run["handled"])
    assert set(counts) == set(run["accepted"])
    assert run["posts"] > len(run["accepted"])  # duplicates and resends were sent
    return counts


def test_three_replicas_behind_a_round_robin_handle_each_event_once(
    redis_server: RedisServer,
) -> None:
    run = run_receivers(redis_server)
    counts = check_handled(run)
    assert [event_id for event_id, n in counts.items() if n > 1] == []
    assert run["redelivered"] == 0


def test_a_replica_killed_mid_run_loses_nothing(redis_server: RedisServer) -> None:
    run = run_receivers(redis_server, kill=True)
    counts = check_handled(run)
    assert len([event_id for event_id, n in counts.items() if n > 1]) <= 1
    assert run["killed_at"] is not None and run["killed_at"] < len(run["accepted"]) - 1
    assert run["redelivered"] >= 1  # what the killed replica held went to the others
