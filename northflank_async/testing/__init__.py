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


# Each name is imported on first use from its home: `._fake`, which re-exports all but the
# clock, or `._clock`. Python calls `__getattr__` only for a name not yet in the module.
def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = importlib.import_module("._clock" if name == "ManualClock" else "._fake", __name__)
    globals()[name] = value = getattr(home, name)
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
