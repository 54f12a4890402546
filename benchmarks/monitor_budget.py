"""The monitor's long runs on a virtual clock: 3 simulated hours, 20 jobs, 500 requests an hour.

    python benchmarks/monitor_budget.py [--hours 3] [--jobs 20] [--builds 200] [--budget 500]
        [--seeds 1,2,3,4,5] [--jitter 0.3]

Runs the workload of ``tests/_virtual.py`` twice, clean and with 10% of answers faulted
(429 with Retry-After, 5xx, dropped connections), on a looptime loop (the test extra), and
prints requests, the most in any rolling hour, 429 answers, each build's "concluded" count
and the delay from a build's conclusion to its event (median, 95th percentile) beside the
ideal interval (jobs x 3600 / budget seconds between two polls of a job), then the figures
of 3bc77b0 (0.2.0's planner, idle jobs backed off to 40-300 s and stretched beyond their
share) and of a622589 (every job at its share, before timed polls) measured with the same
command. Each seed of ``--seeds`` is one line; then the same with each build's duration
drawn from 360 s +- ``--jitter`` (0.3: 252-468 s), durations too spread to predict. Last,
the interval at which a monitor of 5 quiet jobs polls each with a generous budget of 36,000
an hour (issue 20: the 1 s floor, not 40-300 s).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import looptime

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from northflank_async.testing import FakeNorthflank
from tests._virtual import run_monitor, virtual_client

#: 3bc77b0 (before issue 20, point 8), this command with its defaults: (median, p95) delay.
BEFORE = {
    0.0: "requests=1241, most_in_an_hour=454, 429=0, median=20.7 s, p95=325.3 s",
    0.1: "requests=1234, most_in_an_hour=448, 429=16, median=26.1 s, p95=507.5 s",
}
#: a622589 (every job at its share, no timed polls), seed 1: (median, p95, slowest) delay.
BEFORE_TIMED = {
    (0.0, 0.0): "requests=1501, most_in_an_hour=500, 429=0, median=66.1 s, p95=135.9 s",
    (0.1, 0.0): "requests=1501, most_in_an_hour=500, 429=19, median=75.0 s, p95=188.5 s",
    (0.0, 0.3): "requests=1501, most_in_an_hour=500, 429=0, median=72.0 s, p95=132.8 s",
}


async def quiet_interval(jobs: int = 5, budget: int = 36_000, seconds: float = 60.0) -> float:
    """The mean interval between two polls of a quiet job, over ``seconds`` of virtual time."""
    loop = asyncio.get_running_loop()
    async with FakeNorthflank(rate_limit=None) as fake:
        for i in range(jobs):
            fake.add_job("proj", f"job-{i}", builds=1)
        async with virtual_client(fake) as nf, nf.monitor(budget) as monitor:
            for i in range(jobs):
                monitor.watch_job("proj", f"job-{i}")
            await monitor.ready()
            before, started = len(fake.requests), loop.time()
            await asyncio.sleep(seconds)
            polls = len(fake.requests) - before
            return jobs * (loop.time() - started) / max(1, polls)


def run_on_virtual_clock(main: Coroutine[Any, Any, float]) -> float:
    loop = looptime.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--builds", type=int, default=200)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--seeds", default="1", help="comma-separated, e.g. 1,2,3,4,5")
    parser.add_argument("--jitter", type=float, default=0.3)
    args = parser.parse_args()
    logging.getLogger("northflank_async").setLevel(logging.ERROR)  # the faulted polls' warnings
    print(f"ideal: one poll per job every {args.jobs * 3600 / args.budget:.0f} s")
    runs = [(0.0, 0.0), (0.1, 0.0)] + ([(0.0, args.jitter)] if args.jitter else [])
    for fault_rate, jitter in runs:
        for seed in (int(seed) for seed in args.seeds.split(",")):
            loop = looptime.new_event_loop()
            started = time.perf_counter()
            try:
                result = loop.run_until_complete(
                    run_monitor(
                        jobs=args.jobs,
                        hours=args.hours,
                        builds=args.builds,
                        budget=args.budget,
                        fault_rate=fault_rate,
                        seed=seed,
                        jitter=jitter,
                    )
                )
            finally:
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()
            concluded = {b for b, at in result.pushed.items() if at}
            once = (
                all(result.concluded[b] == 1 for b in concluded)
                and set(result.concluded) == concluded
            )
            figures = ", ".join(
                f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in result.summary().items()
            )
            print(
                f"faults={fault_rate:.0%} jitter={jitter:.0%} seed={seed}: {figures}, "
                f"slowest={max(result.delays, default=0):.1f}, each concluded once={once}, "
                f"real {time.perf_counter() - started:.1f} s"
            )
        if jitter == 0:
            print(f"  before (3bc77b0, seed 1): {BEFORE[fault_rate]}")
        print(f"  before (a622589, seed 1): {BEFORE_TIMED[(fault_rate, jitter)]}")
    interval = run_on_virtual_clock(quiet_interval())
    print(f"5 quiet jobs at 36,000 an hour: each polled every {interval:.2f} s (before: 40-300 s)")


if __name__ == "__main__":
    main()
