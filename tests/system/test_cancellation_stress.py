"""Hundreds of listings cancelled at many points through faults, on a real loop: a stress run of
real interleavings (latency and backoff waits are real), so it lives with the system tests.
"""

from __future__ import annotations

import asyncio
import gc
import random

from northflank_async import (
    RateLimitError,
    ServerError,
    TransportError,
)
from northflank_async._transport.gates import RateLimitGate
from northflank_async.testing import FakeNorthflank

from ..client.test_resilience import JOB, PROJECT, client_for, open_connections


class TestCancellation:
    async def test_hundreds_of_cancelled_listings_leave_nothing_behind(self) -> None:
        """Cancel 300 listings at many points, through faults: no task, no connection survives.

        Which request meets which fault depends on how the tasks interleave, so the assertions
        hold for every outcome a walk can have: it ends, it is cancelled, or its retries run
        out on one of the injected faults (503, a dropped answer, 429).
        """
        rng = random.Random(42)
        before = asyncio.all_tasks()
        outcomes: list[BaseException | None] = []
        async with FakeNorthflank(rate_limit=None, latency=0.002) as fake:
            fake.add_job(PROJECT, JOB, builds=60)
            fake.faults(0.3, seed=5, kinds=(503, "drop", 429))
            async with client_for(fake, backoff_base=0.02, backoff_max=0.05) as nf:

                async def walk(index: int, first_item: asyncio.Event) -> None:
                    try:
                        async for _ in nf.jobs.builds.list(
                            project_id=PROJECT, job_id=JOB, per_page=10, prefetch=index % 3
                        ):
                            first_item.set()
                            await asyncio.sleep(0)
                    finally:
                        first_item.set()  # also when it failed before any item

                for _ in range(10):
                    first_item = [asyncio.Event() for _ in range(30)]
                    tasks = [asyncio.create_task(walk(i, first_item[i])) for i in range(30)]
                    for index, task in enumerate(tasks):
                        point = rng.randrange(4)
                        if point == 0:
                            pass  # before it ever ran: a certain CancelledError
                        elif point == 1:
                            await first_item[index].wait()  # mid-listing, between two items
                        elif point == 2:
                            for _ in range(rng.randrange(1, 40)):  # wherever that lands
                                await asyncio.sleep(0)
                        else:
                            continue  # left to finish
                        task.cancel()
                    outcomes += await asyncio.gather(*tasks, return_exceptions=True)
                    # Cancelled producers need a step or two to unwind; none may be left running.
                    producers = [t for t in asyncio.all_tasks() if "prefetch" in t.get_name()]
                    assert all(t.done() or t.cancelling() for t in producers)
                    if producers:
                        await asyncio.wait(producers)
                    assert open_connections(nf) == 0
                    gate = nf._transport._gate
                    assert isinstance(gate, RateLimitGate) and gate.state.in_flight == 0
        assert all(
            outcome is None
            or isinstance(
                outcome, asyncio.CancelledError | TransportError | ServerError | RateLimitError
            )
            for outcome in outcomes
        ), [type(o) for o in outcomes if o is not None]
        assert sum(isinstance(o, asyncio.CancelledError) for o in outcomes) > 0
        gc.collect()
        assert asyncio.all_tasks() == before
