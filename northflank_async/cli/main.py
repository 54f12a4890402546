"""The ``northflank-async`` command line.

``--fake`` runs any command against an embedded `FakeNorthflank`
seeded with demo builds and runs, so the tool can be tried with no token and no network.

A command is one `Command`: a group and a name (``builds list``), a function that adds
its own options to its subparser, and an async handler that gets a `Context` and returns
the exit status. Register one with `command()`; options shared by many commands (ids,
``--limit``, ``--poll-interval``, ...) are added by the helpers below, and
`_check_arguments()` checks each of them, by name, before anything is sent.

Exit statuses, so that a shell script or CI step can gate on a build or a run: see ``_EPILOG``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import attrs

from .._api.client import DEFAULT_BASE_URL, NorthflankClient
from .._api.handles import JobHandle
from .._core.checks import MIN_POLL_INTERVAL, check_number, check_poll_interval, check_sha
from .._core.errors import ConfigurationError, NorthflankError, WaitTimeoutError
from .._core.escape import json_line, visible
from .._core.models import BuildStatus, JobBuild, JobRun, LogLine, RunStatus
from .._core.wire import check_id
from .._transport.redis_store import RedisCoordinator
from .._version import __version__
from .monitor import add_monitor_command, check_monitor_arguments, run_monitor
from .output import FORMATS, Output, console, format_seconds

__all__ = ["COMMANDS", "Command", "Context", "command", "main"]

DEMO_PROJECT = "demo-project"
DEMO_JOB = "nightly"
DEMO_BUILDS = 250
DEMO_RUNS = 40

EXIT_OK, EXIT_BUILD_FAILED, EXIT_USAGE, EXIT_ABORTED, EXIT_ERROR, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130

_TOKEN_VARIABLES = ("NORTHFLANK_API_TOKEN", "NF_API_TOKEN")

_EPILOG = f"""\
environment variables:
  NORTHFLANK_API_TOKEN     the API token (never printed); not needed with --fake
  NF_API_TOKEN             read when NORTHFLANK_API_TOKEN is unset
  NORTHFLANK_API_BASE_URL  the API's address (default {DEFAULT_BASE_URL})
  NO_COLOR                 set (non-empty): no colour, even on a terminal
  FORCE_COLOR              set (non-empty): colour even when stdout is not a terminal
  COLUMNS                  the width tables fit into (default: the terminal's)

exit statuses:
  0    done; for watch and start --wait: the build or run succeeded
  1    the build or run concluded without success
  2    usage error: a bad or missing argument, id or setting (nothing was sent)
  3    the build was aborted
  4    the API or the network failed (one line on stderr)
  5    --timeout ran out before the build or run concluded
  130  interrupted (Ctrl-C)

shell completion: northflank-async completion bash|zsh|tcsh (see docs/cli.md)
"""


class _UsageError(Exception):
    pass


@attrs.define
class Context:
    """What a handler works with: the parsed options, the client and the output."""

    args: argparse.Namespace
    client: NorthflankClient
    output: Output

    @property
    def job(self) -> JobHandle:
        """The job named by ``--project``/``--job``/``--team``."""
        return self.client.job(self.args.project, self.args.job, self.args.team)


Handler = Callable[[Context], Awaitable[int]]


@attrs.frozen
class Command:
    """One command: ``group name``, its help, its options, its handler.

    ``scope`` says which ids it needs: ``"job"`` (``--project`` and ``--job``) or
    ``"project"`` (``--project`` only). ``formats`` are the ``--format`` choices it offers.
    """

    group: str
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    scope: str = "job"
    formats: tuple[str, ...] = FORMATS


COMMANDS: list[Command] = []
_GROUP_HELP = {"builds": "job builds", "runs": "job runs", "jobs": "a project's jobs"}


def command(
    group: str,
    name: str,
    help: str,
    *,
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
    scope: str = "job",
    formats: tuple[str, ...] = FORMATS,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as ``northflank-async GROUP NAME``."""

    def register(handler: Handler) -> Handler:
        COMMANDS.append(Command(group, name, help, arguments, handler, scope, formats))
        return handler

    return register


# ---------------------------------------------------------------------------- options


def _common(sub: argparse.ArgumentParser, spec: Command) -> None:
    sub.add_argument("--project", metavar="ID", help=f"project id (with --fake: {DEMO_PROJECT})")
    if spec.scope == "job":
        sub.add_argument("--job", metavar="ID", help=f"job id (with --fake: {DEMO_JOB})")
    sub.add_argument("--team", metavar="ID", help="team id, for organisation-scoped tokens")
    sub.add_argument(
        "--format",
        choices=spec.formats,
        default="table" if "table" in spec.formats else spec.formats[0],
        help="output: "
        + ", ".join(
            {
                "text": "one line per log line: time, container, text (default)",
                "table": "a table that fits the terminal (default)",
                "json": "one JSON document (a list, or an object for one item)",
                "jsonl": "one JSON object per line",
                "csv": "comma-separated values with a header row",
            }[f]
            for f in spec.formats
        ),
    )
    sub.add_argument(
        "--fake",
        action="store_true",
        help=f"use an embedded fake API seeded with {DEMO_BUILDS} demo builds "
        "(no token or network needed)",
    )
    _fleet_options(sub)


def _fleet_options(sub: argparse.ArgumentParser) -> None:
    """``--redis URL`` and ``--budget-key NAME``: share one request budget with a fleet."""
    sub.add_argument(
        "--redis",
        metavar="URL",
        help="share one request budget with every process on this Redis (redis://host:6379/0)",
    )
    sub.add_argument(
        "--budget-key",
        metavar="NAME",
        help="with --redis: the budget's name, shared by several tokens of one account "
        "(default: a keyed hash of the token)",
    )


def _listing_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--limit", type=int, metavar="N", help="stop after N items")
    sub.add_argument("--per-page", type=int, default=100, metavar="N", help="page size, 1..100")


def _watch_options(sub: argparse.ArgumentParser, what: str) -> None:
    sub.add_argument(
        "--poll-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between polls (at least 1)",
    )
    sub.add_argument(
        "--timeout", type=float, metavar="S", help=f"give up on the {what} after S seconds (exit 5)"
    )


def _build_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--build", required=True, metavar="ID", help="build id")


def _run_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--run", required=True, metavar="ID", help="run id")


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="northflank-async",
        description="Work with Northflank jobs, builds and runs from the shell.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    subparsers: dict[str, Any] = {}
    for spec in COMMANDS:
        if spec.group not in subparsers:
            group = groups.add_parser(
                spec.group, help=_GROUP_HELP.get(spec.group), epilog=_EPILOG,
                formatter_class=formatter,
            )  # fmt: skip
            subparsers[spec.group] = group.add_subparsers(
                dest="command", required=True, metavar="COMMAND"
            )
        sub = subparsers[spec.group].add_parser(
            spec.name, help=spec.help, description=spec.help, epilog=_EPILOG,
            formatter_class=formatter,
        )  # fmt: skip
        _common(sub, spec)
        spec.arguments(sub)
        sub.set_defaults(spec=spec)
    add_monitor_command(groups)
    completion = groups.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script: eval it, or save it where your shell reads "
        "completions (see docs/cli.md).",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    return parser


# ---------------------------------------------------------------------------- checks


def _check_arguments(args: argparse.Namespace) -> None:
    """Every check of the caller's input that can be made before a request, made at once.

    A bad id, number or sha is a usage error (exit 2) with nothing sent: ``start --wait`` must
    not start a build and only then find its ``--timeout`` unusable. Options are checked by
    name, so a new command that uses the shared option helpers is checked too.
    """
    spec: Command = args.spec
    if not args.fake:
        need = ("--project", "--job") if spec.scope == "job" else ("--project",)
        if any(getattr(args, flag[2:]) is None for flag in need):
            verb = "are" if len(need) > 1 else "is"
            raise _UsageError(f"{' and '.join(need)} {verb} required (or use --fake for a demo)")
        if not any(os.environ.get(name) for name in _TOKEN_VARIABLES):
            raise _UsageError(
                "no API token: set NORTHFLANK_API_TOKEN (or NF_API_TOKEN), "
                "or try a command with --fake"
            )
    try:
        for flag in ("project", "job", "team", "build", "run"):
            value = getattr(args, flag, None)
            if value is not None:
                check_id(value, f"--{flag.replace('_', '-')}")
        if getattr(args, "per_page", None) is not None:
            check_number(args.per_page, "--per-page", integer=True, minimum=1, maximum=100)
        for flag in ("limit", "last"):
            if getattr(args, flag, None) is not None:
                check_number(getattr(args, flag), f"--{flag}", integer=True)
        if getattr(args, "last", None) == 0:
            raise ValueError("--last must be at least 1, got 0")
        if getattr(args, "poll_interval", None) is not None:
            check_poll_interval(args.poll_interval, "--poll-interval")
        if getattr(args, "timeout", None) is not None:
            check_number(args.timeout, "--timeout")
        if isinstance(getattr(args, "since", None), str):
            check_id(args.since, "--since")
        check_sha(getattr(args, "sha", None))
        if getattr(args, "branch", None) == "":
            raise ValueError("--branch must not be empty")
        if getattr(args, "sha", None) is not None and getattr(args, "branch", None) is not None:
            raise ValueError("pass --sha or --branch, not both")
        if getattr(args, "sha", None) is not None and getattr(args, "build", None) is not None:
            raise ValueError("pass --build or --sha, not both")
    except ValueError as exc:
        raise _UsageError(str(exc)) from None


# ---------------------------------------------------------------------------- client


@asynccontextmanager
async def _coordinator(args: argparse.Namespace) -> AsyncIterator[RedisCoordinator | None]:
    """The coordinator ``--redis`` asks for (closed on exit), or ``None`` without it."""
    redis_url = getattr(args, "redis", None)
    budget_key = getattr(args, "budget_key", None)
    if redis_url is None:
        if budget_key is not None:
            raise _UsageError("--budget-key needs --redis")
        yield None
        return
    async with RedisCoordinator.from_url(redis_url, budget_key=budget_key) as coordinator:
        yield coordinator


@asynccontextmanager
async def _client(args: argparse.Namespace) -> AsyncIterator[NorthflankClient]:
    async with _coordinator(args) as coordinator, _plain_client(args, coordinator) as client:
        yield client


@asynccontextmanager
async def _plain_client(
    args: argparse.Namespace, coordinator: RedisCoordinator | None
) -> AsyncIterator[NorthflankClient]:
    if not args.fake:
        async with NorthflankClient(coordinator=coordinator) as client:
            yield client
        return
    from ..testing import FakeNorthflank  # imported lazily: the server side is demo-only here

    args.project = args.project or DEMO_PROJECT
    if hasattr(args, "job"):
        args.job = args.job or DEMO_JOB
    async with FakeNorthflank() as fake:
        fake.add_job(DEMO_PROJECT, DEMO_JOB, builds=DEMO_BUILDS, runs=DEMO_RUNS, name="Nightly")
        fake.configure_builds(step=0.2)  # a demo build takes about 1.4 s from start to finish
        fake.configure_runs(step=0.3)
        # The demo moves on its own: running builds conclude, and new ones appear now and then.
        fake.simulate(new_build_every=2.0, step=0.2)
        nf = NorthflankClient(fake.token, base_url=fake.base_url, coordinator=coordinator)
        async with nf as client:
            if getattr(args, "poll_interval", None) is not None:
                args.poll_interval = min(args.poll_interval, MIN_POLL_INTERVAL)
            yield client


# ---------------------------------------------------------------------------- outcomes


def outcome_exit_status(item: JobBuild | JobRun) -> int:
    """The exit status that reports a concluded build's or run's outcome."""
    if isinstance(item, JobRun):
        return EXIT_OK if item.status == RunStatus.SUCCESS else EXIT_BUILD_FAILED
    if item.status == BuildStatus.SUCCESS or (item.status is None and item.success):
        return EXIT_OK
    if item.status == BuildStatus.ABORTED:
        return EXIT_ABORTED
    return EXIT_BUILD_FAILED


async def _watch(ctx: Context, watcher: AsyncIterator[Any], first: Any = None) -> int:
    """Print the first state, then each change of status; exit by the outcome."""
    last = first
    with ctx.output.stream() as show:
        if first is not None:
            show(first)
        async for item in watcher:
            if last is None or (item.status, item.is_concluded) != (
                last.status,
                last.is_concluded,
            ):
                show(item)  # the start line already showed the first state
            last = item
    assert last is not None
    return outcome_exit_status(last)


# ---------------------------------------------------------------------------- builds


@command("builds", "list", "list a job's builds, newest first", arguments=_listing_options)
async def _builds_list(ctx: Context) -> int:
    args = ctx.args
    await ctx.output.listing(
        ctx.job.builds.list(per_page=args.per_page, limit=args.limit), "builds"
    )
    return EXIT_OK


@command("builds", "get", "show one build", arguments=_build_option)
async def _builds_get(ctx: Context) -> int:
    ctx.output.one(await ctx.job.builds.get(ctx.args.build))
    return EXIT_OK


def _start_build_options(sub: argparse.ArgumentParser) -> None:
    what = sub.add_mutually_exclusive_group()
    what.add_argument("--sha", help="40-character commit sha (default: the branch head)")
    what.add_argument("--branch", metavar="NAME", help="build the head commit of this branch")
    sub.add_argument("--wait", action="store_true", help="watch the build; exit by its outcome")
    _watch_options(sub, "build")


@command(
    "builds",
    "start",
    "start a build; --wait to watch it to the end",
    arguments=_start_build_options,
)
async def _builds_start(ctx: Context) -> int:
    args = ctx.args
    try:
        build = await ctx.job.builds.start(sha=args.sha, branch=args.branch)
    except ValueError as exc:  # an unknown --branch: the caller's to fix, nothing started
        raise _UsageError(str(exc)) from None
    if not args.wait:
        ctx.output.one(build)
        return EXIT_OK
    watcher = ctx.job.builds.watch(build.id, poll_interval=args.poll_interval, timeout=args.timeout)
    return await _watch(ctx, watcher, build)


@command("builds", "abort", "abort a running build", arguments=_build_option)
async def _builds_abort(ctx: Context) -> int:
    await ctx.job.builds.abort(ctx.args.build)
    ctx.output.note(f"aborted {ctx.args.build}")
    return EXIT_OK


def _watch_build_options(sub: argparse.ArgumentParser) -> None:
    _build_option(sub)
    _watch_options(sub, "build")


@command(
    "builds",
    "watch",
    "print each status change; exit 0 on success, non-zero otherwise",
    arguments=_watch_build_options,
)
async def _builds_watch(ctx: Context) -> int:
    args = ctx.args
    watcher = ctx.job.builds.watch(
        args.build, poll_interval=args.poll_interval, timeout=args.timeout
    )
    return await _watch(ctx, watcher)


def _since(value: str) -> str | datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # a build id, checked with the other ids
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--since {value!r} needs a timezone (e.g. Z)")
    return parsed


def _follow_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--since",
        type=_since,
        metavar="BUILD|TIME",
        help="start after this build id or ISO-8601 time (default: from now on)",
    )
    sub.add_argument(
        "--poll-interval",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds between polls (at least 1)",
    )
    sub.add_argument("--limit", type=int, metavar="N", help="stop after N new builds")


@command(
    "builds",
    "follow",
    "print each new build of the job as it is created, until Ctrl-C (or --limit)",
    arguments=_follow_options,
)
async def _builds_follow(ctx: Context) -> int:
    args = ctx.args
    follower = ctx.job.builds.follow(since=args.since, poll_interval=args.poll_interval)
    ctx.output.note(f"following builds of {args.project}/{args.job}; Ctrl-C to stop")
    seen = 0
    try:
        with ctx.output.stream() as show:
            if args.limit == 0:
                return EXIT_OK
            async for build in follower:
                show(build)
                seen += 1
                if args.limit is not None and seen >= args.limit:
                    break
    finally:
        await follower.aclose()
    return EXIT_OK


def _stats_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--last", type=int, default=500, metavar="N", help="the newest N builds (default 500)"
    )


@command(
    "builds",
    "stats",
    "success rate, duration percentiles, failures by day and a duration chart",
    arguments=_stats_options,
    formats=("table", "json"),
)
async def _builds_stats(ctx: Context) -> int:
    from .._core.stats import build_stats

    builds = await ctx.output.collect(ctx.job.builds.list(limit=ctx.args.last), "builds")
    stats = build_stats(builds)
    if ctx.args.format == "json":
        ctx.output.out.write(json.dumps(stats.as_json(), indent=2) + "\n")
    else:
        _print_stats(ctx.output.out, stats)
    return EXIT_OK


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _last(value: str) -> timedelta:
    """``--since`` of ``logs``: a duration such as 30s, 10m, 2h or 1d."""
    match = re.fullmatch(r"([0-9]{1,9})([smhd])", value)
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"--since {value!r}: use a positive number and a unit, e.g. 30s, 10m, 2h or 1d"
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def _logs_options(item: Callable[[argparse.ArgumentParser], None]) -> Callable[..., None]:
    def add(sub: argparse.ArgumentParser) -> None:
        item(sub)
        sub.add_argument(
            "--follow",
            action="store_true",
            help="print lines live until it concludes; exit status as watch",
        )
        sub.add_argument(
            "--since",
            type=_last,
            metavar="DURATION",
            help="only the lines of the last DURATION (30s, 10m, 2h, 1d); default: the whole log",
        )
        sub.add_argument("--grep", metavar="TEXT", help="only the lines that contain TEXT")
        sub.add_argument("--limit", type=int, metavar="N", help="stop after N lines")

    return add


_LOG_KEEPS = "\t\n"  # what a log line printed as text keeps of its control characters


def _print_line(out: TextIO, fmt: str, line: LogLine) -> None:
    ts = line.ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if fmt == "jsonl":
        log = line.text if line.raw is None else line.raw
        wire = {"ts": ts, "containerId": line.container_id, "log": log}
        out.write(json_line(wire) + "\n")  # exact; controls and bidi written as \\uXXXX
    else:
        # The log's own text: escape sequences, CRs, C1 and bidi controls shown, not obeyed
        # (a tab or a newline of the line is kept).
        container = visible(line.container_id or "-")
        out.write(f"{ts}  {container}  {visible(line.text, keep=_LOG_KEEPS)}\n")
    out.flush()  # live lines show as they come, also through a pipe


async def _logs(ctx: Context, resource: Any, item_id: str) -> int:
    """``builds logs`` and ``runs logs``: a range, or with ``--follow`` a tail."""
    args = ctx.args
    if args.limit == 0:
        return EXIT_OK
    item = await resource.get(item_id)
    began = getattr(item, "created_at", None) or getattr(item, "started_at", None)
    live = args.follow and not item.is_concluded
    try:
        if live:
            # A tail takes no duration: --since counts back from this machine's clock.
            since = None if args.since is None else datetime.now(UTC) - args.since
            lines = resource.tail_logs(item_id, start=since or began, text_includes=args.grep)
        elif args.since is not None:  # the API's own "last N seconds"
            lines = resource.logs(
                item_id, duration=args.since, line_limit=args.limit, text_includes=args.grep
            )
        else:
            lines = resource.logs(
                item_id, start=began, line_limit=args.limit, text_includes=args.grep
            )
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    printed = 0
    async with lines:
        async for line in lines:
            _print_line(ctx.output.out, args.format, line)
            printed += 1
            if args.limit is not None and printed >= args.limit:
                return EXIT_OK
    if not args.follow:
        return EXIT_OK
    return outcome_exit_status(await resource.get(item_id) if live else item)


@command(
    "builds",
    "logs",
    "print a build's log; --follow prints it live until the build concludes",
    arguments=_logs_options(_build_option),
    formats=("text", "jsonl"),
)
async def _builds_logs(ctx: Context) -> int:
    return await _logs(ctx, ctx.job.builds, ctx.args.build)


def _print_stats(out: TextIO, stats: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from .._core.stats import histogram

    con = console(out)
    rate = "-" if stats.success_rate is None else f"{stats.success_rate:.1%}"
    con.print(
        Text.assemble(
            (f"{stats.builds} builds: ", ""),
            (f"{stats.successes} succeeded", "green"),
            ", ",
            (f"{stats.failures} failed", "red"),
            f", {stats.aborted} aborted, {stats.running} running; success rate {rate}",
        )
    )
    con.print(
        f"durations ({len(stats.durations)} concluded): p50 {format_seconds(stats.p50)}, "
        f"p90 {format_seconds(stats.p90)}, p99 {format_seconds(stats.p99)}"
    )
    if stats.by_day:
        table = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
        for header in ("DAY", "BUILDS", "FAILURES"):
            table.add_column(header, justify="left" if header == "DAY" else "right", no_wrap=True)
        for day in stats.by_day:
            failed = Text(str(day.failures), style="red" if day.failures else "")
            table.add_row(day.day.isoformat(), str(day.builds), failed)
        con.print()
        con.print(table)
    bins = histogram(stats.durations)
    if bins:
        con.print()
        con.print("durations:")
        widest = max(count for _, _, count in bins)
        bar_room = max(min(con.width, 100) - 28, 5)
        for low, high, count in bins:
            label = f"{format_seconds(low):>7} - {format_seconds(high):<7}"
            bar = "█" * round(bar_room * count / widest) if count else ""
            con.print(Text.assemble(label, " │", (bar, "cyan"), f" {count}"))


# ---------------------------------------------------------------------------- runs


@command("runs", "list", "list a job's runs", arguments=_listing_options)
async def _runs_list(ctx: Context) -> int:
    args = ctx.args
    await ctx.output.listing(ctx.job.runs.list(per_page=args.per_page, limit=args.limit), "runs")
    return EXIT_OK


@command("runs", "get", "show one run", arguments=_run_option)
async def _runs_get(ctx: Context) -> int:
    ctx.output.one(await ctx.job.runs.get(ctx.args.run))
    return EXIT_OK


def _start_run_options(sub: argparse.ArgumentParser) -> None:
    what = sub.add_mutually_exclusive_group()
    what.add_argument("--build", metavar="ID", help="run exactly this build")
    what.add_argument("--sha", help="run the build of this 40-character commit sha")
    sub.add_argument("--wait", action="store_true", help="watch the run; exit by its outcome")
    _watch_options(sub, "run")


@command(
    "runs", "start", "start a run; --wait to watch it to the end", arguments=_start_run_options
)
async def _runs_start(ctx: Context) -> int:
    args = ctx.args
    started = await ctx.job.runs.start(build_id=args.build, sha=args.sha)
    if not args.wait:
        ctx.output.one(started)
        return EXIT_OK
    ctx.output.note(f"started run {started.id}")
    watcher = ctx.job.runs.watch(started.id, poll_interval=args.poll_interval, timeout=args.timeout)
    return await _watch(ctx, watcher)


@command("runs", "abort", "abort a running run", arguments=_run_option)
async def _runs_abort(ctx: Context) -> int:
    await ctx.job.runs.abort(ctx.args.run)
    ctx.output.note(f"aborted {ctx.args.run}")
    return EXIT_OK


def _watch_run_options(sub: argparse.ArgumentParser) -> None:
    _run_option(sub)
    _watch_options(sub, "run")


@command(
    "runs",
    "watch",
    "print each status change of a run; exit 0 on success, 1 on failure",
    arguments=_watch_run_options,
)
async def _runs_watch(ctx: Context) -> int:
    args = ctx.args
    watcher = ctx.job.runs.watch(args.run, poll_interval=args.poll_interval, timeout=args.timeout)
    return await _watch(ctx, watcher)


@command(
    "runs",
    "logs",
    "print a run's log; --follow prints it live until the run concludes",
    arguments=_logs_options(_run_option),
    formats=("text", "jsonl"),
)
async def _runs_logs(ctx: Context) -> int:
    return await _logs(ctx, ctx.job.runs, ctx.args.run)


# ---------------------------------------------------------------------------- jobs


@command("jobs", "list", "list a project's jobs", arguments=_listing_options, scope="project")
async def _jobs_list(ctx: Context) -> int:
    args = ctx.args
    jobs = ctx.client.jobs.list(
        args.project, team_id=args.team, per_page=args.per_page, limit=args.limit
    )
    await ctx.output.listing(jobs, "jobs")
    return EXIT_OK


@command("jobs", "get", "show one job")
async def _jobs_get(ctx: Context) -> int:
    ctx.output.one(await ctx.job.get())
    return EXIT_OK


# ---------------------------------------------------------------------------- main


async def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    spec: Command = args.spec
    async with _client(args) as client:
        return await spec.handler(Context(args, client, Output(args.format, out, err)))


def _completion(parser: argparse.ArgumentParser, shell: str) -> int:
    import shtab

    sys.stdout.write(shtab.complete(parser, shell=shell))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse found (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.group == "completion":
        return _completion(parser, args.shell)
    try:
        if args.group == "monitor":
            try:
                check_monitor_arguments(args)
            except ValueError as exc:
                raise _UsageError(str(exc)) from None
            return asyncio.run(run_monitor(args, sys.stdout))
        _check_arguments(args)
        return asyncio.run(_run(args, sys.stdout, sys.stderr))
    except WaitTimeoutError as exc:
        print(f"northflank-async: {visible(str(exc))}", file=sys.stderr)
        return EXIT_TIMEOUT
    except (_UsageError, ConfigurationError) as exc:
        # Found before any request: the caller's input or settings (an insecure base URL, a
        # token with a newline), not a failure of the API.
        print(f"northflank-async: {visible(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except (NorthflankError, ValueError) as exc:
        # An API error quotes the server's message: shown, never obeyed by the terminal.
        print(f"northflank-async: error: {visible(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(file=sys.stderr)  # end the line the terminal echoed ^C on
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (| head) went away: not an error worth a traceback.
        _silence_stdout()
        return EXIT_OK


def _silence_stdout() -> None:
    # Python flushes stdout at exit; on a closed pipe that flush fails again, loudly.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
