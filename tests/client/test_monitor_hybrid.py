"""The hybrid monitor (issue 20, point 2): notifications and reconciling polls, one outcome each.

On the virtual clock: the fake builds and POSTs its builds' events to a real `WebhookReceiver`
on loopback, with faults; the monitor takes them from the receiver inside its loop and polls
each job once per ``reconcile`` seconds. The acceptance's size (20 jobs, 3 hours, 200 builds)
runs with the system tests (tests/system/test_monitor_hybrid_simulation.py) and in
benchmarks/monitor_hybrid.py; the test here runs a smaller workload to the same bounds.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from northflank_async import BuildEvent, WebhookReceiver
from northflank_async.testing import FakeNorthflank

from .._hybrid import SECRET, run_hybrid
from .._virtual import in_flight_guard, on_virtual_clock, virtual_client

P = "proj"


@on_virtual_clock
async def test_each_outcome_once_fast_when_pushed_within_reconcile_when_lost() -> None:
    await check_hybrid(jobs=5, hours=1.5, builds=60)


async def check_hybrid(*, jobs: int, hours: float, builds: int) -> None:
    """``jobs`` jobs for ``hours`` while the fake makes ``builds`` (30% of notifications sent
    twice, 10% lost): each outcome once, delivered ones within 0.1 s, lost ones within one
    ``reconcile``, at most ``jobs x hours x 6 + 40`` requests (one poll per job per 600 s)."""
    reconcile = 600.0
    result = await run_hybrid(jobs=jobs, hours=hours, builds=builds, reconcile=reconcile)
    assert len(result.concluded_at) == builds
    assert set(result.concluded) == set(result.concluded_at)
    assert all(count == 1 for count in result.concluded.values())
    for build_id in result.concluded_at:  # created first, concluded last, nothing after
        kinds = [e.kind for _, e in result.events if e.build.id == build_id]
        assert kinds[0] == "created" and kinds[-1] == "concluded"
        assert kinds.count("created") == 1
    assert result.requests <= jobs * hours * 6 + 40
    pushed, lost = result.delays(delivered=True), result.delays(delivered=False)
    assert pushed and lost  # the faults did lose some outcomes' notifications
    assert all(0 <= delay <= 0.1 for delay in pushed)
    assert all(0 <= delay <= reconcile for delay in lost)
    assert result.deliveries["lost"] > 0
    assert result.plan_webhooks == "on"


async def _hybrid_world(
    fake: FakeNorthflank, receiver: WebhookReceiver, jobs: int = 1
) -> list[tuple[str, str]]:
    keys = [(P, f"job-{i}") for i in range(jobs)]
    for project, job in keys:
        fake.add_job(project, job)
    return keys


@on_virtual_clock
async def test_an_end_before_its_start_gives_created_then_concluded() -> None:
    receiver = WebhookReceiver(SECRET)
    async with receiver.serve() as server, FakeNorthflank(rate_limit=None) as fake:
        await _hybrid_world(fake, receiver)
        fake.add_notification_integration(server.url, secret=SECRET)
        fake.configure_notifications(trace_configs=[in_flight_guard()])
        fake.notification_faults(reorder=1.0)  # every start held until its end has gone
        fake.configure_builds(step=5.0)
        async with virtual_client(fake) as nf, nf.monitor(webhooks=receiver) as monitor:
            monitor.watch_job(P, "job-0")
            await monitor.ready()
            build = fake.add_build(P, "job-0")
            first = await anext(monitor)
            second = await anext(monitor)
            await fake.notifications_settled()
            await asyncio.sleep(60)  # the start arrives late: it must tell nothing
            assert monitor._events.empty()
            requests = fake.request_count
        kinds = [d.event_type for d in fake.notifications]
    assert kinds == ["build:success", "build:start"]  # the end went first
    assert (first.kind, first.build.id) == ("created", build["id"])
    assert (second.kind, second.build.id) == ("concluded", build["id"])
    assert second.build.success is True
    assert requests == 1  # the first poll only: the notifications told everything


def _notification(kind: str, build: dict[str, object], job: str = "job-0") -> bytes:
    data = {"build": build, "job": {"id": job}, "project": {"id": P}}
    return json.dumps({"event": kind, "data": data}).encode()


def _headers(event_id: str) -> dict[str, str]:
    return {
        "X-Northflank-Notification-Token": SECRET,
        "X-Northflank-Notification-Event-Id": event_id,
    }


@on_virtual_clock
async def test_a_notification_without_a_status_is_settled_by_exactly_one_get() -> None:
    receiver = WebhookReceiver(SECRET)
    async with FakeNorthflank(rate_limit=None) as fake:
        await _hybrid_world(fake, receiver)
        fake.add_job("other", "job-0")
        fake.configure_builds(step=1.0)
        async with virtual_client(fake) as nf, nf.monitor(webhooks=receiver) as monitor:
            monitor.watch_job(P, "job-0")
            await monitor.ready()
            build = fake.add_build(P, "job-0")
            await asyncio.sleep(30)  # it has concluded (6 stages of 1 s); no poll since
            before = fake.request_count
            # Not watched (another project, an unknown job): ignored, no request.
            receiver.receive(_headers("e0"), _notification("build:success", {"id": "x"}, "nope"))
            other = json.loads(_notification("build:success", {"id": "y"}))
            other["data"]["project"] = {"id": "other"}
            receiver.receive(_headers("e1"), json.dumps(other).encode())
            # The outcome without its fields: one get settles it.
            receiver.receive(_headers("e2"), _notification("build:success", {"id": build["id"]}))
            events: list[BuildEvent] = [await anext(monitor), await anext(monitor)]
            paths = [r.path for r in fake.requests[before:]]
            assert monitor._events.empty()
    assert [(e.kind, e.build.id) for e in events] == [
        ("created", build["id"]),
        ("concluded", build["id"]),
    ]
    assert events[1].build.status == "SUCCESS"
    assert paths == [f"/v1/projects/{P}/jobs/job-0/build/{build['id']}"]


@on_virtual_clock
async def test_a_disabled_integration_leads_to_one_warning_and_budgeted_polling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = WebhookReceiver(SECRET)
    async with receiver.serve(path="/hook") as server, FakeNorthflank(rate_limit=None) as fake:
        keys = await _hybrid_world(fake, receiver, jobs=4)
        # A wrong path: every delivery is answered 404, and the integration gives up.
        fake.add_notification_integration(server.url + "-moved", secret=SECRET)
        fake.configure_notifications(retries=0, disable_after=3, trace_configs=[in_flight_guard()])
        # 60 an hour: the budgeted plan polls each of the 4 jobs every 240 s, under 600 s.
        async with virtual_client(fake) as nf, nf.monitor(60, webhooks=receiver) as monitor:
            for project, job in keys:
                monitor.watch_job(project, job)
            await monitor.ready()
            assert monitor.plan.webhooks == "on"
            assert {entry.interval for entry in monitor.plan.jobs} == {600.0}
            fake.simulate(new_build_every=300, step=10.0, max_builds=16, seed=3)
            concluded = 0
            with caplog.at_level(logging.WARNING, logger="northflank_async"):
                async for event in monitor:
                    concluded += event.kind == "concluded"
                    if concluded == 12:
                        break
            plan = monitor.plan
        disabled = fake.notification_integration("fake-hook-1")["status"]["disabled"]
    assert disabled is True
    warnings = [r for r in caplog.records if "found by polls" in r.getMessage()]
    assert len(warnings) == 1
    assert plan.webhooks == "fallback"
    assert plan.reconcile == 600.0
    assert all(entry.interval < 600.0 for entry in plan.jobs)  # the budget's plan again


def test_webhooks_and_a_bad_reconcile_are_refused_at_the_call() -> None:
    from northflank_async import NorthflankClient

    nf = NorthflankClient("t0ken")
    receiver = WebhookReceiver(SECRET)
    with pytest.raises(ValueError, match="reconcile"):
        nf.monitor(webhooks=receiver, reconcile=0.5)
