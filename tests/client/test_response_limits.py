"""Limits a hostile or careless server cannot push the client past (issue 9, points 3, 4, 10).

Decompression bombs meet max_response_bytes after decoding; absurd rate-limit headers are
ignored and never leave the gate stuck; a window that is not known yet is probed by one
request before the others go, so a burst of listings draws no 429.
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from northflank_async import NorthflankClient, RateLimitError, ResponseTooLargeError
from northflank_async._core.ratelimit import (
    MAX_BUDGET,
    MAX_RESET_SECONDS,
    RateLimitState,
    reset_seconds,
)
from northflank_async._core.wire import api_error
from northflank_async._transport.gates import RateLimitGate
from northflank_async.testing import FakeNorthflank

from ..conftest import list_page, wire_build

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent.parent
WALL = datetime(2026, 1, 1, tzinfo=UTC)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# --------------------------------------------------------------------------- helpers


def bomb(encoding: str, inflated: int) -> bytes:
    """A valid gzip or zlib ("deflate") stream of ``inflated`` zero bytes, about 1/1000 the size.

    Built from one full-flushed deflate block repeated (a full flush resets the compressor, so
    the block is the same each time): no gigabyte is ever held, and the checksums are right.
    """
    assert inflated % MiB == 0
    zeros = bytes(MiB)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    again = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)
    assert block == again
    end = raw.flush()
    count = inflated // MiB
    crc, adler = 0, 1
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
        adler = zlib.adler32(zeros, adler)
    body = block * count + end
    if encoding == "gzip":
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        return header + body + struct.pack("<II", crc, inflated & 0xFFFFFFFF)
    assert encoding == "deflate"
    return b"\x78\xda" + body + struct.pack(">I", adler)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bomb_helper_inflates_to_what_it_claims(encoding: str) -> None:
    """The bomb is a real stream: 4 MiB of zeros from a few KiB (checksums included)."""
    data = bomb(encoding, 4 * MiB)
    assert len(data) < 8 * 1024
    assert zlib.decompress(data, 31 if encoding == "gzip" else 15) == bytes(4 * MiB)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a loopback aiohttp server answering every request with a handler; its base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def bomb_handler(body: bytes, encoding: str, *, with_length: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
        if with_length:
            return web.Response(body=body, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            for start in range(0, len(body), 16 * 1024):
                await response.write(body[start : start + 16 * 1024])
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up once it had seen enough: that is the point
        return response

    return handler


# --------------------------------------------------------------------------- 3. bombs


class TestDecompressionBombs:
    @pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
    @pytest.mark.parametrize("encoding", ["gzip", "deflate"])
    async def test_bomb_is_refused_after_decompression(
        self, serve: Callable[[Handler], Awaitable[str]], encoding: str, with_length: bool
    ) -> None:
        """64 KiB on the wire, 64 MiB inflated, a 1 MiB bound: ResponseTooLargeError."""
        base = await serve(
            bomb_handler(bomb(encoding, 64 * MiB), encoding, with_length=with_length)
        )
        async with NorthflankClient(
            "t0k3n", base_url=base, max_response_bytes=MiB, max_retries=0
        ) as nf:
            with pytest.raises(ResponseTooLargeError, match="after decompression"):
                await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")

    @pytest.mark.parametrize("encoding", ["gzip", "deflate"])
    async def test_compressed_body_within_the_bound_is_read(
        self, serve: Callable[[Handler], Awaitable[str]], encoding: str
    ) -> None:
        """An honest compressed answer under the bound still decodes (Content-Length or not)."""
        payload = json.dumps({"data": wire_build(7)}).encode()
        body = zlib.compress(payload, 6, wbits=31 if encoding == "gzip" else 15)
        for with_length in (True, False):
            base = await serve(bomb_handler(body, encoding, with_length=with_length))
            async with NorthflankClient(
                "t0k3n", base_url=base, max_response_bytes=len(payload), max_retries=0
            ) as nf:
                build = await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")
            assert build.id == "build-0007"

    async def test_one_byte_over_the_bound_is_refused(
        self, serve: Callable[[Handler], Awaitable[str]]
    ) -> None:
        """The bound is exact on the decoded bytes, whatever the encoded length says."""
        payload = json.dumps({"data": wire_build(7)}).encode()
        body = zlib.compress(payload, 6, wbits=31)
        base = await serve(bomb_handler(body, "gzip", with_length=True))
        async with NorthflankClient(
            "t0k3n", base_url=base, max_response_bytes=len(payload) - 1, max_retries=0
        ) as nf:
            with pytest.raises(ResponseTooLargeError):
                await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")

    @pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
    def test_peak_memory_stays_near_the_bound(self, with_length: bool) -> None:
        """1 GiB inflated against an 8 MiB bound: the process's peak grows by < bound + 64 MiB.

        Run in a fresh interpreter so that ru_maxrss (the peak) belongs to this request alone.
        """
        script = f"""
import asyncio, resource, sys
from aiohttp import web
from northflank_async import NorthflankClient, ResponseTooLargeError
from tests.client.test_response_limits import bomb, bomb_handler

async def main():
    body = bomb("gzip", 1024 * {MiB})
    app = web.Application()
    app.router.add_route("*", "/{{tail:.*}}", bomb_handler(body, "gzip", with_length={with_length}))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = "http://127.0.0.1:%d" % runner.addresses[0][1]
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = "no error"
    async with NorthflankClient(
        "t0k3n", base_url=base, max_response_bytes=8 * {MiB}, max_retries=0
    ) as nf:
        try:
            await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")
        except ResponseTooLargeError:
            outcome = "ResponseTooLargeError"
        except Exception as exc:
            outcome = type(exc).__name__
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await runner.cleanup()
    print(outcome, baseline, peak)

asyncio.run(main())
"""
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outcome, baseline, peak = result.stdout.split()
        grown_mib = (int(peak) - int(baseline)) / 1024  # ru_maxrss is in KiB on Linux
        assert outcome == "ResponseTooLargeError"
        assert grown_mib < 8 + 64, f"peak RSS grew by {grown_mib:.0f} MiB"


# --------------------------------------------------------------------------- 4. absurd headers

ABSURD = [
    "1e12",
    "1e400",
    "-1",
    "-0.5",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1_000",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: float() reads it; we do not
    "0x10",
    "",
    " ",
    "ten",
    "9" * 400,
    str(MAX_BUDGET + 1),
]

header_values = st.one_of(
    st.sampled_from(ABSURD),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=30),
    st.integers(min_value=0, max_value=200).map(str),
)
header_sets = st.dictionaries(
    st.sampled_from(
        ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "Retry-After"]
    ),
    header_values,
)


class TestAbsurdHeaders:
    @pytest.mark.parametrize("value", ABSURD)
    def test_absurd_reset_is_ignored(self, value: str) -> None:
        """An unbelievable x-ratelimit-reset tells nothing: no OverflowError, no state."""
        headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0"}
        headers["x-ratelimit-reset"] = value
        state = RateLimitState()
        state.start()
        assert not state.observe(headers, now=0.0, wall=WALL)
        state.finish()
        assert state.in_flight == 0 and state.snapshot() is None
        assert reset_seconds(headers) is None
        error = api_error(429, headers, b"", method="GET", path="/x", now=WALL)
        assert isinstance(error, RateLimitError)
        assert (error.retry_after, error.reset_at) == (None, None)

    def test_bounds(self) -> None:
        """A day of reset and a billion requests are believed; a hair more is not."""
        assert reset_seconds({"x-ratelimit-reset": str(int(MAX_RESET_SECONDS))}) == 86_400
        assert reset_seconds({"x-ratelimit-reset": "86400.5"}) is None
        assert reset_seconds({"x-ratelimit-reset": " 1.5 "}) == 1.5
        state = RateLimitState()
        state.start()
        told = {"x-ratelimit-limit": str(MAX_BUDGET), "x-ratelimit-reset": "1"}
        assert state.observe(told | {"x-ratelimit-remaining": str(MAX_BUDGET)}, 0.0, WALL)
        assert not state.observe(told | {"x-ratelimit-remaining": str(MAX_BUDGET + 1)}, 0.0, WALL)

    def test_remaining_above_limit_counts_as_limit_and_limit_zero_waits(self) -> None:
        """remaining > limit is clipped to limit; a limit of 0 means wait for the reset."""
        state = RateLimitState()
        state.start()
        headers = {
            "x-ratelimit-limit": "5",
            "x-ratelimit-remaining": "900",
            "x-ratelimit-reset": "9",
        }
        assert state.observe(headers, now=0.0, wall=WALL)
        state.finish()
        assert state.remaining == 5
        state.start()
        zero = {"x-ratelimit-limit": "0", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9"}
        assert state.observe(zero, now=1.0, wall=WALL)
        state.finish()
        assert state.delay(1.0) == pytest.approx(9.0)  # the later of the two ends
        assert state.delay(10.0) == 0.0  # the reset passed: a probe goes

    @settings(max_examples=300, deadline=None)
    @given(answers=st.lists(header_sets, max_size=6), now=st.floats(0, 1e6))
    def test_any_headers_give_a_typed_answer_and_a_sane_state(
        self, answers: list[dict[str, str]], now: float
    ) -> None:
        """Whatever the headers: no exception, finite waits within a day, in-flight back to 0."""
        state = RateLimitState()
        for headers in answers:
            error = api_error(429, headers, b"", method="GET", path="/x", now=WALL)
            assert isinstance(error, RateLimitError)
            assert error.retry_after is None or (
                math.isfinite(error.retry_after) and error.retry_after >= 0
            )
            assert error.reset_at is None or error.reset_at >= WALL
            delay = state.delay(now)
            if delay is None:
                assert state.probing
                continue
            assert math.isfinite(delay) and 0 <= delay <= MAX_RESET_SECONDS
            probe = state.start()
            state.observe(headers, now, WALL)
            state.finish(probe=probe)
            assert state.in_flight == 0 and not state.probing
            if state.remaining is not None:
                assert state.limit is not None and 0 <= state.remaining <= state.limit
            snapshot = state.snapshot()
            assert snapshot is None or snapshot.reset_at >= WALL

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


# --------------------------------------------------------------------------- 10. the probe


def told(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }


class TestProbeState:
    def test_first_request_goes_alone_and_its_answer_opens_the_window(self) -> None:
        """Before any answer one request goes; the others wait until it tells the budget."""
        state = RateLimitState()
        assert state.delay(0.0) == 0.0
        assert state.start()  # the probe
        assert state.delay(0.0) is None  # everyone else waits for it
        assert state.observe(told(100, 99, 60), now=0.5, wall=WALL)
        state.finish(probe=True)
        for _ in range(99):
            assert state.delay(0.5) == 0.0
            assert not state.start()
        assert state.delay(0.5) == pytest.approx(60.0)  # 100 spent: wait for the reset

    def test_after_a_spent_window_resets_one_request_probes_again(self) -> None:
        """The announced reset of a spent window passed: the new window is probed first."""
        state = RateLimitState()
        state.start()
        state.observe(told(2, 0, 10), now=0.0, wall=WALL)
        state.finish(probe=True)
        assert state.delay(5.0) == pytest.approx(5.0)
        assert state.delay(10.0) == 0.0
        assert state.start()
        assert state.delay(10.0) is None
        state.observe(told(2, 1, 10), now=10.1, wall=WALL)
        state.finish(probe=True)
        assert state.delay(10.1) == 0.0

    def test_leftover_budget_at_a_reset_does_not_serialise(self) -> None:
        """reset 0 with budget left (an unlimited server's answer): requests keep flowing."""
        state = RateLimitState()
        state.start()
        state.observe(told(1_000_000, 999_999, 0), now=0.0, wall=WALL)
        state.finish(probe=True)
        for _ in range(50):
            assert state.delay(1.0) == 0.0
            assert not state.start()  # no probe: the budget left is still ours
        assert state.remaining == 999_949

    @pytest.mark.parametrize("outcome", ["no headers", "failure"])
    def test_probe_that_tells_nothing_opens_the_gate(self, outcome: str) -> None:
        """A headerless answer or a failure: nobody is held back until an answer tells."""
        state = RateLimitState()
        assert state.start()
        if outcome == "no headers":
            assert not state.observe({}, now=0.0, wall=WALL)
        state.finish(probe=True)
        assert state.blind
        for _ in range(10):
            assert state.delay(0.0) == 0.0
            assert not state.start()
        assert state.observe(told(100, 50, 60), now=0.0, wall=WALL)
        assert not state.blind and state.remaining is not None

    def test_cancelled_probe_hands_over_to_the_next_request(self) -> None:
        """A cancelled probe tells nothing of the server: the next request probes instead."""
        state = RateLimitState()
        assert state.start()
        state.finish(probe=True, cancelled=True)
        assert not state.blind and state.delay(0.0) == 0.0
        assert state.start()

    def test_late_answer_never_raises_the_count_within_a_window(self) -> None:
        """An older answer arriving after a newer one cannot make us spend more.

        (Issue 18: "older" is by send order; the answers are tied to their attempts.)
        """
        state = RateLimitState()
        probe = state.send()
        state.observe(told(100, 90, 60), now=0.0, wall=WALL, attempt=probe)
        state.finish(attempt=probe)
        older, newer = state.send(), state.send()
        state.observe(told(100, 10, 60), now=1.0, wall=WALL, attempt=newer)  # others spent it
        state.finish(attempt=newer)
        state.observe(told(100, 80, 59), now=1.1, wall=WALL, attempt=older)  # a stale answer
        state.finish(attempt=older)
        assert state.remaining is not None and state.remaining <= 9


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
