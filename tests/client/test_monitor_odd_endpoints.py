"""The monitor against odd but legal list endpoints, over the wire.

A loopback aiohttp server plays one job's builds endpoints from a script the test writes: what
the N-th list request of a job answers, which ``get`` answers 404, which request meets a 429.
Client and server share a virtual clock (looptime, ``tests/_virtual.py``), so a monitor's
polls minutes apart take no real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from northflank_async import BuildEvent, Monitor, NorthflankClient
from northflank_async._core.tracking import GONE_AFTER

from .._virtual import in_flight_guard, on_virtual_clock

P = "proj"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

Build = dict[str, Any]


def wire(n: int, status: str = "BUILDING", *, at: float | None = None) -> Build:
    """Build ``b<n>`` as the API lists it, created ``at`` seconds after T0 (``n`` by default)."""
    created = T0 + timedelta(seconds=n if at is None else at)
    concluded = status in ("SUCCESS", "FAILURE", "ABORTED", "CRASHED")
    return {
        "id": f"b{n}",
        "status": status,
        "concluded": concluded,
        "success": status == "SUCCESS",
        "createdAt": created.isoformat().replace("+00:00", "Z"),
    }


@attrs.define
class OddJobs:
    """What the server answers: ``listing(job, n)`` is the n-th (from 1) list of ``job``,
    newest first; ``get(job, id)`` a build or None (404); ``throttle(job, n)`` a Retry-After
    for the n-th list of ``job`` (a 429), or None."""

    listing: Callable[[str, int], list[Build]]
    get: Callable[[str, str], Build | None] = lambda job, build_id: None
    throttle: Callable[[str, int], float | None] = lambda job, n: None
    lists: Counter[str] = attrs.field(factory=Counter)  # polls begun (first pages) per job
    pages: Counter[str] = attrs.field(factory=Counter)  # list requests per job
    gets: Counter[str] = attrs.field(factory=Counter)  # get requests per job

    async def handle(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")  # v1 projects P jobs J build [id]
        job = parts[4]
        if len(parts) == 7:
            self.gets[job] += 1
            found = self.get(job, parts[6])
            if found is None:
                return web.json_response({"error": {"message": "not found"}}, status=404)
            return web.json_response({"data": found})
        self.pages[job] += 1
        cursor = request.query.get("cursor")
        if cursor is None:
            self.lists[job] += 1
            retry = self.throttle(job, self.lists[job])
            if retry is not None:
                return web.json_response(
                    {"error": {"message": "slow down"}},
                    status=429,
                    headers={"Retry-After": str(int(retry))},
                )
        per_page = int(request.query.get("per_page", "100"))
        everything = self.listing(job, self.lists[job])
        start = int(cursor) if cursor else 0
        items = everything[start : start + per_page]
        more = start + per_page < len(everything)
        pagination = {"hasNextPage": more, "cursor": str(start + per_page) if more else None}
        return web.json_response({"data": {"builds": items}, "pagination": pagination})


@asynccontextmanager
async def odd_monitor(jobs: OddJobs, *names: str, **options: Any) -> AsyncIterator[Monitor]:
    """A monitor (budget 72,000 an hour unless given) of ``names`` on a server of ``jobs``."""
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", jobs.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with (
            aiohttp.ClientSession(trace_configs=[in_flight_guard()]) as session,
            NorthflankClient("t" * 20, base_url=base_url, session=session) as nf,
            nf.monitor(options.pop("budget", 72_000), **options) as monitor,
        ):
            for name in names:
                monitor.watch_job(P, name)
            await monitor.ready()
            yield monitor
    finally:
        await runner.cleanup()


async def take(monitor: Monitor, count: int, within: float = 3600.0) -> list[tuple[str, str]]:
    """The next ``count`` events as (kind, build id); fails after ``within`` virtual seconds."""
    got: list[BuildEvent] = []
    async with asyncio.timeout(within):
        while len(got) < count:
            got.append(await monitor.__anext__())
    return [(e.kind, e.build.id) for e in got]


class TestReappearing:
    @on_virtual_clock
    async def test_missing_once_with_a_404_then_concluded_is_reported(self) -> None:
        """b1 is off one poll's page and its get answers 404; listed concluded later."""

        def listing(job: str, n: int) -> list[Build]:
            if n == 1:
                return [wire(0, "SUCCESS")]
            if n == 2:
                return [wire(1), wire(0, "SUCCESS")]
            if n == 3:
                return [wire(0, "SUCCESS")]  # b1 missing, and its get answers 404
            return [wire(1, "SUCCESS"), wire(0, "SUCCESS")]

        jobs = OddJobs(listing)
        async with odd_monitor(jobs, "ci") as monitor:
            events = await take(monitor, 2)
        assert events == [("created", "b1"), ("concluded", "b1")]
        assert jobs.gets["ci"] == 1

    @on_virtual_clock
    async def test_gone_after_repeated_proof_only(self) -> None:
        """A build off the pages whose get answers 404 leaves tracking after GONE_AFTER polls."""

        def listing(job: str, n: int) -> list[Build]:
            return [wire(0, "SUCCESS")] if n != 2 else [wire(1), wire(0, "SUCCESS")]

        jobs = OddJobs(listing)
        async with odd_monitor(jobs, "ci") as monitor:
            assert await take(monitor, 1) == [("created", "b1")]
            async with asyncio.timeout(3600):
                while jobs.lists["ci"] < 2 + GONE_AFTER + 3:  # noqa: ASYNC110
                    await asyncio.sleep(1)
            assert monitor.plan.jobs[0].active is False
        assert jobs.gets["ci"] == GONE_AFTER


class TestUndecodableBuild:
    @on_virtual_clock
    async def test_one_bad_build_is_skipped_and_logged_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A malformed createdAt on b1 does not end the job's watch: b2 is reported."""
        bad = {**wire(1), "createdAt": "yesterday-ish"}

        def listing(job: str, n: int) -> list[Build]:
            if n == 1 or job == "other":
                return [wire(0, "SUCCESS")]
            status = "BUILDING" if n == 2 else "SUCCESS"
            return [wire(2, status), bad, wire(0, "SUCCESS")]

        caplog.set_level(logging.WARNING, "northflank_async")
        async with odd_monitor(OddJobs(listing), "ci", "other") as monitor:
            events = await take(monitor, 2)
            assert monitor.jobs == [(P, "ci"), (P, "other")]
            await asyncio.sleep(120)  # a few more polls list the bad build again
            plan = monitor.plan
        assert events == [("created", "b2"), ("concluded", "b2")]
        assert plan.skipped >= 2  # counted at each listing
        logged = [r for r in caplog.records if "b1" in r.getMessage()]
        assert len(logged) == 1, [r.getMessage() for r in logged]
        assert "createdAt" in logged[0].getMessage()


class TestClockSkew:
    @on_virtual_clock
    async def test_new_ids_above_a_known_build_with_earlier_times(self) -> None:
        """b1 and b2 listed above b0 but stamped before it are new builds all the same."""

        def listing(job: str, n: int) -> list[Build]:
            if n == 1:
                return [wire(0, "SUCCESS", at=100)]
            return [
                wire(2, "SUCCESS", at=50),
                wire(1, "SUCCESS", at=40),
                wire(0, "SUCCESS", at=100),
            ]

        async with odd_monitor(OddJobs(listing), "ci") as monitor:
            events = await take(monitor, 4)
        assert events == [
            ("created", "b1"),
            ("concluded", "b1"),
            ("created", "b2"),
            ("concluded", "b2"),
        ]


class TestLongRateLimitPause:
    @on_virtual_clock
    async def test_a_day_long_retry_after_is_warned_and_planned(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """5e: Retry-After 86400 on one job: a warning (once) and the plan says so."""

        def listing(job: str, n: int) -> list[Build]:
            return [wire(0, "SUCCESS")]

        jobs = OddJobs(listing, throttle=lambda job, n: 86_400.0 if (job, n) == ("a", 2) else None)
        caplog.set_level(logging.WARNING, "northflank_async")
        async with odd_monitor(jobs, "a", "b") as monitor:
            async with asyncio.timeout(3600):
                while jobs.lists["a"] < 2:  # noqa: ASYNC110
                    await asyncio.sleep(1)
            await asyncio.sleep(600)
            plan = monitor.plan
        assert plan.paused_too_long
        assert 80_000 < plan.paused_for <= 86_400
        warned = [r for r in caplog.records if "max_rate_limit_wait" in r.getMessage()]
        assert len(warned) == 1
        assert "86400" in warned[0].getMessage()

    @on_virtual_clock
    async def test_a_short_retry_after_is_not_reported_as_too_long(self) -> None:
        def listing(job: str, n: int) -> list[Build]:
            return [wire(0, "SUCCESS")]

        jobs = OddJobs(listing, throttle=lambda job, n: 30.0 if n == 2 else None)
        async with odd_monitor(jobs, "a") as monitor:
            async with asyncio.timeout(3600):
                while jobs.lists["a"] < 2:  # noqa: ASYNC110
                    await asyncio.sleep(1)
            plan = monitor.plan
        assert not plan.paused_too_long
