"""The fake sends notifications: headers, bodies, retries with backoff, faults, disabling.

A loopback aiohttp.web receiver, started and stopped by each test, records the POSTs. Where
time matters (backoff, delays, hours of builds) the test runs on the virtual loop clock, and
the fake's deliveries carry the in-flight guard so that time stands still while one travels.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from northflank_async import NorthflankClient
from northflank_async.testing import FakeNorthflank

from .._virtual import in_flight_guard, on_virtual_clock

P, J = "proj", "nightly"
SECRET = "hook-secret-0123456789"
HEADER = "X-Northflank-Notification-"


@dataclasses.dataclass
class Post:
    headers: dict[str, str]
    body: Any
    at: float

    @property
    def event_id(self) -> str:
        return self.headers[HEADER + "Event-Id"]

    @property
    def kind(self) -> str:
        return self.headers[HEADER + "Event-Type"]


class Receiver:
    """Records each POST; answers the statuses queued in ``answers`` (then 200)."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.answers: deque[int] = deque()
        self.url = ""
        self._arrived = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        post = Post(dict(request.headers), await request.json(), asyncio.get_running_loop().time())
        self.posts.append(post)
        async with self._arrived:
            self._arrived.notify_all()
        return web.Response(status=self.answers.popleft() if self.answers else 200)

    async def wait_for(self, count: int) -> list[Post]:
        """Until ``count`` POSTs arrived (a failsafe bound, not a timing assertion)."""
        async with asyncio.timeout(30), self._arrived:
            await self._arrived.wait_for(lambda: len(self.posts) >= count)
        return self.posts

    def kinds(self) -> list[str]:
        return [post.kind for post in self.posts]


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@asynccontextmanager
async def world(**settings: Any) -> AsyncIterator[tuple[FakeNorthflank, Receiver]]:
    """A fake with one job and one service, an integration to a fresh receiver."""
    async with receiving() as receiver, FakeNorthflank(rate_limit=None) as fake:
        fake.add_job(P, J, name="Nightly")
        fake.add_service(P, "web", name="Website")
        fake.add_notification_integration(receiver.url, secret=SECRET, name="Test hook")
        fake.configure_notifications(trace_configs=[in_flight_guard()], **settings)
        yield fake, receiver


async def test_a_build_s_start_and_end_carry_the_real_headers_and_body() -> None:
    async with world() as (fake, receiver):
        fake.configure_builds(step=0)  # the pump concludes it at once
        build = fake.add_build(P, J)
        posts = await receiver.wait_for(2)
        await fake.notifications_settled()
    by_kind = {post.kind: post for post in posts}
    assert sorted(by_kind) == ["build:start", "build:success"]
    start, end = by_kind["build:start"], by_kind["build:success"]
    assert start.headers[HEADER + "Integration-Id"] == "test-hook"
    assert start.headers[HEADER + "Integration-Name"] == "Test hook"
    assert start.headers[HEADER + "Token"] == SECRET
    assert start.event_id != end.event_id
    assert start.body["event"] == "build:start"
    assert start.body["data"]["job"] == {"id": J, "name": "Nightly"}
    assert start.body["data"]["project"] == {"id": P, "name": P}
    assert start.body["data"]["build"]["id"] == build["id"]
    assert start.body["data"]["build"]["concluded"] is False
    assert "pullRequestId" in start.body["data"]["build"]  # null, as documented
    assert end.body["data"]["build"]["status"] == "SUCCESS"
    assert end.body["data"]["build"]["concluded"] is True
    assert end.body["data"]["build"]["success"] is True
    assert [d.outcome for d in fake.notifications] == ["delivered", "delivered"]


async def test_outcomes_name_their_event_and_their_owner() -> None:
    """Failure and abort of builds, service builds under data.service, and job runs."""
    async with (
        world() as (fake, receiver),
        NorthflankClient(fake.token, base_url=fake.base_url) as nf,
    ):
        fake.configure_builds(step=0, outcome="FAILURE")
        fake.add_build(P, J)
        await receiver.wait_for(2)
        fake.configure_builds(step="poll")
        started = await nf.job(P, J).builds.start()
        await nf.job(P, J).builds.abort(started.id)
        service_build = await nf.service(P, "web").builds.start()
        run = await nf.job(P, J).runs.start()
        await nf.job(P, J).runs.abort(run.id)
        fake.configure_runs(step=0, outcome="FAILED")
        fake.add_run(P, J)
        await receiver.wait_for(9)
        await fake.notifications_settled()
    kinds = sorted(receiver.kinds())
    assert kinds == sorted(
        [
            *("build:start", "build:failure", "build:start", "build:abort", "build:start"),
            *("job-run:start", "job-run:abort", "job-run:start", "job-run:failure"),
        ]
    )
    service_posts = [p for p in receiver.posts if "service" in p.body["data"]]
    assert [p.body["data"]["build"]["id"] for p in service_posts] == [service_build.id]
    assert service_posts[0].body["data"]["service"] == {"id": "web", "name": "Website"}
    run_posts = [p for p in receiver.posts if p.kind.startswith("job-run:")]
    assert all(p.body["data"]["job"]["id"] == J and "run" in p.body["data"] for p in run_posts)
    assert {p.body["data"]["run"]["id"] for p in run_posts if p.kind == "job-run:abort"} == {run.id}


async def test_an_integration_gets_only_its_events_and_projects() -> None:
    async with receiving() as receiver, FakeNorthflank(rate_limit=None) as fake:
        fake.add_job(P, J)
        fake.add_job("other", J)
        fake.add_notification_integration(receiver.url, events=["build:success"], projects=[P])
        fake.configure_builds(step=0)
        fake.add_build("other", J)
        fake.add_build(P, J)
        await receiver.wait_for(1)
        await fake.notifications_settled()
    assert receiver.kinds() == ["build:success"]
    assert receiver.posts[0].body["data"]["project"]["id"] == P
    assert SECRET not in str(receiver.posts[0].headers)  # no secret: no token header
    assert HEADER + "Token" not in receiver.posts[0].headers


@on_virtual_clock
async def test_a_failed_delivery_is_retried_with_backoff_and_the_same_event_id() -> None:
    async with world(retries=3, backoff=5.0, disable_after=None) as (fake, receiver):
        receiver.answers.extend([500, 503, 502])
        fake.configure_builds(step="poll")  # the build stays running: only its start is sent
        fake.add_build(P, J)
        await fake.notifications_settled()
        status = fake.notification_integration("test-hook")["status"]
    assert len(receiver.posts) == 4
    assert len({post.event_id for post in receiver.posts}) == 1
    gaps = [b.at - a.at for a, b in zip(receiver.posts, receiver.posts[1:], strict=False)]
    assert gaps == [5.0, 10.0, 20.0]
    assert [d.outcome for d in fake.notifications] == ["failed"] * 3 + ["delivered"]
    assert [d.status for d in fake.notifications] == [500, 503, 502, 200]
    assert status["numberOfFailedRequests"] == 0  # the 2xx ended the streak
    assert "timeOfFirstFailedRequest" not in status


@on_virtual_clock
async def test_retries_run_out_and_the_notification_is_lost() -> None:
    async with world(retries=2, backoff=1.0, disable_after=None) as (fake, receiver):
        receiver.answers.extend([500] * 10)
        fake.configure_builds(step="poll")
        fake.add_build(P, J)
        await fake.notifications_settled()
        status = fake.notification_integration("test-hook")["status"]
    assert len(receiver.posts) == 3
    assert status["numberOfFailedRequests"] == 3
    assert status["disabled"] is False


@on_virtual_clock
async def test_an_unreachable_receiver_counts_as_failed_requests() -> None:
    async with FakeNorthflank(rate_limit=None) as fake:
        fake.add_job(P, J)
        fake.add_notification_integration("http://127.0.0.1:9/hook")  # the discard port
        fake.configure_notifications(retries=1, backoff=1.0, trace_configs=[in_flight_guard()])
        fake.configure_builds(step="poll")
        fake.add_build(P, J)
        await fake.notifications_settled()
    assert [(d.outcome, d.status) for d in fake.notifications] == [("failed", None)] * 2
    assert all(d.error for d in fake.notifications)


@on_virtual_clock
async def test_an_integration_is_disabled_after_n_failed_requests() -> None:
    async with world(retries=5, backoff=1.0, disable_after=3) as (fake, receiver):
        receiver.answers.extend([500] * 100)
        fake.configure_builds(step="poll")
        fake.add_build(P, J)
        await fake.notifications_settled()
        fake.add_build(P, J)  # disabled: nothing more is sent
        await fake.notifications_settled()
        async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
            got = await nf.notifications.get("test-hook")
            listed = await nf.notifications.list().collect()
    assert len(receiver.posts) == 3
    assert got.status is not None and got.disabled
    assert got.status.number_of_failed_requests == 3
    assert got.status.time_of_first_failed_request is not None
    assert listed[0].disabled


@on_virtual_clock
async def test_the_lose_fault_sends_nothing_and_says_so() -> None:
    async with world() as (fake, receiver):
        fake.notification_faults(lose=1.0)
        fake.configure_builds(step=0)
        fake.add_build(P, J)
        await asyncio.sleep(1)  # virtual: the pump concludes the build meanwhile
        await fake.notifications_settled()
    assert receiver.posts == []
    assert sorted(d.event_type for d in fake.notifications) == ["build:start", "build:success"]
    assert {d.outcome for d in fake.notifications} == {"lost"}


@on_virtual_clock
async def test_the_duplicate_fault_sends_each_event_twice_with_one_id() -> None:
    async with world() as (fake, receiver):
        fake.notification_faults(duplicate=1.0)
        fake.configure_builds(step=0)
        fake.add_build(P, J)
        await asyncio.sleep(1)
        await fake.notifications_settled()
    assert sorted(receiver.kinds()) == ["build:start"] * 2 + ["build:success"] * 2
    ids = [post.event_id for post in receiver.posts]
    assert len(set(ids)) == 2 and all(ids.count(i) == 2 for i in ids)


@on_virtual_clock
async def test_the_delay_fault_holds_deliveries_up_to_its_bound() -> None:
    async with world() as (fake, receiver):
        fake.notification_faults(delay=300.0, seed=3)
        fake.configure_builds(step="poll")
        loop = asyncio.get_running_loop()
        sent_at = []
        for _ in range(10):
            sent_at.append(loop.time())
            fake.add_build(P, J)
        await fake.notifications_settled()
    assert len(receiver.posts) == 10
    delays = [post.at - sent_at[0] for post in receiver.posts]
    assert all(0 <= delay <= 300 for delay in delays)
    assert max(delays) > 60  # drawn over the whole range, not all at once


@on_virtual_clock
async def test_the_reorder_fault_delivers_a_start_after_its_end() -> None:
    async with world() as (fake, receiver):
        fake.notification_faults(reorder=1.0)
        fake.configure_builds(step=10)
        build = fake.add_build(P, J)
        await asyncio.sleep(30)
        assert receiver.posts == []  # the start is held while the build runs
        await asyncio.sleep(31)  # 6 stages of 10 s: it concludes at 60 s
        posts = await receiver.wait_for(2)
        await fake.notifications_settled()
    assert [post.kind for post in posts] == ["build:success", "build:start"]
    assert all(post.body["data"]["build"]["id"] == build["id"] for post in posts)


@on_virtual_clock
async def test_builds_in_time_mode_send_their_end_when_it_happens_not_when_polled() -> None:
    """The pump concludes a build when its last stage ends: nobody polls, the end leaves."""
    async with world() as (fake, receiver):
        fake.configure_builds(step=10)
        loop = asyncio.get_running_loop()
        started = loop.time()
        fake.add_build(P, J)
        await asyncio.sleep(120)
        await fake.notifications_settled()
        assert fake.request_count == 0
    end = next(post for post in receiver.posts if post.kind == "build:success")
    assert end.at - started == pytest.approx(60.0, abs=1e-3)


@on_virtual_clock
async def test_hours_of_simulated_builds_each_send_a_start_and_an_end() -> None:
    async with world(retries=1, backoff=1.0) as (fake, receiver):
        fake.simulate(new_build_every=300, step=10, failure_rate=0.3, max_builds=30, seed=4)
        await asyncio.sleep(6 * 3600)  # virtual: about 30 builds pushed and concluded
        await fake.notifications_settled()
        builds = [b for b in fake.builds(P, J) if b["createdAt"] >= "2025-06-30T12"]
    assert len(builds) == 30
    starts = [p for p in receiver.posts if p.kind == "build:start"]
    ends = [p for p in receiver.posts if p.kind != "build:start"]
    assert sorted(p.body["data"]["build"]["id"] for p in starts) == sorted(b["id"] for b in builds)
    assert sorted(p.body["data"]["build"]["id"] for p in ends) == sorted(b["id"] for b in builds)
    failures = [p for p in ends if p.kind == "build:failure"]
    assert 0 < len(failures) < 30
    assert len({p.event_id for p in receiver.posts}) == 60


async def test_closing_the_fake_leaves_no_delivery_task_behind() -> None:
    """A receiver that never answers: closing the fake cancels and awaits its deliveries."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hang)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        fake = FakeNorthflank(rate_limit=None)
        await fake.start()
        fake.add_job(P, J)
        fake.add_notification_integration(f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
        fake.add_build(P, J)
        await asyncio.sleep(0)
        assert any(t.get_name().startswith("fake-northflank-notify") for t in asyncio.all_tasks())
        await fake.close()
        left = [t for t in asyncio.all_tasks() if t.get_name().startswith("fake-northflank")]
        assert left == []
    finally:
        release.set()
        await runner.cleanup()


async def test_a_fixture_integration_is_checked_like_an_api_one() -> None:
    async with FakeNorthflank() as fake:
        for bad in ({"webhook": "not a url"}, {"webhook": "https://x", "name": "x"}):
            webhook = bad.pop("webhook")
            try:
                fake.add_notification_integration(webhook, **bad)
            except ValueError:
                continue
            raise AssertionError(f"accepted {bad}")
        record = fake.add_notification_integration("https://x.example/h", secret="abc")
        assert "abc" not in repr(record) and record["id"] == "fake-hook-1"
