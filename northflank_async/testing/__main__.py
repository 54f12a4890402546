"""Serve a `FakeNorthflank` from the command line until Ctrl-C.

::

    python -m northflank_async.testing --port 8080 --builds 250 --project demo-project --job nightly

prints one line (``base_url=... token=... project=... job=... builds=...``) once it
listens, then serves until interrupted (SIGINT or SIGTERM), and exits with status 0.
A bad argument gives a one-line message on stderr and status 2.

It binds loopback only, unless ``--allow-remote`` (then with a warning on stderr): the fake
accepts one fixed token that it prints, so anyone who could reach it could use it, and its
data is made up. Every answer says ``Server: northflank-async-fake/<version>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import math
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ._fake import FakeNorthflank


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{text} is not {bounds}")
        return value

    return parse


def _bounded_float(low: float, high: float | None = None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is not a finite number {bounds}")
        return value

    return parse


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m northflank_async.testing",
        description="Serve an in-memory fake of the Northflank job-build API.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (127.0.0.1; loopback only)"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not loopback (the fake's fixed token is printed: anyone "
        "who can reach the address can use it)",
    )
    parser.add_argument(
        "--port", type=_bounded_int(0, 65535), default=8080, help="port to bind, 0 for any (8080)"
    )
    parser.add_argument("--token", default="nf-fake-token", help="bearer token to accept")
    parser.add_argument(
        "--project", default="demo-project", help="project id (demo-project, as every demo)"
    )
    parser.add_argument("--job", default="nightly", help="job id (nightly)")
    parser.add_argument(
        "--builds", type=_bounded_int(0), default=250, help="builds to generate (250)"
    )
    parser.add_argument("--runs", type=_bounded_int(0), default=0, help="runs to generate (0)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated data (0)")
    parser.add_argument(
        "--latency", type=_bounded_float(0), default=0.0, help="seconds added per answer"
    )
    parser.add_argument(
        "--fault-rate",
        type=_bounded_float(0, 1),
        default=0.0,
        help="probability of a random fault (0)",
    )
    parser.add_argument(
        "--no-rate-limit", action="store_true", help="do not enforce 1000 requests an hour"
    )
    args = parser.parse_args(argv)
    if not _is_loopback(args.host) and not args.allow_remote:
        parser.error(
            f"--host {args.host!r} is not a loopback address: the fake would serve its fixed "
            "token to anyone who can reach it; pass --allow-remote to do so anyway"
        )
    return args


def _is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the fake on this machine (``""`` binds every address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve anywhere
        return False


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeNorthflank(
        token=args.token,
        host=args.host,
        port=args.port,
        rate_limit=None if args.no_rate_limit else (1000, 3600.0),
        latency=args.latency,
        seed=args.seed,
    )
    fake.add_job(args.project, args.job, builds=args.builds, runs=args.runs)
    if args.fault_rate:
        fake.faults(args.fault_rate, seed=args.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows: Ctrl-C then surfaces as KeyboardInterrupt in main().
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with fake:
        if not _is_loopback(args.host):
            print(
                f"warning: the fake listens on {fake.base_url}, beyond this machine, with the "
                f"fixed token {args.token!r}: anyone who can reach it can use it. It is a fake "
                "(made-up data; every answer says Server: northflank-async-fake): never put "
                "it where a real service is expected.",
                file=sys.stderr,
                flush=True,
            )
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
