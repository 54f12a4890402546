"""Build and run logs, the query: which build (run), which window, which lines.

`log_query` checks a logs call's arguments, all before any request, into a `LogQuery`; the
filter (container, text or regex) is a `.logfilter.LogFilter`, checked there. The rest of the
pure log logic lives beside it: `.logwire` (query strings, range envelopes, tail frames) and
`.logresume` (resuming without repeats, pacing reconnections); `.._engine.log_streams` drives
them over the transport.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import attrs

from .checks import check_number
from .logfilter import LogFilter, choose_filter

__all__ = ["Direction", "LogQuery", "log_query"]

Direction = Literal["forward", "backward"]

# The four text filters, of which the API takes at most one: argument name -> query key.
_FILTERS = {
    "text_includes": "textIncludes",
    "text_not_includes": "textNotIncludes",
    "regex_includes": "regexIncludes",
    "regex_not_includes": "regexNotIncludes",
}


def _check_time(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be an aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (a naive datetime has no instant)")
    return value.astimezone(UTC)


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
    filter: LogFilter | None = None,
    **filter_keywords: str | None,
) -> LogQuery:
    """Check a logs call's arguments, all before any request; the query they describe.

    The lines are chosen by ``filter`` or by the filter keywords (``container=``,
    ``text_includes=``, ...), not both (`choose_filter`). More than one of the four
    text/regex filters, or all three of ``start``, ``end`` and ``duration``, is a
    ``ValueError``, as is a naive datetime or a number out of range.
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
    chosen = choose_filter(filter, **filter_keywords)
    text_filter = next(
        ((key, value) for name, key in _FILTERS.items() if (value := getattr(chosen, name))),
        None,
    )
    return LogQuery(
        id_key,
        object_id,
        start=begin,
        end=finish,
        duration=seconds,
        line_limit=line_limit,
        direction="backward" if direction == "backward" else "forward",
        container=chosen.container,
        text_filter=text_filter,
    )
