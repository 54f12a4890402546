"""The log tail and range against servers that misbehave on purpose (issue 18).

Each server here is a real loopback aiohttp server: one that redirects the WebSocket handshake
(to a second server that records whatever reaches it), one that echoes the token in every JSON
escape form, one whose lines carry odd stamps across drops, one that closes every connection
after one line, one whose range never ends, and two that go silent after the init frame.
Time-dependent ones run on the virtual clock (tests/_virtual.py): no wall-clock assertion.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import WSMsgType, web

from northflank_async import (
    LogLine,
    LogStreamError,
    NorthflankClient,
    PaginationError,
    UnexpectedRedirectError,
)
from northflank_async._core.logresume import CLOCK_SKEW, RECONNECT_CAP, ReconnectPace, Resume
from northflank_async._core.logwire import MAX_RANGE_PAGES
from northflank_async._engine import log_streams as _log_streams

from .._virtual import on_virtual_clock

# A token with a slash, so that the escaped slash (\/) is one of the forms that can spell it.
TOKEN = "nf-secret/token-0123456789abcdef"
PREFIX = "/v1/projects/p/jobs/j"
LOGS = PREFIX + "/build-logs"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
PAST = datetime(2000, 1, 1, tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wire(text: str, when: datetime) -> dict[str, Any]:
    return {"containerId": "c-1", "log": text, "ts": iso(when)}


def at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


@asynccontextmanager
async def serving(app: web.Application, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1 (an OS-chosen port) and give its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def init(ws: web.WebSocketResponse) -> str:
    """Read the init frame and accept it; the frame's text."""
    message = await ws.receive()
    assert message.type is WSMsgType.TEXT
    await ws.send_json({"type": "init", "data": {"auth": "successful"}})
    return str(message.data)


# --------------------------------------------------------------------------- 1. redirects


class Recorder:
    """The redirect's target: records every request and frame that reaches it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.frames: list[str] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.anything)

    async def anything(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"data": {"id": "b", "concluded": False}})
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            self.frames.append(str(message.data))
            await ws.send_json({"type": "error", "data": {"message": "reached the target"}})
            await ws.close()
        return ws


def redirector(status: int, target: str, seen: list[str]) -> web.Application:
    """Answers the tail's handshake with ``status`` to the same path on ``target``."""

    async def answer(request: web.Request) -> web.StreamResponse:
        seen.append(request.path_qs)
        return web.Response(status=status, headers={"Location": target + request.path_qs})

    app = web.Application()
    app.router.add_get(LOGS, answer)
    return app


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A loopback server's TLS context (a certificate for 127.0.0.1 from a throwaway CA made
    by trustme for this test) and a client context that trusts only that CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.mark.parametrize(
    ("status", "secure"),
    [(301, False), (302, False), (307, False), (308, False), (302, True), (308, True)],
    ids=["301", "302", "307", "308", "302-wss-to-http", "308-wss-to-http"],
)
async def test_a_redirected_handshake_is_refused_and_nothing_reaches_the_target(
    status: int, secure: bool
) -> None:
    """Any handshake answer but a direct 101 is refused: `UnexpectedRedirectError`, and the
    redirect's target sees nothing at all (no handshake, no init frame with the token). With
    ``secure``, the tail's ``wss://`` handshake is redirected to plain ``http://``."""
    recorder, seen = Recorder(), list[str]()
    server_tls, client_tls = tls_contexts() if secure else (None, None)
    async with (
        serving(recorder.app) as target,
        serving(redirector(status, target, seen), tls=server_tls) as base,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_tls or True)) as session,
        NorthflankClient(TOKEN, base_url=base, session=session) as nf,
    ):
        tail = nf.job("p", "j").builds.tail_logs("b", until_concluded=False)
        with pytest.raises(UnexpectedRedirectError) as caught:
            async with asyncio.timeout(10), tail:
                _ = [line async for line in tail]
    assert caught.value.status == status
    assert "not followed" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(seen) == 1  # refused, not retried
    assert recorder.requests == [] and recorder.frames == []


# --------------------------------------------------------------------------- 2. escapes


def escaped(text: str, which: Callable[[int, str], bool], *, upper: bool = False) -> str:
    """``text`` as JSON string content with the characters ``which`` picks \\u-escaped."""
    out = []
    for index, char in enumerate(text):
        if which(index, char):
            code = f"{ord(char):04x}"
            out.append("\\u" + (code.upper() if upper else code))
        else:
            out.append(json.dumps(char)[1:-1])
    return "".join(out)


def slash_escaped(text: str) -> str:
    return text.replace("/", "\\/")


HALF = len(TOKEN) // 2
# Each form spells the whole token inside a JSON string, with no plain run of it on the wire.
ESCAPE_FORMS = {
    "every char": escaped(TOKEN, lambda i, c: True),
    "every char, upper hex": escaped(TOKEN, lambda i, c: True, upper=True),
    "every other char": escaped(TOKEN, lambda i, c: i % 2 == 0),
    "one char in seven": escaped(TOKEN, lambda i, c: i % 7 == 3),
    "escaped slash only": slash_escaped(TOKEN),
    "escaped slash, \\u elsewhere": slash_escaped(escaped(TOKEN, lambda i, c: i % 5 == 1)),
    "slash as \\u002f": escaped(TOKEN, lambda i, c: c == "/"),
    "plain half, escaped half": TOKEN[:HALF] + escaped(TOKEN[HALF:], lambda i, c: True),
    "escaped half, plain half": escaped(TOKEN[:HALF], lambda i, c: True) + TOKEN[HALF:],
    "one char escaped in the middle": escaped(TOKEN, lambda i, c: i == HALF),
}


def leaks(text: str) -> bool:
    """Whether ``text`` shows the token or any 8 consecutive characters of it."""
    return any(TOKEN[i : i + 8] in text for i in range(len(TOKEN) - 7))


class EchoServer:
    """A tail that sends raw text frames (so the escapes reach the client as written)."""

    def __init__(self, frames: list[str]) -> None:
        self.frames = frames
        self.app = web.Application()
        self.app.router.add_get(LOGS, self.tail)

    async def tail(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await init(ws)
        for frame in self.frames:
            await ws.send_str(frame)
        async for _ in ws:
            pass
        return ws


def line_frame(spellings: list[str]) -> str:
    """One ``log-lines`` frame whose lines hold each spelling in their text, in a structured
    log's key and value, and in the container id."""
    lines = []
    for index, spelled in enumerate(spellings):
        ts = json.dumps(iso(at(index)))
        lines.append(
            f'{{"containerId": "c-{spelled}", "log": "token {spelled} echoed", "ts": {ts}}}'
        )
        lines.append(f'{{"log": {{"{spelled}": "{spelled}", "n": [1, "{spelled}"]}}, "ts": {ts}}}')
    return '{"type": "log-lines", "data": [' + ", ".join(lines) + "]}"


async def test_a_token_spelled_with_json_escapes_is_hidden_in_tail_lines() -> None:
    spellings = list(ESCAPE_FORMS.values())
    for spelled in spellings:  # the forms really do spell the token
        assert json.loads(f'"{spelled}"') == TOKEN and TOKEN not in spelled
    echo = EchoServer([line_frame(spellings)])
    async with serving(echo.app) as base, NorthflankClient(TOKEN, base_url=base) as nf:
        got: list[LogLine] = []
        async with (
            asyncio.timeout(10),
            nf.job("p", "j").builds.tail_logs("b", until_concluded=False) as tail,
        ):
            async for line in tail:
                got.append(line)
                if len(got) == 2 * len(spellings):
                    break
    assert len(got) == 2 * len(spellings)
    for line in got:
        shown = [line.text, repr(line.raw), str(line.container_id), repr(line)]
        assert not any(leaks(text) for text in shown), shown
    assert all("<token hidden>" in line.text for line in got)


@pytest.mark.parametrize("form", list(ESCAPE_FORMS))
async def test_a_token_spelled_with_json_escapes_is_hidden_in_an_error_frame(form: str) -> None:
    message = f"quota hit for {ESCAPE_FORMS[form]}"
    echo = EchoServer(['{"type": "error", "data": {"message": "' + message + '"}}'])
    async with serving(echo.app) as base, NorthflankClient(TOKEN, base_url=base) as nf:
        with pytest.raises(LogStreamError) as caught:
            async with asyncio.timeout(10):
                _ = [line async for line in nf.job("p", "j").builds.tail_logs("b")]
    assert not leaks(caught.value.message) and not leaks(str(caught.value))
    assert "<token hidden>" in caught.value.message


async def test_a_large_frame_hides_an_escaped_token_too() -> None:
    """Above 64 KiB a frame is searched for the whole token only: still hidden once decoded."""
    filler = "x" * (70 * 1024)
    spelled = ESCAPE_FORMS["every char"]
    frame = json.dumps({"type": "log-lines", "data": [wire(filler, T0)]})
    frame = frame.replace("]}", ', {"log": "t ' + spelled + '", "ts": "2024-05-01T12:00:01Z"}]}')
    echo = EchoServer([frame])
    async with serving(echo.app) as base, NorthflankClient(TOKEN, base_url=base) as nf:
        got: list[LogLine] = []
        async with (
            asyncio.timeout(10),
            nf.job("p", "j").builds.tail_logs("b", until_concluded=False) as tail,
        ):
            async for line in tail:
                got.append(line)
                if len(got) == 2:
                    break
    assert got[1].text == "t <token hidden>"


# --------------------------------------------------------------------------- 6. odd stamps


class StampServer:
    """A build's log with odd stamps, served as a real API would: a tail sends the lines of its
    window (``startTime`` on) already written, then this connection's new ones (also only those
    in its window), then drops or stays; a range answers the lines of its window in the order
    they were written (a page of ``page``, ``hasNextPage`` when more remain)."""

    def __init__(self, connections: list[list[dict[str, Any]]], *, after: list[dict[str, Any]]):
        self.connections = connections  # per connection: the lines written while it is open
        self.after = after  # written once the last connection has sent its lines
        self.log: list[dict[str, Any]] = []
        self.concluded = False
        self.page = 3
        self.queries: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get(LOGS, self.logs)
        self.app.router.add_get(PREFIX + "/build/b", self.build)

    @staticmethod
    def window(lines: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        start = query.get("startTime")
        return [line for line in lines if start is None or line["ts"] >= start]

    async def build(self, request: web.Request) -> web.Response:
        return web.json_response({"data": {"id": "b", "concluded": self.concluded}})

    async def logs(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.queries.append(query)
        if query["queryType"] == "range":
            lines = self.window(self.log, query)
            limit = min(int(query.get("lineLimit", self.page)), 1000)
            envelope = {"data": lines[:limit], "pagination": {"hasNextPage": len(lines) > limit}}
            return web.json_response(envelope)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await init(ws)
        backlog = sorted(self.window(self.log, query), key=lambda line: line["ts"])
        if backlog:
            await ws.send_json({"type": "log-lines", "data": backlog})
        new = self.connections.pop(0) if self.connections else []
        self.log += new
        for line in self.window(new, query):
            await ws.send_json({"type": "log-lines", "data": [line]})
        if self.connections:
            return ws  # dropped, right after the odd line
        self.log += self.after  # written while the tail is quiet: only a range sees them
        self.concluded = True
        async for _ in ws:
            pass
        return ws


ODD = ["future", "past", "equal"]


def stamped_log(odd: str) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Three connections, each dropped just after a line with an odd stamp (after its first
    for a past stamp: a later one is outside every resumed window, invisible to any client),
    then a quiet one; two lines are written after the last connection sent its own."""

    def oddly(text: str, before: int) -> dict[str, Any]:
        return wire(text, {"future": FUTURE, "past": PAST, "equal": at(before)}[odd])

    connections = [
        [wire("a", at(1)), wire("b", at(2)), oddly("odd 1", 2)],
        [wire("c", at(3)), wire("d", at(3)), *([] if odd == "past" else [oddly("odd 2", 3)])],
        [wire("e", at(4)), *([] if odd == "past" else [oddly("odd 3", 4)])],
        [wire("f", at(5))],
    ]
    return connections, [wire("g", at(6)), wire("h", at(7))]


def texts(lines: list[LogLine]) -> list[str]:
    return [line.text for line in lines]


@pytest.mark.parametrize("odd", list(ODD))
async def test_a_tail_dropped_after_odd_stamps_loses_and_repeats_nothing(
    odd: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every line once, whatever the stamp of the line before each drop: the resumed tail and
    the final range read ask from the latest believed stamp, not from year 9999 or 2000."""
    monkeypatch.setattr(_log_streams, "CHECK_FIRST", 0.01)  # no real wait for the state check
    monkeypatch.setattr(ReconnectPace, "wait", lambda self, now: 0.0)  # pacing: tested below
    connections, after = stamped_log(odd)
    expected = [line["log"] for batch in [*connections, after] for line in batch]
    server = StampServer(connections, after=after)
    async with (
        serving(server.app) as base,
        NorthflankClient(TOKEN, base_url=base, backoff_base=0) as nf,
        asyncio.timeout(10),
    ):
        got = [line async for line in nf.job("p", "j").builds.tail_logs("b")]
    assert texts(got) == expected
    tails = [q for q in server.queries if q["queryType"] == "tail"]
    assert len(tails) == 4
    assert all("9999" > q["startTime"] > "2001" for q in tails[1:])
    ranges = [q for q in server.queries if q["queryType"] == "range"]
    assert ranges and all(q["startTime"] == iso(at(5)) for q in ranges[:1])
    doubted = [r for r in caplog.records if "beyond this machine's clock" in r.getMessage()]
    assert len(doubted) == (1 if odd == "future" else 0)  # said once, not per line


@pytest.mark.parametrize("odd", list(ODD))
async def test_a_range_continued_after_odd_stamps_loses_and_repeats_nothing(odd: str) -> None:
    connections, after = stamped_log(odd)
    server = StampServer([], after=[])
    server.log = [line for batch in [*connections, after] for line in batch]
    async with serving(server.app) as base, NorthflankClient(TOKEN, base_url=base) as nf:
        got = [line async for line in nf.job("p", "j").builds.logs("b")]
    assert texts(got) == [line["log"] for line in server.log]
    assert len(server.queries) >= 3  # it really was continued
    assert all("9999" > q["startTime"] > "2001" for q in server.queries[1:])


def line_at(when: datetime, text: str = "x") -> LogLine:
    return LogLine(ts=when, text=text, container_id=None, raw=None)


def test_a_doubted_stamp_is_believed_once_the_clock_reaches_it() -> None:
    """A stamp 10 minutes ahead of the clock is doubted (resume point unmoved, its line kept
    in ``ahead`` so that its repeat is dropped), and believed once the clock has caught up."""
    now = at(0)
    soon = now + CLOCK_SKEW + timedelta(minutes=5)
    resume = Resume()
    assert resume.take([line_at(at(-1)), line_at(soon, "soon")], now=now) != []
    assert (resume.point, resume.count, resume.ahead, resume.doubted) == (at(-1), 1, {soon: 1}, 1)
    resume.restart()
    assert resume.take([line_at(at(-1)), line_at(soon, "soon"), line_at(soon, "new")], now=now)
    assert resume.ahead == {soon: 2}
    later = soon + timedelta(seconds=1)
    assert texts(resume.take([line_at(soon, "third")], now=later)) == ["third"]
    assert (resume.point, resume.count, resume.ahead) == (soon, 3, {})
    # Only doubted stamps so far: a continuation starts at the nearest of them, repeats dropped.
    only = Resume()
    only.take([line_at(FUTURE), line_at(FUTURE + timedelta(days=1))], now=now)
    assert only.ts is None and only.point == FUTURE and only.repeats == 2
    only.restart()
    assert texts(only.take([line_at(FUTURE), line_at(FUTURE, "n")], now=now)) == ["n"]


# --------------------------------------------------------------------------- 7. loops


class OneLineServer:
    """A tail that sends one new line per connection, then closes it."""

    def __init__(self, *, give_up: int = 100) -> None:
        self.opened: list[float] = []
        self.sent = 0
        self.give_up = give_up
        self.too_many = asyncio.Event()  # the old code's storm: stop the test, do not spin
        self.app = web.Application()
        self.app.router.add_get(LOGS, self.tail)

    async def tail(self, request: web.Request) -> web.WebSocketResponse:
        self.opened.append(asyncio.get_running_loop().time())
        if len(self.opened) >= self.give_up:
            self.too_many.set()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await init(ws)
        start = request.query.get("startTime")
        backlog = [wire(f"line {i}", at(i)) for i in range(self.sent)]
        backlog = [line for line in backlog if start is None or line["ts"] >= start]
        new = wire(f"line {self.sent}", at(self.sent))
        self.sent += 1
        await ws.send_json({"type": "log-lines", "data": [*backlog, new]})
        await ws.close()
        return ws


@on_virtual_clock
async def test_reconnects_are_paced_by_their_rate_not_only_by_failures() -> None:
    """348 handshakes in 15 s before: each line reset the failure count. Now 4 in the first
    15 s (spacing 1, 2, 4, 8 s) and at most about one a minute after that, lines all kept."""
    loop = asyncio.get_running_loop()
    server = OneLineServer()
    got: list[LogLine] = []

    async def read(nf: NorthflankClient) -> None:
        async with nf.job("p", "j").builds.tail_logs("b", start=T0, until_concluded=False) as tail:
            async for line in tail:
                got.append(line)

    async with (
        serving(server.app) as base,
        NorthflankClient(TOKEN, base_url=base, backoff_base=0) as nf,
    ):
        began = loop.time()
        reader = loop.create_task(read(nf))
        stop = loop.create_task(server.too_many.wait())  # the old code's storm ends the test
        await asyncio.wait([reader, stop], timeout=3600, return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
        stop.cancel()
        await asyncio.gather(reader, stop, return_exceptions=True)
    opened = [t - began for t in server.opened]
    assert not server.too_many.is_set(), f"{len(opened)} handshakes by {opened[-1]:.1f}s"
    assert len([t for t in opened if t < 15]) == 4
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(opened))
    assert len(opened) <= 70  # in a virtual hour
    assert texts(got) == [f"line {i}" for i in range(server.sent)]


def test_the_pace_of_a_storm_of_reconnects() -> None:
    """The figures in docs/resilience.md: handshakes of a tail whose every connection closes
    at once, by the pure rule alone."""
    pace, now, starts = ReconnectPace(), 0.0, []
    while now < 3600:
        now += pace.wait(now)
        pace.opened(now)
        starts.append(now)
    assert starts[:6] == [0, 1, 3, 7, 15, 31]
    assert len([t for t in starts if t < 15]) == 4
    assert max(b - a for a, b in itertools.pairwise(starts)) == RECONNECT_CAP
    assert len(starts) == 66  # 65 within the hour, the 66th at its end
    quiet = ReconnectPace()  # a connection cut every 5 minutes reconnects at once
    for minute in range(0, 60, 5):
        assert quiet.wait(minute * 60.0) == 0.0
        quiet.opened(minute * 60.0)


class EndlessRange:
    """A range that always claims a next page, with new lines on each (gives up after 1000)."""

    def __init__(self) -> None:
        self.requests = 0
        self.app = web.Application()
        self.app.router.add_get(LOGS, self.logs)

    async def logs(self, request: web.Request) -> web.Response:
        self.requests += 1
        first = 2 * (self.requests - 1)
        lines = [wire(f"line {i}", at(i)) for i in (first, first + 1)]
        more = self.requests < 1000
        return web.json_response({"data": lines, "pagination": {"hasNextPage": more}})


async def test_a_range_that_never_ends_stops_at_the_page_cap() -> None:
    server = EndlessRange()
    got: list[LogLine] = []

    async def read() -> None:
        async for line in nf.job("p", "j").builds.logs("b", start=T0):
            got.append(line)

    async with serving(server.app) as base, NorthflankClient(TOKEN, base_url=base) as nf:
        with pytest.raises(PaginationError, match=f"after {MAX_RANGE_PAGES} answers") as caught:
            await read()
    assert server.requests == MAX_RANGE_PAGES == 100
    assert len(got) == 2 * MAX_RANGE_PAGES  # every line of every answer read was yielded
    assert "MAX_RANGE_PAGES" in str(caught.value)
    assert f"start={got[-1].ts.isoformat()}" in str(caught.value)  # where to read on


# --------------------------------------------------------------------------- 8. dead streams


class SilentServer:
    """A tail whose first connection goes silent after two lines; later ones behave.

    ``pong``: the silent connection still reads (aiohttp answers pings), so only the idle
    timeout notices it; else it reads nothing and no pong ever comes back.
    """

    def __init__(self, *, pong: bool) -> None:
        self.pong = pong
        self.opened = 0
        self.release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get(LOGS, self.tail)

    async def tail(self, request: web.Request) -> web.WebSocketResponse:
        self.opened += 1
        ws = web.WebSocketResponse(timeout=0.1)
        await ws.prepare(request)
        await init(ws)
        lines = [wire("a", at(1)), wire("b", at(2))]
        if self.opened == 1:
            await ws.send_json({"type": "log-lines", "data": lines})
            if self.pong:
                async for _ in ws:
                    pass
            else:
                await self.release.wait()
            return ws
        start = request.query.get("startTime", "")
        backlog = [line for line in lines if line["ts"] >= start]
        await ws.send_json({"type": "log-lines", "data": [*backlog, wire("c", at(3))]})
        async for _ in ws:
            pass
        return ws


@pytest.mark.parametrize(
    ("pong", "noticed_within"),
    [(False, _log_streams.HEARTBEAT * 1.5 + 5), (True, _log_streams.IDLE_RECONNECT + 5)],
    ids=["no-pong", "pongs-but-silent"],
)
def test_a_stream_that_goes_silent_after_init_is_reopened(
    pong: bool, noticed_within: float
) -> None:
    @on_virtual_clock
    async def body() -> None:
        loop = asyncio.get_running_loop()
        server = SilentServer(pong=pong)
        got: list[LogLine] = []
        async with serving(server.app) as base, NorthflankClient(TOKEN, base_url=base) as nf:
            began = loop.time()
            tail = nf.job("p", "j").builds.tail_logs("b", until_concluded=False)
            try:
                async with asyncio.timeout(3600), tail:
                    async for line in tail:
                        got.append(line)
                        if len(got) == 3:
                            break
            finally:
                server.release.set()
            took = loop.time() - began
        assert texts(got) == ["a", "b", "c"]  # nothing lost or repeated across the reconnect
        assert server.opened == 2
        assert took <= noticed_within

    body()
