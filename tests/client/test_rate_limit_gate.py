"""The rate-limit gate over the wire: absurd answers never leave it stuck, waiters wake on the
probe's answer, and a burst of listings against an unknown window draws no 429.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from northflank_async import NorthflankClient, RateLimitError
from northflank_async._transport.gates import RateLimitGate
from northflank_async.testing import FakeNorthflank

from ..conftest import list_page
from ..unit.test_rate_limit_headers import told
from .conftest import Handler


class TestGateWakeups:
    @pytest.mark.parametrize("ending", ["answer", "headerless", "failure", "cancelled"])
    async def test_waiters_are_woken_by_the_probes_release(self, ending: str) -> None:
        """Whatever ends the probe, the requests waiting on it leave the gate, without polling."""
        gate = RateLimitGate(max_wait=60)
        probe_in = asyncio.Event()
        probe_may_end = asyncio.Event()

        async def probe() -> None:
            await gate.acquire("GET", "/p")
            probe_in.set()
            try:
                await probe_may_end.wait()
            except asyncio.CancelledError:
                gate.release(None)
                raise
            if ending == "answer":
                gate.release(told(10, 9, 60))
            else:
                gate.release({} if ending == "headerless" else None)

        passed: list[int] = []

        async def waiter(i: int) -> None:
            await gate.acquire("GET", "/w")
            passed.append(i)
            gate.release(None)

        probe_task = asyncio.create_task(probe())
        await probe_in.wait()
        waiters = [asyncio.create_task(waiter(i)) for i in range(5)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert passed == []  # held while the probe is out
        if ending == "cancelled":
            probe_task.cancel()
        else:
            probe_may_end.set()
        async with asyncio.timeout(5):  # never reached when the wakeup works
            await asyncio.gather(*waiters)
        assert sorted(passed) == list(range(5))
        assert gate.state.in_flight == 0
        if ending == "cancelled":
            with pytest.raises(asyncio.CancelledError):
                await probe_task
        else:
            await probe_task

    async def test_gate_reads_the_event_loops_clock(self) -> None:
        """The gate computes its waits from loop.time(), so a virtual clock drives it."""
        gate = RateLimitGate(max_wait=100)
        loop = asyncio.get_running_loop()
        real_time = loop.time
        virtual = real_time() + 10_000.0  # a clock far from time.monotonic()
        loop.time = lambda: virtual  # type: ignore[method-assign]
        try:
            await gate.acquire("GET", "/p")  # the probe goes at once: nothing is scheduled
            gate.release(told(1, 0, 500))
            assert gate.state.reset_deadline == virtual + 500
            with pytest.raises(RateLimitError) as info:
                await gate.acquire("GET", "/p")  # spent: 500 s on the loop's clock > max_wait
        finally:
            loop.time = real_time  # type: ignore[method-assign]
        assert info.value.retry_after == pytest.approx(500)  # (virtual + 500) - virtual


class TestNoFirstBurst:
    async def test_200_concurrent_listings_against_100_draw_no_429(self) -> None:
        """200 listings at once, 100 a window, no waiting allowed: 100 answers, 0 of them 429.

        The listings that do not fit get a typed RateLimitError from the gate, unsent.
        """
        async with FakeNorthflank(rate_limit=(100, 3600.0)) as fake:
            fake.add_job("p", "j", builds=5)
            async with NorthflankClient(
                fake.token, base_url=fake.base_url, max_rate_limit_wait=0
            ) as nf:
                results = await asyncio.gather(
                    *(
                        nf.jobs.builds.list(project_id="p", job_id="j").collect()
                        for _ in range(200)
                    ),
                    return_exceptions=True,
                )
        statuses = [r.status for r in fake.requests]
        assert statuses.count(429) == 0
        assert statuses == [200] * 100
        assert sum(isinstance(r, list) and len(r) == 5 for r in results) == 100
        assert sum(isinstance(r, RateLimitError) for r in results) == 100

    async def test_200_concurrent_listings_wait_for_the_next_window(self) -> None:
        """With time to wait, all 200 complete across two windows: still no 429 at all."""
        async with FakeNorthflank(rate_limit=(100, 1.0)) as fake:
            fake.add_job("p", "j", builds=5)
            async with NorthflankClient(
                fake.token, base_url=fake.base_url, max_rate_limit_wait=30
            ) as nf:
                results = await asyncio.gather(
                    *(nf.jobs.builds.list(project_id="p", job_id="j").collect() for _ in range(200))
                )
        assert [len(r) for r in results] == [5] * 200
        assert [r.status for r in fake.requests] == [200] * 200


class TestAbsurdHeaders:
    @pytest.mark.parametrize(
        "first",
        [
            {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e12"},
            {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "5", "x-ratelimit-reset": "1e12"},
            {"x-ratelimit-limit": "1e400", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"},
            {"x-ratelimit-limit": "0", "x-ratelimit-remaining": "nan", "x-ratelimit-reset": "-5"},
            {"x-ratelimit-limit": "9" * 50, "x-ratelimit-remaining": "9" * 50},
        ],
        ids=["reset-1e12-spent", "reset-1e12", "limit-inf", "nan-negative", "huge"],
    )
    async def test_request_after_an_absurd_answer_completes(
        self, serve: Callable[[Handler], Awaitable[str]], first: dict[str, str]
    ) -> None:
        """The absurd answer itself succeeds, later requests (20 at once) too; gate ends empty."""
        answers = 0

        async def handler(request: web.Request) -> web.StreamResponse:
            nonlocal answers
            answers += 1
            headers = first if answers == 1 else {}
            return web.json_response(list_page(range(3)), headers=headers)

        base = await serve(handler)
        async with NorthflankClient("t0k3n", base_url=base, max_retries=0) as nf:
            listing = nf.jobs.builds.list(project_id="p", job_id="j")
            assert len(await listing.collect()) == 3
            async with asyncio.timeout(10):  # a regression hangs; the bound only ends the test
                results = await asyncio.gather(
                    *(nf.jobs.builds.list(project_id="p", job_id="j").collect() for _ in range(20))
                )
            assert [len(r) for r in results] == [3] * 20
            gate = nf._transport._gate
            assert isinstance(gate, RateLimitGate) and gate.state.in_flight == 0
        assert answers == 21
