"""Retries, the rate-limit gate, timeouts, resuming and cancellation, over real sockets."""

from __future__ import annotations

import asyncio
import logging

import pytest

from northflank_async import (
    NorthflankClient,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from northflank_async._transport.gates import RateLimitGate
from northflank_async.testing import FakeNorthflank

from .._virtual import on_virtual_clock, virtual_client

PROJECT, JOB = "proj", "job"


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped fixture's fake, with this module's data."""
    server = northflank_fake
    server.add_job(PROJECT, JOB, builds=2000)
    return server


def client_for(fake: FakeNorthflank, **kwargs: float) -> NorthflankClient:
    options: dict[str, float] = {"backoff_base": 0.001, "backoff_max": 0.01} | kwargs
    return NorthflankClient(fake.token, base_url=fake.base_url, **options)  # type: ignore[arg-type]


def open_connections(client: NorthflankClient) -> int:
    session = client._transport._session
    assert session is not None and session.connector is not None
    return sum(len(conns) for conns in session.connector._acquired_per_host.values())


class TestRetries:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    async def test_30_percent_faults_lose_and_repeat_nothing(
        self, fake: FakeNorthflank, seed: int
    ) -> None:
        """2,000 builds through 30% faults (429, 5xx, HTML 502, drops, cut bodies), in order."""
        fake.faults(0.3, seed=seed, kinds=(429, 500, 502, 503, 504, "html502", "drop", "truncate"))
        async with client_for(fake) as nf:
            builds = await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        assert [b.id for b in builds] == [b["id"] for b in fake.builds(PROJECT, JOB)]
        failed = [r for r in fake.requests if r.status != 200]
        assert len(failed) >= 3  # faults really happened
        assert fake.request_count == 20 + len(failed)

    async def test_scripted_run_succeeds_in_seven_requests(self, fake: FakeNorthflank) -> None:
        """503, drop, 429, 502, 500, 504, then the answer: exactly 7 requests."""
        fake.script(503, "drop", 429, 502, 500, 504)
        async with client_for(fake, max_retries=6) as nf:
            builds = await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, limit=5).collect()
        assert len(builds) == 5
        assert fake.request_count == 7
        assert [r.status for r in fake.requests] == [503, None, 429, 502, 500, 504, 200]

    async def test_get_502_with_two_retries_is_sent_three_times(self, fake: FakeNorthflank) -> None:
        """A GET that keeps getting 502 is sent 1 + max_retries times, then ServerError."""
        fake.script(502, 502, 502, 502)
        build_id = fake.builds(PROJECT, JOB)[0]["id"]
        async with client_for(fake, max_retries=2) as nf:
            with pytest.raises(ServerError) as info:
                await nf.jobs.builds.get(project_id=PROJECT, job_id=JOB, build_id=build_id)
        assert info.value.status == 502
        assert fake.request_count == 3

    @pytest.mark.parametrize("fault", [503, 500, "drop", "truncate"])
    async def test_post_that_may_have_run_is_sent_once(
        self, fake: FakeNorthflank, fault: int | str
    ) -> None:
        """A POST is never repeated after a 5xx or a dropped answer: it may have started a build."""
        fake.script(fault)
        path = f"/v1/projects/{PROJECT}/jobs/{JOB}/build"
        async with client_for(fake, max_retries=4) as nf:
            with pytest.raises((ServerError, TransportError)):
                await nf._transport.request("POST", path, json={})
        assert fake.request_count == 1

    async def test_post_is_retried_after_429(self, fake: FakeNorthflank) -> None:
        """A 429 was refused before any work: safe to send again."""
        fake.script(429)
        path = f"/v1/projects/{PROJECT}/jobs/{JOB}/build"
        async with client_for(fake) as nf:
            envelope = await nf._transport.request("POST", path, json={})
        assert envelope["data"]["status"] == "QUEUED"
        assert [r.status for r in fake.requests] == [429, 200]

    async def test_post_is_retried_when_the_connection_was_refused(self) -> None:
        """Nothing listening: the request never left, so even a POST is retried."""
        async with FakeNorthflank() as probe:
            url = probe.base_url  # a port that is free again once the probe stops
        attempts = 0

        class Counting(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                nonlocal attempts
                attempts += 1

        handler = Counting(logging.WARNING)  # the retry lines, not the DEBUG attempt lines
        logging.getLogger("northflank_async").addHandler(handler)
        try:
            async with NorthflankClient("t", base_url=url, max_retries=2, backoff_base=0) as nf:
                with pytest.raises(TransportError):
                    await nf._transport.request("POST", "/v1/x", json={})
        finally:
            logging.getLogger("northflank_async").removeHandler(handler)
        assert attempts == 2  # one log line per retry

    async def test_long_retry_after_is_not_slept(self, fake: FakeNorthflank) -> None:
        """A 429 asking for more than max_rate_limit_wait raises with the figures."""
        fake.retry_after = 120
        fake.script(429)
        loop = asyncio.get_running_loop()
        async with client_for(fake, max_rate_limit_wait=5) as nf:
            started = loop.time()
            with pytest.raises(RateLimitError) as info:
                await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, limit=1).collect()
        assert loop.time() - started < 5  # shorter than any wait it could have slept
        assert info.value.retry_after == 120
        assert info.value.reset_at is not None and info.value.reset_at.tzinfo is not None
        assert fake.request_count == 1


class TestRateLimitGate:
    @on_virtual_clock  # two 2 s windows pass on the loop's clock, in no real time
    async def test_gate_waits_for_the_reset_instead_of_drawing_429s(self) -> None:
        """4 requests per 2 s, 10 pages: no 429 at all; the waits add up to about 4 s."""
        loop = asyncio.get_running_loop()
        async with FakeNorthflank(rate_limit=(4, 2.0)) as fake:
            fake.add_job(PROJECT, JOB, builds=100)
            async with virtual_client(fake, backoff_base=0.001, backoff_max=0.01) as nf:
                started = loop.time()
                builds = await nf.jobs.builds.list(
                    project_id=PROJECT, job_id=JOB, per_page=10
                ).collect()
                elapsed = loop.time() - started
                assert nf.rate_limit is not None and nf.rate_limit.limit == 4
        assert len(builds) == 100
        assert [r.status for r in fake.requests] == [200] * 10
        assert 3.9 <= elapsed < 6.5  # two full windows must pass; the gate adds little

    @on_virtual_clock
    async def test_concurrent_listings_share_one_gate(self) -> None:
        """Two listings on one client draw no 429 either."""
        async with FakeNorthflank(rate_limit=(4, 2.0)) as fake:
            fake.add_job(PROJECT, JOB, builds=50)
            fake.add_job(PROJECT, "other", builds=50)
            async with virtual_client(fake, backoff_base=0.001, backoff_max=0.01) as nf:
                first, second = await asyncio.gather(
                    nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, per_page=10).collect(),
                    nf.jobs.builds.list(project_id=PROJECT, job_id="other", per_page=10).collect(),
                )
        assert (len(first), len(second)) == (50, 50)
        assert [r.status for r in fake.requests] == [200] * 10

    async def test_wait_beyond_max_raises_instead_of_sleeping(self) -> None:
        """A spent window that resets in an hour is the caller's decision, not a silent sleep."""
        async with FakeNorthflank(rate_limit=(2, 3600.0)) as fake:
            fake.add_job(PROJECT, JOB, builds=30)
            async with client_for(fake) as nf:
                listing = nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, per_page=10)
                with pytest.raises(RateLimitError) as info:
                    await listing.collect()
        assert info.value.retry_after is not None and info.value.retry_after > 3000
        assert listing.resume_cursor is not None and listing.items_yielded == 20
        assert [r.status for r in fake.requests] == [200, 200]


class TestTimeouts:
    @on_virtual_clock  # the timeouts and the fake's slow answers run on the loop's clock
    async def test_stalled_server_times_out_within_the_bound(self) -> None:
        """timeout=0.5, max_retries=2: a TimeoutError after 3 attempts, none waiting for 30 s."""
        loop = asyncio.get_running_loop()
        async with FakeNorthflank(rate_limit=None) as fake:
            fake.add_job(PROJECT, JOB, builds=20)
            fake.slow_seconds = 30
            fake.script("slow", "slow", "slow")
            # No in-flight guard: every answer is slow, so the clock may jump to each timeout.
            async with client_for(
                fake, timeout=0.5, max_retries=2, backoff_base=0.1, backoff_max=0.2
            ) as nf:
                started = loop.time()
                with pytest.raises(RequestTimeoutError) as info:
                    await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
                elapsed = loop.time() - started
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, TransportError)
        assert fake.request_count == 3
        # Three timeouts of 0.5 s on the loop's clock never end early; an attempt that waited
        # for the slow answer instead would take 30 s. No bound on scheduling speed.
        assert 1.5 <= elapsed < 30


class TestResume:
    async def test_broken_listing_resumes_with_nothing_lost_or_repeated(
        self, fake: FakeNorthflank
    ) -> None:
        """The error says where to resume; the second listing completes the first exactly."""
        fake.script("ok", "ok", 503, 503)
        seen: list[str] = []
        async with client_for(fake, max_retries=1) as nf:
            listing = nf.jobs.builds.list(project_id=PROJECT, job_id=JOB)

            async def walk() -> None:
                async for build in listing:
                    seen.append(build.id)

            with pytest.raises(ServerError):
                await walk()
            assert listing.items_yielded == 200 == len(seen)
            assert listing.resume_cursor is not None
            rest = nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, cursor=listing.resume_cursor)
            seen += [build.id async for build in rest]
        assert seen == [b["id"] for b in fake.builds(PROJECT, JOB)]


class TestCancellation:
    async def test_cancel_during_backoff_sends_no_more(self, fake: FakeNorthflank) -> None:
        """A task cancelled while it waits to retry never sends the retry."""
        fake.script(503)
        backing_off = asyncio.Event()

        class RetryAnnounced(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno == logging.WARNING:  # the retry, logged just before its sleep
                    backing_off.set()

        handler = RetryAnnounced()
        logging.getLogger("northflank_async").addHandler(handler)
        try:
            async with client_for(fake, backoff_base=5, backoff_max=5) as nf:
                task = asyncio.create_task(
                    nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
                )
                await backing_off.wait()
                assert fake.request_count == 1
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                gate = nf._transport._gate
                assert isinstance(gate, RateLimitGate) and gate.state.in_flight == 0
        finally:
            logging.getLogger("northflank_async").removeHandler(handler)
        assert fake.request_count == 1


class TestSecrets:
    async def test_token_never_in_logs_or_errors(
        self, fake: FakeNorthflank, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Logs and every error raised on a faulty run are free of the token."""
        caplog.set_level(logging.DEBUG)
        fake.script(503, "drop", 429, "html502", 500, 500)
        errors: list[BaseException] = []
        async with client_for(fake, max_retries=3) as nf:
            for _ in range(2):
                try:
                    await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
                except Exception as exc:
                    errors.append(exc)
            assert fake.token not in repr(nf)
        assert errors and caplog.records
        texts = [caplog.text] + [repr(e) + str(e) + repr(vars(e)) for e in errors]
        texts += [repr(e.__cause__) + str(e.__cause__) for e in errors if e.__cause__]
        assert all(fake.token not in text for text in texts)
