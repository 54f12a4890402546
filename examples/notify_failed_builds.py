"""Post every failed build of any number of jobs to your team channel.

One task and one monitor watch all the jobs: each poll of a job is one request that reports
new builds and the outcome of running ones, within a request budget for the hour. A failed
build's notification carries the last 20 lines of its log, read in one request (a backward
range). The request spend is printed at the end. Against the real API:

    NORTHFLANK_API_TOKEN=... python examples/notify_failed_builds.py --project P --job J --job K

With no token (or with --fake) it runs against an embedded FakeNorthflank whose jobs gain
builds on their own, some of which fail, and stops after reporting --max-builds of them.

With --webhooks the monitor is a hybrid one: a `WebhookReceiver` serves on --port, Northflank
POSTs each build's start and outcome to it (an integration of type RAW_WEBHOOK, created or
updated for --public-url with a fresh secret), the outcomes are reported about a second after
they happen, and each job is polled only once per --reconcile seconds to catch notifications
that were lost. Put TLS in front of the port (the token travels in plain text):

    NORTHFLANK_API_TOKEN=... python examples/notify_failed_builds.py --project P --job J \
        --webhooks --port 8080 --public-url https://hooks.example.com/northflank

With --fake, the fake sends its notifications to the receiver on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from northflank_async import JobBuild, Monitor, NorthflankClient, RequestEnd, WebhookReceiver
from northflank_async.testing import FakeNorthflank

LOG_LINES = 20


class Spend:
    """Counts every request attempt the client sends (an `on_request_end` hook)."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, event: RequestEnd) -> None:
        self.requests += 1


async def last_lines(nf: NorthflankClient, project_id: str, job_id: str, build_id: str) -> str:
    """The build's last log lines, oldest first: one request, newest lines first on the wire."""
    lines = nf.job(project_id, job_id).builds.logs(
        build_id, line_limit=LOG_LINES, direction="backward"
    )
    newest_first = [line.text async for line in lines]
    return "\n".join(f"    | {text}" for text in reversed(newest_first))


def notify(build: JobBuild, job_id: str, log: str) -> None:
    """Replace with a post to Slack, Teams, a pager...: here it prints the message."""
    print(f"FAILED {job_id}/{build.id} status={build.status} sha={(build.sha or '?')[:7]}")
    print(log, flush=True)


async def report(nf: NorthflankClient, monitor: Monitor, max_builds: int) -> None:
    concluded = 0
    async for event in monitor:
        if event.kind == "created":
            print(f"new    {event.job_id}/{event.build.id}", flush=True)
        elif event.kind == "concluded":
            if event.build.success:
                print(f"ok     {event.job_id}/{event.build.id}", flush=True)
            else:
                build = event.build
                log = await last_lines(nf, event.project_id, event.job_id, build.id)
                notify(build, event.job_id, log)
            concluded += 1
            if max_builds and concluded >= max_builds:
                return


async def run(
    nf: NorthflankClient,
    args: argparse.Namespace,
    spend: Spend,
    floor: float = 10.0,
    idle_cap: float = 300.0,
    receiver: WebhookReceiver | None = None,
) -> None:
    async with nf.monitor(
        args.budget, floor=floor, idle_cap=idle_cap, webhooks=receiver, reconcile=args.reconcile
    ) as monitor:
        for job in args.job:
            monitor.watch_job(args.project, job)
        try:
            await report(nf, monitor, args.max_builds)
        finally:
            print(
                f"spent {spend.requests} requests: {monitor.requests} polls by the monitor "
                f"(budget {monitor.budget_per_hour}/hour), the rest reading logs"
            )
            if receiver is not None:
                print(f"webhooks: {monitor.plan.webhooks}, reconcile every {args.reconcile:g} s")


@asynccontextmanager
async def receiving(
    args: argparse.Namespace, nf: NorthflankClient, fake: FakeNorthflank | None = None
) -> AsyncIterator[WebhookReceiver | None]:
    """With --webhooks: a receiver serving on --port, and the integration that feeds it."""
    if not args.webhooks:
        yield None
        return
    if fake is not None:  # the fake POSTs to the receiver on loopback
        receiver = WebhookReceiver("demo-secret-0123456789")
        async with receiver.serve(port=0, path="/northflank") as server:
            fake.add_notification_integration(server.url, secret="demo-secret-0123456789")
            print(f"receiving notifications at {server.url}", flush=True)
            yield receiver
        return
    if not args.public_url:
        raise SystemExit("--webhooks needs --public-url: the URL Northflank POSTs to")
    # A fresh random secret, set on the integration and given to the receiver only.
    _, secret = await nf.notifications.ensure_webhook("Failed builds", args.public_url)
    receiver = WebhookReceiver(secret)
    host = "0.0.0.0"  # all interfaces: behind your TLS proxy
    async with receiver.serve(host=host, port=args.port, path="/northflank") as server:
        print(f"receiving notifications at {server.url} as {args.public_url}", flush=True)
        yield receiver


@asynccontextmanager
async def demo_client(
    args: argparse.Namespace, spend: Spend
) -> AsyncIterator[tuple[NorthflankClient, FakeNorthflank]]:
    """A FakeNorthflank whose jobs get a new build every 50 ms or so, one in three failing."""
    async with FakeNorthflank() as fake:
        for job in args.job:
            fake.add_job(args.project, job, builds=20)
        fake.simulate(new_build_every=0.05, step=0.02, failure_rate=1 / 3, seed=7)
        async with NorthflankClient(fake.token, base_url=fake.base_url, on_request_end=spend) as nf:
            yield nf, fake


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="demo-project")
    parser.add_argument("--job", action="append", default=[], help="a job id (repeatable)")
    parser.add_argument("--budget", type=int, default=None, help="requests per hour at most")
    parser.add_argument("--max-builds", type=int, default=0, help="stop after N outcomes")
    parser.add_argument("--fake", action="store_true", help="use the embedded fake API")
    parser.add_argument("--webhooks", action="store_true", help="receive notifications too")
    parser.add_argument("--port", type=int, default=8080, help="the receiver's port")
    parser.add_argument("--public-url", help="the receiver's URL as Northflank reaches it")
    parser.add_argument("--reconcile", type=float, default=600.0, help="seconds between polls")
    args = parser.parse_args()
    args.job = args.job or ["nightly"]
    spend = Spend()
    if args.fake or not os.environ.get("NORTHFLANK_API_TOKEN"):
        args.max_builds = args.max_builds or 6
        args.budget = args.budget or 100_000
        args.job = args.job if len(args.job) > 1 else ["nightly", "tests"]
        async with demo_client(args, spend) as (nf, fake), receiving(args, nf, fake) as receiver:
            # Demo pace: a poll a second per job (the shortest floor there is).
            await run(nf, args, spend, floor=1.0, idle_cap=2.0, receiver=receiver)
    else:
        async with NorthflankClient(on_request_end=spend) as nf, receiving(args, nf) as receiver:
            await run(nf, args, spend, receiver=receiver)


if __name__ == "__main__":
    asyncio.run(main())
