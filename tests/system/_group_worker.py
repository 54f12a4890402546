"""One member of a monitoring group, in its own process (tests and benchmarks).

    python tests/system/_group_worker.py BASE_URL REDIS_URL OUT PROJECT JOB... [--hold-at K]

reads the token from ``NORTHFLANK_API_TOKEN``, watches the jobs in group ``fleet``, prints
``ready`` once the group has a position for each, and appends the build id of every
``"concluded"`` event it handles to ``OUT`` (one line each, flushed before the event is
acknowledged). With ``--hold-at K`` it prints ``holding`` at its K-th concluded event and
stops there without handling it (to be killed). A line on stdin stops it; it then prints one
JSON line: its requests, the events redelivered to it, and those it handled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from northflank_async import NorthflankClient, RedisCoordinator


async def run(args: argparse.Namespace) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    handled = 0
    async with (
        RedisCoordinator.from_url(args.redis, namespace="fleet", recheck=0.5) as coordinator,
        NorthflankClient(base_url=args.base_url, coordinator=coordinator) as nf,
        nf.monitor(
            3600 * 1000, floor=args.floor, idle_cap=args.floor, group="fleet", lease=args.lease
        ) as monitor,
    ):
        for job in args.jobs:
            monitor.watch_job(args.project, job)
        await monitor.ready()
        print("ready", flush=True)

        async def consume() -> None:
            nonlocal handled
            seen = 0
            with open(args.out, "a") as out:  # noqa: ASYNC230  (a local file, line by line)
                async for event in monitor:
                    if event.kind != "concluded":
                        continue
                    seen += 1
                    if seen == args.hold_at:
                        print("holding", flush=True)
                        await asyncio.Event().wait()  # dies here, unacknowledged
                    out.write(event.build.id + "\n")
                    out.flush()
                    handled += 1

        consumer = asyncio.create_task(consume())
        await loop.run_in_executor(None, sys.stdin.readline)
        await monitor.aclose()  # the iteration ends after the event being read
        await consumer
        return {
            "requests": monitor.requests,
            "redelivered": monitor.redelivered,
            "handled": handled,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("redis")
    parser.add_argument("out")
    parser.add_argument("project")
    parser.add_argument("jobs", nargs="+")
    parser.add_argument("--hold-at", type=int, default=0)
    parser.add_argument("--floor", type=float, default=1.0)
    parser.add_argument("--lease", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
