"""What the two streaming commands share: ``monitor`` and ``webhooks serve`` print one line per
event as it comes, an aligned table row or a JSON object, each stamped with when it was seen.

`stream_options()` adds their common options, `seen_stamp()` writes the stamp, `stream_line()`
the line. Light: ``--help`` imports it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .._core.escape import visible

__all__ = ["seen_stamp", "stream_line", "stream_options"]


def stream_options(sub: argparse.ArgumentParser, each: str) -> None:
    """``-o/--format table|jsonl`` (one line per `each`, an "event") and the hidden test knob
    ``--max-events N`` (stop after N; 0: never)."""
    sub.add_argument(
        "-o",
        "--format",
        choices=("table", "jsonl"),
        metavar="FORMAT",
        default="table",
        help=f"output: table: one aligned line per {each} (default); jsonl: one JSON object "
        f"per {each}",
    )
    sub.add_argument("--max-events", type=int, default=0, help=argparse.SUPPRESS)


def seen_stamp(seen: datetime | None = None) -> str:
    """When a line's event was seen (default: now), in UTC to the second (``...Z``)."""
    at = (seen or datetime.now(UTC)).astimezone(UTC)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def stream_line(fmt: str, record: Mapping[str, Any], row: Sequence[tuple[str, int]]) -> str:
    """One event's line: `record` (its ``"time"`` first) as a JSON object with ``jsonl``; else
    the time, then each (text, width) of `row` padded to its width, two spaces apart.

    Every cell is the sender's (or the API's) text: shown escaped, never obeyed by the
    terminal (escape sequences, CRs, bidi); JSON stays exact.
    """
    if fmt == "jsonl":
        return json.dumps(record)
    return "  ".join([record["time"], *(visible(text).ljust(width) for text, width in row)])
