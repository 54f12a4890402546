"""Which answer the rate-limit gate believes, over real loopback sockets.

The scenarios that opened the question: after a 429 the next requests go at once, a reset
of a day is replaced by the next answer, and a waiting request is released by a fresher one.
(The pure rule is tested in tests/unit/test_rate_limit_policy.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from northflank_async import (
    NorthflankClient,
    RateLimitError,
    RateLimitGateError,
)
from northflank_async._transport.gates import RateLimitGate
from northflank_async.testing import FakeNorthflank

from ..conftest import TOKEN, wire_build
from ..unit.test_rate_limit_policy import told

# --------------------------------------------------------------------- over the wire


@asynccontextmanager
async def scripted(answers: list[tuple[int, dict[str, str]]]) -> AsyncIterator[str]:
    """A loopback server answering a build with ``answers`` in turn, then the last forever."""
    queue = list(answers)

    async def handle(request: web.Request) -> web.Response:
        status, headers = queue.pop(0) if len(queue) > 1 else queue[0]
        body = {"data": wire_build(1)} if status == 200 else {"error": {"status": status}}
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_after_the_issues_429_the_next_requests_go_at_once() -> None:
    """200 (999, reset 3600), 429 (0, reset 1, Retry-After 0): then requests proceed."""
    answers = [
        (200, told(1000, 999, 3600)),
        (429, told(1000, 0, 1, retry_after=0)),
        (200, told(1000, 998, 3599)),
    ]
    async with (
        scripted(answers) as base,
        NorthflankClient(TOKEN, base_url=base, max_retries=0, max_rate_limit_wait=0) as nf,
    ):
        await nf.job("p", "j").builds.get("b")
        with pytest.raises(RateLimitError) as refused:
            await nf.job("p", "j").builds.get("b")
        assert not isinstance(refused.value, RateLimitGateError)  # the server's 429
        for _ in range(5):  # no wait allowed, none needed
            await nf.job("p", "j").builds.get("b")


async def test_a_day_long_reset_is_replaced_by_the_next_answer() -> None:
    """reset=86000, then an answer spending the window with reset 5: the gate asks 5 s."""
    answers = [(200, told(1000, 999, 86_000)), (200, told(1000, 0, 5))]
    async with (
        scripted(answers) as base,
        NorthflankClient(TOKEN, base_url=base, max_retries=0, max_rate_limit_wait=0) as nf,
    ):
        await nf.job("p", "j").builds.get("b")
        await nf.job("p", "j").builds.get("b")
        with pytest.raises(RateLimitGateError) as held:
            await nf.job("p", "j").builds.get("b")
    assert held.value.retry_after is not None and 4 < held.value.retry_after <= 5


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_2000_builds_through_30_percent_faults_with_a_real_window(seed: int) -> None:
    """The fake's window (1000 an hour) plus its injected 429s (Retry-After 0): all 2,000."""
    async with FakeNorthflank() as fake:
        fake.add_job("p", "j", builds=2000)
        fake.script("ok", 429)  # the issue's order: a 200 of the hour's window, then a 429
        fake.faults(0.3, seed=seed, kinds=(429, 500, 502, 503, 504, "html502", "drop"))
        async with NorthflankClient(
            fake.token, base_url=fake.base_url, backoff_base=0.001, backoff_max=0.01
        ) as nf:
            builds = await nf.jobs.builds.list(project_id="p", job_id="j").collect()
        assert [b.id for b in builds] == [b["id"] for b in fake.builds("p", "j")]
        assert any(r.status == 429 for r in fake.requests)


async def test_a_request_waiting_for_a_spent_window_is_released_by_a_fresher_answer() -> None:
    """The waiter is woken by the answer that gives the budget back, not by its hour's end."""
    gate = RateLimitGate(max_wait=4000)

    async def one(headers: dict[str, str], go: asyncio.Event | None = None) -> None:
        await gate.acquire("GET", "/p")
        if go is not None:
            await go.wait()
        gate.release(headers)

    await one(told(10, 5, 60))  # the probe: the window is known
    spent, fresher = asyncio.Event(), asyncio.Event()
    b = asyncio.create_task(one(told(10, 0, 3600), spent))
    c = asyncio.create_task(one(told(1000, 900, 3500), fresher))
    await asyncio.sleep(0)  # both are out: b was sent before c
    spent.set()
    await b
    spent_for = gate.state.delay(asyncio.get_running_loop().time())
    assert spent_for is not None and spent_for > 3000
    waiter = asyncio.create_task(gate.acquire("GET", "/w"))
    await asyncio.sleep(0)
    assert not waiter.done()
    fresher.set()
    async with asyncio.timeout(5):  # never reached when the wakeup works
        await waiter
    gate.release(None)
    await c
