"""Test helpers: `FakeNorthflank`, an in-memory Northflank API on a real local port.

::

    from northflank_async.testing import FakeNorthflank

    async with FakeNorthflank() as fake:
        fake.add_job("demo", "nightly", builds=250)
        ...  # talk to fake.base_url with the token fake.token

The fake is independent of the client: it imports nothing else from ``northflank_async``.
Run ``python -m northflank_async.testing --help`` to serve one from the command line.
"""

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
