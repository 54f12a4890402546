"""Pull mode's tail (issue 20): a quiet job's new build is seen within its share of the budget.

On the virtual clock (looptime): the monitor against the fake over real loopback sockets, hours
of simulated time in a second or two of real time. The full figures are printed by
``benchmarks/monitor_budget.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from northflank_async.testing import FakeNorthflank

from .._virtual import on_virtual_clock, run_monitor, virtual_client


@on_virtual_clock
async def test_twenty_jobs_at_500_an_hour_over_three_hours() -> None:
    """20 jobs, 500 requests an hour, 200 builds over 3 simulated hours: each outcome once,
    the delay from a build's conclusion to its event at most 180 s at the 95th percentile,
    no 429 and at most 500 requests in any rolling hour. (On 0.2.0: a 95th percentile of
    325 s, idle jobs backed off and stretched far beyond their 144 s share.)"""
    logging.getLogger("northflank_async").setLevel(logging.ERROR)
    try:
        result = await run_monitor(jobs=20, hours=3.0, builds=200, budget=500)
    finally:
        logging.getLogger("northflank_async").setLevel(logging.NOTSET)
    concluded = {build for build, at in result.pushed.items() if at}
    assert len(concluded) == 200
    assert result.concluded == Counter(dict.fromkeys(concluded, 1))  # each outcome once
    assert all(result.created[build] == 1 for build in concluded)
    figures = result.summary()
    assert figures["answers_429"] == 0
    assert figures["most_in_an_hour"] <= 500
    assert figures["delay_p95_s"] <= 180
    # Every job polled in turn at its share (144 s): a conclusion waits half of it on average.
    # The issue asks a median of at most 60 s; that needs an active job polled every 120 s
    # or less, more than the budget leaves once every idle job gets its share (the report).
    assert figures["delay_median_s"] <= 0.6 * 144
    assert max(result.delays) <= 144 + 1  # no conclusion waits beyond one share


@on_virtual_clock
async def test_generous_budget_polls_quiet_jobs_at_the_floor() -> None:
    """36,000 requests an hour over 5 quiet jobs: each is polled every second (the floor),
    not every 40 to 300 s as the idle backoff did."""
    loop = asyncio.get_running_loop()
    async with FakeNorthflank(rate_limit=None) as fake:
        for i in range(5):
            fake.add_job("proj", f"job-{i}", builds=1)
        async with virtual_client(fake) as nf, nf.monitor(36_000) as monitor:
            for i in range(5):
                monitor.watch_job("proj", f"job-{i}")
            await monitor.ready()
            assert [e.interval for e in monitor.plan.jobs] == [1.0] * 5
            started, before = loop.time(), len(fake.requests)
            await asyncio.sleep(30.0)
            polls = len(fake.requests) - before
            elapsed = loop.time() - started
    # Each job once a second (give or take one poll at each end): about 150 in 30 s.
    assert 5 * (elapsed - 2) <= polls <= 5 * (elapsed + 2)
