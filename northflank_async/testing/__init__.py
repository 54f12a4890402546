"""Test helpers: `FakeNorthflank`, an in-memory Northflank API on a real local port.

::

    from northflank_async.testing import FakeNorthflank

    async with FakeNorthflank() as fake:
        fake.add_job("demo", "nightly", builds=250)
        ...  # talk to fake.base_url with the token fake.token

The fake is independent of the client: it imports nothing else from ``northflank_async``.
Run ``python -m northflank_async.testing --help`` to serve one from the command line.

Each name is imported on first use (PEP 562): the pytest plugin, which pytest loads in every
run of a project that installs the package, imports this package without loading aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clock import ManualClock
    from ._fake import (
        Branch,
        Build,
        FakeNorthflank,
        FaultKind,
        NotificationDelivery,
        RecordedRequest,
        Run,
        TailRecord,
    )

# Where each public name lives: imported on first use (`__getattr__`).
_WHERE: dict[str, str] = {
    "ManualClock": "._clock",
    **dict.fromkeys(
        [
            "Branch",
            "Build",
            "FakeNorthflank",
            "FaultKind",
            "NotificationDelivery",
            "RecordedRequest",
            "Run",
            "TailRecord",
        ],
        "._fake",
    ),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Branch",
    "Build",
    "FakeNorthflank",
    "FaultKind",
    "ManualClock",
    "NotificationDelivery",
    "RecordedRequest",
    "Run",
    "TailRecord",
]
