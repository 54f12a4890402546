"""The hybrid monitor at the acceptance's size (issue 20): 20 jobs, 3 simulated hours, 200
builds, ``reconcile=600``, 30% of notifications duplicated and 10% lost.

On the virtual clock, over real loopback sockets (the fake's API and its notifications to a
real `WebhookReceiver`): about two seconds of real time, so it runs with the system tests. The
figures are printed by ``benchmarks/monitor_hybrid.py``.
"""

from __future__ import annotations

from .._virtual import on_virtual_clock
from ..client.test_monitor_hybrid import check_hybrid


@on_virtual_clock
async def test_twenty_jobs_three_hours_each_outcome_once_within_400_requests() -> None:
    await check_hybrid(jobs=20, hours=3.0, builds=200)
