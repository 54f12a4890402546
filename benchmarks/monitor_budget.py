"""The monitor's long runs on a virtual clock: 3 simulated hours, 20 jobs, 500 requests an hour.

    python benchmarks/monitor_budget.py [--hours 3] [--jobs 20] [--builds 200] [--budget 500]

Runs the workload of ``tests/_virtual.py`` twice, clean and with 10% of answers faulted
(429 with Retry-After, 5xx, dropped connections), on a looptime loop (the test extra), and
prints requests, the most in any rolling hour, 429 answers, each build's "concluded" count
and the delay from a build's conclusion to its event (median, 95th percentile) beside the
ideal interval (jobs x 3600 / budget seconds between two polls of a job).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import looptime

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests._virtual import run_monitor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--builds", type=int, default=200)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"ideal: one poll per job every {args.jobs * 3600 / args.budget:.0f} s")
    for fault_rate in (0.0, 0.1):
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
                    seed=args.seed,
                )
            )
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        concluded = {b for b, at in result.pushed.items() if at}
        once = (
            all(result.concluded[b] == 1 for b in concluded) and set(result.concluded) == concluded
        )
        figures = ", ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in result.summary().items()
        )
        print(
            f"faults={fault_rate:.0%}: {figures}, each concluded once={once}, "
            f"real {time.perf_counter() - started:.1f} s"
        )


if __name__ == "__main__":
    main()
