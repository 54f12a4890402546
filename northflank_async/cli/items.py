"""Builds and runs: their commands, generated from one table, `KINDS`.

A row (`Kind`) says what a kind of item is called (its group, and the noun that names its id
option, ``--build``), which owners have it (``--job``; a service's builds: add ``"service"``
once `registry.OWNERS` has it), how to reach its resource from an owner's handle, which of the
commands below it has, and how it starts; a kind of the account's (``notifications``) has
no owner and no project: its resource hangs from the client. `register()` turns each row into
commands:

- ``list``: the first 20, ``--limit N`` or ``--all``; a table, JSON, JSON lines or CSV
- ``get``, ``abort``, ``delete``: the item given by ``--NOUN ID``
- ``start``: the kind's own options (`Start`), ``--wait`` to watch it to its outcome
- ``watch``: each change of status; exits by the outcome
- ``logs``: a range, or live with ``--follow`` (`logs.show_logs`)

Commands a single kind has (``builds follow``, ``builds stats``) are in `commands`.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from .exits import EXIT_OK
from .logs import logs_options, show_logs
from .options import DEFAULT_LIMIT, id_option, listing_options, watch_options
from .registry import (
    FORMATS,
    GROUP_HELP,
    Context,
    Handler,
    UsageError,
    command,
    outcome_exit_status,
)

__all__ = ["KINDS", "Kind", "Start", "register"]

Arguments = Callable[[argparse.ArgumentParser], None]


@dataclasses.dataclass(frozen=True)
class Start:
    """How a kind starts an item.

    ``options`` adds what picks it (``--sha``, ``--branch``, ...); ``call(resource, args)``
    starts it; ``shows_state``: the answer is the item's first state (a build), printed as the
    first row of ``--wait``, rather than only its id (a run's `RunStarted`).
    """

    options: Arguments
    call: Callable[[Any, argparse.Namespace], Awaitable[Any]]
    shows_state: bool


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of item and the commands it has (see the module's docstring)."""

    group: str
    noun: str
    about: str
    resource: Callable[[Any], Any]
    commands: tuple[str, ...]
    help: Mapping[str, str] = dataclasses.field(default_factory=dict)
    start: Start | None = None
    owners: tuple[str, ...] = ("job",)
    project: bool = True


_HELP = {
    "list": "list the {noun}s",
    "get": "show one {noun}",
    "start": "start a {noun}; --wait to watch it to the end",
    "abort": "abort a running {noun}",
    "delete": "delete a {noun}",
    "watch": "follow a {noun}'s status until it concludes; exit by its outcome: 0 success, "
    "1 failure, 3 an aborted build (on a terminal: one line, updated in place)",
    "logs": "print a {noun}'s log; --follow prints it live until the {noun} concludes",
}


async def _watch(ctx: Context, watcher: AsyncIterator[Any], first: Any = None) -> int:
    """Print the first state, then each change of status; exit by the outcome.

    On a terminal (``--format table``) one line is updated in place, with the time elapsed.
    """
    if ctx.output.live_line():
        last = first
        with ctx.output.live() as show:
            if first is not None:
                show(first)
            async for item in watcher:
                show(item)
                last = item
        assert last is not None
        return outcome_exit_status(last)
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


def _list(kind: Kind) -> tuple[Arguments, Handler]:
    async def handler(ctx: Context) -> int:
        args = ctx.args
        limit = None if args.all else DEFAULT_LIMIT if args.limit is None else args.limit
        more = None if limit is None else limit + 1  # one more: is there more to say?
        items = kind.resource(ctx.owner).list(per_page=args.per_page, limit=more)
        await ctx.output.listing(items, kind.group, limit=limit)
        return EXIT_OK

    return listing_options, handler


def _get(kind: Kind) -> tuple[Arguments, Handler]:
    async def handler(ctx: Context) -> int:
        ctx.output.one(await kind.resource(ctx.owner).get(getattr(ctx.args, kind.noun)))
        return EXIT_OK

    return id_option(kind.noun), handler


def _start(kind: Kind) -> tuple[Arguments, Handler]:
    start = kind.start
    assert start is not None, f"{kind.group} has no Start"

    def arguments(sub: argparse.ArgumentParser) -> None:
        start.options(sub)
        sub.add_argument(
            "--wait", action="store_true", help=f"watch the {kind.noun}; exit by its outcome"
        )
        watch_options(sub, kind.noun)

    async def handler(ctx: Context) -> int:
        args = ctx.args
        resource = kind.resource(ctx.owner)
        started = await start.call(resource, args)
        if not args.wait:
            ctx.output.one(started)
            return EXIT_OK
        if not start.shows_state:
            ctx.output.note(f"started {kind.noun} {started.id}")
        watcher = resource.watch(started.id, poll_interval=args.poll_interval, timeout=args.timeout)
        return await _watch(ctx, watcher, started if start.shows_state else None)

    return arguments, handler


def _abort(kind: Kind) -> tuple[Arguments, Handler]:
    async def handler(ctx: Context) -> int:
        item_id = getattr(ctx.args, kind.noun)
        await kind.resource(ctx.owner).abort(item_id)
        ctx.output.note(f"aborted {item_id}")
        return EXIT_OK

    return id_option(kind.noun), handler


def _delete(kind: Kind) -> tuple[Arguments, Handler]:
    async def handler(ctx: Context) -> int:
        item_id = getattr(ctx.args, kind.noun)
        await kind.resource(ctx.owner).delete(item_id)
        ctx.output.note(f"deleted {item_id}")
        return EXIT_OK

    return id_option(kind.noun), handler


def _watch_command(kind: Kind) -> tuple[Arguments, Handler]:
    item_option = id_option(kind.noun)

    def arguments(sub: argparse.ArgumentParser) -> None:
        item_option(sub)
        watch_options(sub, kind.noun)

    async def handler(ctx: Context) -> int:
        args = ctx.args
        watcher = kind.resource(ctx.owner).watch(
            getattr(args, kind.noun), poll_interval=args.poll_interval, timeout=args.timeout
        )
        return await _watch(ctx, watcher)

    return arguments, handler


def _logs(kind: Kind) -> tuple[Arguments, Handler]:
    async def handler(ctx: Context) -> int:
        return await show_logs(ctx, kind.resource(ctx.owner), getattr(ctx.args, kind.noun))

    return logs_options(id_option(kind.noun)), handler


_MAKERS: dict[str, Callable[[Kind], tuple[Arguments, Handler]]] = {
    "list": _list,
    "get": _get,
    "start": _start,
    "abort": _abort,
    "delete": _delete,
    "watch": _watch_command,
    "logs": _logs,
}
_FORMATS = {"logs": ("text", "jsonl")}


async def _start_build(builds: Any, args: argparse.Namespace) -> Any:
    try:
        return await builds.start(sha=args.sha, branch=args.branch)
    except ValueError as exc:  # an unknown --branch: the caller's to fix, nothing started
        raise UsageError(str(exc)) from None


def _build_start_options(sub: argparse.ArgumentParser) -> None:
    what = sub.add_mutually_exclusive_group()
    what.add_argument("--sha", help="40-character commit sha (default: the branch head)")
    what.add_argument("--branch", metavar="NAME", help="build the head commit of this branch")


async def _start_run(runs: Any, args: argparse.Namespace) -> Any:
    return await runs.start(build_id=args.build, sha=args.sha)


def _run_start_options(sub: argparse.ArgumentParser) -> None:
    what = sub.add_mutually_exclusive_group()
    what.add_argument("--build", metavar="ID", help="run exactly this build")
    what.add_argument("--sha", help="run the build of this 40-character commit sha")


_EVERY = ("list", "get", "start", "abort", "watch", "logs")

KINDS = (
    Kind(
        "builds",
        "build",
        "builds of a job or a service",
        lambda owner: owner.builds,
        _EVERY,
        help={
            "list": "list the builds of a job (or a service), newest first",
        },
        start=Start(_build_start_options, _start_build, shows_state=True),
        owners=("job", "service"),
    ),
    Kind(
        "runs",
        "run",
        "job runs",
        lambda owner: owner.runs,
        _EVERY,
        help={
            "list": "list a job's runs",
        },
        start=Start(_run_start_options, _start_run, shows_state=False),
    ),
    Kind(
        "notifications",
        "integration",
        "notification integrations: where Northflank POSTs events (webhooks)",
        lambda client: client.notifications,
        ("list", "get", "delete"),
        help={
            "list": "list the account's notification integrations",
            "get": "show one notification integration: its events, projects and status",
            "delete": "delete a notification integration",
        },
        owners=(),
        project=False,
    ),
)


def register(kinds: tuple[Kind, ...] = KINDS) -> None:
    """Register the commands of each kind (in `registry.COMMANDS`)."""
    for kind in kinds:
        GROUP_HELP[kind.group] = kind.about
        for name in kind.commands:
            arguments, handler = _MAKERS[name](kind)
            text = kind.help.get(name) or _HELP[name].format(noun=kind.noun)
            formats = _FORMATS.get(name, FORMATS)
            command(
                kind.group,
                name,
                text,
                arguments=arguments,
                owners=kind.owners,
                formats=formats,
                project=kind.project,
            )(handler)


register()
