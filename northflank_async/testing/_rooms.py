"""The rooms behind the `FakeNorthflank` face, as its parts see them, and their shared checks.

The face is one class made of parts (`._fake_data`, `._fake_logs`, `._fake_activity`, and
`._fake` itself), each a mixin over `Rooms`: the clock, the store, the progress engine, the
fault injector, the handlers and the routes that `FakeNorthflank.__init__` makes.
"""

from __future__ import annotations

import math

from aiohttp import web

from ._clock import Clock
from ._faults import FaultInjector
from ._handlers import Handlers
from ._progress import ProgressEngine
from ._routes import Routes
from ._store import Store

__all__ = ["Rooms", "check_seconds"]


class Rooms:
    """What every part of the face reads: the rooms, made by `FakeNorthflank.__init__`."""

    _clock: Clock
    _store: Store
    _progress: ProgressEngine
    _faults: FaultInjector
    _handlers: Handlers
    _routes: Routes
    _runner: web.AppRunner | None


def check_seconds(name: str, value: float) -> float:
    """A number of seconds a setting takes: finite and >= 0 (TypeError, ValueError)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)
