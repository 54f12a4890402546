"""The fake API of a group run, in its own process (run as a script by tests and benchmarks).

    python tests/system/_group_fake.py --jobs 10 --builds 300 --every 0.05 --step 0.2

prints one JSON line (``base_url``, ``token``, ``project``, ``jobs``) once it listens, then
answers one line per command read on stdin: ``go`` starts the activity (``--builds`` new
builds spread over the jobs, each run to an outcome), ``status`` prints how many of them
concluded, ``report`` prints the answers' statuses and every build id, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter

from northflank_async.testing import FakeNorthflank

PROJECT = "group"


async def serve(args: argparse.Namespace) -> None:
    # A limit no run reaches: a 429 in the record means the fleet ran past its own budget.
    fake = FakeNorthflank(rate_limit=(1_000_000, 3600.0), record_limit=1_000_000)
    jobs = [f"job-{n:02d}" for n in range(args.jobs)]
    for job in jobs:
        fake.add_job(PROJECT, job)
    loop = asyncio.get_running_loop()
    async with fake:
        banner = {"base_url": fake.base_url, "token": fake.token, "project": PROJECT, "jobs": jobs}
        print(json.dumps(banner), flush=True)
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            builds = [b for job in jobs for b in fake.builds(PROJECT, job)]
            if command == "go":
                fake.simulate(
                    new_build_every=args.every, step=args.step, max_builds=args.builds, seed=3
                )
                print(json.dumps({"started": True}), flush=True)
            elif command == "status":
                done = sum(1 for b in builds if b.get("concluded") is True)
                print(json.dumps({"concluded": done, "total": len(builds)}), flush=True)
            else:
                statuses = Counter(str(request.status) for request in fake.requests)
                ids = [b["id"] for b in builds if b.get("concluded") is True]
                print(json.dumps({"statuses": dict(statuses), "concluded": ids}), flush=True)
                return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--builds", type=int, required=True)
    parser.add_argument("--every", type=float, required=True)
    parser.add_argument("--step", type=float, required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
