"""``northflank-async monitor``: print the build events of many jobs as they happen (and
the events of their runs, with ``--runs``).

Self-contained: `add_monitor_command()` adds the subcommand to the parser, and
`run_monitor()` runs it. ``--fake`` watches the demo API (`demo.MONITOR_DEMO`), whose jobs
gain builds and run them to an outcome on their own. ``--webhooks-port`` makes it the hybrid
monitor: a `WebhookReceiver` serves there (its secret from `webhooks.SECRET_VARIABLE`; with
``--fake`` the demo fake sends to it), and each job is polled once per ``--reconcile``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from .demo import DEMO_PROJECT, MONITOR_DEMO, open_demo, port_number
from .registry import SEE_TOP_HELP
from .streams import seen_stamp, stream_line, stream_options
from .webhooks import SECRET_VARIABLE, receiver_secrets, serving

if TYPE_CHECKING:  # imported when it runs: --help loads neither the client nor aiohttp
    from .._core.events import MonitorEvent, RunEvent
    from .._engine.monitor import Monitor

__all__ = ["RECONCILE", "add_monitor_command", "check_monitor_arguments", "run_monitor"]

#: Seconds between a hybrid monitor's polls of each job unless ``--reconcile`` says otherwise.
RECONCILE = 600.0


def add_monitor_command(commands: Any) -> None:
    """Add ``monitor`` to the parser's subcommands (``commands``, from add_subparsers)."""
    about = "print the build events of one or more jobs as they happen, until Ctrl-C"
    sub: argparse.ArgumentParser = commands.add_parser(
        "monitor",
        help=about,
        description=about + ": a build created, its status changed, it concluded. Each line "
        "carries the time it was seen; the polls stay within --budget requests an hour.",
        epilog=SEE_TOP_HELP,
        usage="%(prog)s --project ID --job ID [--job ID ...] [options]\n"
        "       %(prog)s --fake [options]",
    )
    needed = sub.add_argument_group("required (with --fake: the demo's ids)")
    needed.add_argument("--project", metavar="ID", help=f"project id (with --fake: {DEMO_PROJECT})")
    needed.add_argument(
        "--job",
        action="append",
        default=[],
        metavar="ID",
        help="job id (repeat to watch several jobs; with --fake: the demo's jobs)",
    )
    sub.add_argument("--team", metavar="ID", help="team id, for organisation-scoped tokens")
    sub.add_argument(
        "--budget",
        type=int,
        metavar="N",
        help="requests per hour at most (default: half the account limit)",
    )
    stream_options(sub, "event")
    sub.add_argument(
        "--runs",
        action="store_true",
        help="watch the jobs' runs too (one more request per poll of each job)",
    )
    sub.add_argument(
        "--fake",
        action="store_true",
        help="watch a fake API that lives for this command, whose demo jobs build on their own",
    )
    sub.add_argument(
        "--redis",
        metavar="URL",
        help="share the account's request budget with every process on this Redis",
    )
    sub.add_argument(
        "--group",
        dest="monitor_group",
        metavar="NAME",
        help="with --redis: run as a replica of this monitoring group (one polls, each event "
        "is printed by one replica)",
    )
    sub.add_argument(
        "--lease",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="with --group: how long the poll lease and an unacknowledged event last",
    )
    hybrid = sub.add_argument_group(
        "hybrid (notifications, and a poll per --reconcile to catch the lost ones)"
    )
    hybrid.add_argument(
        "--webhooks-port",
        type=port_number,
        metavar="N",
        help=f"receive notifications on this port (0: any free; the secret: {SECRET_VARIABLE}); "
        "the URL to register is printed on stderr first",
    )
    hybrid.add_argument(
        "--webhooks-host",
        metavar="ADDRESS",
        help="with --webhooks-port: the address to listen on (127.0.0.1; TLS in front)",
    )
    hybrid.add_argument(
        "--reconcile",
        type=float,
        metavar="SECONDS",
        help="with --webhooks-port: poll each job once per SECONDS (default 600, at least 1)",
    )


def _line(event: MonitorEvent, fmt: str, seen: datetime | None = None) -> str:
    """One event's line, with the time it was ``seen`` (default: now)."""
    from .._core.events import RunEvent  # loaded by the monitor already

    time = seen_stamp(seen)
    if isinstance(event, RunEvent):
        return _run_line(event, fmt, time)
    build = event.build
    record: dict[str, Any] = {
        "time": time,
        "kind": event.kind,
        "project_id": event.project_id,
        "job_id": event.job_id,
        **({"service_id": event.service_id} if event.service_id is not None else {}),
        "build_id": build.id,
        "status": None if build.status is None else str(build.status),
        "success": build.success,
    }
    row = [(event.kind, 10), (event.owner_id, 16), (build.id, 24), (str(build.status or "-"), 0)]
    return stream_line(fmt, record, row)


def _run_line(event: RunEvent, fmt: str, time: str) -> str:
    run = event.run
    status = None if run.status is None else str(run.status)
    ids = {"project_id": event.project_id, "job_id": event.job_id, "run_id": run.id}
    record = {"time": time, "kind": event.kind, **ids, "status": status}
    row = [(event.kind, 10), (event.job_id, 16), (f"run {run.id}", 24), (status or "-", 0)]
    return stream_line(fmt, record, row)


@asynccontextmanager
async def _receiving(args: argparse.Namespace, fake: Any) -> AsyncIterator[dict[str, Any]]:
    """With ``--webhooks-port``: a receiver serving there (the demo fake sends to it), as the
    hybrid monitor's arguments; without: none."""
    if args.webhooks_port is None:
        yield {}
        return
    from .. import WebhookReceiver

    secrets = receiver_secrets(fake=args.fake)
    receiver = WebhookReceiver(secrets)
    host = args.webhooks_host or "127.0.0.1"
    async with serving(receiver, host, args.webhooks_port) as server:
        if fake is not None:
            fake.add_notification_integration(server.url, secret=secrets[0])
        yield {"webhooks": receiver, "reconcile": args.reconcile or RECONCILE}


@asynccontextmanager
async def _monitored(args: argparse.Namespace) -> AsyncIterator[Monitor[MonitorEvent]]:
    from .._core.checks import MIN_POLL_INTERVAL

    if args.fake and args.redis:
        raise ValueError("--redis and --group watch a real API, not --fake")
    opened = open_demo(args, MONITOR_DEMO, team_id=args.team)
    runs: bool = getattr(args, "runs", False)
    async with opened as (client, fake), _receiving(args, fake) as hybrid:
        if args.fake:  # polls as often as the floor allows, for the demo's events to show
            budget = args.budget or 3600 * 20
            monitoring = client.monitor(
                budget, floor=MIN_POLL_INTERVAL, idle_cap=2.0, runs=runs, **hybrid
            )
        else:
            group, lease = args.monitor_group, args.lease
            monitoring = client.monitor(args.budget, group=group, lease=lease, runs=runs, **hybrid)
        async with monitoring as monitor:
            for job in args.job:
                monitor.watch_job(args.project, job, runs=runs)
            yield monitor


def check_monitor_arguments(args: argparse.Namespace) -> None:
    """Refuse bad arguments before anything is sent (``ValueError``: a usage error)."""
    from .._core.checks import check_poll_interval
    from .._core.fleet import check_name
    from .._core.wire import check_id

    if not args.fake and (not args.project or not args.job):
        raise ValueError("--project and at least one --job are required (or use --fake)")
    for flag, value in (("--project", args.project), ("--team", args.team)):
        if value is not None:
            check_id(value, flag)
    for job in args.job:
        check_id(job, "--job")
    if args.budget is not None and args.budget < 1:
        raise ValueError("--budget must be a positive number of requests per hour")
    group = getattr(args, "monitor_group", None)
    if group is not None and not args.redis:
        raise ValueError("--group needs --redis (the group's members meet there)")
    if group is not None:
        check_name(group, "--group")
    if not args.lease > 0 or args.lease == float("inf"):
        raise ValueError("--lease must be a positive number of seconds")
    if args.webhooks_port is None:
        for flag, value in (
            ("--webhooks-host", args.webhooks_host),
            ("--reconcile", args.reconcile),
        ):
            if value is not None:
                raise ValueError(f"{flag} needs --webhooks-port")
        return
    if group is not None:
        raise ValueError("--webhooks-port does not combine with --group yet")
    if args.reconcile is not None:
        check_poll_interval(args.reconcile, "--reconcile")
    receiver_secrets(fake=args.fake)  # none set: a usage error naming the variable


async def run_monitor(args: argparse.Namespace, out: TextIO) -> int:
    """Print events until interrupted (or ``--max-events``); the exit status."""
    seen = 0
    async with _monitored(args) as monitor:
        if args.format == "table":
            out.write(f"{'TIME':<20}  {'EVENT':<10}  {'JOB':<16}  {'BUILD':<24}  STATUS\n")
        async for event in monitor:
            out.write(_line(event, args.format, datetime.now(UTC)) + "\n")
            out.flush()
            seen += 1
            if args.max_events and seen >= args.max_events:
                break
        spent = monitor.requests
        redelivered = monitor.redelivered
    extra = f", {redelivered} events redelivered" if redelivered else ""
    print(f"monitor: {spent} requests sent{extra}", file=sys.stderr)
    return 0
