"""The hybrid monitor in a group, on a real redis-server: notifications and polls telling the
same outcomes, each handled once across the members.

Two members, each with its own client, coordinator and webhook receiver (one receiving
group: the fake sends to both replicas); the leader polls every job once per second, so its
polls find most outcomes that notifications told too. A member that takes a notification of
an outcome claims it for the group before handing it out; the leader's publishing script
skips an outcome claimed before. Redis runs on real time; waits are bounded by events (a
guard against a hang, never a measure).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from northflank_async import (
    BuildEvent,
    Monitor,
    NorthflankClient,
    RedisCoordinator,
    WebhookReceiver,
)
from northflank_async.testing import FakeNorthflank

from .._hybrid import SECRET

pytestmark = pytest.mark.system

P = "proj"
JOBS = ("job-0", "job-1")
BUILDS = 12
GUARD = 60.0  # seconds: a hang fails the test instead of blocking the run (never a measure)


async def test_two_members_handle_each_outcome_once_told_by_notifications_and_polls(
    coordinators: list[RedisCoordinator],
) -> None:
    receivers = [
        WebhookReceiver(SECRET, coordinator=c, group="hooks", redeliver_after=5.0)
        for c in coordinators
    ]
    got: list[tuple[int, BuildEvent]] = []
    concluded: Counter[str] = Counter()
    everything = asyncio.Event()

    async def consume(index: int, monitor: Monitor) -> None:
        async for event in monitor:
            got.append((index, event))
            if event.kind == "concluded":
                concluded[event.build.id] += 1
                if len(concluded) == BUILDS:
                    everything.set()

    async with (
        receivers[0].serve() as first,
        receivers[1].serve() as second,
        FakeNorthflank(rate_limit=None) as fake,
    ):
        for job in JOBS:
            fake.add_job(P, job, builds=1)
        fake.configure_builds(step=0.1)  # real time: a build concludes 0.6 s after it starts
        for server in (first, second):  # any replica may receive
            fake.add_notification_integration(server.url, secret=SECRET)
        fake.notification_faults(lose=0.2, duplicate=0.3, seed=5)
        async with (
            NorthflankClient(fake.token, base_url=fake.base_url, coordinator=coordinators[0]) as a,
            NorthflankClient(fake.token, base_url=fake.base_url, coordinator=coordinators[1]) as b,
        ):
            monitors = [
                nf.monitor(3600, floor=1.0, group="g", lease=3.0, webhooks=r, reconcile=1.0)
                for nf, r in zip((a, b), receivers, strict=True)
            ]
            async with monitors[0], monitors[1]:
                for monitor in monitors:
                    for job in JOBS:
                        monitor.watch_job(P, job)
                async with asyncio.timeout(GUARD):
                    await asyncio.gather(*(m.ready() for m in monitors))
                tasks = [asyncio.create_task(consume(i, m)) for i, m in enumerate(monitors)]
                builds = [fake.add_build(P, JOBS[n % 2]) for n in range(BUILDS)]
                async with asyncio.timeout(GUARD):
                    await everything.wait()
                    await fake.notifications_settled()
                    # Two more rounds of reconciling polls: each finds those outcomes again.
                    polled = fake.request_count
                    while fake.request_count < polled + 4 * len(JOBS):  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                    for receiver in receivers:  # every notification taken and handled
                        while receiver.pending:  # noqa: ASYNC110
                            await asyncio.sleep(0.1)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        for receiver in receivers:
            await receiver.aclose()
        delivered = [d for d in fake.notifications if d.outcome == "delivered"]
    ids = {build["id"] for build in builds}
    assert set(concluded) == ids
    assert all(count == 1 for count in concluded.values())  # each outcome handled once
    created = Counter(e.build.id for _, e in got if e.kind == "created")
    assert all(count <= 1 for count in created.values())
    assert any(d.event_type == "build:success" for d in delivered)
