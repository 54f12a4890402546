"""One member of a fleet run, in its own process (run as a script by tests and benchmarks).

    python tests/system/_fleet_worker.py BASE_URL PROJECT JOB --listings 25 \
        --per-page 50 [--redis URL]

reads the token from ``NORTHFLANK_API_TOKEN``, prints ``ready``, waits for a line on stdin
(so that every member starts at once), lists the job's builds ``--listings`` times
concurrently, and prints one JSON line: the builds listed and the errors raised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from northflank_async import NorthflankClient, NorthflankError, RedisCoordinator


async def run(args: argparse.Namespace) -> dict[str, int]:
    coordinator = RedisCoordinator.from_url(args.redis, namespace="fleet") if args.redis else None
    nf = NorthflankClient(
        base_url=args.base_url, coordinator=coordinator, max_retries=20, max_rate_limit_wait=120
    )

    async def listing() -> int:
        walk = nf.jobs.builds.list(project_id=args.project, job_id=args.job, per_page=args.per_page)
        return len(await walk.collect())

    try:
        results = await asyncio.gather(
            *(listing() for _ in range(args.listings)), return_exceptions=True
        )
    finally:
        await nf.close()
        if coordinator is not None:
            await coordinator.aclose()
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, NorthflankError):
            raise error
    return {"builds": sum(r for r in results if isinstance(r, int)), "errors": len(errors)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("project")
    parser.add_argument("job")
    parser.add_argument("--listings", type=int, required=True)
    parser.add_argument("--per-page", type=int, required=True)
    parser.add_argument("--redis")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # no line per retried 429 in the run's output
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
