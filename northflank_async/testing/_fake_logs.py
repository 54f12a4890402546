"""The fake's logs, as `FakeNorthflank` shows them: lines, hand-added lines, envelopes, tails.

`LogFace` is the part of the face that reads and adds build and run log lines (the log book,
`._logs`), chooses the envelope of range answers (`._handlers`) and scripts and observes the
WebSocket tails (`._tail`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ._clock import wall_ms
from ._logquery import check_shape
from ._logs import check_hand_lines
from ._records import build_key, run_key
from ._requests import ApiError
from ._rooms import Rooms, check_seconds
from ._tail import TailRecord

__all__ = ["LogFace"]


class LogFace(Rooms):
    """`FakeNorthflank`'s log methods: read and add lines, shape range answers, script tails."""

    def build_logs(self, project_id: str, job_id: str, build_id: str) -> list[dict[str, Any]]:
        """Return the log lines of a build visible now, oldest first, in wire form.

        Each line is ``{"containerId", "log", "ts"}`` (``log`` is usually a string). A
        build's generated log (clone, build steps, push; a failed build ends with an
        error line) grows as the build progresses; lines added with `add_log_lines`
        are merged in by ``ts``. Time-based progress is applied first. These are the
        lines a range without a window, filter or limit would answer, and a tail sends.
        Raises KeyError for an unknown job or build.
        """
        return [line for _, line in self._item_lines(project_id, job_id, build_id, "build")]

    def run_logs(self, project_id: str, job_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return the log lines of a run visible now, oldest first (see `build_logs`)."""
        return [line for _, line in self._item_lines(project_id, job_id, run_id, "run")]

    def _item_lines(
        self, project_id: str, job_id: str, item_id: str, kind: str
    ) -> list[tuple[int, dict[str, Any]]]:
        job = self._store.job(project_id, job_id)
        try:
            return self._handlers.item_lines(job, kind, item_id)
        except ApiError as error:  # an unknown build or run
            raise KeyError(f"unknown {kind} {item_id!r} of job {project_id}/{job_id}") from error

    def add_log_lines(
        self,
        project_id: str,
        job_id: str,
        item_id: str,
        lines: Sequence[str | dict[str, Any]],
        *,
        kind: Literal["build", "run"] = "build",
    ) -> list[dict[str, Any]]:
        """Add lines by hand to the log of a build (or, with ``kind="run"``, a run).

        A line is a string (its ``log``) or a dict with ``log`` (any JSON value) and
        optionally ``ts`` (ISO-8601; default: now) and ``containerId`` (default: the
        item's main container, ``{id}-builder`` or ``{id}-main``). A line shows once the
        fake's clock reaches its ``ts``; at one ``ts``, generated lines come first. A
        tail only sends lines newer than the last one it sent: add lines with a ``ts``
        of now or later to see them in a running tail. Returns the wire lines added.
        Raises KeyError for an unknown item, TypeError/ValueError for a bad line (its
        JSON may hold at most 16 KiB, so that every line fits a tail frame).
        """
        if kind not in ("build", "run"):
            raise ValueError('kind must be "build" or "run"')
        job = self._store.job(project_id, job_id)
        items = job.by_id if kind == "build" else job.runs_by_id
        if item_id not in items:
            raise KeyError(f"unknown {kind} {item_id!r} of job {project_id}/{job_id}")
        container = f"{item_id}-builder" if kind == "build" else f"{item_id}-main"
        timed = check_hand_lines(lines, container, wall_ms(self._clock))
        key = build_key(job, item_id) if kind == "build" else run_key(job, item_id)
        self._store.logs.add(key, timed)
        return [dict(line) for _, line in timed]

    def set_log_shape(self, shape: str, *, pagination: bool = True) -> None:
        """Choose the envelope of range answers of the logs endpoints.

        `shape` is ``"data"`` (``{"data": [lines]}``, the default), ``"data.logs"``
        (``{"data": {"logs": [lines]}}``) or ``"data.data"`` (``{"data": {"data":
        [lines]}}``). With `pagination` (the default) every answer carries
        ``pagination: {"hasNextPage", "cursor"?, "count"}``, the cursor being the
        ``ts`` of the answer's last line when it was truncated; without it no answer
        says whether it was truncated.
        """
        name, flag = check_shape(shape)
        if flag is not None:
            raise ValueError("give pagination as the keyword argument")
        if not isinstance(pagination, bool):
            raise TypeError("pagination must be a bool")
        self._handlers.log_shape, self._handlers.log_pagination = name, pagination

    def script_log_shapes(self, *shapes: str) -> None:
        """Answer the next range requests of the logs endpoints in these shapes, in order.

        Each step is a shape of `set_log_shape`, optionally followed by
        ``":pagination"`` or ``":nopagination"`` (else the fake's setting applies), e.g.
        ``fake.script_log_shapes("data.logs", "data.data:nopagination")``.
        """
        self._handlers.script_log_shapes(shapes)

    @property
    def log_page_limit(self) -> int:
        """The most lines one range answer holds (1000 by default); past it the answer
        is truncated (``hasNextPage: true``) whatever ``lineLimit`` asked."""
        return self._handlers.log_page_limit

    @log_page_limit.setter
    def log_page_limit(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("log_page_limit must be an int >= 1")
        self._handlers.log_page_limit = value

    def script_tail(self, *steps: str) -> None:
        """Queue one fault per upcoming WebSocket tail connection, in order.

        A step is ``"ok"`` (a normal tail), ``"refuse_auth"`` (answer the init frame
        with ``auth: "failed"`` whatever the token, then close), or one of these
        followed by ``:N``, acted out once the connection has sent N ``log-lines``
        frames (0: right after a successful init): ``drop_after`` (close the TCP
        connection without a close frame), ``close_after`` (a clean close, code 1012),
        ``error_after`` (an ``error`` frame, then close with code 1011),
        ``unknown_after`` (a frame of an unknown type, then go on) or
        ``oversized_after`` (a ``log-lines`` frame larger than the 32 kB bound holding
        one made-up line, then go on). E.g. ``fake.script_tail("drop_after:2",
        "drop_after:2", "drop_after:2")`` drops the next three tails.
        """
        self._routes.tails.add_steps(steps)

    @property
    def tail_poll_interval(self) -> float:
        """Seconds of loop time between two looks at the log by a tail (0.05)."""
        return self._routes.tails.poll

    @tail_poll_interval.setter
    def tail_poll_interval(self, value: float) -> None:
        seconds = check_seconds("tail_poll_interval", value)
        if seconds <= 0:
            raise ValueError("tail_poll_interval must be > 0")
        self._routes.tails.poll = seconds

    @property
    def tails(self) -> list[TailRecord]:
        """The WebSocket tail connections accepted so far, oldest first.

        A fresh list of frozen `TailRecord` (path, query with any credential redacted,
        auth result, frames and lines sent, scripted step, how it ended); a running
        tail shows ``ended="open"``. `reset_stats` forgets them.
        """
        return [session.record for session in self._routes.tails.sessions]

    @property
    def tail_count(self) -> int:
        """How many WebSocket tail connections were accepted (see `tails`)."""
        return len(self._routes.tails.sessions)
