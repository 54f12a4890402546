"""The hybrid monitor's workload on the virtual clock: the fake builds and notifies, the monitor
receives and reconciles (tests/client/test_monitor_hybrid.py, benchmarks/monitor_hybrid.py).

The receiver is a real `WebhookReceiver` serving on loopback; the fake POSTs its builds' events
to it with faults (duplicates, losses, starts held past their ends), its deliveries and the
client's requests carrying the in-flight guard, so virtual time stands still while one
travels. Every notification the receiver accepted is recorded, so a build's outcome is known
to have come by notification (its end was delivered) or not (lost: reconciled by a poll).
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

from northflank_async import BuildEvent, WebhookEvent, WebhookReceiver
from northflank_async.testing import FakeNorthflank

from ._virtual import WALL_EPOCH_S, _clock_of_iso, in_flight_guard, virtual_client

SECRET = "hybrid-secret-0123456789abcdef"
ENDS = ("build:success", "build:failure", "build:abort")


class RecordingReceiver(WebhookReceiver):
    """A receiver that notes the build (or run) and kind of each notification it queued."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepted: list[tuple[str, str]] = []  # (kind, build or run id)

    def receive(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        event = super().receive(headers, body)
        item = None if event is None else event.build or event.run
        if event is not None and item is not None:
            self.accepted.append((event.kind, item.id))
        return event


@attrs.define
class HybridResult:
    events: list[tuple[float, BuildEvent]]
    requests: int
    concluded_at: dict[str, float]  # build id -> the clock reading it concluded at
    delivered: set[str]  # builds whose end notification reached the receiver
    plan_webhooks: str
    deliveries: Counter[str]

    @property
    def concluded(self) -> Counter[str]:
        return Counter(e.build.id for _, e in self.events if e.kind == "concluded")

    def delays(self, *, delivered: bool) -> list[float]:
        seen = {e.build.id: t for t, e in self.events if e.kind == "concluded"}
        return [
            seen[b] - at
            for b, at in self.concluded_at.items()
            if b in seen and (b in self.delivered) == delivered
        ]

    def summary(self) -> dict[str, float]:
        figures: dict[str, float] = {"requests": self.requests}
        for name, delivered in (("pushed", True), ("lost", False)):
            delays = sorted(self.delays(delivered=delivered))
            figures[f"{name}_outcomes"] = len(delays)
            if delays:
                figures[f"{name}_median_s"] = statistics.median(delays)
                figures[f"{name}_p95_s"] = delays[max(0, round(0.95 * len(delays)) - 1)]
        return figures


async def run_hybrid(
    *,
    jobs: int,
    hours: float,
    builds: int,
    reconcile: float = 600.0,
    duplicate: float = 0.3,
    lose: float = 0.1,
    reorder: float = 0.1,
    seed: int = 1,
) -> HybridResult:
    """``jobs`` jobs watched by a hybrid monitor for ``hours`` while the fake makes ``builds``."""
    loop = asyncio.get_running_loop()
    duration = hours * 3600.0
    receiver = RecordingReceiver(SECRET)
    async with (
        receiver.serve() as server,
        FakeNorthflank(seed=seed, rate_limit=None) as fake,
    ):
        keys = [("proj", f"job-{i:02d}") for i in range(jobs)]
        for project, job in keys:
            fake.add_job(project, job, builds=2)
        fake.add_notification_integration(server.url, secret=SECRET)
        fake.configure_notifications(trace_configs=[in_flight_guard()])
        fake.notification_faults(duplicate=duplicate, lose=lose, reorder=reorder, seed=seed)
        async with (
            virtual_client(fake) as nf,
            nf.monitor(webhooks=receiver, reconcile=reconcile) as monitor,
        ):
            for project, job in keys:
                monitor.watch_job(project, job)
            await monitor.ready()
            started = loop.time()
            # Builds start over the first 80% of the run (6 stages of 60 s each).
            fake.simulate(
                new_build_every=0.8 * duration / builds,
                step=60.0,
                max_builds=builds,
                seed=seed,
                failure_rate=0.3,
            )
            events: list[tuple[float, BuildEvent]] = []

            async def consume() -> None:
                async for event in monitor:
                    events.append((loop.time(), event))

            consumer = loop.create_task(consume())
            await asyncio.sleep(duration)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            plan = monitor.plan
        requests = fake.request_count
        deliveries = Counter(d.outcome for d in fake.notifications)
        concluded_at: dict[str, float] = {}
        for project, job in keys:
            for build in fake.builds(project, job):
                created = build["createdAt"]
                at = build.get("buildConcludedAt")
                if created and _clock_of_iso(created) >= started and at:
                    concluded_at[build["id"]] = at - WALL_EPOCH_S
    delivered = {build_id for kind, build_id in receiver.accepted if kind in ENDS}
    return HybridResult(
        events=events,
        requests=requests,
        concluded_at=concluded_at,
        delivered=delivered,
        plan_webhooks=plan.webhooks,
        deliveries=deliveries,
    )
