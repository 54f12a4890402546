"""Export the client's requests as Prometheus metrics, through its request hooks.

Needs prometheus_client (not a dependency of northflank-async):

    pip install prometheus-client

Against the real API, serving the metrics on http://localhost:9464/metrics while it lists:

    NORTHFLANK_API_TOKEN=... python examples/metrics_prometheus.py --project P --job J --serve 9464

With no token (or with --fake) it lists an embedded FakeNorthflank that fails a few requests
(so that retries show in the metrics) and prints the metrics in the exposition format.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

try:
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
        start_http_server,
    )
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("this example needs prometheus_client: pip install prometheus-client")

from northflank_async import NorthflankClient, RequestEnd
from northflank_async.testing import FakeNorthflank

REGISTRY = CollectorRegistry()
# Labelled by method and outcome only: paths hold project, job and build ids, and one time
# series per build would swamp Prometheus.
ATTEMPTS = Counter(
    "northflank_request_attempts",
    "Request attempts sent to the Northflank API, retries included, by outcome",
    ["method", "outcome"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "northflank_request_seconds",
    "Latency of each attempt, from sending to the end of the body",
    ["method"],
    registry=REGISTRY,
)
REMAINING = Gauge(
    "northflank_rate_limit_remaining",
    "Requests left in the rate-limit window, by the client's own count",
    registry=REGISTRY,
)


def record(event: RequestEnd) -> None:
    """The on_request_end hook: plain and quick, it runs in the request's own task."""
    outcome = str(event.status) if event.status is not None else event.error or "unknown"
    ATTEMPTS.labels(event.method, outcome).inc()
    LATENCY.labels(event.method).observe(event.latency)
    if event.rate_limit_remaining is not None:
        REMAINING.set(event.rate_limit_remaining)


async def list_builds(token: str, base_url: str | None, project: str, job: str) -> int:
    async with NorthflankClient(token, base_url=base_url, on_request_end=record) as nf:
        builds = await nf.jobs.builds.list(project_id=project, job_id=job).collect()
    return len(builds)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="demo")
    parser.add_argument("--job", default="nightly")
    parser.add_argument("--fake", action="store_true", help="list an embedded fake API")
    parser.add_argument("--serve", type=int, metavar="PORT", help="serve /metrics on PORT")
    args = parser.parse_args()
    if args.serve:
        start_http_server(args.serve, registry=REGISTRY)
    token = os.environ.get("NORTHFLANK_API_TOKEN")
    if args.fake or not token:
        async with FakeNorthflank(rate_limit=(1000, 3600.0)) as fake:
            fake.add_job(args.project, args.job, builds=250)
            fake.script(503, "ok", 500)  # two retried attempts among the first requests
            count = await list_builds(fake.token, fake.base_url, args.project, args.job)
    else:
        count = await list_builds(token, None, args.project, args.job)
    print(f"# listed {count} builds")
    print(generate_latest(REGISTRY).decode(), end="")


if __name__ == "__main__":
    asyncio.run(main())
