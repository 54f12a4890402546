"""Observability: a DEBUG line and hook events per attempt, trace configs, and lent sessions.

Against the embedded fake over loopback (its ``script`` injects the faults), and against small
aiohttp servers where a lent session's behaviour has to be seen on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from northflank_async import (
    ConfigurationError,
    NorthflankClient,
    NotFoundError,
    RequestEnd,
    RequestStart,
    RequestTimeoutError,
    TransportError,
)
from northflank_async._transport.sender import _USER_AGENT
from northflank_async.testing import FakeNorthflank

PROJECT, JOB = "proj", "job"
TOKEN = "obs-secret-token-0123456789"
LIST_PATH = f"/v1/projects/{PROJECT}/jobs/{JOB}/build"
LINE = re.compile(
    r"^(?P<method>[A-Z]+) (?P<path>\S+) -> (?P<outcome>.+) \(attempt (?P<attempt>\d+), "
    r"(?P<ms>\d+\.\d) ms, rate limit remaining (?P<remaining>\d+|unknown)\)$"
)


pytestmark = pytest.mark.northflank_fake(token=TOKEN, rate_limit=(100, 3600.0))


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped fixture's fake, with this module's data."""
    northflank_fake.add_job(PROJECT, JOB, builds=5)
    return northflank_fake


def client_for(fake: FakeNorthflank, **options: Any) -> NorthflankClient:
    options = {"backoff_base": 0.001, "backoff_max": 0.002} | options
    return NorthflankClient(fake.token, base_url=fake.base_url, **options)


def attempt_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    lines = [LINE.match(r.getMessage()) for r in caplog.records if r.levelno == logging.DEBUG]
    return [line for line in lines if line is not None]


class Recorder:
    """Both hooks, recording every event in order."""

    def __init__(self) -> None:
        self.events: list[RequestStart | RequestEnd] = []

    def start(self, event: RequestStart) -> None:
        self.events.append(event)

    def end(self, event: RequestEnd) -> None:
        self.events.append(event)

    def client(self, fake: FakeNorthflank, **options: Any) -> NorthflankClient:
        return client_for(fake, on_request_start=self.start, on_request_end=self.end, **options)


class TestDebugLine:
    async def test_one_line_per_attempt_with_its_fields(
        self, fake: FakeNorthflank, caplog: pytest.LogCaptureFixture
    ) -> None:
        """503, a body cut short, then 200: three lines, each naming what that attempt met."""
        caplog.set_level(logging.DEBUG, logger="northflank_async")
        fake.script(503, "truncate")
        async with client_for(fake) as nf:
            builds = await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, per_page=2).collect()
            assert nf.rate_limit is not None
            remaining = nf.rate_limit.remaining
        assert len(builds) == 5
        lines = attempt_lines(caplog)
        assert [line["attempt"] for line in lines] == ["1", "2", "3", "1", "1"]
        assert {(line["method"], line["path"]) for line in lines} == {("GET", LIST_PATH)}
        outcomes = [line["outcome"] for line in lines]
        assert outcomes[0] == "503"
        assert outcomes[1].startswith("ClientPayloadError")
        assert outcomes[2:] == ["200", "200", "200"]
        # The remaining budget is the client's own count, after each answer's headers.
        told = [int(line["remaining"]) for line in lines[-3:]]
        assert told == [remaining + 2, remaining + 1, remaining]

    async def test_no_token_and_no_query_string(
        self, fake: FakeNorthflank, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The line shows the path only: neither the token nor any query value appears."""
        caplog.set_level(logging.DEBUG)
        fake.script(500)
        async with client_for(fake) as nf:
            iterator = nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, per_page=2)
            await iterator.__anext__()
            await iterator.__anext__()  # the end of the first page: the cursor is the next's
            cursor = iterator.resume_cursor
            assert cursor
            async for _ in nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, cursor=cursor):
                pass
            await iterator.aclose()
        lines = attempt_lines(caplog)
        assert len(lines) == 3  # the 500, its retry, the listing from the cursor
        assert fake.requests[-1].query.get("cursor") == cursor
        for record in caplog.records:
            text = record.getMessage()
            assert TOKEN not in text and TOKEN not in repr(record.args)
        for line in lines:
            assert "?" not in line[0] and "per_page" not in line[0] and cursor not in line[0]

    async def test_latency_is_read_from_the_loop_clock(
        self, fake: FakeNorthflank, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A server that takes 50 ms of loop time is reported as at least 50 ms."""
        caplog.set_level(logging.DEBUG, logger="northflank_async")
        fake.latency = 0.05
        async with client_for(fake) as nf:
            await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        (line,) = attempt_lines(caplog)
        assert float(line["ms"]) >= 50.0

    async def test_nothing_logged_when_debug_is_off(
        self, fake: FakeNorthflank, caplog: pytest.LogCaptureFixture
    ) -> None:
        """At INFO no attempt line is even built."""
        caplog.set_level(logging.INFO, logger="northflank_async")
        async with client_for(fake) as nf:
            await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        assert not [r for r in caplog.records if r.levelno == logging.DEBUG]


class TestHooks:
    async def test_success(self, fake: FakeNorthflank) -> None:
        """One attempt: a start, then an end with the status and the budget the answer told."""
        recorder = Recorder()
        async with recorder.client(fake) as nf:
            await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        start, end = recorder.events
        assert start == RequestStart("GET", LIST_PATH, 1, None)  # the probe: budget unknown
        assert isinstance(end, RequestEnd)
        assert (end.method, end.path, end.attempt, end.status, end.error) == (
            "GET",
            LIST_PATH,
            1,
            200,
            None,
        )
        assert end.rate_limit_remaining == 99
        assert end.latency >= 0.0

    async def test_retry_then_success(self, fake: FakeNorthflank) -> None:
        """Each attempt has its start and end, in order, numbered."""
        recorder = Recorder()
        fake.script(503, "truncate")
        async with recorder.client(fake) as nf:
            await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        summary = [
            (type(e).__name__, e.attempt, getattr(e, "status", "-"), getattr(e, "error", "-"))
            for e in recorder.events
        ]
        assert summary == [
            ("RequestStart", 1, "-", "-"),
            ("RequestEnd", 1, 503, None),
            ("RequestStart", 2, "-", "-"),
            ("RequestEnd", 2, None, "TransportError"),
            ("RequestStart", 3, "-", "-"),
            ("RequestEnd", 3, 200, None),
        ]

    async def test_failure_after_the_last_retry(self, fake: FakeNorthflank) -> None:
        """Two bodies cut short with max_retries=1: two ends with errors, then the raise."""
        recorder = Recorder()
        fake.script("truncate", "truncate")
        async with recorder.client(fake, max_retries=1) as nf:
            with pytest.raises(TransportError):
                await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        ends = [e for e in recorder.events if isinstance(e, RequestEnd)]
        assert [(e.attempt, e.status, e.error) for e in ends] == [
            (1, None, "TransportError"),
            (2, None, "TransportError"),
        ]
        assert len(recorder.events) == 4

    async def test_not_retried_error_status(self, fake: FakeNorthflank) -> None:
        """A 404 is one attempt whose end carries the status."""
        recorder = Recorder()
        async with recorder.client(fake) as nf:
            with pytest.raises(NotFoundError):
                await nf.jobs.builds.get(project_id=PROJECT, job_id=JOB, build_id="nope")
        assert [(type(e).__name__, getattr(e, "status", None)) for e in recorder.events] == [
            ("RequestStart", None),
            ("RequestEnd", 404),
        ]

    async def test_timeout_and_cancellation_end_their_attempt(self, fake: FakeNorthflank) -> None:
        """A timed-out attempt and a cancelled one both get their end event."""
        recorder = Recorder()
        started = asyncio.Event()

        def start(event: RequestStart) -> None:
            recorder.start(event)
            started.set()

        fake.slow_seconds = 30.0
        fake.script("slow", "slow")
        async with recorder.client(fake, timeout=0.05, max_retries=0) as nf:
            with pytest.raises(RequestTimeoutError):
                await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        hooks = {"on_request_start": start, "on_request_end": recorder.end}
        async with client_for(fake, timeout=60.0, **hooks) as nf:
            task = asyncio.create_task(
                nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
            )
            await started.wait()  # the attempt is on its way: the fake holds it for 30 s
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        ends = [e.error for e in recorder.events if isinstance(e, RequestEnd)]
        assert ends == ["RequestTimeoutError", "CancelledError"]

    async def test_a_raising_hook_is_logged_once_and_breaks_nothing(
        self, fake: FakeNorthflank, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Both hooks raise on every call: every request still succeeds; one ERROR each."""
        caplog.set_level(logging.DEBUG, logger="northflank_async")

        def broken(event: object) -> None:
            raise RuntimeError("exporter down")

        async with client_for(fake, on_request_start=broken, on_request_end=broken) as nf:
            for _ in range(3):
                builds = await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
                assert len(builds) == 5
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert sorted(r.getMessage().split()[0] for r in errors) == [
            "on_request_end",
            "on_request_start",
        ]
        assert all(r.exc_info and "exporter down" in str(r.exc_info[1]) for r in errors)
        again = [r for r in caplog.records if r.getMessage().endswith("raised again; ignored")]
        assert len(again) == 4

    def test_hooks_must_be_plain_callables(self) -> None:
        """A coroutine function would never run; a non-callable is a mistake: both refused."""

        async def asynchronous(event: RequestEnd) -> None:
            pass

        class AsyncCall:
            async def __call__(self, event: RequestEnd) -> None:
                pass

        for hook in (asynchronous, AsyncCall()):
            with pytest.raises(ConfigurationError, match="plain function"):
                NorthflankClient(TOKEN, on_request_end=hook)
        with pytest.raises(ConfigurationError, match="callable"):
            NorthflankClient(TOKEN, on_request_start="print")  # type: ignore[arg-type]

    async def test_events_never_hold_the_token(self, fake: FakeNorthflank) -> None:
        """The events carry no header, no query and no token, in any field or repr."""
        recorder = Recorder()
        fake.script(401)
        async with recorder.client(fake) as nf:
            with pytest.raises(Exception):  # noqa: B017, PT011  (the 401's class is not the point)
                await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        assert recorder.events
        assert all(TOKEN not in repr(event) for event in recorder.events)


class TestTraceConfigs:
    async def test_reach_the_owned_session(self, fake: FakeNorthflank) -> None:
        """A TraceConfig's on_request_start fires once per request sent."""
        seen: list[str] = []

        async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
            seen.append(params.url.path)

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_start)
        async with client_for(fake, trace_configs=[trace]) as nf:
            await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB, per_page=2).collect()
        assert seen == [LIST_PATH] * 3

    async def test_refused_for_a_lent_session(self) -> None:
        """A lent session's trace configs are its owner's: adding ours is a clear error."""
        async with aiohttp.ClientSession() as session:
            with pytest.raises(ConfigurationError, match="lent session"):
                NorthflankClient(TOKEN, session=session, trace_configs=[aiohttp.TraceConfig()])
            with pytest.raises(ConfigurationError, match=r"list of aiohttp\.TraceConfig"):
                NorthflankClient(TOKEN, trace_configs=aiohttp.TraceConfig())  # type: ignore[arg-type]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


class TestLentSession:
    async def test_carries_our_user_agent_and_accept(self, fake: FakeNorthflank) -> None:
        """The lent session's own User-Agent is overridden on our requests, not on its own."""
        async with (
            aiohttp.ClientSession(headers={"User-Agent": "theirs/1.0"}) as session,
            NorthflankClient(fake.token, base_url=fake.base_url, session=session) as nf,
        ):
            await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
            async with session.get(f"{fake.base_url}/v1/projects/p/jobs/j/build"):
                pass
        ours, theirs = fake.requests[-2:]
        assert ours.headers["User-Agent"] == _USER_AGENT
        assert ours.headers["Accept"] == "application/json"
        assert theirs.headers["User-Agent"] == "theirs/1.0"

    async def test_its_short_timeout_does_not_apply(
        self, serve: Callable[[Handler], Awaitable[str]]
    ) -> None:
        """A session lent with total=10 ms still lets our 5 s timeout wait for a 100 ms answer."""

        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(0.1)
            return web.json_response({"data": {"builds": []}, "pagination": {"hasNextPage": False}})

        base_url = await serve(slow)
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.01)) as session,
            NorthflankClient(TOKEN, base_url=base_url, session=session, timeout=5.0) as nf,
        ):
            assert await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect() == []

    async def test_a_stalled_server_times_out_by_our_timeout(
        self, serve: Callable[[Handler], Awaitable[str]]
    ) -> None:
        """A session lent without any timeout: our per-attempt timeout still ends the wait."""
        release = asyncio.Event()

        async def stalled(request: web.Request) -> web.Response:
            await release.wait()
            return web.json_response({})

        base_url = await serve(stalled)
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session,
            NorthflankClient(
                TOKEN, base_url=base_url, session=session, timeout=0.05, max_retries=0
            ) as nf,
        ):
            with pytest.raises(RequestTimeoutError, match=r"timed out after 0\.05s"):
                await nf.jobs.builds.list(project_id=PROJECT, job_id=JOB).collect()
        release.set()

    async def test_gets_our_connect_timeout_and_no_raise_for_status(
        self, fake: FakeNorthflank, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every request names our connect timeout; a raise_for_status session cannot turn a
        404 into a transport failure."""
        sent: list[dict[str, Any]] = []
        async with aiohttp.ClientSession(raise_for_status=True) as session:
            original = session.request

            def spy(method: str, url: str, **kwargs: Any) -> Any:
                sent.append(kwargs)
                return original(method, url, **kwargs)

            monkeypatch.setattr(session, "request", spy)
            async with NorthflankClient(
                fake.token, base_url=fake.base_url, session=session, connect_timeout=3.0
            ) as nf:
                with pytest.raises(NotFoundError):
                    await nf.jobs.builds.get(project_id=PROJECT, job_id=JOB, build_id="nope")
        (kwargs,) = sent
        assert kwargs["timeout"].sock_connect == 3.0
        assert kwargs["raise_for_status"] is False
