"""Our logs client against the real fake API: ranges in every shape, filters, and live tails.

The two halves were written apart (`._logs`/`._log_streams` against a small server inside
tests/test_logs.py, the fake's logs against a plain aiohttp client in tests/test_fake_logs.py);
here they meet. The lines a reader gets are compared with `fake.build_logs(...)` (the fake's
own truth): in order, each once. Tails run on a virtual clock (`VirtualClockLoop`), which the fake
reads too (its default clock is the loop's), so a build of several simulated minutes takes
no real time and nothing depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from northflank_async import (
    AuthenticationError,
    DecodeError,
    LogLine,
    LogStreamError,
    NorthflankClient,
    PaginationError,
)
from northflank_async.testing import FakeNorthflank

PROJECT, JOB = "demo", "nightly"
EARLY = datetime(2020, 1, 1, tzinfo=UTC)  # before any generated line


TAIL_ARGUMENTS = {"start", "line_limit", "text_includes", "text_not_includes"}
TAIL_ARGUMENTS |= {"regex_includes", "regex_not_includes"}


def text_of(log: Any) -> str:
    """The text the API's filters read: a string, or a structured value's compact JSON."""
    return log if isinstance(log, str) else json.dumps(log, separators=(",", ":"))


def wire(line: LogLine) -> dict[str, Any]:
    """A received line back in the fake's wire form, to compare with `fake.build_logs`."""
    ts = line.ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "containerId": line.container_id,
        "log": line.text if line.raw is None else line.raw,
        "ts": ts,
    }


async def collect(stream: AsyncIterator[LogLine]) -> list[dict[str, Any]]:
    return [wire(line) async for line in stream]


pytestmark = pytest.mark.northflank_fake(seed=5, rate_limit=(1000, 3600.0))


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped fixture's fake, with this module's data."""
    server = northflank_fake
    server.add_job(PROJECT, JOB, builds=30, runs=8)
    return server


def concluded_build(fake: FakeNorthflank, status: str = "SUCCESS") -> str:
    build = next(b for b in fake.builds(PROJECT, JOB) if b["status"] == status)
    return str(build["id"])


def log_requests(fake: FakeNorthflank) -> list[Any]:
    return [r for r in fake.requests if r.path.endswith(("/build-logs", "/logs"))]


class TestRange:
    @pytest.mark.parametrize("shape", ["data", "data.logs", "data.data"])
    @pytest.mark.parametrize("pagination", [True, False])
    async def test_every_envelope_shape(
        self, fake: FakeNorthflank, nf: NorthflankClient, shape: str, pagination: bool
    ) -> None:
        fake.set_log_shape(shape, pagination=pagination)
        build_id = concluded_build(fake)
        got = await collect(nf.job(PROJECT, JOB).builds.logs(build_id, start=EARLY))
        assert got == fake.build_logs(PROJECT, JOB, build_id)
        assert len(got) > 20

    async def test_shapes_changing_between_pages(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        fake.log_page_limit = 7
        fake.script_log_shapes("data.logs", "data.data", "data", "data.logs", "data.data")
        build_id = concluded_build(fake)
        got = await collect(nf.job(PROJECT, JOB).builds.logs(build_id, start=EARLY))
        assert got == fake.build_logs(PROJECT, JOB, build_id)

    @pytest.mark.parametrize("page", [4, 5, 7])
    async def test_truncated_among_lines_sharing_a_timestamp(
        self, fake: FakeNorthflank, nf: NorthflankClient, page: int
    ) -> None:
        """Build steps write three lines at one ts; a page of 4, 5 or 7 cuts inside them."""
        fake.log_page_limit = page
        build_id = concluded_build(fake)
        expected = fake.build_logs(PROJECT, JOB, build_id)
        stamps = [line["ts"] for line in expected]
        assert any(stamps.count(ts) >= 3 for ts in stamps)  # the case under test exists
        got = await collect(nf.job(PROJECT, JOB).builds.logs(build_id, start=EARLY))
        assert got == expected
        assert len(log_requests(fake)) > len(expected) // page  # it really was cut

    async def test_more_lines_at_one_timestamp_than_a_page_is_an_error(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """Three lines at one ts and pages of two: no request can reach the third, so the
        reader says so (PaginationError) after the lines it could read, never a silent gap."""
        fake.log_page_limit = 2
        build_id = concluded_build(fake)
        expected = fake.build_logs(PROJECT, JOB, build_id)
        got: list[dict[str, Any]] = []

        async def read() -> None:
            async for line in nf.job(PROJECT, JOB).builds.logs(build_id, start=EARLY):
                got.append(wire(line))

        with pytest.raises(PaginationError, match="share that timestamp"):
            await read()
        assert got == expected[: len(got)]
        assert len(got) >= 2

    async def test_line_limit_is_sent_and_capped_by_the_fake(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """A lineLimit above the API's cap is cut silently; the client goes on to its limit."""
        fake.log_page_limit = 10
        build_id = concluded_build(fake)
        expected = fake.build_logs(PROJECT, JOB, build_id)[:25]
        got = await collect(nf.job(PROJECT, JOB).builds.logs(build_id, start=EARLY, line_limit=25))
        assert got == expected
        assert log_requests(fake)[0].query["lineLimit"] == "25"

    async def test_backward_reads_newest_first(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        fake.log_page_limit = 4
        build_id = concluded_build(fake, "FAILURE")
        expected = fake.build_logs(PROJECT, JOB, build_id)
        got = await collect(
            nf.job(PROJECT, JOB).builds.logs(
                build_id, start=EARLY, direction="backward", line_limit=20
            )
        )
        assert got == list(reversed(expected))[:20]
        assert got[0]["log"].startswith("ERROR")  # a failed build ends with its error

    async def test_window_is_inclusive_at_both_ends(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        build_id = concluded_build(fake)
        expected = fake.build_logs(PROJECT, JOB, build_id)
        first, last = expected[3]["ts"], expected[-4]["ts"]
        start = datetime.fromisoformat(first.replace("Z", "+00:00"))
        end = datetime.fromisoformat(last.replace("Z", "+00:00"))
        got = await collect(nf.job(PROJECT, JOB).builds.logs(build_id, start=start, end=end))
        assert got == [line for line in expected if first <= line["ts"] <= last]

    @pytest.mark.parametrize(
        ("argument", "keep"),
        [
            ("text_includes", lambda text: "Step" in text),
            ("text_not_includes", lambda text: "Step" not in text),
            ("regex_includes", lambda text: re.search(r"^Step [0-9]+/", text) is not None),
            ("regex_not_includes", lambda text: re.search(r"^Step [0-9]+/", text) is None),
        ],
    )
    async def test_each_filter(
        self, fake: FakeNorthflank, nf: NorthflankClient, argument: str, keep: Any
    ) -> None:
        fake.log_page_limit = 4
        build_id = concluded_build(fake)
        value = "Step" if argument.startswith("text") else r"^Step [0-9]+/"
        filters: dict[str, Any] = {argument: value}
        stream = nf.job(PROJECT, JOB).builds.logs(build_id, start=EARLY, **filters)
        got = await collect(stream)
        expected = [
            line for line in fake.build_logs(PROJECT, JOB, build_id) if keep(text_of(line["log"]))
        ]
        assert got and got == expected

    async def test_container(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        build_id = concluded_build(fake)
        got = await collect(
            nf.job(PROJECT, JOB).builds.logs(build_id, start=EARLY, container="builder")
        )
        expected = [
            line
            for line in fake.build_logs(PROJECT, JOB, build_id)
            if line["containerId"] == f"{build_id}-builder"
        ]
        assert got and got == expected

    @pytest.mark.parametrize(
        ("arguments", "match"),
        [
            ({"text_includes": "a", "regex_includes": "b"}, "at most one text or regex"),
            ({"text_not_includes": "a", "regex_not_includes": "b"}, "at most one text or regex"),
            ({"text_includes": "a", "text_not_includes": "b"}, "at most one text or regex"),
            (
                {"start": EARLY, "end": EARLY + timedelta(hours=1), "duration": 60},
                "at most two of start, end and duration",
            ),
            ({"start": datetime(2020, 1, 1)}, "timezone-aware"),  # naive
            ({"line_limit": 0}, "line_limit"),
            ({"direction": "sideways"}, "direction"),
        ],
    )
    async def test_bad_arguments_send_nothing(
        self, fake: FakeNorthflank, nf: NorthflankClient, arguments: dict[str, Any], match: str
    ) -> None:
        build_id = concluded_build(fake)
        job = nf.job(PROJECT, JOB)
        with pytest.raises(ValueError, match=match):
            job.builds.logs(build_id, **arguments)
        with pytest.raises(ValueError, match=match):
            nf.jobs.runs.logs(project_id=PROJECT, job_id=JOB, run_id="r", **arguments)
        if set(arguments) <= TAIL_ARGUMENTS:  # a tail takes no end, duration or direction
            with pytest.raises(ValueError, match=match):
                job.builds.tail_logs(build_id, **arguments)
        assert fake.requests == [] and fake.tail_count == 0

    async def test_runs_logs(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        fake.log_page_limit = 5
        run = next(r for r in fake.runs(PROJECT, JOB) if r["concluded"])
        expected = fake.run_logs(PROJECT, JOB, run["id"])
        got = await collect(nf.job(PROJECT, JOB).runs.logs(run["id"], start=EARLY))
        assert got == expected and expected
        assert all(r.path.endswith("/logs") for r in log_requests(fake))

    async def test_flat_and_team_route_forms(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        build_id = concluded_build(fake)
        run = next(r for r in fake.runs(PROJECT, JOB) if r["concluded"])
        expected_build = fake.build_logs(PROJECT, JOB, build_id)
        expected_run = fake.run_logs(PROJECT, JOB, run["id"])
        flat = nf.jobs.builds.logs(project_id=PROJECT, job_id=JOB, build_id=build_id, start=EARLY)
        assert await collect(flat) == expected_build
        team = nf.job(PROJECT, JOB, team_id="acme")
        assert await collect(team.builds.logs(build_id, start=EARLY)) == expected_build
        assert await collect(team.runs.logs(run["id"], start=EARLY)) == expected_run
        flat_run = nf.jobs.runs.logs(
            project_id=PROJECT, job_id=JOB, run_id=run["id"], team_id="acme", start=EARLY
        )
        assert await collect(flat_run) == expected_run
        paths = {r.path for r in log_requests(fake)}
        assert f"/v1/teams/acme/projects/{PROJECT}/jobs/{JOB}/build-logs" in paths
        assert f"/v1/teams/acme/projects/{PROJECT}/jobs/{JOB}/logs" in paths
        assert f"/v1/projects/{PROJECT}/jobs/{JOB}/build-logs" in paths


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock is virtual: when it would wait and no I/O is ready, its time
    jumps to the next timer instead. The fake and the client run in it and talk over loopback
    sockets (an IP literal: no resolver thread), whose data is ready as soon as it is written,
    so a wait with nothing ready is a wait for a timer only."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        selector = self._selector  # type: ignore[attr-defined]
        real_select = selector.select

        def select(timeout: float | None = None) -> Any:
            ready = real_select(0)
            if ready or timeout == 0:
                return ready
            if timeout is None:  # no timer at all: only I/O can wake the loop
                return real_select(None)
            self._now += timeout
            return ready

        selector.select = select

    def time(self) -> float:
        return self._now


def on_virtual_clock(body: Callable[[FakeNorthflank], Awaitable[None]]) -> None:
    """Run ``body(fake)`` on a `VirtualClockLoop`, read by the client and, through its
    default clock (the loop's time), by the fake alike: minutes of a build take no real time."""

    async def main() -> None:
        async with FakeNorthflank(seed=5) as fake:
            fake.add_job(PROJECT, JOB, builds=30, runs=8)
            await body(fake)

    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        runner.run(main())


def server_task(task: asyncio.Task[Any]) -> bool:
    """A task of the fake's own aiohttp server (a kept-alive connection's handler)."""
    return "RequestHandler" in repr(task.get_coro())


async def start_build(
    fake: FakeNorthflank, nf: NorthflankClient, *, step: float = 20.0, outcome: str = "SUCCESS"
) -> str:
    """A build that walks its stages, one every ``step`` seconds of the fake's clock."""
    fake.configure_builds(step=step, outcome=outcome)
    build = await nf.job(PROJECT, JOB).builds.start()
    return build.id


class TestTail:
    def test_dropped_three_times_mid_build_loses_and_repeats_nothing(self) -> None:
        """Each drop leaves a gap of several seconds (the backoff) in which more than the
        API's default backlog of 10 lines is written: the resumed tail must send them all."""

        async def body(fake: FakeNorthflank) -> None:
            fake.tail_poll_interval = 0.5
            async with NorthflankClient(
                fake.token, base_url=fake.base_url, backoff_base=20.0, backoff_max=20.0
            ) as nf:
                build_id = await start_build(fake, nf, step=60.0)
                fake.script_tail("drop_after:2", "drop_after:2", "drop_after:2")
                loop = asyncio.get_running_loop()
                began = loop.time()
                got = await collect(nf.job(PROJECT, JOB).builds.tail_logs(build_id))
                build = await nf.job(PROJECT, JOB).builds.get(build_id)
            assert build.is_concluded
            expected = fake.build_logs(PROJECT, JOB, build_id)
            assert got == expected
            assert got[-1]["log"] == "Build complete: image pushed"
            assert [t.ended for t in fake.tails][:3] == ["drop", "drop", "drop"]
            assert fake.tail_count == 4
            # Resumed tails asked from the last line seen, with a backlog that cannot cut the gap.
            for record in fake.tails[1:]:
                assert "startTime" in record.query
                assert int(record.query["lineLimit"]) >= 1000
            assert loop.time() - began < 600  # it ended with the build, not later

        on_virtual_clock(body)

    def test_ends_once_the_build_concludes(self) -> None:
        async def body(fake: FakeNorthflank) -> None:
            fake.tail_poll_interval = 0.5
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                build_id = await start_build(fake, nf, step=30.0, outcome="FAILURE")
                got = await collect(nf.job(PROJECT, JOB).builds.tail_logs(build_id))
                assert (await nf.job(PROJECT, JOB).builds.get(build_id)).is_concluded
            assert got == fake.build_logs(PROJECT, JOB, build_id)
            assert got[-1]["log"].startswith("ERROR")
            assert fake.tail_count == 1

        on_virtual_clock(body)

    def test_start_gives_every_line_since_then(self) -> None:
        """Not the API's default backlog of 10 lines: everything since ``start``."""

        async def body(fake: FakeNorthflank) -> None:
            build_id = concluded_build(fake)
            expected = fake.build_logs(PROJECT, JOB, build_id)
            assert len(expected) > 10
            got: list[dict[str, Any]] = []
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                tail = nf.job(PROJECT, JOB).builds.tail_logs(
                    build_id, start=EARLY, until_concluded=False
                )
                async with asyncio.timeout(60), tail:  # virtual seconds; the fake sends at once
                    async for line in tail:
                        got.append(wire(line))
                        if len(got) == len(expected):
                            break
            assert got == expected
            assert fake.tails[0].query["startTime"] == "2020-01-01T00:00:00.000Z"

        on_virtual_clock(body)

    def test_runs_tail(self) -> None:
        async def body(fake: FakeNorthflank) -> None:
            fake.tail_poll_interval = 0.5
            fake.configure_runs(step=30.0)
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                job = nf.job(PROJECT, JOB, team_id="acme")
                run = await job.runs.start()
                got = await collect(job.runs.tail_logs(run.id))
            assert got == fake.run_logs(PROJECT, JOB, run.id) and got
            assert fake.tails[0].path == f"/v1/teams/acme/projects/{PROJECT}/jobs/{JOB}/logs"

        on_virtual_clock(body)

    def test_wrong_token_is_authentication_error(self) -> None:
        async def body(fake: FakeNorthflank) -> None:
            build_id = concluded_build(fake)
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                fake.token = "nf-another-token-entirely"
                stream = nf.job(PROJECT, JOB).builds.tail_logs(build_id)
                with pytest.raises(AuthenticationError) as caught:
                    await collect(stream)
            assert caught.value.status == 401
            assert [t.auth for t in fake.tails] == ["failed"]

        on_virtual_clock(body)

    def test_error_frame_is_log_stream_error(self) -> None:
        async def body(fake: FakeNorthflank) -> None:
            build_id = concluded_build(fake)
            fake.script_tail("error_after:1")
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                with pytest.raises(LogStreamError, match="injected"):
                    await collect(nf.job(PROJECT, JOB).builds.tail_logs(build_id, start=EARLY))

        on_virtual_clock(body)

    def test_unknown_frame_is_decode_error(self) -> None:
        async def body(fake: FakeNorthflank) -> None:
            build_id = concluded_build(fake)
            fake.script_tail("unknown_after:1")
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                with pytest.raises(DecodeError, match="log-stats"):
                    await collect(nf.job(PROJECT, JOB).builds.tail_logs(build_id, start=EARLY))

        on_virtual_clock(body)

    def test_leaving_the_loop_closes_the_socket_and_leaves_no_task(self) -> None:
        async def body(fake: FakeNorthflank) -> None:
            fake.tail_poll_interval = 0.5
            before = asyncio.all_tasks()
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                build_id = await start_build(fake, nf, step=30.0)
                async with nf.job(PROJECT, JOB).builds.tail_logs(build_id) as lines:
                    async for _ in lines:
                        break
                for _ in range(20):  # let the fake notice the close
                    if fake.tails[0].ended != "open":
                        break
                    await asyncio.sleep(0.5)
                assert fake.tails[0].ended == "client"
            assert fake.tail_count == 1
            left = {task for task in asyncio.all_tasks() - before if not server_task(task)}
            assert left == set()

        on_virtual_clock(body)

    def test_token_in_no_url_log_record_or_error(self, caplog: pytest.LogCaptureFixture) -> None:
        async def body(fake: FakeNorthflank) -> None:
            caplog.set_level(logging.DEBUG)
            token = fake.token
            errors: list[BaseException] = []
            fake.tail_poll_interval = 0.5
            async with NorthflankClient(fake.token, base_url=fake.base_url, backoff_base=1.0) as nf:
                job = nf.job(PROJECT, JOB)
                build_id = await start_build(fake, nf, step=20.0)
                fake.script_tail("drop_after:1", "ok", "error_after:0", "unknown_after:0")
                await collect(job.builds.tail_logs(build_id))
                await collect(job.builds.logs(build_id, start=EARLY))
                for expected in (LogStreamError, DecodeError):
                    with pytest.raises(expected) as caught:
                        await collect(job.builds.tail_logs(build_id))
                    errors.append(caught.value)
                fake.script_tail("refuse_auth")
                with pytest.raises(AuthenticationError) as refused:
                    await collect(job.builds.tail_logs(build_id))
                errors.append(refused.value)
            for request in fake.requests:
                assert token not in request.path and token not in str(request.query)
            for tail in fake.tails:
                assert token not in tail.path and token not in str(tail.query)
            assert caplog.records  # the reconnection was logged
            for record in caplog.records:
                assert token not in record.getMessage()
            for error in errors:
                chain: BaseException | None = error
                while chain is not None:
                    assert token not in str(chain) and token not in repr(chain)
                    chain = chain.__cause__ or chain.__context__

        on_virtual_clock(body)


def test_a_30_minute_build_tail_costs_a_bounded_number_of_requests() -> None:
    """The figure in docs/performance.md: a tail of a build that runs 30 simulated minutes
    (six stages of 300 s; its lines come in bursts at each stage's start, then silence).
    Bound: 1 handshake + state checks + 1 drain range request. Checks come after 5 s of
    quiet, then x1.5 up to one a minute: 7 in the first 160.8 s, then one a minute, and the
    last may come up to a minute after the build ends, so for T seconds at most
    7 + floor((T + 60 - 160.8) / 60): 35 for T = 1800 (lines only postpone checks)."""

    async def body(fake: FakeNorthflank) -> None:
        fake.tail_poll_interval = 1.0
        async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
            build_id = await start_build(fake, nf, step=300.0)
            fake.reset_stats()
            loop = asyncio.get_running_loop()
            began = loop.time()
            got = await collect(nf.job(PROJECT, JOB).builds.tail_logs(build_id))
            took = loop.time() - began
        assert got == fake.build_logs(PROJECT, JOB, build_id)
        checks = [r for r in fake.requests if r.path.endswith(f"/build/{build_id}")]
        ranges = [r for r in log_requests(fake) if r.query["queryType"] == "range"]
        handshakes = [r for r in log_requests(fake) if r.query["queryType"] == "tail"]
        assert 1800 <= took <= 1800 + 60  # it ends within one check (a minute) of the end
        assert fake.tail_count == 1
        assert len(ranges) == 1
        assert len(handshakes) == 1
        assert len(fake.requests) == len(checks) + len(ranges) + len(handshakes)
        assert len(checks) <= 35
        print(f"30-minute tail: 1 handshake, {len(checks)} checks, {len(ranges)} range request")

    on_virtual_clock(body)
