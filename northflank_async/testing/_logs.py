"""The log book: generated build and run logs, and the lines added by hand.

A log is a plan of lines grouped in phases (a build: starting, clone, build steps, push,
then its outcome; a run: its work, then its outcome), generated reproducibly from the
fake's seed and the item's id. A phase's lines are timed from the moment the phase began:
a line is visible once the clock reaches its ``ts``; when a phase ends before all its
lines were due, the rest are stamped with the moment it ended (they arrive in a burst).
So the lines visible at one moment are always a prefix of the lines visible later, and a
line's ``ts`` never changes once it is visible.

Live items (started builds and runs) record when they entered each phase, as the progress
engine moves them; other items (the generated history, items added with a final status)
are timed from their ``createdAt``/``startedAt`` and conclusion times.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Hashable, Mapping
from typing import Any, Final

from ._clock import WALL_EPOCH_MS, format_ms, parse_ms

__all__ = [
    "BUILD_PHASES",
    "MAX_LINE_BYTES",
    "LogBook",
    "LogLine",
    "Timed",
    "build_phase",
    "check_hand_lines",
]

LogLine = dict[str, Any]
"""A line on the wire: ``{"containerId": str, "log": any, "ts": ISO-8601}``."""
Timed = tuple[int, LogLine]
"""A line with its ``ts`` in epoch milliseconds, for sorting and windows."""

#: The phases of a build's log before its outcome; the outcome's lines come last.
BUILD_PHASES: Final = ("STARTING", "CLONING", "BUILDING", "UPLOADING")
_BUILD_FINAL_PHASE: Final = len(BUILD_PHASES)
_RUN_FINAL_PHASE: Final = 1
#: Which log phase a build status means (statuses before STARTING show no lines yet).
_STATUS_PHASE: Final = {
    "STARTING": 0,
    "CLONING": 1,
    "BUILDING": 2,
    "IN_PROGRESS": 2,
    "UPLOADING": 3,
}
_BUILD_FINAL: Final = frozenset({"SUCCESS", "FAILURE", "CRASHED", "SUBMISSION_FAILURE", "ABORTED"})
#: Where each phase of a historical build begins, as a fraction of its duration.
_HISTORY_FRACTIONS: Final = (0.0, 0.05, 0.15, 0.85)
#: A build without a conclusion time is taken to have lasted this long (ms).
_DEFAULT_SPAN_MS: Final = 600_000
#: The largest line `add_log_lines` accepts (its JSON), so every line fits a tail frame.
MAX_LINE_BYTES: Final = 16_384

_INSTRUCTIONS: Final = (
    "FROM node:20-alpine AS base",
    "WORKDIR /app",
    "COPY package.json package-lock.json ./",
    "RUN npm ci --omit=dev",
    "COPY . .",
    "RUN npm run build",
    "RUN npm test",
    "ENV NODE_ENV=production",
    "EXPOSE 8080",
    "RUN addgroup -S app && adduser -S app -G app",
    "USER app",
    'CMD ["node", "dist/main.js"]',
    "ARG GIT_SHA",
    "LABEL org.opencontainers.image.source=northflank",
)
_ERRORS: Final = {
    "FAILURE": 'ERROR: failed to solve: process "/bin/sh -c npm test" did not complete '
    "successfully: exit code: 1",
    "CRASHED": "ERROR: the builder crashed: container killed (out of memory)",
    "SUBMISSION_FAILURE": "ERROR: build submission failed: could not schedule the builder",
    "ABORTED": "Build aborted",
}


def build_phase(status: object) -> int | None:
    """The log phase a build in `status` has reached (None: no lines yet)."""
    if status in _BUILD_FINAL:
        return _BUILD_FINAL_PHASE
    return _STATUS_PHASE.get(status) if isinstance(status, str) else None


@dataclasses.dataclass(slots=True)
class _Planned:
    phase: int
    offset_ms: int
    container: str
    log: Any


@dataclasses.dataclass(slots=True)
class _Timeline:
    """One item's planned lines and when each of its phases began."""

    plan: list[_Planned]
    starts: list[int | None]  # one per phase, the last being the outcome
    skipped: set[int] = dataclasses.field(default_factory=set)

    def enter(self, phase: int, now_ms: int) -> None:
        """Begin `phase` now; phases passed over begin (and end) now too."""
        for index in range(min(phase + 1, len(self.starts))):
            if self.starts[index] is None and index not in self.skipped:
                self.starts[index] = now_ms

    def finish(self, lines: list[_Planned], now_ms: int, *, keep_pending: bool) -> None:
        """Conclude now with the outcome's `lines`; phases not begun are skipped unless
        `keep_pending` (a success goes through all of them)."""
        final = len(self.starts) - 1
        if self.starts[final] is not None:
            return
        if keep_pending:
            self.enter(final, now_ms)
        else:
            self.skipped.update(i for i in range(final) if self.starts[i] is None)
            self.starts[final] = now_ms
        self.plan.extend(lines)

    def timed(self, now_ms: int) -> list[Timed]:
        """The lines visible at `now_ms`, oldest first."""
        ends: list[int | None] = []
        for phase in range(len(self.starts)):
            later = [s for s in self.starts[phase + 1 :] if s is not None]
            ends.append(later[0] if later else None)
        out: list[Timed] = []
        for item in self.plan:
            start = self.starts[item.phase]
            if start is None or item.phase in self.skipped:
                continue
            ts = start + item.offset_ms
            end = ends[item.phase]
            if end is not None and ts > end:
                ts = end
            if ts > now_ms:
                continue
            out.append((ts, {"containerId": item.container, "log": item.log, "ts": format_ms(ts)}))
        return out


class LogBook:
    """Every item's log: live timelines, and lines added by hand, keyed like the engine."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._live: dict[Hashable, _Timeline] = {}
        self._extra: dict[Hashable, list[Timed]] = {}

    def _rng(self, key: Hashable) -> random.Random:
        return random.Random(f"{self._seed}/logs/{'/'.join(map(str, _as_tuple(key)))}")

    # ------------------------------------------------------------------ live items

    def track_build(self, key: Hashable, build: Mapping[str, Any], now_ms: int) -> None:
        """Start recording a started build's phases (it is in a pipeline stage now)."""
        timeline = _Timeline(
            _build_plan(self._rng(key), key, build), [None] * (_BUILD_FINAL_PHASE + 1)
        )
        self._live[key] = timeline
        self.build_status(key, build.get("status"), now_ms)

    def build_status(self, key: Hashable, status: object, now_ms: int) -> None:
        """A live build entered `status` now."""
        timeline = self._live.get(key)
        phase = build_phase(status)
        if timeline is None or phase is None:
            return
        if phase == _BUILD_FINAL_PHASE:
            assert isinstance(status, str)
            lines = _build_outcome(self._rng((key, "outcome")), key, status)
            timeline.finish(lines, now_ms, keep_pending=status == "SUCCESS")
        else:
            timeline.enter(phase, now_ms)

    def track_run(self, key: Hashable, run: Mapping[str, Any], now_ms: int) -> None:
        """Start recording a started run (RUNNING now)."""
        timeline = _Timeline(_run_plan(self._rng(key), key, run), [None, None])
        timeline.enter(0, now_ms)
        self._live[key] = timeline

    def run_concluded(self, key: Hashable, status: str, now_ms: int) -> None:
        """A live run concluded with `status` now."""
        timeline = self._live.get(key)
        if timeline is not None:
            lines = _run_outcome(self._rng((key, "outcome")), key, status)
            timeline.finish(lines, now_ms, keep_pending=True)

    # ------------------------------------------------------------------ reading

    def build_lines(self, key: Hashable, build: Mapping[str, Any], now_ms: int) -> list[Timed]:
        """The lines of a build visible at `now_ms`, oldest first."""
        timeline = self._live.get(key)
        if timeline is None:
            timeline = self._historic_build(key, build)
        return self._merged(key, timeline.timed(now_ms), now_ms)

    def run_lines(self, key: Hashable, run: Mapping[str, Any], now_ms: int) -> list[Timed]:
        """The lines of a run visible at `now_ms`, oldest first."""
        timeline = self._live.get(key)
        if timeline is None:
            timeline = self._historic_run(key, run)
        return self._merged(key, timeline.timed(now_ms), now_ms)

    def _merged(self, key: Hashable, generated: list[Timed], now_ms: int) -> list[Timed]:
        extra = [line for line in self._extra.get(key, ()) if line[0] <= now_ms]
        # Sorting is stable: at one ts, generated lines come before those added by hand.
        lines = sorted(generated + extra, key=lambda line: line[0])
        return [(ts, dict(line)) for ts, line in lines]

    def add(self, key: Hashable, lines: list[Timed]) -> None:
        """Add lines by hand (already checked); they show once the clock reaches them."""
        self._extra.setdefault(key, []).extend(lines)

    # ------------------------------------------------------------------ history

    def _historic_build(self, key: Hashable, build: Mapping[str, Any]) -> _Timeline:
        created = parse_ms(build.get("createdAt"))
        created = WALL_EPOCH_MS - _DEFAULT_SPAN_MS if created is None else created
        status = build.get("status")
        phase = build_phase(status)
        concluded_at = build.get("buildConcludedAt")
        if isinstance(concluded_at, int | float) and not isinstance(concluded_at, bool):
            ended = int(concluded_at * 1000 if concluded_at < 1e12 else concluded_at)
        else:
            ended = created + _DEFAULT_SPAN_MS
        span = max(ended - created, 1)
        timeline = _Timeline(
            _build_plan(self._rng(key), key, build), [None] * (_BUILD_FINAL_PHASE + 1)
        )
        if phase is None:
            return timeline
        reached = {
            "SUCCESS": 3,
            "SUBMISSION_FAILURE": 0,
        }.get(str(status), 2 if phase == _BUILD_FINAL_PHASE else phase)
        for index in range(reached + 1):
            timeline.starts[index] = created + int(span * _HISTORY_FRACTIONS[index])
        if phase == _BUILD_FINAL_PHASE:
            lines = _build_outcome(self._rng((key, "outcome")), key, str(status))
            timeline.finish(lines, max(ended, created), keep_pending=False)
        return timeline

    def _historic_run(self, key: Hashable, run: Mapping[str, Any]) -> _Timeline:
        started = parse_ms(run.get("startedAt"))
        started = WALL_EPOCH_MS - _DEFAULT_SPAN_MS if started is None else started
        timeline = _Timeline(_run_plan(self._rng(key), key, run), [started, None])
        status = run.get("status")
        if run.get("concluded") is True or status in ("SUCCESS", "FAILED"):
            ended = parse_ms(run.get("concludedAt"))
            ended = started + _DEFAULT_SPAN_MS if ended is None else max(ended, started)
            lines = _run_outcome(self._rng((key, "outcome")), key, str(status))
            timeline.finish(lines, ended, keep_pending=True)
        return timeline


# ---------------------------------------------------------------------- generation


def _as_tuple(key: Hashable) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


def _item_id(key: Hashable) -> str:
    return str(_as_tuple(key)[-1])


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


class _Planner:
    """Appends planned lines, in bursts that share one offset."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.plan: list[_Planned] = []
        self.offset = 0

    def burst(self, phase: int, container: str, *logs: Any, gap: tuple[int, int]) -> None:
        self.offset += self.rng.randint(*gap)
        self.plan.extend(_Planned(phase, self.offset, container, log) for log in logs)

    def phase(self) -> None:
        self.offset = 0


def _build_plan(rng: random.Random, key: Hashable, build: Mapping[str, Any]) -> list[_Planned]:
    build_id = _item_id(key)
    parts = _as_tuple(key)
    project, job = (parts[1], parts[2]) if len(parts) >= 4 else ("project", "job")
    main = f"{build_id}-builder"
    cache = f"{build_id}-cache" if rng.random() < 0.3 else None
    odd_step = rng.randint(1, 6) if rng.random() < 0.25 else None
    given_sha, given_branch = build.get("sha"), build.get("branch")
    sha = given_sha if isinstance(given_sha, str) else _hex(rng, 40)
    branch = given_branch if isinstance(given_branch, str) else "main"
    p = _Planner(rng)
    p.burst(0, main, f"Build {build_id} scheduled on builder pool eu-west-1", gap=(0, 0))
    p.burst(0, main, "Pulling builder image northflank/buildkit:0.12", gap=(200, 900))
    p.phase()
    p.burst(
        1,
        main,
        f"Cloning repository https://github.com/example/{job}.git ...",
        f"Checking out {sha[:12]} on branch {branch}",
        f"HEAD is now at {sha[:7]} Update {branch}",
        gap=(100, 400),
    )
    p.burst(1, main, f"Clone complete in {rng.randint(5, 40) / 10:.1f}s", gap=(300, 1500))
    p.phase()
    steps = rng.randint(6, 14)
    for step in range(1, steps + 1):
        instruction = rng.choice(_INSTRUCTIONS)
        # Three lines per step share one timestamp, on purpose: clients must cope.
        p.burst(
            2,
            main,
            f"Step {step}/{steps} : {instruction}",
            f" ---> Running in {_hex(rng, 12)}",
            f" ---> {_hex(rng, 12)}",
            gap=(300, 2500),
        )
        if cache is not None and step % 3 == 0:
            p.burst(2, cache, f"cache: restored layer sha256:{_hex(rng, 12)}", gap=(0, 200))
        if step == odd_step:
            structured = {"level": "warn", "message": "npm WARN deprecated inflight@1.0.6"}
            p.burst(2, main, structured, gap=(50, 300))
    p.burst(2, main, f"Successfully built {_hex(rng, 12)}", gap=(200, 800))
    p.phase()
    p.burst(
        3, main, f"Pushing image registry.northflank.com/{project}/{job}:{build_id}", gap=(0, 0)
    )
    for _ in range(rng.randint(2, 4)):
        p.burst(3, main, f"{_hex(rng, 12)}: Pushed", gap=(200, 1500))
    digest = _hex(rng, 64)
    p.burst(3, main, f"{build_id}: digest: sha256:{digest} size: 2417", gap=(100, 600))
    return p.plan


def _build_outcome(rng: random.Random, key: Hashable, status: str) -> list[_Planned]:
    main = f"{_item_id(key)}-builder"
    if status == "SUCCESS":
        return [_Planned(_BUILD_FINAL_PHASE, 0, main, "Build complete: image pushed")]
    error = _ERRORS.get(status, f"ERROR: build ended with status {status}")
    return [_Planned(_BUILD_FINAL_PHASE, 0, main, error)]


def _run_plan(rng: random.Random, key: Hashable, run: Mapping[str, Any]) -> list[_Planned]:
    run_id = _item_id(key)
    main = f"{run_id}-main"
    sidecar = f"{run_id}-sidecar" if rng.random() < 0.3 else None
    p = _Planner(rng)
    p.burst(0, main, "Pulling image registry.northflank.com/job:latest", gap=(0, 0))
    p.burst(0, main, "Container started", gap=(300, 1200))
    if sidecar is not None:
        p.burst(0, sidecar, "sidecar: proxy listening on 127.0.0.1:15001", gap=(0, 100))
    batches = rng.randint(5, 12)
    for batch in range(1, batches + 1):
        records = rng.randint(50, 500)
        p.burst(
            0,
            main,
            f"Processing batch {batch}/{batches}",
            f"  fetched {records} records",
            f"  wrote {records} records",
            gap=(400, 3000),
        )
    if rng.random() < 0.25:
        p.burst(0, main, {"level": "info", "event": "metrics", "batches": batches}, gap=(50, 300))
    return p.plan


def _run_outcome(rng: random.Random, key: Hashable, status: str) -> list[_Planned]:
    main = f"{_item_id(key)}-main"
    if status == "SUCCESS":
        return [_Planned(_RUN_FINAL_PHASE, 0, main, "Job completed successfully")]
    code = rng.choice((1, 2, 137))
    return [_Planned(_RUN_FINAL_PHASE, 0, main, f"Error: job exited with code {code}")]


def check_hand_lines(lines: object, default_container: str, now_ms: int) -> list[Timed]:
    """Check lines given to `add_log_lines` and return them timed (ValueError when bad)."""
    if isinstance(lines, str | bytes | Mapping) or not isinstance(lines, list | tuple):
        raise TypeError("lines must be a list of strings or line dicts")
    out: list[Timed] = []
    for line in lines:
        if isinstance(line, str):
            line = {"log": line}
        if not isinstance(line, Mapping):
            raise TypeError(f"each line must be a string or a dict, got {line!r}")
        unknown = set(line) - {"containerId", "log", "ts"}
        if unknown:
            raise ValueError(f"unknown line keys {sorted(unknown)}")
        if "log" not in line:
            raise ValueError("each line needs a 'log' value")
        container = line.get("containerId", default_container)
        if not isinstance(container, str) or not container:
            raise ValueError("containerId must be a non-empty string")
        ts_ms = now_ms if "ts" not in line else parse_ms(line["ts"])
        if ts_ms is None:
            raise ValueError(f"ts must be an ISO-8601 timestamp, got {line['ts']!r}")
        wire = {"containerId": container, "log": line["log"], "ts": format_ms(ts_ms)}
        wire = json.loads(json.dumps(wire))  # a copy, and proof that it is JSON
        if len(json.dumps(wire).encode()) > MAX_LINE_BYTES:
            raise ValueError(f"a line may hold at most {MAX_LINE_BYTES} bytes of JSON")
        out.append((ts_ms, wire))
    return out
