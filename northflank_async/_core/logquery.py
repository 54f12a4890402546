"""Build and run logs, the pure part: queries, envelopes, frames and resume bookkeeping.

Nothing here sends or waits. `._log_streams` drives these pieces over the transport: a
range is a series of ``GET .../build-logs`` (runs: ``.../logs``) requests, each continued from
the last line's timestamp; a tail is a WebSocket on the same path whose lines are read here.

Several lines can share a timestamp, and the API can only be asked to start *at* a timestamp,
so a continuation re-asks from the furthest timestamp handed out (inclusive) and `Resume` drops
the lines at that timestamp that were already handed out, by count: the API sends lines of one
timestamp in a stable order. A stamp far beyond the caller's clock (`CLOCK_SKEW`) is not
believed as a resume point: one line stamped in the year 9999 must not make every later line
look old. Time is passed in (``now``), never read here.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import attrs

from .checks import MIN_POLL_INTERVAL, check_number
from .converter import decode_list
from .errors import AuthenticationError, DecodeError, LogStreamError
from .models import LogLine

__all__ = [
    "CLOCK_SKEW",
    "MAX_FRAME_BYTES",
    "MAX_RANGE_PAGES",
    "RECONNECT_CAP",
    "RECONNECT_WINDOW",
    "RESUME_LINE_LIMIT",
    "LogQuery",
    "ReconnectPace",
    "Resume",
    "init_frame",
    "log_query",
    "range_params",
    "read_frame",
    "read_range",
    "tail_params",
]

#: The largest WebSocket frame a tail accepts: 32 times the API's documented batch (~32 kB).
MAX_FRAME_BYTES = 1 << 20
#: The backlog a resumed tail asks for: a tail starts with only the last 10 lines of its
#: window unless told otherwise, so a reconnection asks for every line since the last one
#: seen, up to this many (the gap of a drop is far smaller).
RESUME_LINE_LIMIT = 100_000
#: How far beyond the caller's clock a line's stamp may be and still be believed as the point
#: a reader resumes from (clocks disagree a little; a stamp in the year 9999 is not a time).
CLOCK_SKEW = timedelta(minutes=5)
#: The most answers one range call reads (100,000 lines at the API's 1,000 an answer): an API
#: that claims a next page forever ends in a `PaginationError` naming the cap, not a loop.
MAX_RANGE_PAGES = 100
#: A tail's handshakes are spaced by their rate: the next one starts at least
#: ``MIN_POLL_INTERVAL * 2 ** (n - 1)`` seconds (at most `RECONNECT_CAP`) after the previous
#: one, n being the handshakes of the last `RECONNECT_WINDOW` seconds.
RECONNECT_WINDOW = 600.0
RECONNECT_CAP = 60.0

Direction = Literal["forward", "backward"]

# The four text filters, of which the API takes at most one: argument name -> query key.
_FILTERS = {
    "text_includes": "textIncludes",
    "text_not_includes": "textNotIncludes",
    "regex_includes": "regexIncludes",
    "regex_not_includes": "regexNotIncludes",
}


def _iso(when: datetime) -> str:
    """An aware datetime as the API's ISO-8601 form: UTC, milliseconds, ``Z``."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_time(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be an aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (a naive datetime has no instant)")
    return value.astimezone(UTC)


def _check_text(value: object, name: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


@attrs.frozen
class LogQuery:
    """A checked logs query: which build (run), which window, which lines."""

    id_key: str  # "buildId" or "runId"
    object_id: str
    start: datetime | None = None
    end: datetime | None = None
    duration: float | None = None  # seconds
    line_limit: int | None = None
    direction: Direction = "forward"
    container: str | None = None
    text_filter: tuple[str, str] | None = None  # (query key, value)

    def common(self) -> dict[str, str]:
        """The parameters a range and a tail share: the object, the container, the filter."""
        params = {self.id_key: self.object_id}
        if self.container is not None:
            params["containerName"] = self.container
        if self.text_filter is not None:
            params[self.text_filter[0]] = self.text_filter[1]
        return params


def log_query(
    id_key: str,
    object_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    duration: float | timedelta | None = None,
    line_limit: int | None = None,
    direction: str = "forward",
    container: str | None = None,
    text_includes: str | None = None,
    text_not_includes: str | None = None,
    regex_includes: str | None = None,
    regex_not_includes: str | None = None,
) -> LogQuery:
    """Check a logs call's arguments, all before any request; the query they describe.

    More than one of the four text/regex filters, or all three of ``start``, ``end`` and
    ``duration``, is a ``ValueError``, as is a naive datetime or a number out of range.
    """
    if not isinstance(object_id, str) or not object_id:
        raise ValueError(f"{id_key} must be a non-empty string, got {object_id!r}")
    begin, finish = _check_time(start, "start"), _check_time(end, "end")
    seconds: float | None = None
    if isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif duration is not None:
        check_number(duration, "duration", minimum=0, above=True)
        seconds = float(duration)
    if seconds is not None:
        check_number(seconds, "duration", minimum=0, above=True)
    if begin is not None and finish is not None and seconds is not None:
        raise ValueError("pass at most two of start, end and duration")
    if begin is not None and finish is not None and finish < begin:
        raise ValueError("end must not be earlier than start")
    if line_limit is not None:
        check_number(line_limit, "line_limit", integer=True, minimum=1)
    if direction not in ("forward", "backward"):
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    filters = {
        "text_includes": text_includes,
        "text_not_includes": text_not_includes,
        "regex_includes": regex_includes,
        "regex_not_includes": regex_not_includes,
    }
    given = [
        (name, _check_text(value, name)) for name, value in filters.items() if value is not None
    ]
    if len(given) > 1:
        names = ", ".join(name for name, _ in given)
        raise ValueError(f"the API takes at most one text or regex filter, got {names}")
    text_filter = (_FILTERS[given[0][0]], given[0][1]) if given else None
    return LogQuery(
        id_key,
        object_id,
        start=begin,
        end=finish,
        duration=seconds,
        line_limit=line_limit,
        direction="backward" if direction == "backward" else "forward",
        container=_check_text(container, "container"),
        text_filter=text_filter,  # type: ignore[arg-type]
    )


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@attrs.define
class Resume:
    """Where a reader stands in a log: the point it resumes from, and what it handed out there.

    ``ts`` is the furthest timestamp handed out in the reading direction (the latest, reading
    forward) among the plausible ones: a stamp more than `CLOCK_SKEW` beyond ``now`` is
    handed out but not believed as a resume point; its lines are counted in ``ahead`` so that
    a continuation's repeats of them are dropped. A line stamped behind ``ts`` (out of order)
    is handed out and moves nothing.

    Call `restart()` when a request or a connection starts again from `point`; then `take()`
    drops what that answer repeats: lines before the point (in the reading direction), the first
    `count` lines at ``ts`` and the first ``ahead[t]`` lines at each stamp ``t`` beyond it.
    """

    forward: bool = True
    ts: datetime | None = None
    count: int = 0  # lines handed out whose timestamp is ``ts``
    yielded: int = 0
    #: Lines handed out with a stamp beyond the clock (and beyond ``ts``), per stamp.
    ahead: dict[datetime, int] = attrs.field(factory=dict)
    #: How many lines had a stamp too far beyond the clock to be believed.
    doubted: int = 0
    _origin: datetime | None = None
    _skip: dict[datetime, int] = attrs.field(factory=dict)

    @property
    def point(self) -> datetime | None:
        """Where a continuation starts (inclusive): ``ts``; while no stamp was believed, the
        nearest of the doubted ones (its repeats are dropped); ``None`` before any line."""
        if self.ts is not None or not self.ahead:
            return self.ts
        return min(self.ahead) if self.forward else max(self.ahead)

    @property
    def repeats(self) -> int:
        """How many lines a continuation from `point` sends again, at most."""
        return self.count + sum(self.ahead.values())

    def restart(self) -> None:
        """A new answer starts at `point` (inclusive): expect its repeats again."""
        self._origin = self.point
        self._skip = dict(self.ahead)
        if self.ts is not None:
            self._skip[self.ts] = self.count

    def _before(self, ts: datetime, than: datetime) -> bool:
        return ts < than if self.forward else ts > than

    def take(self, lines: Sequence[LogLine], *, now: datetime) -> list[LogLine]:
        """The lines of an answer that were not handed out yet; they count as handed out.

        ``now`` is the caller's clock (aware): a stamp beyond ``now + CLOCK_SKEW`` does not
        move the resume point.
        """
        fresh: list[LogLine] = []
        origin, skip, latest = self._origin, self._skip, now + CLOCK_SKEW
        for line in lines:
            ts = line.ts
            if origin is not None:
                if self._before(ts, origin):
                    continue  # outside the continued window: handed out before
                if skip.get(ts):
                    skip[ts] -= 1
                    continue
            fresh.append(line)
            self._hand_out(ts, latest)
        self.yielded += len(fresh)
        return fresh

    def _hand_out(self, ts: datetime, latest: datetime) -> None:
        if ts == self.ts:
            self.count += 1
        elif ts > latest:
            self.doubted += 1
            self.ahead[ts] = self.ahead.get(ts, 0) + 1
        elif self.ts is None or self._before(self.ts, ts):
            self.ts, self.count = ts, 1 + self.ahead.pop(ts, 0)
            if self.ahead:  # stamps now behind the point: a continuation never sees them again
                self.ahead = {t: n for t, n in self.ahead.items() if self._before(ts, t)}


@attrs.define
class ReconnectPace:
    """When a tail may open its next connection: handshakes spaced by their recent rate.

    Each handshake is `opened()`; `wait()` is how long the next one must wait: the previous
    one's start plus ``MIN_POLL_INTERVAL * 2 ** (n - 1)`` seconds (at most `RECONNECT_CAP`),
    n being the handshakes started in the last `RECONNECT_WINDOW` seconds. Times are the
    caller's clock (seconds). A server that closes every connection at once gets 4 handshakes
    in the first 15 s and about one a minute after that, whatever each connection delivered.
    """

    starts: deque[float] = attrs.field(factory=deque)

    def _recent(self, now: float) -> deque[float]:
        while self.starts and self.starts[0] <= now - RECONNECT_WINDOW:
            self.starts.popleft()
        return self.starts

    def opened(self, now: float) -> None:
        """A handshake starts at ``now``."""
        self._recent(now).append(now)

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until the next handshake may start (0 for the first)."""
        recent = self._recent(now)
        if not recent:
            return 0.0
        spacing = min(MIN_POLL_INTERVAL * 2.0 ** min(len(recent) - 1, 64), RECONNECT_CAP)
        return max(0.0, recent[-1] + spacing - now)


def range_params(
    query: LogQuery, resume: Resume, *, origin: datetime, page: int | None = None
) -> dict[str, str]:
    """The query string of the next range request.

    The first request sends the window as asked. A continuation starts at the last timestamp
    handed out (``endTime`` for a backward range) and keeps the window's other bound, computed
    once ``duration`` can no longer be sent: ``origin`` is the wall-clock time of the first
    request, which a window of the last ``duration`` seconds was measured back from. ``page``
    is the size of the previous answer: with no ``line_limit``, a continuation asks for that
    many lines plus the repeats, so that a page's worth of lines sharing one timestamp still
    moves on. The timestamp continued from is `Resume.point` (never a doubted stamp while a
    believed one exists).
    """
    params = {"queryType": "range", **query.common(), "direction": query.direction}
    start, end, duration = query.start, query.end, query.duration
    point = resume.point
    if point is not None:
        span = timedelta(seconds=duration) if duration is not None else None
        if query.direction == "forward":
            if end is None and start is not None and span is not None:
                end = start + span
            start, duration = point, None
        else:
            if start is None and span is not None:
                start = (end if end is not None else origin) - span
            end, duration = point, None
    if start is not None:
        params["startTime"] = _iso(start)
    if end is not None:
        params["endTime"] = _iso(end)
    if duration is not None:
        params["duration"] = _seconds(duration)
    if query.line_limit is not None:
        # Enough for the lines still wanted plus the repeats at the resume timestamp.
        wanted = query.line_limit - resume.yielded
        params["lineLimit"] = str(wanted + (resume.repeats if point is not None else 0))
    elif page is not None and point is not None:
        params["lineLimit"] = str(page + resume.repeats)
    return params


def tail_params(query: LogQuery, resume: Resume) -> dict[str, str]:
    """The query string of a tail connection: as asked the first time, then from `ts`.

    ``lineLimit`` is how many past lines the tail starts with, the API's default being the
    last 10 of the window: a reconnection asks from `Resume.point`, the latest believed
    timestamp handed out (inclusive; `Resume` drops the repeats), with `RESUME_LINE_LIMIT`:
    else the lines written while the connection was down beyond the last 10 would be lost. A
    first connection with ``start`` and no ``line_limit`` asks for `RESUME_LINE_LIMIT` lines
    too: every line since ``start``.
    """
    params = {"queryType": "tail", **query.common()}
    point = resume.point
    if point is not None:
        params["startTime"] = _iso(point)
        params["lineLimit"] = str(RESUME_LINE_LIMIT)
        return params
    if query.start is not None:
        params["startTime"] = _iso(query.start)
    if query.line_limit is not None:
        params["lineLimit"] = str(query.line_limit)
    elif query.start is not None:
        # "Every line since start": without lineLimit the API would send its last 10.
        params["lineLimit"] = str(RESUME_LINE_LIMIT)
    return params


def read_range(envelope: Any) -> tuple[list[LogLine], bool]:
    """The lines of a range answer, and whether the API says it was truncated.

    Accepts ``{"data": [lines]}``, ``{"data": {"logs": [lines]}}`` and
    ``{"data": {"data": [lines]}}``, each with or without a ``pagination`` member (whose
    ``hasNextPage`` says "truncated"); anything else is a `DecodeError` naming the field.
    """
    if not isinstance(envelope, dict):
        raise DecodeError(f"expected an object, got {type(envelope).__name__}", field="$")
    if "data" not in envelope:
        raise DecodeError("required field missing", field="data")
    data, root = envelope["data"], "data"
    if isinstance(data, dict):
        key = "logs" if "logs" in data else "data" if "data" in data else None
        if key is None:
            raise DecodeError("expected an array of lines, or an object with logs", field="data")
        data, root = data[key], f"data.{key}"
    if not isinstance(data, list):
        raise DecodeError(f"expected an array of lines, got {type(data).__name__}", field=root)
    truncated = False
    pagination = envelope.get("pagination")
    if pagination is not None:
        if not isinstance(pagination, dict):
            raise DecodeError(
                f"expected an object, got {type(pagination).__name__}", field="pagination"
            )
        has_next = pagination.get("hasNextPage", False)
        if not isinstance(has_next, bool):
            raise DecodeError(
                f"expected bool, got {type(has_next).__name__}", field="pagination.hasNextPage"
            )
        truncated = has_next
    return decode_list(data, LogLine, root=root), truncated


def init_frame(token: str) -> str:
    """The first frame a tail sends: the token, which never goes in the URL."""
    return json.dumps({"type": "init", "data": {"auth": {"type": "apiToken", "apiToken": token}}})


def read_frame(
    text: str, *, path: str, hide: Callable[[str, Any], Any] | None = None
) -> list[LogLine] | None:
    """Read one tail frame: the lines of a ``log-lines`` frame, ``None`` for an accepted init.

    ``hide(text, frame)`` is given the decoded frame before anything is read from it (the
    transport's redaction of decoded values: a token spelled with JSON escapes is only seen
    there). A refused init is an `AuthenticationError` (401, with the server's message), an
    ``error`` frame a `LogStreamError`, and a frame of any other type, or that is not a
    JSON object with a string ``type``, a `DecodeError`.
    """
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"frame is not JSON ({type(exc).__name__})") from None
    if hide is not None:
        frame = hide(text, frame)
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise DecodeError("expected an object with a string type", field="frame")
    kind, data = frame["type"], frame.get("data")
    if kind == "log-lines":
        return decode_list(data, LogLine, root="data")
    message = data.get("message") if isinstance(data, dict) else None
    message = message if isinstance(message, str) and message else None
    if kind == "init":
        if isinstance(data, dict) and data.get("auth") == "successful":
            return None
        raise AuthenticationError(
            status=401,
            message=message or "the log stream refused the token",
            method="GET",
            path=path,
        )
    if kind == "error":
        raise LogStreamError(message or "(no message)")
    raise DecodeError(f"unknown frame type {kind[:40]!r}", field="frame.type")
