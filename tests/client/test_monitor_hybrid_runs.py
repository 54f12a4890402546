"""The hybrid monitor watches job runs too: ``job-run:*`` notifications become `RunEvent`s.

On the virtual clock: the fake runs two jobs' runs and POSTs their ``job-run:*`` events to a
real `WebhookReceiver` on loopback, losing 30% of them; the monitor (``runs=True``) takes the
delivered ones at once and finds the lost ones by its reconciling polls. Each run's outcome
exactly once, failed runs as failed, whichever way it came.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from northflank_async import RunEvent
from northflank_async.testing import FakeNorthflank

from .._hybrid import SECRET, RecordingReceiver
from .._virtual import _clock_of_iso, in_flight_guard, on_virtual_clock, virtual_client
from .test_monitor_runs import JOBS, RUNS, STEP, check_each_once

P = "proj"
RUN_ENDS = ("job-run:success", "job-run:failure", "job-run:abort", "job-run:terminate")


@on_virtual_clock
async def test_two_jobs_report_each_of_8_runs_outcome_once_with_30_percent_lost() -> None:
    loop = asyncio.get_running_loop()
    reconcile = 600.0
    receiver = RecordingReceiver(SECRET)
    async with receiver.serve() as server, FakeNorthflank(rate_limit=None) as fake:
        for job in JOBS:
            fake.add_job(P, job, runs=3)  # history: concluded before the watch, not reported
        fake.configure_runs(step=STEP)
        fake.add_notification_integration(server.url, secret=SECRET)
        fake.configure_notifications(trace_configs=[in_flight_guard()])
        fake.notification_faults(lose=0.3, seed=4)
        async with (
            virtual_client(fake) as nf,
            nf.monitor(3600, runs=True, webhooks=receiver, reconcile=reconcile) as monitor,
        ):
            for job in JOBS:
                monitor.watch_job(P, job, runs=True)
            await monitor.ready()
            outcomes: dict[str, str] = {}
            for n in range(RUNS):
                run = fake.add_run(P, JOBS[n % 2])
                outcome = "FAILED" if n % 3 == 0 else "SUCCESS"
                fake.set_run_outcome(run["id"], outcome)
                outcomes[run["id"]] = outcome
                await asyncio.sleep(7.0)
            timed: list[tuple[float, RunEvent]] = []
            async with asyncio.timeout(2 * reconcile):
                async for event in monitor:
                    assert isinstance(event, RunEvent), event  # no build is made here
                    timed.append((loop.time(), event))
                    if sum(e.kind == "concluded" for _, e in timed) == RUNS:
                        break
            # Nothing more comes for them: a concluded run never goes back.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(reconcile):
                    await monitor.__anext__()
            plan = monitor.plan
        concluded_at = {
            run["id"]: _clock_of_iso(run["concludedAt"])
            for job in JOBS
            for run in fake.runs(P, job)
            if run["id"] in outcomes
        }
        lost = Counter(d.event_type for d in fake.notifications if d.outcome == "lost")
    events = [event for _, event in timed]
    check_each_once(events, outcomes)
    failed = [e.run for e in events if e.kind == "concluded" and e.run.status == "FAILED"]
    assert len(failed) == 3
    assert Counter(e.job_id for e in events if e.kind == "concluded") == {"nightly": 4, "cron": 4}
    delivered = {run_id for kind, run_id in receiver.accepted if kind in RUN_ENDS}
    assert delivered and set(outcomes) - delivered  # both ways told some outcomes
    assert sum(lost[kind] for kind in RUN_ENDS) > 0
    for at, event in timed:
        if event.kind != "concluded":
            continue
        delay = at - concluded_at[event.run.id]
        if event.run.id in delivered:
            assert -0.001 <= delay <= 0.1  # told by its notification
        else:
            assert 0 <= delay <= reconcile  # found by a reconciling poll
    assert plan.webhooks == "on"
    assert {entry.interval for entry in plan.jobs} == {reconcile}
