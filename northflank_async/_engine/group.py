"""A monitor as one member of a monitoring group: the Redis lease, fenced writes, shared events.

The members of a group share a `GroupChannel` on the coordinator. One member at a time holds
the poll lease (`GroupChannel.acquire`, renewed every third of it) and polls the API; every
write it makes carries the lease's fencing token, so a leader that paused past its lease cannot
publish. Each poll's events and the job's tracker position are written at once; a new leader
loads the trackers from those positions before it polls, so nothing is lost nor repeated. Every
member takes the events from the group's stream, each event handed to one member and handed
again to another when not acknowledged within the lease (a member that died or stalled).

While the store is unreachable, the member stops leading and delivery pauses (a warning when it
goes and when it comes back); the monitor's loop and its iteration go on asking.

A concluded event carries its outcome's claim (`_core.fleet.outcome_key`): the publishing
script appends it only if no notification told that outcome first, so an outcome told by both
is handed out once. A member told an outcome by a notification claims it and appends it to the
stream in one script (`tell`): it is then handed to one member like a polled event, and again
to another if that one dies before acknowledging it (a claim kept in one member's memory would
be lost with it, the poll then publishing nothing for the outcome).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from collections.abc import Callable, Collection

import attrs

from .._core.events import BuildEvent, MonitorEvent
from .._core.fleet import (
    CoordinatorUnavailable,
    GroupChannel,
    claimed,
    decode_event,
    outcome_of,
)
from .._core.models import JobBuild
from .polls import WatchedJob

__all__ = ["GroupLeadership"]

logger = logging.getLogger("northflank_async")

# Stands for an undecodable entry of a group's stream while it is acknowledged.
_SKIPPED = BuildEvent("created", JobBuild(id="-"), "-", "-")


class GroupLeadership:
    """The `Leadership` of a monitor in a group: the lease, fenced, on ``channel``."""

    ready_recheck = 0.05

    def __init__(
        self,
        channel: GroupChannel,
        *,
        name: str,
        lease: float,
        recheck: float,
        closed: Callable[[], bool],
    ) -> None:
        self._channel = channel
        self._name = name
        self._lease = lease
        self._recheck = recheck
        self._closed = closed
        self._member = uuid.uuid4().hex
        self._leading = False
        self._fence: int | None = None  # the lease's token while leading
        self._renew_at = -math.inf
        # The jobs whose tracker was loaded under the current fence (from the positions).
        self._loaded: dict[str, WatchedJob] = {}
        self._down = False
        self._claim_from = -math.inf
        self._outstanding: dict[MonitorEvent, str] = {}
        self.redelivered = 0

    @property
    def holds_lease(self) -> bool:
        return self._leading

    # -- leading

    async def hold(self, jobs: Collection[WatchedJob]) -> float | None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._renew_at:
            try:
                got = await self._channel.acquire(self._member, self._lease)
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)
                self._lose()
                await asyncio.sleep(self._recheck)
                return None
            self._reachable()
            if got is None:
                self._lose()
                await asyncio.sleep(self._lease / 3)
                return None
            if got != self._fence:
                self._loaded.clear()
                self._fence = got
            self._leading = True
            self._renew_at = loop.time() + self._lease / 3
        stale = [job for job in jobs if self._loaded.get(job.key) is not job]
        if not stale:
            return self._renew_at
        try:
            await self._restore(stale)
        except CoordinatorUnavailable as exc:
            self._unreachable(exc.reason)
            self._lose()
        return None  # look again: the lease's time, and jobs watched meanwhile

    async def deliver(self, job: WatchedJob, events: list[MonitorEvent]) -> None:
        stored = job.position()
        if stored is None or self._fence is None:
            return
        position = json.dumps(stored, separators=(",", ":"))
        try:
            written = await self._channel.publish(
                self._member,
                self._fence,
                job.key,
                position,
                [claimed(e) for e in events],
            )
        except CoordinatorUnavailable as exc:
            self._unreachable(exc.reason)  # written or not: reloaded from the store
            self._lose()
            return
        if not written:
            self._loaded.clear()  # another member leads: what this one polled is dropped
            self._lose()

    def _lose(self) -> None:
        """Not leading: the next turn asks for the lease again (trackers reloaded if new)."""
        self._leading, self._fence, self._renew_at = False, None, -math.inf

    async def _restore(self, stale: list[WatchedJob]) -> None:
        """Load the trackers of ``stale`` from the group's positions (else start afresh)."""
        positions = await self._channel.positions([job.key for job in stale])
        now = asyncio.get_running_loop().time()
        for job in stale:
            text = positions.get(job.key)
            restored = False
            if text is not None:
                try:
                    job.restore(json.loads(text))
                    restored = True
                except ValueError as error:
                    logger.warning(
                        "monitor group %s: position of %s unusable (%s): a new snapshot",
                        self._name,
                        job.key,
                        error,
                    )
            if restored:
                job.last_polled = now  # the previous leader polled it at most a lease ago
            else:
                job.reset()
            self._loaded[job.key] = job

    # -- the store's health

    def _unreachable(self, reason: str) -> None:
        self._leading = False
        self._loaded.clear()  # trackers are reloaded from the positions before the next poll
        if not self._down:
            self._down = True
            logger.warning(
                "monitor group %s: the coordinator is unreachable (%s): delivery pauses",
                self._name,
                reason,
            )

    def _reachable(self) -> None:
        if self._down:
            self._down = False
            # Members alive through the outage acknowledge what they hold first; only then
            # are unacknowledged events handed to others.
            self._claim_from = asyncio.get_running_loop().time() + self._lease
            logger.warning(
                "monitor group %s: the coordinator answers again: delivery resumes", self._name
            )

    # -- delivery

    async def receive(self) -> MonitorEvent | BaseException | None:
        now = asyncio.get_running_loop().time()
        claim = self._lease if now >= self._claim_from else None
        try:
            got = await self._channel.receive(self._member, claim)
        except CoordinatorUnavailable as exc:
            self._unreachable(exc.reason)
            await asyncio.sleep(self._recheck)
            return None
        self._reachable()
        if got is None or self._closed():
            return None  # when closed, a delivery left unacknowledged passes to another
        try:
            event = decode_event(got.payload)
        except ValueError as error:
            logger.warning("monitor group %s: %s: skipped", self._name, error)
            self._outstanding[_SKIPPED] = got.entry_id
            await self.settle()
            return None
        if got.redelivered:
            self.redelivered += 1
        self._outstanding[event] = got.entry_id
        return event

    async def tell(self, job: WatchedJob, events: list[MonitorEvent]) -> None:
        """Claim each outcome of ``events`` and append it to the group's stream, at once (the
        first time for the group only). While the store is unreachable nothing is claimed:
        the leader's next poll tells those outcomes."""
        for event in events:
            if outcome_of(event) is None:
                continue
            # Its start first: appended unless a poll (or another notification) told it, so
            # that the stream holds the item's ``created`` before its ``concluded``.
            start = attrs.evolve(event, kind="created")
            try:
                await self._channel.tell([claimed(start), claimed(event)])
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)
                return

    async def claim_outcome(self, event: MonitorEvent) -> bool:
        """Claim ``event``'s outcome alone, without appending it (`tell` does both): True
        once for the group (a poll that tells it later publishes nothing for it). False when
        a poll or another notification told it first, or while the store is unreachable."""
        outcome = outcome_of(event)
        if outcome is None:
            return True
        try:
            return await self._channel.claim_outcome(outcome)
        except CoordinatorUnavailable as exc:
            self._unreachable(exc.reason)
            return False

    async def settle(self) -> None:
        while self._outstanding:
            try:
                await self._channel.ack(list(self._outstanding.values()))
            except CoordinatorUnavailable as exc:
                self._unreachable(exc.reason)
                if self._closed():
                    return
                await asyncio.sleep(self._recheck)
                continue
            self._reachable()
            self._outstanding.clear()

    async def ack(self, event: MonitorEvent) -> None:
        if event in self._outstanding:
            await self.settle()

    async def ready(self, jobs: Collection[WatchedJob]) -> bool:
        keys = [job.key for job in jobs]
        try:
            positions = await self._channel.positions(keys)
        except CoordinatorUnavailable as exc:
            self._unreachable(exc.reason)
            await asyncio.sleep(self._recheck)
            return False
        return all(job.started_in(json.loads(positions.get(job.key, "{}"))) for job in jobs)

    async def close(self, *, ack: bool) -> None:
        # Best effort: an unreachable store leaves the lease to expire and an unacknowledged
        # event to be handed to another member after the lease.
        try:
            async with asyncio.timeout(max(1.0, self._recheck)):
                if self._leading:
                    self._leading = False
                    await self._channel.release(self._member)
                if ack and self._outstanding:
                    await self._channel.ack(list(self._outstanding.values()))
                    self._outstanding.clear()
        except (CoordinatorUnavailable, TimeoutError):
            pass
