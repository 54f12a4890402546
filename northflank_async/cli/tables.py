"""Tables: the columns of each model, fitting them to the terminal, and printing them.

Terminal work is `rich`'s: it measures the terminal, truncates cells with an ellipsis, honours
``NO_COLOR`` / ``FORCE_COLOR`` and prints no escape codes when the output is not a terminal.
A cell shows the API's control, format and bidi characters as escapes (`escape.visible`);
rich reads no markup here (``markup=False``, cells are `Text`). A new model shown by a
command gets its columns here, in `COLUMNS_OF`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO, cast

import attrs
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._core.escape import visible
from .._core.models import Job, JobBuild, JobRun, RunStarted

__all__ = [
    "BUILD_COLUMNS",
    "COLUMNS_OF",
    "JOB_COLUMNS",
    "RUN_COLUMNS",
    "RUN_STARTED_COLUMNS",
    "BufferedTable",
    "Column",
    "StreamedTable",
    "console",
    "fit",
    "format_seconds",
    "isatty",
    "one_field_a_line",
    "status_style",
]

# Width used when the output is not a terminal and COLUMNS is unset: a table written to a file
# or a pipe keeps whole ids (scripts should read --format json/csv, but a grep still works).
_PIPE_WIDTH = 1000

_STYLES = {
    "SUCCESS": "green",
    "FAILURE": "red",
    "FAILED": "red",
    "CRASHED": "red",
    "SUBMISSION_FAILURE": "red",
    "ABORTED": "yellow",
    "UNSCHEDULABLE": "magenta",
}


def status_style(status: object) -> str:
    """The colour of a status: green for success, red for failure, cyan while running."""
    if status is None:
        return ""
    return _STYLES.get(str(status), "cyan")


def format_seconds(seconds: float | None) -> str:
    """``95.0`` -> ``1m 35s``; ``None`` -> ``-``."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _duration(value: timedelta | None) -> str:
    return format_seconds(value.total_seconds() if value is not None else None)


@attrs.frozen
class Column:
    """One column of a table: its header, how a cell reads an item, and how it gives way.

    On a narrow terminal ``flexible`` columns (free text such as branch names) shrink first,
    down to ``min_width``; then the others shrink to theirs; then columns with a ``drop`` rank
    are left out, highest rank first. A ``whole`` column (the id, the one people copy) never
    shrinks: when the others cannot give way enough, the table is shown one field a line.
    ``width`` is the width planned for a streamed row (a listing measures its rows instead).
    """

    header: str
    cell: Callable[[Any], object]
    width: int
    min_width: int
    flexible: bool = False
    status: bool = False
    drop: int = 0
    whole: bool = False


BUILD_COLUMNS = (
    Column("ID", lambda b: b.id, 24, 12, whole=True),
    Column("STATUS", lambda b: b.status, 18, 9, status=True),
    Column("BRANCH", lambda b: b.branch, 20, 6, flexible=True),
    Column("SHA", lambda b: (b.sha or "-")[:7], 7, 7, drop=2),
    Column("CREATED", lambda b: _time(b.created_at), 19, 11),
    Column("DURATION", lambda b: _duration(b.duration), 8, 8, drop=1),
)
RUN_COLUMNS = (
    Column("ID", lambda r: r.id, 24, 12, whole=True),
    Column("STATUS", lambda r: r.status, 8, 7, status=True),
    Column("NAME", lambda r: r.run_name, 24, 6, flexible=True),
    Column("STARTED", lambda r: _time(r.started_at), 19, 11),
    Column("CONCLUDED", lambda r: _time(r.concluded_at), 19, 11, drop=1),
)
RUN_STARTED_COLUMNS = (
    Column("ID", lambda r: r.id, 24, 12, whole=True),
    Column("NAME", lambda r: r.run_name, 24, 6, flexible=True),
)
JOB_COLUMNS = (
    Column("ID", lambda j: j.id, 24, 12, whole=True),
    Column("NAME", lambda j: j.name, 24, 6, flexible=True),
    Column("TYPE", lambda j: j.job_type, 6, 6, drop=2),
    Column("SUSPENDED", lambda j: "yes" if j.suspended else "no", 9, 9, drop=3),
    Column("DESCRIPTION", lambda j: j.description, 30, 6, flexible=True, drop=1),
)
COLUMNS_OF: dict[type, Sequence[Column]] = {
    JobBuild: BUILD_COLUMNS,
    JobRun: RUN_COLUMNS,
    RunStarted: RUN_STARTED_COLUMNS,
    Job: JOB_COLUMNS,
}


# Spaces at the end of a line, before the escape codes that may close it.
_TRAILING = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")


class _Trimmed:
    """A file that writes each whole line without trailing spaces (rich pads cells to their
    width); a partial line is written as it is on flush (a watch's line updated in place)."""

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._pending = ""

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        if lines:
            self._file.write("".join(_TRAILING.sub(r"\1", line) + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._file.write(self._pending)
            self._pending = ""
        self._file.flush()

    def isatty(self) -> bool:
        return isatty(self._file)

    def fileno(self) -> int:
        return self._file.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._file, "encoding", None) or "utf-8"


def console(file: TextIO) -> Console:
    """A rich console on ``file``: colour only on a terminal, never through markup, no
    trailing spaces; piped with no ``COLUMNS``, no width limit (lines never wrap)."""
    width = None
    if not isatty(file) and not os.environ.get("COLUMNS"):
        width = _PIPE_WIDTH
    trimmed = cast(TextIO, _Trimmed(file))
    return Console(
        file=trimmed, width=width, markup=False, emoji=False, highlight=False, soft_wrap=False
    )


def isatty(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):
        return False


def _cell(column: Column, item: Any) -> str:
    value = column.cell(item)
    return "-" if value is None or value == "" else visible(str(value))


def _text(column: Column, item: Any) -> Text:
    value = column.cell(item)
    style = status_style(value) if column.status else ""
    return Text(_cell(column, item), style=style, no_wrap=True, overflow="ellipsis")


def fit(columns: Sequence[Column], ideal: Sequence[int], total: int) -> list[int | None] | None:
    """Column widths that fit ``total`` cells (two between columns); ``None``: left out.

    ``None`` for all: the whole columns and the others' minimums do not fit (show one field
    a line, `one_field_a_line`).
    """
    widths: list[int | None] = list(ideal)

    def excess() -> int:
        shown = [w for w in widths if w is not None]
        return sum(shown) + 2 * (len(shown) - 1) - total

    def shrink(index: int) -> None:
        width = widths[index]
        if width is not None and excess() > 0 and not columns[index].whole:
            widths[index] = max(min(columns[index].min_width, width), width - excess())

    for index, column in enumerate(columns):
        if column.flexible:
            shrink(index)
    for index in range(len(columns)):
        shrink(index)
    for rank in sorted({c.drop for c in columns if c.drop}, reverse=True):
        if excess() <= 0:
            break
        for index, column in enumerate(columns):
            if column.drop == rank:
                widths[index] = None
        for index, width in enumerate(widths):  # give back what the dropped ones freed
            if width is not None and excess() < 0:
                widths[index] = min(ideal[index], width - excess())
    return None if excess() > 0 else widths


def one_field_a_line(columns: Sequence[Column], items: Sequence[Any]) -> str:
    """Each item as ``HEADER: value`` lines, a blank line between items: for a terminal too
    narrow for the table (nothing is cut)."""
    width = max(len(column.header) for column in columns)
    blocks = [
        "\n".join(f"{column.header + ':':<{width + 1}} {_cell(column, item)}" for column in columns)
        for item in items
    ]
    return "\n\n".join(blocks) + "\n"


def _table(columns: Sequence[Column], widths: Sequence[int | None], items: Sequence[Any]) -> Table:
    # No padding, so that a column's width is exactly its cells' (rich adds padding to a set
    # width); the two spaces between columns are columns of their own.
    table = Table(box=None, padding=0, show_edge=False, header_style="bold", expand=False)
    shown = [(c, w) for c, w in zip(columns, widths, strict=True) if w is not None]
    for index, (column, width) in enumerate(shown):
        if index:
            table.add_column("", width=2)
        table.add_column(column.header, no_wrap=True, overflow="ellipsis", width=width)
    for item in items:
        cells: list[Text] = []
        for index, (column, _) in enumerate(shown):
            cells.extend([Text("  ")] if index else [])
            cells.append(_text(column, item))
        table.add_row(*cells)
    return table


class BufferedTable:
    """A listing's table: rows gathered, then laid out by rich to fit the terminal."""

    def __init__(self, out: TextIO) -> None:
        self._console = console(out)
        self._rows: list[Any] = []

    def add(self, item: Any) -> None:
        self._rows.append(item)

    def close(self) -> None:
        if not self._rows:
            return
        columns = COLUMNS_OF[type(self._rows[0])]
        ideal = [
            max(len(column.header), *(len(_cell(column, item)) for item in self._rows))
            for column in columns
        ]
        widths = fit(columns, ideal, self._console.width)
        if widths is None:
            self._console.print(one_field_a_line(columns, self._rows), end="")
            return
        self._console.print(_table(columns, widths, self._rows))


class StreamedTable:
    """A watch's table: each row printed as it comes, in widths planned from the terminal."""

    def __init__(self, out: TextIO) -> None:
        self._console = console(out)
        self._widths: list[int | None] | None = None
        self._planned = False

    def add(self, item: Any) -> None:
        columns = COLUMNS_OF[type(item)]
        first = not self._planned
        if not self._planned:
            ideal = [max(c.width, len(_cell(c, item))) if c.whole else c.width for c in columns]
            self._widths, self._planned = fit(columns, ideal, self._console.width), True
        if self._widths is None:
            self._console.print(("" if first else "\n") + one_field_a_line(columns, [item]), end="")
        else:
            table = _table(columns, self._widths, [item])
            table.show_header = first
            self._console.print(table)
        self._console.file.flush()

    def close(self) -> None:
        pass
