"""Build this commit and gate on the result: exit 0 only if the build succeeds.

    NORTHFLANK_API_TOKEN=... python examples/build_and_gate.py --project P --job J --sha SHA

Prints each status change as it happens. With no token (or with --fake) it builds on an
embedded FakeNorthflank; --fail makes that demo build fail, to see the gate close.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from northflank_async import BuildStatus, NorthflankClient, NorthflankError
from northflank_async.testing import FakeNorthflank


async def build_and_gate(nf: NorthflankClient, args: argparse.Namespace) -> int:
    where = {"project_id": args.project, "job_id": args.job}
    build = await nf.jobs.builds.start(sha=args.sha, **where)
    print(f"started {build.id} ({build.status})", flush=True)
    final = build
    async for final in nf.jobs.builds.watch(
        build_id=build.id, poll_interval=args.poll, timeout=args.timeout, **where
    ):
        print(f"  {final.status}", flush=True)
    if final.status == BuildStatus.SUCCESS:
        print(f"gate open: {final.id} built {final.registry.uri if final.registry else ''}")
        return 0
    print(f"gate closed: {final.id} ended {final.status}: {final.message}", file=sys.stderr)
    return 1


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="demo-project")
    parser.add_argument("--job", default="nightly")
    parser.add_argument("--sha", help="40-character commit sha (default: the branch head)")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between polls")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after seconds")
    parser.add_argument("--fake", action="store_true", help="use the embedded fake API")
    parser.add_argument("--fail", action="store_true", help="demo only: the build fails")
    args = parser.parse_args()
    try:
        if not args.fake and os.environ.get("NORTHFLANK_API_TOKEN"):
            async with NorthflankClient() as nf:
                return await build_and_gate(nf, args)
        async with FakeNorthflank() as fake:
            fake.add_job(args.project, args.job, builds=5)
            fake.configure_builds(step=0.05, outcome="FAILURE" if args.fail else "SUCCESS")
            args.poll = 1.0  # the shortest poll interval there is (MIN_POLL_INTERVAL)
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                return await build_and_gate(nf, args)
    except NorthflankError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
