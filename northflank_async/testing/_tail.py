"""The WebSocket tail of the logs endpoints, and its scriptable faults.

The protocol, as the official clients speak it: the client's first frame is
``{"type": "init", "data": {"auth": {"type": "apiToken", "apiToken": TOKEN}}}``; the
server answers ``{"type": "init", "data": {"auth": "successful"}}`` (or ``"failed"``
with a ``message``, then closes), then sends ``{"type": "log-lines", "data": [lines]}``
batches of at most `TAIL_FRAME_BYTES` as lines appear, and ``{"type": "error", "data":
{"message": ...}}`` frames. The tail polls the log on the fake's clock every
`Tails.poll` seconds of loop time and never ends by itself: the client closes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from aiohttp import WSMsgType, web

from ._logquery import TAIL_DEFAULT_LINES, LogQuery, matching
from ._records import LogLine, Timed
from ._requests import ApiError

__all__ = ["TAIL_FAULTS", "TAIL_FRAME_BYTES", "TailRecord", "Tails", "check_tail_step"]

#: The largest ``log-lines`` frame the fake sends (its JSON), as the API notes say.
TAIL_FRAME_BYTES: Final = 32_768
#: Tail fault steps: ``"ok"``, ``"refuse_auth"``, or one of these followed by ``:N``
#: (after N ``log-lines`` frames on that connection).
TAIL_FAULTS: Final = (
    "drop_after",
    "close_after",
    "error_after",
    "unknown_after",
    "oversized_after",
)
_STEP_RE: Final = re.compile(r"(" + "|".join(TAIL_FAULTS) + r"):([0-9]{1,6})")
_TOKEN_KEYS: Final = frozenset(
    {"token", "apitoken", "api_token", "access_token", "authorization", "auth", "bearer"}
)
#: Close codes: policy violation (bad init, refused auth, bad query), going away (the
#: fake closing), internal error (after a scripted error frame), service restart.
_POLICY, _GOING_AWAY, _INTERNAL, _RESTART = 1008, 1001, 1011, 1012


@dataclasses.dataclass(frozen=True, slots=True)
class TailRecord:
    """One tail connection the fake accepted.

    ``path`` is the raw path, ``query`` its parameters (a token found there is
    redacted); ``auth`` is ``"successful"``, ``"failed"`` or None (no valid init frame
    came); ``frames`` and ``lines`` count the ``log-lines`` frames and lines sent;
    ``step`` is the scripted fault it met (``"ok"`` when none); ``ended`` says how it
    ended (``"open"`` while it runs, ``"client"``, ``"drop"``, ``"closed"``, ``"error"``,
    ``"refused"``, ``"fake closing"``).
    """

    path: str
    query: dict[str, str]
    auth: str | None
    frames: int
    lines: int
    step: str
    ended: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Step:
    kind: str
    after: int = 0

    def __str__(self) -> str:
        return self.kind if self.kind in ("ok", "refuse_auth") else f"{self.kind}:{self.after}"


def check_tail_step(step: object) -> _Step:
    """Parse a tail fault step; ValueError when it is not one."""
    if step in ("ok", "refuse_auth"):
        assert isinstance(step, str)
        return _Step(step)
    match = _STEP_RE.fullmatch(step) if isinstance(step, str) else None
    if match is None:
        raise ValueError(
            f"unknown tail step {step!r}: use 'ok', 'refuse_auth' or one of "
            f"{list(TAIL_FAULTS)} followed by ':N'"
        )
    return _Step(match[1], int(match[2]))


def redact_query(query: Mapping[str, str], token: str) -> dict[str, str]:
    """The query with any value that looks like (or holds) the token redacted."""
    return {
        key: "<redacted>" if key.lower() in _TOKEN_KEYS or (token and token in value) else value
        for key, value in query.items()
    }


def token_in_query(query: Mapping[str, str], token: str) -> bool:
    """Whether the query carries a credential (a token-like key, or the token itself)."""
    return any(
        key.lower() in _TOKEN_KEYS or (token and token in value) for key, value in query.items()
    )


def batches(lines: Sequence[LogLine], limit: int) -> Iterator[list[LogLine]]:
    """Cut lines into ``log-lines`` frames of at most `limit` bytes of JSON."""
    base = len(json.dumps({"type": "log-lines", "data": []}, separators=(",", ":")))
    batch: list[LogLine] = []
    size = base
    for line in lines:
        cost = len(json.dumps(line, separators=(",", ":")).encode()) + 1
        if batch and size + cost > limit:
            yield batch
            batch, size = [], base
        batch.append(line)
        size += cost
    if batch:
        yield batch


@dataclasses.dataclass(slots=True)
class _Session:
    record: TailRecord

    def update(self, **changes: Any) -> None:
        self.record = dataclasses.replace(self.record, **changes)


class _Ended(Exception):
    """The tail is over (the socket is closed or dropped)."""


class Tails:
    """Serves tails, with their scripted faults and the record of connections."""

    def __init__(self) -> None:
        self.poll = 0.05
        self.init_timeout = 10.0
        self.frame_bytes = TAIL_FRAME_BYTES
        self.script: deque[_Step] = deque()
        self.sessions: list[_Session] = []

    def add_steps(self, steps: Sequence[object]) -> None:
        """Queue one step per upcoming tail connection (all checked first)."""
        parsed = [check_tail_step(step) for step in steps]
        self.script.extend(parsed)

    async def serve(
        self,
        request: web.Request,
        *,
        token: str,
        closing: asyncio.Event,
        headers: Mapping[str, str],
        parse: Callable[[], LogQuery],
        lines: Callable[[LogQuery], list[Timed]],
    ) -> web.WebSocketResponse:
        """Upgrade `request` and run one tail until the client (or a fault) ends it.

        `parse` checks the query (ApiError: an error frame); `lines` returns the
        item's visible lines now.
        """
        # A short close timeout: a client that does not answer the close handshake must
        # not hold the fake's shutdown for aiohttp's default 10 s.
        ws = web.WebSocketResponse(max_msg_size=64 * 1024, timeout=1.0)
        ws.headers.update(headers)
        await ws.prepare(request)
        step = self.script.popleft() if self.script else _Step("ok")
        path = request.raw_path.split("?", 1)[0]
        query = redact_query({k: request.query[k] for k in request.query}, token)
        session = _Session(TailRecord(path, query, None, 0, 0, str(step), "open"))
        self.sessions.append(session)
        run = _Run(self, ws, request, session, step, closing)
        try:
            await run.talk(token, parse, lines)
        except _Ended:
            pass
        except ConnectionError:
            session.update(ended="client")
        finally:
            if not ws.closed and session.record.ended != "drop":
                await ws.close(code=_GOING_AWAY)
        return ws


@dataclasses.dataclass(slots=True)
class _Run:
    """One tail connection's conversation."""

    tails: Tails
    ws: web.WebSocketResponse
    request: web.Request
    session: _Session
    step: _Step
    closing: asyncio.Event

    async def end(self, how: str, code: int, message: str | None = None) -> None:
        """Send an error frame (when `message`), close with `code` and stop."""
        self.session.update(ended=how)
        if message is not None and not self.ws.closed:
            await self.ws.send_json({"type": "error", "data": {"message": message}})
        await self.ws.close(code=code)
        raise _Ended

    async def talk(
        self,
        token: str,
        parse: Callable[[], LogQuery],
        lines: Callable[[LogQuery], list[Timed]],
    ) -> None:
        if token_in_query(self.request.query, token):
            await self.end(
                "error", _POLICY, "Credentials are not accepted in the URL: send the init frame"
            )
        await self.authenticate(token)
        try:
            query = parse()
        except ApiError as error:
            await self.end("error", _POLICY, error.message)
        await self.after_frames()  # a fault after 0 frames strikes right after auth
        # The tail's start: the last lineLimit (default 10) lines of its window.
        found = matching(lines(query), query)
        first = found[-(query.limit or TAIL_DEFAULT_LINES) :]
        cursor = self.skip_mark(found, first)
        await self.send_lines([line for _, line in first])
        while True:
            if self.closing.is_set():
                await self.end("fake closing", _GOING_AWAY)
            found = matching(lines(query), query)
            new = _after(found, cursor)
            if new:
                cursor = self.skip_mark(found, new)
                await self.send_lines([line for _, line in new])
            try:
                message = await self.ws.receive(timeout=self.tails.poll)
            except TimeoutError:
                continue
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                self.session.update(ended="client")
                raise _Ended
            if message.type == WSMsgType.ERROR:
                self.session.update(ended="client")
                raise _Ended
            # Anything else the client sends during a tail is ignored.

    @staticmethod
    def skip_mark(found: list[Timed], sent: list[Timed]) -> tuple[int, int] | None:
        """Where the next lines start: after the last sent ts, and how many lines at it
        have been passed (all of those found so far)."""
        if not sent:
            return None
        last = sent[-1][0]
        return last, sum(1 for ts, _ in found if ts == last)

    async def authenticate(self, token: str) -> None:
        try:
            message = await self.ws.receive(timeout=self.tails.init_timeout)
        except TimeoutError:
            await self.end("error", _POLICY, "No init frame received")
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            self.session.update(ended="client")
            raise _Ended
        frame: Any = None
        if message.type == WSMsgType.TEXT:
            try:
                frame = json.loads(message.data)
            except ValueError:
                frame = None
        data = frame.get("data") if isinstance(frame, dict) else None
        auth = data.get("auth") if isinstance(data, dict) else None
        if not (isinstance(frame, dict) and frame.get("type") == "init" and isinstance(auth, dict)):
            await self.end("error", _POLICY, "The first frame must be an init frame")
        assert isinstance(auth, dict)
        good = auth.get("type") == "apiToken" and auth.get("apiToken") == token
        if not good or self.step.kind == "refuse_auth":
            self.session.update(auth="failed", ended="refused")
            await self.ws.send_json(
                {"type": "init", "data": {"auth": "failed", "message": "Invalid API token"}}
            )
            await self.ws.close(code=_POLICY)
            raise _Ended
        self.session.update(auth="successful")
        await self.ws.send_json({"type": "init", "data": {"auth": "successful"}})

    async def send_lines(self, lines: list[LogLine]) -> None:
        for batch in batches(lines, self.tails.frame_bytes):
            await self.ws.send_json({"type": "log-lines", "data": batch})
            record = self.session.record
            self.session.update(frames=record.frames + 1, lines=record.lines + len(batch))
            await self.after_frames()

    async def after_frames(self) -> None:
        """Act out the scripted fault once its number of frames has been sent."""
        step = self.step
        if step.kind in ("ok", "refuse_auth") or self.session.record.frames != step.after:
            return
        self.step = _Step("ok")  # once per connection
        if step.kind == "drop_after":
            self.session.update(ended="drop")
            if self.request.transport is not None:
                self.request.transport.close()
            raise _Ended
        if step.kind == "close_after":
            await self.end("closed", _RESTART)
        if step.kind == "error_after":
            await self.end("error", _INTERNAL, "Internal error while tailing logs (injected)")
        if step.kind == "unknown_after":
            await self.ws.send_json({"type": "log-stats", "data": {"lines": 0}})
        if step.kind == "oversized_after":
            filler = {"containerId": "oversized", "log": "x" * (2 * self.tails.frame_bytes)}
            await self.ws.send_json({"type": "log-lines", "data": [filler]})


def _after(found: list[Timed], cursor: tuple[int, int] | None) -> list[Timed]:
    """The lines after `cursor` (a ts and how many lines at it were passed)."""
    if cursor is None:
        return list(found)
    last, passed = cursor
    out: list[Timed] = []
    at_last = 0
    for ts, line in found:
        if ts > last:
            out.append((ts, line))
        elif ts == last:
            at_last += 1
            if at_last > passed:
                out.append((ts, line))
    return out
