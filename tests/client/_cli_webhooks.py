"""What the command line's webhook tests share: secrets, and the demo fake under the guard.

The demo fake's deliveries run on the virtual clock (``virtual_cli``): its delivery session
carries the in-flight guard (`GuardedFake`), so a notification on its way holds time.
"""

from __future__ import annotations

from typing import Any

import pytest

from northflank_async.cli import demo
from northflank_async.testing import FakeNorthflank

from .._virtual import in_flight_guard

__all__ = ["OLD_SECRET", "SECRET", "GuardedFake", "guarded"]

SECRET = "hunter2-the-webhook-secret-0123456789"
OLD_SECRET = "the-old-secret-9876543210"


class GuardedFake(FakeNorthflank):
    """The demo's fake, whose notifications hold the virtual clock while they are in flight."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configure_notifications(trace_configs=[in_flight_guard()])


@pytest.fixture
def guarded(virtual_cli: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI on the virtual clock, its demo fakes sending notifications under the guard."""
    monkeypatch.setattr(demo, "FakeNorthflank", GuardedFake)
