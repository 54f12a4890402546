"""Who polls, and where the events go: the monitor's leadership strategies.

The monitor has one loop (``monitor``): each turn asks its `Leadership` until when it may poll
(`Leadership.hold`), polls the job that falls due first, and hands the poll's events to the
strategy (`Leadership.deliver`); iterating the monitor takes them back (`Leadership.receive`).
Closing, errors and the request budget are the monitor's, written once for every strategy.

* `SoloLeadership`: a monitor alone is always the leader and never loses it; its events pass
  through the monitor's own queue.
* `GroupLeadership` (``group``): the members of a monitoring group share one poll lease on the
  coordinator; the leader publishes its events to the group's stream, fenced by the lease, and
  every member takes them from there, each event handed to one member.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection
from typing import Protocol

from .._core.events import MonitorEvent
from .polls import WatchedJob

__all__ = ["Leadership", "SoloLeadership"]


class Leadership(Protocol):
    """What the monitor's one loop asks of a strategy (`SoloLeadership`, `GroupLeadership`)."""

    @property
    def redelivered(self) -> int:
        """Events handed to this member after another one failed to acknowledge them in time."""
        ...

    @property
    def ready_recheck(self) -> float | None:
        """Seconds between two `ready()` checks while the loop makes no progress (None: wait)."""
        ...

    @property
    def holds_lease(self) -> bool:
        """Whether this member holds a group's poll lease (never, alone: there is no lease)."""
        ...

    async def hold(self, jobs: Collection[WatchedJob]) -> float | None:
        """Lead, and make the trackers of ``jobs`` current: the loop time until which this
        member may poll (``math.inf``: for ever), or None when it may not poll now (the
        strategy has waited as long as it should: the loop just asks again)."""
        ...

    async def deliver(self, job: WatchedJob, events: list[MonitorEvent]) -> None:
        """Hand out the events of a successful poll of ``job`` (and keep its position)."""
        ...

    async def tell(self, job: WatchedJob, events: list[MonitorEvent]) -> None:
        """Hand out the events notifications told of ``job`` (a hybrid monitor): alone, as a
        poll's; in a group, each outcome claimed and appended to the group's stream by the
        member that claims it first (then handed to one member, as a poll's)."""
        ...

    async def receive(self) -> MonitorEvent | BaseException | None:
        """The next item for the iteration; None after a short wait with nothing to hand."""
        ...

    async def settle(self) -> None:
        """Acknowledge what was handed out so far (asking for the next event does)."""
        ...

    async def ack(self, event: MonitorEvent) -> None:
        """Acknowledge ``event`` now if it is still outstanding."""
        ...

    async def ready(self, jobs: Collection[WatchedJob]) -> bool:
        """Whether every job of ``jobs`` has taken its first snapshot."""
        ...

    async def close(self, *, ack: bool) -> None:
        """The monitor is closed and its loop ended: give up what is held (best effort)."""
        ...


class SoloLeadership:
    """A monitor alone: always the leader; its events go through the monitor's own queue."""

    redelivered = 0
    ready_recheck = None
    holds_lease = False

    def __init__(self, queue: asyncio.Queue[MonitorEvent | BaseException]) -> None:
        self._queue = queue

    async def hold(self, jobs: Collection[WatchedJob]) -> float | None:
        return math.inf

    async def deliver(self, job: WatchedJob, events: list[MonitorEvent]) -> None:
        for event in events:
            self._queue.put_nowait(event)

    async def tell(self, job: WatchedJob, events: list[MonitorEvent]) -> None:
        await self.deliver(job, events)

    async def receive(self) -> MonitorEvent | BaseException | None:
        return await self._queue.get()

    async def settle(self) -> None:
        pass

    async def ack(self, event: MonitorEvent) -> None:
        pass

    async def ready(self, jobs: Collection[WatchedJob]) -> bool:
        return all(job.started for job in jobs)

    async def close(self, *, ack: bool) -> None:
        pass
