"""Build and run logs on the wire: query strings, range envelopes and tail frames.

A range is a series of ``GET .../build-logs`` (runs: ``.../logs``) requests, each continued
from the last line's timestamp (`range_params`); a tail is a WebSocket on the same path
(`tail_params`), opened with `init_frame` and read with `read_frame`. `read_range` accepts
every envelope a range answer comes in. Pure: `.._engine.log_streams` sends and reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .converter import decode_list
from .errors import AuthenticationError, DecodeError, LogStreamError
from .logquery import LogQuery
from .logresume import Resume
from .models import LogLine

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_RANGE_PAGES",
    "RESUME_LINE_LIMIT",
    "init_frame",
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
#: The most answers one range call reads (100,000 lines at the API's 1,000 an answer): an API
#: that claims a next page forever ends in a `PaginationError` naming the cap, not a loop.
MAX_RANGE_PAGES = 100


def _iso(when: datetime) -> str:
    """An aware datetime as the API's ISO-8601 form: UTC, milliseconds, ``Z``."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


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
