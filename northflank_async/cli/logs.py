"""``logs`` of any item kind (``builds logs``, ``runs logs``): a range, or live with --follow.

`logs_options()` adds the options, `show_logs()` runs the command on a resource that has
``get``, ``logs`` and ``tail_logs`` (a job's or a service's builds, a job's runs).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from .._core.escape import json_line, visible
from .exits import EXIT_OK
from .registry import Context, UsageError, outcome_exit_status

if TYPE_CHECKING:
    from .._core.models import LogLine

__all__ = ["logs_options", "show_logs"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _last(value: str) -> timedelta:
    """``--since`` of ``logs``: a duration such as 30s, 10m, 2h or 1d."""
    match = re.fullmatch(r"([0-9]{1,9})([smhd])", value)
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"--since {value!r}: use a positive number and a unit, e.g. 30s, 10m, 2h or 1d"
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def logs_options(item: Callable[[argparse.ArgumentParser], None]) -> Callable[..., None]:
    """The options of ``logs``, after ``item`` (the adder of the item's id option)."""

    def add(sub: argparse.ArgumentParser) -> None:
        item(sub)
        sub.add_argument(
            "--follow",
            action="store_true",
            help="print lines live until it concludes; exit status as watch",
        )
        sub.add_argument(
            "--since",
            type=_last,
            metavar="DURATION",
            help="only the lines of the last DURATION (30s, 10m, 2h, 1d); default: the whole log",
        )
        sub.add_argument("--grep", metavar="TEXT", help="only the lines that contain TEXT")
        sub.add_argument("-n", "--limit", type=int, metavar="N", help="stop after N lines")

    return add


_LOG_KEEPS = "\t\n"  # what a log line printed as text keeps of its control characters


def _print_line(out: TextIO, fmt: str, line: LogLine) -> None:
    ts = line.ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if fmt == "jsonl":
        log = line.text if line.raw is None else line.raw
        wire = {"ts": ts, "containerId": line.container_id, "log": log}
        out.write(json_line(wire) + "\n")  # exact; controls and bidi written as \\uXXXX
    else:
        # The log's own text: escape sequences, CRs, C1 and bidi controls shown, not obeyed
        # (a tab or a newline of the line is kept).
        container = visible(line.container_id or "-")
        out.write(f"{ts}  {container}  {visible(line.text, keep=_LOG_KEEPS)}\n")
    out.flush()  # live lines show as they come, also through a pipe


async def show_logs(ctx: Context, resource: Any, item_id: str) -> int:
    """Print the log of ``item_id``: a range, or with ``--follow`` a tail; the exit status."""
    args = ctx.args
    if args.limit == 0:
        return EXIT_OK
    item = await resource.get(item_id)
    began = getattr(item, "created_at", None) or getattr(item, "started_at", None)
    live = args.follow and not item.is_concluded
    try:
        if live:
            # A tail takes no duration: --since counts back from this machine's clock.
            since = None if args.since is None else datetime.now(UTC) - args.since
            lines = resource.tail_logs(item_id, start=since or began, text_includes=args.grep)
        elif args.since is not None:  # the API's own "last N seconds"
            lines = resource.logs(
                item_id, duration=args.since, line_limit=args.limit, text_includes=args.grep
            )
        else:
            lines = resource.logs(
                item_id, start=began, line_limit=args.limit, text_includes=args.grep
            )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    printed = 0
    async with lines:
        async for line in lines:
            _print_line(ctx.output.out, args.format, line)
            printed += 1
            if args.limit is not None and printed >= args.limit:
                return EXIT_OK
    if not args.follow:
        return EXIT_OK
    return outcome_exit_status(await resource.get(item_id) if live else item)
