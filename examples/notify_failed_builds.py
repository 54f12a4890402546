"""Post every failed build of a job to your team channel.

Follows the job's new builds (one request per idle poll), waits for each one to conclude
alongside the others, and reports the ones that did not succeed. Against the real API:

    NORTHFLANK_API_TOKEN=... python examples/notify_failed_builds.py --project P --job J

With no token (or with --fake) it runs against an embedded FakeNorthflank that pushes a few
builds, some of which fail, and stops after reporting them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from northflank_async import JobBuild, NorthflankClient
from northflank_async.testing import FakeNorthflank


def notify(build: JobBuild) -> None:
    """Replace with a post to Slack, Teams, a pager...: here it prints one line."""
    print(f"FAILED {build.id} status={build.status} sha={(build.sha or '?')[:7]}", flush=True)


async def report_when_done(nf: NorthflankClient, args: argparse.Namespace, build: JobBuild) -> None:
    final = await nf.jobs.builds.wait(
        project_id=args.project, job_id=args.job, build_id=build.id, poll_interval=args.poll
    )
    if not final.success:
        notify(final)
    else:
        print(f"ok     {final.id}", flush=True)


async def follow(nf: NorthflankClient, args: argparse.Namespace) -> None:
    seen = 0
    async with asyncio.TaskGroup() as watchers:
        async for build in nf.jobs.builds.follow(
            project_id=args.project, job_id=args.job, poll_interval=args.poll
        ):
            print(f"new    {build.id}", flush=True)
            watchers.create_task(report_when_done(nf, args, build))
            seen += 1
            if args.max_builds and seen >= args.max_builds:
                break


@asynccontextmanager
async def demo_client(args: argparse.Namespace) -> AsyncIterator[NorthflankClient]:
    """A FakeNorthflank whose job gets a new build every 50 ms, one in three failing."""
    async with FakeNorthflank() as fake:
        fake.add_job(args.project, args.job, builds=20)
        fake.configure_builds(step=0.02)
        rng = random.Random(7)

        async def push() -> None:
            while True:  # until the follower has seen enough and the demo ends
                await asyncio.sleep(0.05)
                build = fake.add_build(args.project, args.job)
                if rng.random() < 1 / 3:
                    fake.set_outcome(build["id"], "FAILURE")

        pusher = asyncio.create_task(push())
        try:
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                yield nf
        finally:
            pusher.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="demo-project")
    parser.add_argument("--job", default="nightly")
    parser.add_argument("--poll", type=float, default=30.0, help="seconds between polls")
    parser.add_argument("--max-builds", type=int, default=0, help="stop after N new builds")
    parser.add_argument("--fake", action="store_true", help="use the embedded fake API")
    args = parser.parse_args()
    if args.fake or not os.environ.get("NORTHFLANK_API_TOKEN"):
        args.poll, args.max_builds = 0.02, args.max_builds or 6
        async with demo_client(args) as nf:
            await follow(nf, args)
    else:
        async with NorthflankClient() as nf:
            await follow(nf, args)


if __name__ == "__main__":
    asyncio.run(main())
