"""Pull mode's tail: a quiet job is polled at least once per its even share of the budget.

On the virtual clock (looptime): the monitor against the fake over real loopback sockets, hours
of simulated time in a second or two of real time. The full figures are printed by
``benchmarks/monitor_budget.py``.
"""

from __future__ import annotations

import asyncio

from northflank_async.testing import FakeNorthflank

from .._virtual import on_virtual_clock, virtual_client


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
