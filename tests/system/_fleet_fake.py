"""The fake API of a fleet run, in its own process (run as a script by tests and benchmarks).

    python tests/system/_fleet_fake.py --limit 300 --window 10 --builds 300

prints one JSON line (``base_url``, ``token``, ``project``, ``job``) once it listens, serves
until a line (or EOF) arrives on stdin, then prints its record as one JSON line: how many
answers of each status, and how many counted requests each rate-limit window received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter

from northflank_async.testing import FakeNorthflank

PROJECT, JOB = "fleet", "listing"


async def serve(limit: int, window: float, builds: int) -> None:
    fake = FakeNorthflank(rate_limit=(limit, window), record_limit=1_000_000)
    fake.add_job(PROJECT, JOB, builds=builds)
    # Each window is known by the fake's clock reading when it opened (private, test-only).
    rate = fake._routes.rate
    take = rate.take
    per_window: Counter[float] = Counter()

    def counting(now: float) -> bool:
        counted = take(now)
        if counted:
            per_window[rate._opened or 0.0] += 1
        return counted

    rate.take = counting  # type: ignore[method-assign]
    async with fake:
        banner = {"base_url": fake.base_url, "token": fake.token, "project": PROJECT, "job": JOB}
        print(json.dumps(banner), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        statuses = Counter(str(request.status) for request in fake.requests)
        windows = [per_window[opened] for opened in sorted(per_window)]
        report = {"statuses": dict(statuses), "windows": windows, "limit": limit}
        print(json.dumps(report), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--window", type=float, required=True)
    parser.add_argument("--builds", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.limit, args.window, args.builds))


if __name__ == "__main__":
    main()
