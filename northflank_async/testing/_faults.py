"""The fault injector: which fault, if any, the next request meets.

Scripted steps come first, in order; then a random fault with the configured rate,
drawn reproducibly from the seed. The injector only decides: the routes act it out.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from typing import Final

__all__ = ["DEFAULT_FAULT_KINDS", "FAULT_WORDS", "FaultInjector", "FaultKind", "check_fault"]

FaultKind = int | str
"""A fault step: an HTTP status (400..599) or one of
``html502 drop truncate slow ok lost_answer``."""

#: The named faults (besides HTTP statuses).
FAULT_WORDS: Final = frozenset({"html502", "drop", "truncate", "slow", "ok", "lost_answer"})
DEFAULT_FAULT_KINDS: Final[tuple[FaultKind, ...]] = (429, 500, 502, 503, 504, "html502", "drop")


def check_fault(kind: object) -> None:
    """Raise ValueError unless `kind` is a fault the fake knows."""
    if isinstance(kind, bool) or not (
        (isinstance(kind, int) and 400 <= kind <= 599) or kind in FAULT_WORDS
    ):
        raise ValueError(f"unknown fault {kind!r}: use a status 400..599 or {sorted(FAULT_WORDS)}")


class FaultInjector:
    """Scripted faults, then random ones, one decision per request."""

    def __init__(self) -> None:
        self._script: deque[FaultKind] = deque()
        self._rate = 0.0
        self._rng = random.Random(0)
        self._kinds: tuple[FaultKind, ...] = DEFAULT_FAULT_KINDS

    def script(self, steps: Sequence[FaultKind]) -> None:
        """Queue one step per upcoming request (all checked before any is queued)."""
        for step in steps:
            check_fault(step)
        self._script.extend(steps)

    def randomly(self, rate: float, seed: int, kinds: Sequence[FaultKind]) -> None:
        """Fail each unscripted request with probability `rate`, kinds drawn from `kinds`."""
        if not 0.0 <= rate <= 1.0:  # also refuses nan
            raise ValueError("fault rate must be between 0 and 1")
        if not kinds:
            raise ValueError("kinds must not be empty")
        for kind in kinds:
            check_fault(kind)
        self._rate = rate
        self._rng = random.Random(seed)
        self._kinds = tuple(kinds)

    def next(self) -> FaultKind | None:
        """Return the fault the next request meets, or None to serve it normally."""
        if self._script:
            return self._script.popleft()
        if self._rate > 0 and self._rng.random() < self._rate:
            return self._rng.choice(self._kinds)
        return None
