"""Serve a `FakeNorthflank` from the command line until Ctrl-C.

::

    python -m northflank_async.testing --port 8080 --builds 250 --project demo --job nightly

prints one line (``base_url=... token=... project=... job=... builds=...``) once it
listens, then serves until interrupted (SIGINT or SIGTERM), and exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from ._fake import FakeNorthflank


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m northflank_async.testing",
        description="Serve an in-memory fake of the Northflank job-build API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind, 0 for any (8080)")
    parser.add_argument("--token", default="nf-fake-token", help="bearer token to accept")
    parser.add_argument("--project", default="demo", help="project id (demo)")
    parser.add_argument("--job", default="nightly", help="job id (nightly)")
    parser.add_argument("--builds", type=int, default=250, help="builds to generate (250)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated data (0)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="probability of a random fault (0)"
    )
    parser.add_argument(
        "--no-rate-limit", action="store_true", help="do not enforce 1000 requests an hour"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeNorthflank(
        token=args.token,
        host=args.host,
        port=args.port,
        rate_limit=None if args.no_rate_limit else (1000, 3600.0),
        latency=args.latency,
        seed=args.seed,
    )
    fake.add_job(args.project, args.job, builds=args.builds)
    if args.fault_rate:
        fake.faults(args.fault_rate, seed=args.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows: Ctrl-C then surfaces as KeyboardInterrupt in main().
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with fake:
        print(
            f"base_url={fake.base_url} token={fake.token} project={args.project} "
            f"job={args.job} builds={args.builds}",
            flush=True,
        )
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake server until interrupted and return the process exit status.

    `argv` defaults to the command line. SIGINT (Ctrl-C) and SIGTERM stop the server
    cleanly and give 0; a port that cannot be bound gives 1 with a message on stderr.
    """
    args = _parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as error:  # e.g. the port is taken
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
