"""The logs endpoints' query: parsing, the time window, filters and the answer's shape.

Pure logic, shared by the range route and the WebSocket tail. The window is inclusive at
both ends (``startTime <= ts <= endTime``), so a client that continues a truncated answer
from its last line's ``ts`` (forward: as ``startTime``; backward: as ``endTime``) gets
every line it has not seen, plus the ones it already has at that very ``ts``, which it
skips by counting them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from ._clock import parse_ms
from ._records import LogLine, Timed
from ._requests import ApiError

__all__ = [
    "DEFAULT_WINDOW_S",
    "LOG_SHAPES",
    "MAX_RANGE_LINES",
    "MAX_TAIL_LINES",
    "TAIL_DEFAULT_LINES",
    "LogQuery",
    "check_shape",
    "envelope",
    "line_text",
    "parse_log_query",
    "select",
]

#: The window when neither startTime, endTime nor duration is given: the last 30 minutes.
DEFAULT_WINDOW_S: Final = 1800
#: The most lines one range answer holds (a larger ``lineLimit`` is cut to it).
MAX_RANGE_LINES: Final = 1000
#: The most existing lines a tail sends first (``lineLimit`` above it is a 400).
MAX_TAIL_LINES: Final = 100_000
#: How many existing lines a tail sends first when ``lineLimit`` is not given.
TAIL_DEFAULT_LINES: Final = 10
#: The envelope shapes of a range answer the fake can give.
LOG_SHAPES: Final = ("data", "data.logs", "data.data")
_FILTERS: Final = ("textIncludes", "textNotIncludes", "regexIncludes", "regexNotIncludes")
_NUMBER_RE: Final = re.compile(r"[0-9]+(\.[0-9]+)?")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,9}")


@dataclasses.dataclass(frozen=True, slots=True)
class LogQuery:
    """A checked query: the item, the window (ms, inclusive), limit, order and filters."""

    item_id: str
    start_ms: int
    end_ms: int | None  # None: up to the newest visible line
    limit: int | None
    backward: bool
    container: str | None
    keep: Callable[[str], bool] | None


def line_text(log: Any) -> str:
    """The text filters read: the string itself, or a non-string value's compact JSON."""
    if isinstance(log, str):
        return log
    return json.dumps(log, separators=(",", ":"))


def _time(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    ms = parse_ms(raw)
    if ms is None:
        raise ApiError(400, f"Invalid {name}", {name: "must be an ISO-8601 timestamp"})
    return ms


def _duration_ms(query: Mapping[str, str]) -> int | None:
    raw = query.get("duration")
    if raw is None:
        return None
    seconds = float(raw) if _NUMBER_RE.fullmatch(raw) and len(raw) <= 15 else math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ApiError(400, "Invalid duration", {"duration": "must be a number of seconds > 0"})
    return round(seconds * 1000)


def _limit(query: Mapping[str, str], high: int | None) -> int | None:
    raw = query.get("lineLimit")
    if raw is None:
        return None
    value = int(raw) if _DIGITS_RE.fullmatch(raw) else 0
    if value < 1 or (high is not None and value > high):
        bounds = f"between 1 and {high}" if high is not None else ">= 1"
        raise ApiError(400, "Invalid lineLimit", {"lineLimit": f"must be an integer {bounds}"})
    return value


def _filter(query: Mapping[str, str]) -> Callable[[str], bool] | None:
    given = [name for name in _FILTERS if name in query]
    if len(given) > 1:
        raise ApiError(
            400, "At most one of " + ", ".join(_FILTERS) + " may be given", {"filters": given}
        )
    if not given:
        return None
    name, value = given[0], query[given[0]]
    if name.startswith("text"):
        if name == "textIncludes":
            return lambda text: value in text
        return lambda text: value not in text
    try:
        pattern = re.compile(value)
    except (re.error, RecursionError, OverflowError) as error:
        raise ApiError(400, f"Invalid {name}", {name: f"not a valid regex: {error}"}) from None
    if name == "regexIncludes":
        return lambda text: pattern.search(text) is not None
    return lambda text: pattern.search(text) is None


def parse_log_query(
    query: Mapping[str, str], *, id_param: str, now_ms: int, tail: bool
) -> LogQuery:
    """Check a logs query (range, or a tail's) and resolve its window at `now_ms`."""
    item_id = query.get(id_param)
    if not item_id:
        raise ApiError(400, f"Missing {id_param}", {id_param: "required"})
    start, end, duration = _time(query, "startTime"), _time(query, "endTime"), _duration_ms(query)
    given = [name for name in ("startTime", "endTime", "duration") if name in query]
    if len(given) > 2:
        raise ApiError(400, "At most two of startTime, endTime and duration", {"given": given})
    if tail and end is not None:
        raise ApiError(400, "A tail takes no endTime", {"endTime": "not allowed with a tail"})
    window = DEFAULT_WINDOW_S * 1000
    if start is not None:
        if end is None and duration is not None:
            end = start + duration
    elif end is not None:
        start = end - (window if duration is None else duration)
    else:
        start = now_ms - (window if duration is None else duration)
    if end is not None and start > end:
        raise ApiError(400, "startTime is after endTime", {"startTime": "after endTime"})
    direction = query.get("direction", "forward")
    if direction not in ("forward", "backward"):
        raise ApiError(400, "Invalid direction", {"direction": "forward or backward"})
    container = query.get("containerName")
    return LogQuery(
        item_id=item_id,
        start_ms=start,
        end_ms=end,
        limit=_limit(query, MAX_TAIL_LINES if tail else None),
        backward=direction == "backward",
        container=container if container else None,
        keep=_filter(query),
    )


def _container_matches(container_id: Any, name: str) -> bool:
    return isinstance(container_id, str) and (
        container_id == name or container_id.endswith(f"-{name}")
    )


def matching(lines: Sequence[Timed], query: LogQuery) -> list[Timed]:
    """The lines in the window that pass the container and text filters, oldest first."""
    out = []
    for ts, line in lines:
        if ts < query.start_ms or (query.end_ms is not None and ts > query.end_ms):
            continue
        if query.container is not None and not _container_matches(
            line.get("containerId"), query.container
        ):
            continue
        if query.keep is not None and not query.keep(line_text(line.get("log"))):
            continue
        out.append((ts, line))
    return out


def select(lines: Sequence[Timed], query: LogQuery, cap: int) -> tuple[list[LogLine], bool]:
    """One range answer's lines, in the asked direction, and whether more were cut."""
    found = [line for _, line in matching(lines, query)]
    if query.backward:
        found.reverse()
    size = cap if query.limit is None else min(query.limit, cap)
    return found[:size], len(found) > size


def check_shape(shape: object) -> tuple[str, bool | None]:
    """Parse a shape step: ``"data.logs"`` or ``"data.logs:pagination"`` /
    ``":nopagination"``; the flag is None when the step does not say."""
    if not isinstance(shape, str):
        raise TypeError(f"a log shape is a string, got {shape!r}")
    name, _, suffix = shape.partition(":")
    flags = {"": None, "pagination": True, "nopagination": False}
    if name not in LOG_SHAPES or suffix not in flags:
        raise ValueError(
            f"unknown log shape {shape!r}: use one of {list(LOG_SHAPES)}, "
            'optionally followed by ":pagination" or ":nopagination"'
        )
    return name, flags[suffix]


def envelope(
    lines: list[LogLine], shape: str, *, pagination: bool, truncated: bool
) -> dict[str, Any]:
    """A range answer in `shape`; ``pagination`` says ``hasNextPage`` (and the cursor,
    the last line's ``ts``, when truncated) unless `pagination` is off."""
    payload: dict[str, Any]
    if shape == "data":
        payload = {"data": lines}
    elif shape == "data.logs":
        payload = {"data": {"logs": lines}}
    else:
        payload = {"data": {"data": lines}}
    if pagination:
        page: dict[str, Any] = {"hasNextPage": truncated}
        if truncated and lines:
            page["cursor"] = lines[-1]["ts"]
        page["count"] = len(lines)
        payload["pagination"] = page
    return payload
