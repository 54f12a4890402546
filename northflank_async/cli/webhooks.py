"""``northflank-async webhooks serve``: receive Northflank's notifications and print each one.

Self-contained, like ``monitor``: `add_webhooks_command()` adds the subcommand to the parser,
`run_webhooks()` runs it. The secret the notifications must carry is read from the environment
(`SECRET_VARIABLE`; several, comma-separated, while one is rotated), never from an option
(the command lines of a machine's processes are visible to every user of it). With ``--fake``
the demo fake (`demo.MONITOR_DEMO`) gets an integration pointing at the served URL, and its
builds' notifications arrive on their own.

`webhook_secrets()` is also what ``notifications create`` reads its secret with.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from .._core.escape import visible
from .demo import port_number
from .registry import SEE_TOP_HELP, UsageError
from .streams import seen_stamp, stream_line, stream_options

if TYPE_CHECKING:  # imported when it runs: --help loads neither the client nor aiohttp
    from .._core.webhooks import WebhookEvent

__all__ = [
    "SECRET_VARIABLE",
    "CannotListen",
    "add_webhooks_command",
    "check_webhooks_arguments",
    "receiver_secrets",
    "run_webhooks",
    "serving",
    "webhook_secrets",
]

#: The environment variable holding the webhook secret(s): ``new`` or ``new,old``.
SECRET_VARIABLE = "NORTHFLANK_WEBHOOK_SECRET"
_HEADER = f"{'TIME':<20}  {'EVENT':<15}  {'PROJECT':<16}  {'JOB/SERVICE':<16}  {'ID':<24}  STATUS"


def webhook_secrets(*, required: bool) -> list[str]:
    """The secrets in `SECRET_VARIABLE`, comma-separated (the first is the current one),
    blanks around each ignored; none (unset or blank): a `UsageError` when ``required``."""
    found = [part.strip() for part in os.environ.get(SECRET_VARIABLE, "").split(",")]
    found = [part for part in found if part]
    if required and not found:
        raise UsageError(
            f"no webhook secret: set {SECRET_VARIABLE} (several, comma-separated, while one "
            "is rotated); it is never read from an option, which `ps` would show"
        )
    return found


def add_webhooks_command(commands: Any) -> None:
    """Add ``webhooks serve`` to the parser's subcommands (``commands``, from add_subparsers)."""
    about = "receive Northflank's notifications (webhooks)"
    group = commands.add_parser("webhooks", help=about, description=about, epilog=SEE_TOP_HELP)
    inner = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    what = "serve a webhook receiver and print each notification it accepts, until Ctrl-C"
    sub: argparse.ArgumentParser = inner.add_parser(
        "serve",
        help=what,
        description=what + f". The secret comes from {SECRET_VARIABLE} (comma-separated while "
        "rotating); the URL to register is printed on stderr first. Plain HTTP: put TLS in "
        "front of it.",
        epilog=SEE_TOP_HELP,
    )
    sub.add_argument(
        "--host", default="127.0.0.1", metavar="ADDRESS", help="address to listen on (127.0.0.1)"
    )
    sub.add_argument(
        "--port", type=port_number, default=0, metavar="N", help="port to listen on (0: any free)"
    )
    sub.add_argument("--path", default="/", metavar="PATH", help="the URL's path (/)")
    stream_options(sub, "notification")
    sub.add_argument(
        "--fake",
        action="store_true",
        help="the demo fake API sends its builds' notifications to the receiver (with no "
        f"{SECRET_VARIABLE}: a random secret)",
    )


def receiver_secrets(*, fake: bool) -> list[str]:
    """The secrets a receiver accepts: `webhook_secrets` (required), or with ``--fake`` and
    none set a random one, which only the demo fake is told."""
    import secrets

    return webhook_secrets(required=not fake) or [secrets.token_urlsafe(32)]


def check_webhooks_arguments(args: argparse.Namespace) -> list[str]:
    """Refuse bad arguments before anything listens; the secrets to accept."""
    if not args.path.startswith("/") or any(c.isspace() or c in "?#" for c in args.path):
        raise UsageError(f"--path must start with / and hold no blank, ? or #: {args.path!r}")
    return receiver_secrets(fake=args.fake)


def event_line(event: WebhookEvent, fmt: str, seen: datetime | None = None) -> str:
    """One notification's line, with the time it was ``seen`` (default: now)."""
    time = seen_stamp(seen)
    item = event.build if event.build is not None else event.run
    status = None if item is None or item.status is None else str(item.status)
    record: dict[str, Any] = {
        "time": time,
        "kind": event.kind,
        "event_id": event.event_id,
        "integration_id": event.integration_id,
        "project_id": event.project_id,
        **({"job_id": event.job_id} if event.job_id is not None else {}),
        **({"service_id": event.service_id} if event.service_id is not None else {}),
        **({"build_id": event.build.id} if event.build is not None else {}),
        **({"run_id": event.run.id} if event.run is not None else {}),
        "status": status,
    }
    shown = "-" if item is None else item.id if event.build is not None else f"run {item.id}"
    owner = event.job_id or event.service_id or "-"
    row = [(event.kind, 15), (event.project_id or "-", 16), (owner, 16), (shown, 24)]
    return stream_line(fmt, record, [*row, (status or "-", 0)])


class CannotListen(Exception):
    """The receiver's address cannot be had (the port is taken, the address not ours)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


@asynccontextmanager
async def serving(receiver: Any, host: str, port: int, path: str = "/") -> AsyncIterator[Any]:
    """``receiver.serve()`` on that address, its URL said on stderr first; an `OSError`
    there is `CannotListen`."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            server = await stack.enter_async_context(receiver.serve(host, port, path))
        except OSError as exc:
            raise CannotListen(host, port, exc.strerror or str(exc)) from None
        print(f"northflank-async: register {server.url} (plain HTTP: TLS in front); "
              "Ctrl-C to stop", file=sys.stderr, flush=True)  # fmt: skip
        yield server


async def _receive(args: argparse.Namespace, secrets: list[str], out: TextIO) -> int:
    from .. import WebhookReceiver
    from .demo import MONITOR_DEMO, open_demo

    receiver = WebhookReceiver(secrets)
    async with serving(receiver, args.host, args.port, args.path) as server:
        if not args.fake:
            return await _print(args, receiver, out)
        async with open_demo(args, MONITOR_DEMO) as (_, fake):
            assert fake is not None
            fake.add_notification_integration(server.url, secret=secrets[0])
            return await _print(args, receiver, out)


async def _print(args: argparse.Namespace, receiver: Any, out: TextIO) -> int:
    if args.format == "table":
        out.write(_HEADER + "\n")
        out.flush()
    seen = 0
    async for event in receiver:
        out.write(event_line(event, args.format) + "\n")
        out.flush()
        seen += 1
        if args.max_events and seen >= args.max_events:
            break
    return 0


def run_webhooks(args: argparse.Namespace, out: TextIO) -> int:
    """Serve until interrupted (or ``--max-events``); the exit status. An address that cannot
    be had: one line on stderr, `exits.EXIT_ERROR`."""
    import asyncio

    from .exits import EXIT_ERROR

    secrets = check_webhooks_arguments(args)
    try:
        return asyncio.run(_receive(args, secrets, out))
    except CannotListen as exc:
        print(f"northflank-async: {visible(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
