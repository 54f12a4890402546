"""The commands not generated from `items.KINDS`: ``builds follow``, ``builds stats``, ``jobs``.

Each is a handler registered with `registry.command()`; its options come from `options` (or
its own function), and `options.check_arguments()` checks them by name.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any, TextIO

from .exits import EXIT_OK
from .options import DEFAULT_LIMIT, listing_options
from .registry import GROUP_HELP, Context, command

__all__: list[str] = []

GROUP_HELP["jobs"] = "a project's jobs"


# ---------------------------------------------------------------------------- builds follow


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
    sub.add_argument("-n", "--limit", type=int, metavar="N", help="stop after N new builds")


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


# ---------------------------------------------------------------------------- builds stats


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


def _print_stats(out: TextIO, stats: Any) -> None:
    """The stats in lines short enough for a 60-column terminal, none split mid-figure."""
    from rich.table import Table
    from rich.text import Text

    from .._core.stats import histogram
    from .tables import console, format_seconds

    con = console(out)
    rate = "-" if stats.success_rate is None else f"{stats.success_rate:.1%}"
    con.print(f"{stats.builds} builds, success rate {rate}")
    con.print(
        Text.assemble(
            (f"{stats.successes} succeeded", "green"),
            ", ",
            (f"{stats.failures} failed", "red"),
            f", {stats.aborted} aborted, {stats.running} running",
        )
    )
    con.print(f"durations of the {len(stats.durations)} concluded:")
    con.print(
        f"  p50 {format_seconds(stats.p50)}  p90 {format_seconds(stats.p90)}  "
        f"p99 {format_seconds(stats.p99)}"
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


# ---------------------------------------------------------------------------- jobs


@command("jobs", "list", "list a project's jobs", arguments=listing_options, owners=())
async def _jobs_list(ctx: Context) -> int:
    args = ctx.args
    limit = None if args.all else DEFAULT_LIMIT if args.limit is None else args.limit
    jobs = ctx.client.jobs.list(
        args.project,
        team_id=args.team,
        per_page=args.per_page,
        limit=None if limit is None else limit + 1,  # one more: is there more to say?
    )
    await ctx.output.listing(jobs, "jobs", limit=limit)
    return EXIT_OK


@command("jobs", "get", "show one job")
async def _jobs_get(ctx: Context) -> int:
    ctx.output.one(await ctx.job.get())
    return EXIT_OK
