"""The acceptance of a hybrid monitoring group: 3 replicas, real processes, a real redis-server.

Each replica (tests/system/_hybrid_replica.py) is a whole hybrid monitor in a group: its own
client, coordinator, webhook receiver and monitor. The fake API (in this process, on loopback)
creates and concludes builds on real time and sends their notifications through a round-robin
sender (a small forwarder, as a load balancer without health checks would be) with
Northflank's faults: 30% duplicated, 10% lost (only the reconciling polls find those). One
replica is SIGKILLed once it has handled an outcome, while builds are running; the sender goes
on sending it its turn (refused: the fake resends). Every outcome must be handled, by some
replica, and at most one twice (the one the killed replica handled but had not acknowledged).

Waits are bounded by events (lines the replicas print, requests the fake counts) with a
guard against a hang, never a measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from northflank_async.testing import FakeNorthflank

from ._hybrid_replica import SECRET
from ._redis import RedisServer

pytestmark = pytest.mark.system

HERE = Path(__file__).resolve().parent
P = "proj"
JOBS = ("job-0", "job-1", "job-2")
WAVE = 9  # builds added at once, three per job: one wave before the kill, one after
FAILED = {2, 7, 13}  # builds (by their order) that end in failure
WORK = 0.2  # seconds a replica takes to handle an outcome (outcomes wait for it meanwhile)
GUARD = 60.0  # seconds: a hang fails the test instead of blocking the run (never a measure)
STOP_GUARD = 10.0  # seconds a replica may take to end once asked (then SIGKILLed)


class Replica:
    """A replica's process and what it printed (read as it comes, until its end)."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, news: asyncio.Event):
        self.process = process
        self.url = url
        self.ready = False
        self.handled: list[tuple[str, str]] = []  # (build id, outcome), in order
        self._news = news
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            record = json.loads(line)
            if "build" in record:
                self.handled.append((record["build"], record["outcome"]))
            self.ready = self.ready or bool(record.get("ready"))
            self._news.set()


class RoundRobin:
    """A sender in front of the replicas: each POST to the next one in turn; a replica that
    does not answer (killed) makes it answer 502, and the fake resends later."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.urls: list[str] = []
        self.turn = 0
        self.answers: Counter[int] = Counter()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower().startswith("x-northflank-") or name.lower() == "content-type"
        }
        url = self.urls[self.turn % len(self.urls)]
        self.turn += 1
        try:
            async with self.session.post(url, data=body, headers=headers) as answer:
                status, text = answer.status, await answer.read()
        except (aiohttp.ClientError, OSError):
            status, text = 502, b""
        self.answers[status] += 1
        return web.Response(status=status, body=text, content_type="application/json")


@contextlib.asynccontextmanager
async def round_robin() -> AsyncIterator[tuple[RoundRobin, str]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        sender = RoundRobin(session)
        app = web.Application()
        app.router.add_post("/", sender.forward)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield sender, f"http://127.0.0.1:{port}/"
        finally:
            await runner.cleanup()


async def start_replica(fake: FakeNorthflank, redis: RedisServer, news: asyncio.Event) -> Replica:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "_hybrid_replica.py"),
        fake.base_url,
        redis.url,
        P,
        *JOBS,
        f"--work={WORK}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "NF_TOKEN": fake.token},
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(GUARD):
            first = await process.stdout.readline()
        url = json.loads(first)["url"]
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return Replica(process, url, news)


async def until(news: asyncio.Event, done: Callable[[], bool]) -> None:
    """Wait (within the guard) until ``done()``, looking again at each line a replica prints."""
    async with asyncio.timeout(GUARD):
        while not done():
            news.clear()
            await news.wait()


async def stop(replicas: list[Replica]) -> None:
    """Every replica ends: asked by a line on stdin, killed if it does not within the guard."""
    for replica in replicas:
        stdin = replica.process.stdin
        if replica.process.returncode is None and stdin is not None:
            with contextlib.suppress(OSError):
                stdin.write(b"stop\n")
    for replica in replicas:
        try:
            async with asyncio.timeout(STOP_GUARD):
                await replica.process.wait()
        except TimeoutError:
            replica.process.kill()
            await replica.process.wait()
        await asyncio.gather(replica.reader, return_exceptions=True)


async def test_three_replicas_one_killed_handle_every_outcome_at_most_one_twice(
    redis_server: RedisServer,
) -> None:
    news = asyncio.Event()
    replicas: list[Replica] = []
    builds: list[dict[str, Any]] = []
    async with FakeNorthflank(rate_limit=None, seed=20) as fake, round_robin() as (sender, url):
        try:
            for job in JOBS:
                fake.add_job(P, job, builds=1)
            fake.configure_builds(step=0.1)  # real time: a build ends 0.6 s after it starts
            fake.configure_notifications(
                retries=8, backoff=0.2, max_backoff=1.0, timeout=5.0, disable_after=None
            )
            fake.notification_faults(lose=0.1, duplicate=0.3, seed=20)
            for _ in range(3):
                replicas.append(await start_replica(fake, redis_server, news))
            sender.urls = [replica.url for replica in replicas]
            fake.add_notification_integration(url, secret=SECRET)
            await until(news, lambda: all(replica.ready for replica in replicas))

            def add_wave() -> None:
                for _ in range(WAVE):
                    n = len(builds)
                    builds.append(fake.add_build(P, JOBS[n % len(JOBS)]))
                    if n in FAILED:
                        fake.set_outcome(builds[-1]["id"], "FAILURE")

            def handled() -> Counter[str]:
                return Counter(b for replica in replicas for b, _ in replica.handled)

            add_wave()
            await until(news, lambda: sum(handled().values()) >= 3)
            victim = max(replicas, key=lambda replica: len(replica.handled))
            victim.process.kill()  # SIGKILL, while the first wave's builds still run
            await victim.process.wait()
            await victim.reader  # what it printed before it died
            assert victim.handled
            add_wave()
            await until(news, lambda: set(handled()) >= {build["id"] for build in builds})
            async with asyncio.timeout(GUARD):
                await fake.notifications_settled()
                # Two more rounds of reconciling polls (and past the lease and the redelivery
                # time): an outcome wrongly left to another member would be handled again.
                polled = fake.request_count
                while fake.request_count < polled + 2 * len(JOBS):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        finally:
            await stop(replicas)
        fake_record = fake.notifications
        outcomes = Counter(d.outcome for d in fake_record)
    expected = {build["id"]: build["status"] for build in builds}
    counts = handled()
    assert set(counts) == set(expected)  # every outcome handled
    twice = [b for b, n in counts.items() if n > 1]
    assert len(twice) <= 1 and max(counts.values()) <= 2  # at most one, twice
    assert set(twice) <= {b for b, _ in victim.handled}  # one the killed replica handled
    told = {b: outcome for replica in replicas for b, outcome in replica.handled}
    assert told == expected  # and handled as it ended (failures as failures)
    sent = Counter(d.event_id for d in fake_record if d.outcome == "delivered")
    assert outcomes["lost"] >= 1 and max(sent.values()) >= 2  # losses and duplicates
    assert sender.answers[502] >= 1  # the killed replica's turns were refused
