"""The hybrid monitor on a virtual clock: 3 simulated hours, 20 jobs, 200 builds, faulty pushes.

    python benchmarks/monitor_hybrid.py [--hours 3] [--jobs 20] [--builds 200] [--reconcile 600]

Runs the workload of ``tests/_hybrid.py`` on a looptime loop (the test extra): the fake POSTs
its builds' events to a real `WebhookReceiver` on loopback with 30% of notifications
duplicated, 10% lost and 10% of starts held past their ends, and a monitor with
``webhooks=receiver, reconcile=600`` watches every job. Prints the requests (the bound:
jobs x hours x 6 + 40), whether each outcome came exactly once, and the delay from a build's
conclusion to its event, median and 95th percentile, for outcomes whose notification was
delivered and for those whose notification was lost (reconciled by a poll).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import looptime

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests._hybrid import run_hybrid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--builds", type=int, default=200)
    parser.add_argument("--reconcile", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    loop = looptime.new_event_loop()
    started = time.perf_counter()
    try:
        result = loop.run_until_complete(
            run_hybrid(
                jobs=args.jobs,
                hours=args.hours,
                builds=args.builds,
                reconcile=args.reconcile,
                seed=args.seed,
            )
        )
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    once = set(result.concluded) == set(result.concluded_at) and all(
        count == 1 for count in result.concluded.values()
    )
    bound = args.jobs * args.hours * 6 + 40
    figures = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.summary().items()
    )
    print(f"bound: {bound:.0f} requests; deliveries: {dict(result.deliveries)}")
    print(
        f"{figures}, each concluded once={once}, plan.webhooks={result.plan_webhooks}, "
        f"real {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
