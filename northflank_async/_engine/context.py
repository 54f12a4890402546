"""What a client lends its resources and monitors, in one small object.

A `ClientContext` carries the transport (the one place that sends), the client's default team
(the route form of every call that names none), its coordinator (``None`` when alone) and the
shared polls of ``wait()`` / ``watch()`` (`coalesce`). Resources and monitors read these here,
never from the private fields of the client, the transport or the coordinator.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._core.fleet import Coordinator
from .._transport.http import Transport

__all__ = ["ClientContext"]


@attrs.define(eq=False)
class ClientContext:
    """A client's transport, default team, coordinator and shared polls."""

    transport: Transport
    default_team: str | None = None
    coordinator: Coordinator | None = None
    # The shared build polls of wait()/watch(), by builds path (`coalesce.poller_for`).
    pollers: dict[str, Any] = attrs.field(factory=dict)

    def team(self, team_id: str | None) -> str | None:
        """The team of a call: its own, else the client's default (``None``: project form)."""
        return team_id if team_id is not None else self.default_team
