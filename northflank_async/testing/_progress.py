"""The progress engine: moves started builds and runs along their pipelines over time.

Each tracked item walks a pipeline of statuses one stage at a time, either one stage per
single GET of it (``"poll"`` mode) or one stage every `step` seconds of the injected clock
(computed when read, so nothing runs in the background), and then concludes with its
outcome. The engine knows nothing of the wire format: the store gives it a callback that
writes a status and one that concludes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from typing import Literal

from ._clock import Clock

__all__ = ["Kind", "ProgressEngine", "Step"]

Kind = Literal["build", "run"]
Step = Literal["poll"] | float


@dataclasses.dataclass(slots=True)
class _Track:
    kind: Kind
    item_id: str
    pipeline: tuple[str, ...]
    stage: int
    step: float | None  # None: one stage per single GET ("poll"); else seconds per stage
    outcome: str
    started: float  # clock reading at creation
    start_stage: int
    set_status: Callable[[str], None]
    conclude: Callable[[str, float], None]  # the outcome, and the clock reading it happened at

    def stage_at(self, now: float) -> int:
        """Return the stage reached by `now` in time mode."""
        assert self.step is not None
        if self.step <= 0:
            return len(self.pipeline)
        return self.start_stage + int((now - self.started) / self.step)


@dataclasses.dataclass(slots=True)
class _Settings:
    step: float | None = None
    outcome: str = "SUCCESS"


class ProgressEngine:
    """Tracks items in progress, keyed by any hashable key the store chooses."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._active: dict[Hashable, _Track] = {}
        self._settings: dict[Kind, _Settings] = {"build": _Settings(), "run": _Settings()}
        self._outcomes: dict[tuple[Kind, str], str] = {}

    def configure(self, kind: Kind, step: Step, outcome: str) -> None:
        """Set how items of `kind` started from now on progress, and how they end."""
        if step != "poll" and (isinstance(step, str) or not step >= 0):
            raise ValueError('step must be "poll" or a number of seconds >= 0')
        self._settings[kind] = _Settings(None if step == "poll" else float(step), outcome)

    def set_outcome(self, kind: Kind, item_id: str, outcome: str) -> None:
        """Make the item `item_id` of `kind` end with `outcome` (before or after it starts)."""
        self._outcomes[(kind, item_id)] = outcome

    def track(
        self,
        key: Hashable,
        *,
        kind: Kind,
        item_id: str,
        pipeline: tuple[str, ...],
        stage: int,
        set_status: Callable[[str], None],
        conclude: Callable[[str, float], None],
    ) -> None:
        """Start moving an item along `pipeline` from `stage`."""
        settings = self._settings[kind]
        self._active[key] = _Track(
            kind,
            item_id,
            pipeline,
            stage,
            settings.step,
            settings.outcome,
            self._clock(),
            stage,
            set_status,
            conclude,
        )

    def scale(self, key: Hashable, factor: float) -> None:
        """Make an item in time mode take ``factor`` times as long (each stage, from now)."""
        track = self._active.get(key)
        if track is not None and track.step is not None and factor > 0:
            track.step *= factor

    def is_active(self, key: Hashable) -> bool:
        """Whether the item is still moving."""
        return key in self._active

    def stop(self, key: Hashable) -> None:
        """Stop moving an item (it was aborted): it keeps its current status."""
        self._active.pop(key, None)

    def advance(self, key: Hashable, *, poll: bool) -> None:
        """Move an item forward: one stage on a poll, or as far as time says."""
        track = self._active.get(key)
        if track is None:
            return
        if track.step is None:
            if not poll:
                return
            stage = track.stage + 1
        else:
            stage = track.stage_at(self._clock())
        track.stage = stage
        if stage < len(track.pipeline):
            track.set_status(track.pipeline[stage])
            return
        del self._active[key]
        # In time mode the item concluded when its last stage ran out, which may be before
        # this read: stamp that moment, not the moment of the read.
        now = self._clock()
        if track.step is not None and track.step > 0:
            stages = len(track.pipeline) - track.start_stage
            now = min(now, track.started + stages * track.step)
        track.conclude(self._outcomes.get((track.kind, track.item_id), track.outcome), now)

    def next_due(self) -> float | None:
        """The clock reading at which the next item in time mode moves (None: none will)."""
        due = [
            track.started + (track.stage + 1 - track.start_stage) * track.step
            for track in self._active.values()
            if track.step is not None
        ]
        return min(due, default=None)

    def advance_where(self, matches: Callable[[Hashable], bool]) -> None:
        """Apply time-based progress to every tracked item whose key `matches`."""
        for key in [key for key in self._active if matches(key)]:
            self.advance(key, poll=False)
