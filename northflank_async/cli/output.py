"""What the command line prints: tables, JSON, JSON lines and CSV, colour and progress.

Terminal work is `rich`'s: it measures the terminal, truncates cells with an ellipsis, honours
``NO_COLOR`` / ``FORCE_COLOR`` and prints no escape codes when the output is not a terminal.
Nothing here sends a request.

Text from the API never reaches the terminal raw: a table cell or a note shows control,
format and bidi characters as escapes (`_escape.visible`), a CSV cell that would start a
formula gets a ``'`` (`_escape.csv_cell`), and JSON stays exact (``json.dumps`` escapes
every non-ASCII character). Rich reads no markup here (``markup=False``, cells are `Text`).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar, get_args, get_type_hints

import attrs
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from .._core.escape import csv_cell, visible
from .._core.jsonable import to_json
from .basics import FORMATS
from .tables import BufferedTable, StreamedTable, console, format_seconds, isatty, status_style

__all__ = ["FORMATS", "Output"]

T = TypeVar("T")


class _Json:
    """``json``: one document, indented alike: a list (an array, streamed item by item) or
    one object; the text is what ``json.dumps(document, indent=2)`` writes."""

    def __init__(self, out: TextIO, many: bool) -> None:
        self._out, self._many, self._count = out, many, 0

    def add(self, item: Any) -> None:
        if not self._many:
            self._out.write(json.dumps(to_json(item), indent=2) + "\n")
            return
        text = json.dumps(to_json(item), indent=2).replace("\n", "\n  ")
        self._out.write(("[\n  " if self._count == 0 else ",\n  ") + text)
        self._out.flush()
        self._count += 1

    def close(self) -> None:
        if self._many:
            self._out.write("[]\n" if self._count == 0 else "\n]\n")


class _JsonLines:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def add(self, item: Any) -> None:
        self._out.write(json.dumps(to_json(item)) + "\n")
        self._out.flush()

    def close(self) -> None:
        pass


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            flat[prefix + key] = ";".join(str(v) for v in value)
        else:
            flat[prefix + key] = value
    return flat


def _csv_fields(cls: type, prefix: str = "") -> list[str]:
    """Every column of a model, nested models' fields included (``registry.uri``)."""
    hints = get_type_hints(cls)
    fields: list[str] = []
    for field in attrs.fields(cls):
        hint = hints[field.name]
        nested = [a for a in (get_args(hint) or (hint,)) if isinstance(a, type) and attrs.has(a)]
        if nested:
            fields.extend(_csv_fields(nested[0], f"{prefix}{field.name}."))
        else:
            fields.append(prefix + field.name)
    return fields


def _csv_value(value: Any) -> Any:
    """``true``/``false`` as JSON writes them (not Python's True/False); times are ISO already."""
    return ("true" if value else "false") if isinstance(value, bool) else value


class _Csv:
    """``csv``: a header row, then one row per item (nested fields as ``registry.uri``)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._writers: tuple[csv.DictWriter[str], csv.DictWriter[str]] | None = None

    def add(self, item: Any) -> None:
        if self._writers is None:
            fields = _csv_fields(type(item))
            self._writers = (
                csv.DictWriter(self._out, fields, extrasaction="ignore", lineterminator="\n"),
                csv.DictWriter(
                    self._out,
                    fields,
                    extrasaction="ignore",
                    lineterminator="\n",
                    quoting=csv.QUOTE_ALL,
                ),
            )
            self._writers[0].writeheader()
        # A cell that a spreadsheet would read as a formula (=, +, -, @, ...) gets a "'".
        row = {k: csv_cell(_csv_value(v)) for k, v in _flatten(to_json(item)).items()}
        # With "\n" as the line end, csv leaves a bare CR unquoted, and a reader takes it for
        # the end of the row: a row holding one is written with every cell quoted.
        plain, quoted = self._writers
        carriage = any(isinstance(v, str) and "\r" in v for v in row.values())
        (quoted if carriage else plain).writerow(row)
        self._out.flush()

    def close(self) -> None:
        pass


class Output:
    """Where a command's results go, in the format the user chose."""

    def __init__(self, fmt: str, out: TextIO, err: TextIO) -> None:
        self.format = fmt
        self.out = out
        self.err = err

    def _sink(self, *, many: bool, stream: bool) -> Any:
        if self.format == "json":
            return _Json(self.out, many)
        if self.format == "jsonl":
            return _JsonLines(self.out)
        if self.format == "csv":
            return _Csv(self.out)
        return StreamedTable(self.out) if stream else BufferedTable(self.out)

    def one(self, item: Any) -> None:
        """Print one item: a JSON object, one CSV row, or a one-row table."""
        sink = self._sink(many=False, stream=False)
        sink.add(item)
        sink.close()

    async def listing(
        self, items: AsyncIterator[Any], what: str, *, limit: int | None = None
    ) -> int:
        """Print the items of a listing, the first ``limit`` (``None``: all); returns how many.

        ``items`` may hold one item more than ``limit``: it is not printed, and a line on
        stderr says there is more and how to see it. A table waits for the last row to lay
        itself out; meanwhile, and whenever the output goes to a file or a pipe, a progress
        line counts the items on stderr, if stderr is a terminal (never otherwise).
        """
        sink = self._sink(many=True, stream=False)
        count, more = 0, False
        with self._progress(what) as advance:
            async for item in items:
                if limit is not None and count >= limit:
                    more = True
                    break
                sink.add(item)
                count += 1
                advance()
        sink.close()
        if more:
            self.note(f"showing the first {count} {what}; there are more: --limit N or --all")
        return count

    async def collect(self, items: AsyncIterator[T], what: str) -> list[T]:
        """Gather a listing to compute on, with the same progress line as `listing()`."""
        gathered: list[T] = []
        with self._progress(what, quiet_output=True) as advance:
            async for item in items:
                gathered.append(item)
                advance()
        return gathered

    @contextmanager
    def stream(self) -> Iterator[Callable[[Any], None]]:
        """Print items as they come (watch, follow); a JSON list is closed at the end."""
        sink = self._sink(many=True, stream=True)
        try:
            yield sink.add
        finally:
            sink.close()

    def live_line(self) -> bool:
        """Whether a watch shows one line updated in place (a table, on a terminal)."""
        return self.format == "table" and isatty(self.out)

    @contextmanager
    def live(self) -> Iterator[Callable[[Any], None]]:
        """On a terminal: one line, rewritten with each state, and the time since it began."""
        con = console(self.out)
        began = time.monotonic()
        try:

            def show(item: Any) -> None:
                status = str(getattr(item, "status", None) or "-")
                elapsed = format_seconds(time.monotonic() - began)
                line = f"{visible(item.id)}  {visible(status):<12}  {elapsed} elapsed"
                con.file.write("\r\x1b[2K")  # back to the line's start, and clear it
                con.print(line[: max(con.width - 1, 1)], style=status_style(status), end="")
                con.file.flush()

            yield show
        finally:
            con.file.write("\n")
            con.file.flush()

    def note(self, message: str) -> None:
        """One line for the user on stderr (never part of the data on stdout)."""
        self.err.write(f"northflank-async: {visible(message)}\n")
        self.err.flush()

    @contextmanager
    def _progress(self, what: str, *, quiet_output: bool = False) -> Iterator[Callable[[], None]]:
        visible_rows = not quiet_output and self.format != "table" and isatty(self.out)
        if not isatty(self.err) or visible_rows:
            yield lambda: None
            return
        progress = Progress(
            SpinnerColumn(),
            TextColumn("fetching {task.description}: {task.completed} so far"),
            console=Console(file=self.err),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        task = progress.add_task(what, total=None)
        with progress:
            yield lambda: progress.advance(task)
