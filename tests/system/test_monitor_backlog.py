"""The monitor against a backlog of 10,000 running builds, over the wire (a system test).

It reads about 400 pages of 100 builds and takes 10,000 events: some 2 s of CPU, beyond the
1 s allowed to a test of ``-m "not system"``, hence its place here. The server and the
monitor's helpers are those of tests/client/test_monitor_odd_endpoints.py.
"""

from __future__ import annotations

import asyncio

from northflank_async._core.tracking import MAX_GETS_PER_POLL

from .._virtual import on_virtual_clock
from ..client.test_monitor_odd_endpoints import Build, OddJobs, odd_monitor, take, wire


class TestBacklog:
    @on_virtual_clock
    async def test_ten_thousand_running_builds_are_read_by_pages(self) -> None:
        """10,000 running builds at once: the next polls read pages, a few gets each."""
        backlog = [wire(n) for n in range(10_000, 0, -1)]

        def listing(job: str, n: int) -> list[Build]:
            return [wire(0, "SUCCESS")] if n == 1 else [*backlog, wire(0, "SUCCESS")]

        jobs = OddJobs(listing, get=lambda job, build_id: wire(int(build_id[1:])))
        async with odd_monitor(jobs, "ci") as monitor:
            assert len(await take(monitor, 10_000)) == 10_000
            async with asyncio.timeout(3600):
                # Two more polls (or, on the old code, far too many gets: stop early).
                while jobs.lists["ci"] < 5 and jobs.gets["ci"] <= 10 * MAX_GETS_PER_POLL:  # noqa: ASYNC110
                    await asyncio.sleep(1)
        polls_after = jobs.lists["ci"] - 2
        assert jobs.gets["ci"] <= MAX_GETS_PER_POLL * polls_after
        assert jobs.pages["ci"] <= 1 + 101 * (polls_after + 1)
