"""Build and run logs: the pure pieces, a range, a live tail, against a small logs server.

The server here (``LogServer``) speaks the wire protocol of ../shared/northflank-api.md
("Logs of a job's builds"): range answers in each envelope shape, truncated at ``page`` lines,
and a WebSocket tail with the init handshake, scripted drops, error and unknown frames.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from northflank_async import (
    AuthenticationError,
    ConfigurationError,
    DecodeError,
    LogLine,
    LogStreamError,
    NorthflankClient,
    PaginationError,
)
from northflank_async._core import logresume as _logs
from northflank_async._core.converter import decode
from northflank_async._core.logquery import log_query
from northflank_async._core.logresume import Resume
from northflank_async._core.logwire import (
    init_frame,
    range_params,
    read_frame,
    read_range,
    tail_params,
)
from northflank_async._core.urls import check_base_url, websocket_url
from northflank_async._core.watching import PollSchedule
from northflank_async._engine import log_streams as _log_streams

TOKEN = "nf-secret-token-0123456789abcdef"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)  # the clock the pure pieces are given: every line is before it
PREFIX = "/v1/projects/p/jobs/j"
# The real cadence of state checks (the autouse fixture below shortens it for the other tests).
CADENCE = (_log_streams.CHECK_FIRST, _log_streams.CHECK_CAP)


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wire(i: int, second: int) -> dict[str, Any]:
    return {"containerId": "c-1", "log": f"line {i}", "ts": iso(T0 + timedelta(seconds=second))}


# 20 lines, many sharing a timestamp: seconds 0,0,0,1,1,1,1,2,... (runs of 3 and 4).
SECONDS = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5]
LINES = [wire(i, s) for i, s in enumerate(SECONDS)]


def texts(lines: list[LogLine]) -> list[str]:
    return [line.text for line in lines]


# --------------------------------------------------------------------------- the server


class LogServer:
    """A minimal logs API for one build ``b`` of job ``j`` in project ``p``."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = list(LINES)
        self.page = 1000  # lines in an answer when no lineLimit is asked
        self.max_page = 1000  # lines in an answer at most
        self.shape = "list"
        self.concluded = False
        self.conclude_when_sent = True  # the build concludes once a tail sent every line
        self.drops: list[int] = []  # per connection: close it after this many lines
        self.script: list[dict[str, Any]] = []  # frames sent right after the init answer
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.init_frames: list[str] = []
        self.open_sockets = 0
        self.app = web.Application()
        self.app.router.add_get(PREFIX + "/build-logs", self.logs)
        self.app.router.add_get(PREFIX + "/logs", self.logs)
        self.app.router.add_get(PREFIX + "/build/b", self.build)
        self.app.router.add_get(PREFIX + "/runs/r", self.run)

    def select(self, query: dict[str, str]) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines
            if ("startTime" not in query or line["ts"] >= query["startTime"])
            and ("endTime" not in query or line["ts"] <= query["endTime"])
            and ("textIncludes" not in query or query["textIncludes"] in line["log"])
        ]

    async def build(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        return web.json_response({"data": {"id": "b", "concluded": self.concluded}})

    async def run(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        return web.json_response({"data": {"id": "r", "concluded": self.concluded}})

    async def logs(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        suffix = "#ws" if query.get("queryType") == "tail" else ""
        self.requests.append((request.path + suffix, query))
        if query.get("queryType") == "tail":
            return await self.tail(request, query)
        lines = self.select(query)
        if query.get("direction") == "backward":
            lines = lines[::-1]
        limit = min(int(query.get("lineLimit", self.page)), self.max_page)
        truncated = len(lines) > limit
        lines = lines[:limit]
        envelope: Any = {
            "list": {"data": lines},
            "logs": {"data": {"logs": lines}},
            "data": {"data": {"data": lines}},
        }[self.shape]
        if truncated or self.shape != "list":
            envelope["pagination"] = {"hasNextPage": truncated, "cursor": lines[-1]["ts"]}
        return web.json_response(envelope)

    async def tail(self, request: web.Request, query: dict[str, str]) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.open_sockets += 1
        try:
            message = await ws.receive()
            assert message.type is WSMsgType.TEXT
            self.init_frames.append(message.data)
            auth = json.loads(message.data)["data"]["auth"]
            if auth.get("apiToken") != TOKEN:
                echo = f"token {auth.get('apiToken')} refused"
                await ws.send_json({"type": "init", "data": {"auth": "failed", "message": echo}})
                await ws.close()
                return ws
            await ws.send_json({"type": "init", "data": {"auth": "successful"}})
            for frame in self.script:
                await ws.send_json(frame)
            lines = self.select(query)
            if "startTime" not in query:
                lines = lines[-int(query.get("lineLimit", 10)) :]
            drop = self.drops.pop(0) if self.drops else None
            for index in range(0, len(lines), 2):
                if drop is not None and index >= drop:
                    return ws  # the handler ends: the connection is dropped
                await ws.send_json({"type": "log-lines", "data": lines[index : index + 2]})
            if self.conclude_when_sent:
                self.concluded = True
            async for _ in ws:  # stay open, quiet, until the client leaves
                pass
            return ws
        finally:
            self.open_sockets -= 1


@pytest.fixture
async def server(quick_checks: None) -> AsyncIterator[tuple[LogServer, NorthflankClient]]:
    logs = LogServer()
    test_server = TestServer(logs.app, host="127.0.0.1")
    await test_server.start_server()
    base = str(test_server.make_url("")).rstrip("/")
    async with NorthflankClient(TOKEN, base_url=base, backoff_base=0, max_retries=4) as nf:
        yield logs, nf
    await test_server.close()


@pytest.fixture
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """State checks after 10 ms of quiet instead of 5 s, and reconnects spaced by 1 ms instead
    of 1 s: the tests do not wait for real (the pacing is tested on a virtual clock)."""
    monkeypatch.setattr(_log_streams, "CHECK_FIRST", 0.01)
    monkeypatch.setattr(_log_streams, "CHECK_CAP", 0.05)
    monkeypatch.setattr(_logs, "MIN_POLL_INTERVAL", 0.001)


# --------------------------------------------------------------------------- pure pieces


def test_log_line_decodes_string_and_structured_logs() -> None:
    line = decode(wire(1, 0), LogLine)
    assert (line.text, line.raw, line.container_id, line.ts) == ("line 1", None, "c-1", T0)
    structured = decode({"ts": "2024-05-01T12:00:00Z", "log": {"level": "error"}}, LogLine)
    assert structured.text == '{"level":"error"}' and structured.raw == {"level": "error"}
    assert structured.container_id is None and structured.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("payload", "path"),
    [({"log": "x"}, "data.ts"), ({"ts": "2024-05-01T12:00:00Z"}, "data.log"),
     ({"ts": None, "log": "x"}, "data.ts"), ({"ts": "soon", "log": "x"}, "data.ts"),
     ({"ts": "2024-05-01T12:00:00Z", "log": "x", "containerId": 3}, "data.containerId")],
)  # fmt: skip
def test_bad_log_lines_name_the_field(payload: dict[str, Any], path: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(payload, LogLine)
    assert caught.value.field == path


@pytest.mark.parametrize(
    "envelope",
    [
        {"data": LINES[:3]},
        {"data": {"logs": LINES[:3]}},
        {"data": {"data": LINES[:3]}},
        {"data": LINES[:3], "pagination": {"hasNextPage": False}},
        {"data": {"logs": LINES[:3]}, "pagination": {"hasNextPage": False, "cursor": "x"}},
        {"data": {"data": LINES[:3]}, "pagination": {}},
    ],
)
def test_every_envelope_shape_reads_the_same_lines(envelope: dict[str, Any]) -> None:
    lines, truncated = read_range(envelope)
    assert texts(lines) == ["line 0", "line 1", "line 2"] and truncated is False


def test_has_next_page_means_truncated() -> None:
    for data in (LINES[:2], {"logs": LINES[:2]}, {"data": LINES[:2]}):
        _, truncated = read_range({"data": data, "pagination": {"hasNextPage": True}})
        assert truncated


@pytest.mark.parametrize(
    ("envelope", "path"),
    [([], "$"), ({}, "data"), ({"data": "x"}, "data"), ({"data": {"lines": []}}, "data"),
     ({"data": {"logs": {}}}, "data.logs"), ({"data": [], "pagination": []}, "pagination"),
     ({"data": [], "pagination": {"hasNextPage": "yes"}}, "pagination.hasNextPage"),
     ({"data": [{"log": "x"}]}, "data[0].ts"), ({"data": {"data": [1]}}, "data.data[0]")],
)  # fmt: skip
def test_other_envelopes_are_decode_errors_naming_the_field(envelope: Any, path: str) -> None:
    with pytest.raises(DecodeError) as caught:
        read_range(envelope)
    assert caught.value.field == path


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text_includes": "a", "regex_includes": "b"},
        {"text_not_includes": "a", "regex_not_includes": "b"},
        {"text_includes": "a", "text_not_includes": "b"},
        {"start": T0, "end": T0, "duration": 10},
        {"start": datetime(2024, 5, 1)},  # naive
        {"end": "2024-05-01T12:00:00Z"},
        {"duration": 0},
        {"duration": float("nan")},
        {"duration": True},
        {"duration": timedelta(seconds=-1)},
        {"line_limit": 0},
        {"line_limit": 2.5},
        {"direction": "sideways"},
        {"container": ""},
        {"text_includes": ""},
        {"start": T0, "end": T0 - timedelta(seconds=1)},
    ],
)
async def test_bad_arguments_are_value_errors_before_any_request(
    server: tuple[LogServer, NorthflankClient], kwargs: dict[str, Any]
) -> None:
    logs, nf = server
    with pytest.raises(ValueError, match=r"must|at most|earlier"):
        nf.job("p", "j").builds.logs("b", **kwargs)
    if not {"end", "duration", "direction"} & set(kwargs):  # the arguments a tail takes too
        with pytest.raises(ValueError, match=r"must|at most|earlier"):
            nf.job("p", "j").runs.tail_logs("r", **kwargs)
    assert logs.requests == []


def test_each_filter_and_window_goes_on_the_query() -> None:
    for name, key in [("text_includes", "textIncludes"), ("text_not_includes", "textNotIncludes"),
                      ("regex_includes", "regexIncludes"),
                      ("regex_not_includes", "regexNotIncludes")]:  # fmt: skip
        query = log_query("buildId", "b", **{name: "err"})  # type: ignore[arg-type]
        assert range_params(query, Resume(), origin=T0)[key] == "err"
        assert tail_params(query, Resume())[key] == "err"
    paris = T0.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    query = log_query(
        "runId", "r", start=paris, duration=timedelta(minutes=10), line_limit=5,
        direction="backward", container="main",
    )  # fmt: skip
    assert range_params(query, Resume(), origin=T0) == {
        "queryType": "range", "runId": "r", "direction": "backward", "containerName": "main",
        "startTime": "2024-05-01T12:00:00.000Z", "duration": "600", "lineLimit": "5",
    }  # fmt: skip


def test_a_continuation_keeps_the_window_it_was_asked() -> None:
    """Forward from the last ts up to the end; backward down to the start (duration made one)."""
    forward = log_query("buildId", "b", start=T0, duration=60)
    resume = Resume()
    resume.take([decode(wire(0, 5), LogLine)], now=NOW)
    params = range_params(forward, resume, origin=T0)
    assert params["startTime"] == iso(T0 + timedelta(seconds=5))
    assert params["endTime"] == iso(T0 + timedelta(seconds=60)) and "duration" not in params
    backward = log_query("buildId", "b", duration=60, direction="backward")
    resume = Resume(forward=False)
    resume.take([decode(wire(0, 5), LogLine)], now=NOW)
    params = range_params(backward, resume, origin=T0 + timedelta(seconds=100))
    assert params["endTime"] == iso(T0 + timedelta(seconds=5))
    assert params["startTime"] == iso(T0 + timedelta(seconds=40)) and "duration" not in params


def test_resume_drops_repeats_at_the_shared_timestamp_only_after_a_restart() -> None:
    lines = [decode(line, LogLine) for line in LINES]
    resume = Resume()
    assert resume.take(lines[:5], now=NOW) == lines[:5]  # seconds 0,0,0,1,1
    assert (resume.ts, resume.count) == (lines[4].ts, 2)
    assert (
        resume.take(lines[5:6], now=NOW) == lines[5:6]
    )  # a third line at second 1, same answer: new
    resume.restart()
    assert (
        resume.take(lines[3:9], now=NOW) == lines[6:9]
    )  # the answer from second 1 repeats 3 lines
    backward = Resume(forward=False)
    newest = lines[::-1]
    assert backward.take(newest[:4], now=NOW) == newest[:4]  # 5,5,5,4
    backward.restart()
    assert backward.take(newest[2:8], now=NOW) == newest[4:8]  # from second 4 down, 5s dropped


def test_tail_frames() -> None:
    assert read_frame('{"type": "init", "data": {"auth": "successful"}}', path="/x") is None
    frame = json.dumps({"type": "log-lines", "data": LINES[:2]})
    assert texts(read_frame(frame, path="/x") or []) == ["line 0", "line 1"]
    with pytest.raises(AuthenticationError, match="nope"):
        read_frame('{"type": "init", "data": {"auth": "failed", "message": "nope"}}', path="/x")
    with pytest.raises(LogStreamError, match="build exploded") as caught:
        read_frame('{"type": "error", "data": {"message": "build exploded"}}', path="/x")
    assert caught.value.message == "build exploded"
    for bad in ['{"type": "gossip"}', "[]", "not json", '{"type": 3}', '{"type": "log-lines"}',
                '{"type": "log-lines", "data": [{"log": "x"}]}']:  # fmt: skip
        with pytest.raises(DecodeError):
            read_frame(bad, path="/x")
    assert json.loads(init_frame("tok"))["data"]["auth"] == {"type": "apiToken", "apiToken": "tok"}


def test_websocket_scheme() -> None:
    """The tail's URL follows the base URL the client accepted: its one plain-http decision."""
    assert websocket_url("https://api.example") == "wss://api.example"
    assert websocket_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080"
    assert check_base_url("http://127.0.0.1:8080/", allow_insecure=False) == "http://127.0.0.1:8080"
    assert check_base_url("http://api.example", allow_insecure=True) == "http://api.example"
    with pytest.raises(ConfigurationError):
        check_base_url("http://api.example", allow_insecure=False)


def test_state_checks_of_a_quiet_thirty_minute_tail_are_bounded() -> None:
    """The figure in docs/logs.md: a tail that hears nothing for 30 minutes checks 34 times."""
    schedule = PollSchedule(*CADENCE)
    elapsed, checks = schedule.current, 0
    while elapsed <= 1800:
        checks += 1
        elapsed += schedule.next(changed=False)
    assert checks == 34


# --------------------------------------------------------------------------- range


@pytest.mark.parametrize("shape", ["list", "logs", "data"])
async def test_a_range_truncated_inside_a_shared_timestamp_yields_each_line_once(
    server: tuple[LogServer, NorthflankClient], shape: str
) -> None:
    logs, nf = server
    logs.shape, logs.page = shape, 5  # pages end inside runs of 3 and 4 lines at one second
    got = [line async for line in nf.job("p", "j").builds.logs("b", start=T0)]
    assert texts(got) == [line["log"] for line in LINES]
    assert len(logs.requests) >= 3  # it really was continued, page after page
    assert all("startTime" in q and "lineLimit" in q for _, q in logs.requests[1:])


async def test_a_backward_range_continues_downwards(
    server: tuple[LogServer, NorthflankClient],
) -> None:
    logs, nf = server
    logs.page = 4
    got = [line async for line in nf.jobs.builds.logs(
        project_id="p", job_id="j", build_id="b", direction="backward")]  # fmt: skip
    assert texts(got) == [line["log"] for line in LINES[::-1]]


async def test_line_limit_stops_the_range_and_asks_no_more(
    server: tuple[LogServer, NorthflankClient],
) -> None:
    logs, nf = server
    logs.page = logs.max_page = 4
    got = [line async for line in nf.job("p", "j").runs.logs("r", line_limit=6)]
    assert texts(got) == [f"line {i}" for i in range(6)]
    assert [q["lineLimit"] for _, q in logs.requests] == ["6", "3"]  # 4 lines, then 2 + 1 repeat
    assert all(path == PREFIX + "/logs" and q["runId"] == "r" for path, q in logs.requests)


async def test_a_filter_reaches_the_server(server: tuple[LogServer, NorthflankClient]) -> None:
    logs, nf = server
    got = [line async for line in nf.job("p", "j").builds.logs("b", text_includes="line 1")]
    assert texts(got) == ["line 1"] + [f"line {i}" for i in range(10, 20)]
    assert logs.requests[0][1]["textIncludes"] == "line 1"


async def test_a_page_of_one_timestamp_larger_than_a_page_is_a_pagination_error(
    server: tuple[LogServer, NorthflankClient],
) -> None:
    logs, nf = server
    logs.lines = [wire(i, 0) for i in range(6)]
    logs.page = logs.max_page = 3
    with pytest.raises(PaginationError, match="share that timestamp"):
        _ = [line async for line in nf.job("p", "j").builds.logs("b")]


# --------------------------------------------------------------------------- tail


async def test_a_tail_dropped_three_times_yields_every_line_once(
    server: tuple[LogServer, NorthflankClient],
) -> None:
    logs, nf = server
    logs.drops = [5, 3, 4]  # mid-batch and inside the runs of lines sharing a second
    got = [line async for line in nf.job("p", "j").builds.tail_logs("b", start=T0)]
    assert texts(got) == [line["log"] for line in LINES]
    tails = [q for path, q in logs.requests if path.endswith("#ws")]
    assert len(tails) == 4 and all("startTime" in q for q in tails)
    assert logs.open_sockets == 0


async def test_a_tail_ends_with_lines_the_socket_never_sent(
    server: tuple[LogServer, NorthflankClient],
) -> None:
    """Concluded while the socket was quiet: the last lines come from one range request."""
    logs, nf = server
    logs.lines = list(LINES[:10])
    logs.conclude_when_sent = False
    stream = nf.job("p", "j").builds.tail_logs("b", start=T0)
    got = [await anext(stream) for _ in range(10)]
    logs.lines = list(LINES)  # written meanwhile, never sent on this socket
    logs.concluded = True
    got += [line async for line in stream]
    assert texts(got) == [line["log"] for line in LINES]
    assert [path for path, _ in logs.requests].count(PREFIX + "/build-logs") == 1  # the drain


async def test_a_tail_without_start_asks_the_default_backlog(
    server: tuple[LogServer, NorthflankClient],
) -> None:
    logs, nf = server
    got = [line async for line in nf.jobs.runs.tail_logs(
        project_id="p", job_id="j", run_id="r", line_limit=4)]  # fmt: skip
    assert texts(got) == [line["log"] for line in LINES[-4:]]
    assert logs.requests[0][1] == {"queryType": "tail", "runId": "r", "lineLimit": "4"}


async def test_auth_refusal_is_an_authentication_error_without_the_token(
    server: tuple[LogServer, NorthflankClient], caplog: pytest.LogCaptureFixture
) -> None:
    logs, nf = server
    async with NorthflankClient(TOKEN[::-1], base_url=nf.base_url, backoff_base=0) as other:
        with pytest.raises(AuthenticationError) as caught:
            _ = [line async for line in other.job("p", "j").builds.tail_logs("b")]
    assert "refused" in str(caught.value)
    assert TOKEN[::-1] not in str(caught.value) and TOKEN[::-1][:12] not in str(caught.value)
    assert len([p for p, _ in logs.requests if p.endswith("#ws")]) == 1  # not retried


async def test_an_error_frame_is_a_log_stream_error(
    server: tuple[LogServer, NorthflankClient],
) -> None:
    logs, nf = server
    logs.script = [{"type": "error", "data": {"message": f"quota hit for {TOKEN}"}}]
    with pytest.raises(LogStreamError, match="quota hit") as caught:
        _ = [line async for line in nf.job("p", "j").builds.tail_logs("b")]
    assert TOKEN not in str(caught.value)
    assert logs.open_sockets == 0


async def test_an_unknown_frame_is_a_decode_error(
    server: tuple[LogServer, NorthflankClient],
) -> None:
    logs, nf = server
    logs.script = [{"type": "heartbeat-v2", "data": {}}]
    with pytest.raises(DecodeError, match="heartbeat-v2"):
        _ = [line async for line in nf.job("p", "j").builds.tail_logs("b")]


async def _settled(logs: LogServer) -> None:
    for _ in range(100):
        if logs.open_sockets == 0:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("how", ["break", "aclose", "cancel"])
async def test_leaving_a_tail_closes_its_socket_and_leaves_no_task(
    server: tuple[LogServer, NorthflankClient], how: str
) -> None:
    logs, nf = server
    logs.conclude_when_sent = False
    before = asyncio.all_tasks()
    if how == "break":
        async with nf.job("p", "j").builds.tail_logs("b", until_concluded=False) as stream:
            async for _ in stream:
                break
    elif how == "aclose":
        stream = nf.job("p", "j").builds.tail_logs("b", until_concluded=False)
        await anext(stream)
        await stream.aclose()
    else:
        reading = asyncio.Event()

        async def read() -> None:
            async for _ in nf.job("p", "j").builds.tail_logs("b", until_concluded=False):
                reading.set()

        task = asyncio.create_task(read())
        await reading.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await _settled(logs)
    assert logs.open_sockets == 0
    assert asyncio.all_tasks() <= before | {asyncio.current_task()}


async def test_the_token_is_in_no_url_log_record_or_error(
    server: tuple[LogServer, NorthflankClient], caplog: pytest.LogCaptureFixture
) -> None:
    logs, nf = server
    caplog.set_level(logging.DEBUG)
    logs.drops = [2]
    logs.page = 4
    _ = [line async for line in nf.job("p", "j").builds.tail_logs("b", start=T0)]
    _ = [line async for line in nf.job("p", "j").builds.logs("b")]
    assert logs.init_frames and all(TOKEN in frame for frame in logs.init_frames)
    for path, query in logs.requests:
        assert TOKEN not in path and TOKEN not in json.dumps(query)
    assert "reconnecting the log stream" in caplog.text  # the drop was logged...
    assert TOKEN not in caplog.text  # ...without the token


def test_plain_http_is_decided_once_by_the_client() -> None:
    """A client refuses a plain-http base URL to another host; one made with
    ``allow_insecure=True`` tails over ws:// too. The tail's own flag is deprecated, ignored."""
    with pytest.raises(ConfigurationError, match="plain http"):
        NorthflankClient(TOKEN, base_url="http://logs.example")
    nf = NorthflankClient(TOKEN, base_url="http://logs.example", allow_insecure=True)
    nf.job("p", "j").builds.tail_logs("b")  # allowed: the client decided; nothing sent yet
    with pytest.warns(DeprecationWarning, match="allow_insecure"):
        nf.job("p", "j").builds.tail_logs("b", allow_insecure=False)
