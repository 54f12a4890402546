"""The ``northflank-async`` command line.

``--fake`` runs any command against an embedded :class:`~northflank_async.testing.FakeNorthflank`
seeded with demo builds, so the tool can be tried with no token and no network.

Exit statuses, so that a shell script or CI step can gate on a build:

====  =============================================================
0     done; for ``watch`` and ``start --wait``: the build succeeded
1     the build concluded without success (FAILURE, CRASHED, ...)
2     usage error: a bad argument, id or setting (nothing was sent)
3     the build was aborted
4     the API or the network failed (one line on stderr)
5     ``--timeout`` ran out before the build concluded
130   interrupted
====  =============================================================
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TextIO

import attrs

from ._checks import check_number, check_sha
from ._cli_monitor import add_monitor_command, main_monitor
from ._client import NorthflankClient
from ._errors import ConfigurationError, NorthflankError, WaitTimeoutError
from ._models import BuildStatus, JobBuild
from ._wire import check_id

__all__ = ["main"]

DEMO_PROJECT = "demo-project"
DEMO_JOB = "nightly"
DEMO_BUILDS = 250

EXIT_OK, EXIT_BUILD_FAILED, EXIT_USAGE, EXIT_ABORTED, EXIT_ERROR, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5

_COLUMNS = (("ID", 24), ("STATUS", 18), ("BRANCH", 16), ("SHA", 8), ("CREATED", 20))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="northflank-async", description="Work with Northflank job builds from the shell."
    )
    commands = parser.add_subparsers(dest="group", required=True)
    builds = commands.add_parser("builds", help="job builds").add_subparsers(
        dest="command", required=True
    )

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--project", help="project id (default with --fake: %(default)s)")
        sub.add_argument("--job", help="job id")
        sub.add_argument("--team", help="team id, for organisation-scoped tokens")
        sub.add_argument("--format", choices=("table", "json"), default="table")
        sub.add_argument(
            "--fake",
            action="store_true",
            help=f"use an embedded fake API seeded with {DEMO_BUILDS} demo builds "
            "(no token or network needed)",
        )

    listing = builds.add_parser("list", help="list a job's builds, newest first")
    common(listing)
    listing.add_argument("--limit", type=int, help="stop after this many builds")
    listing.add_argument("--per-page", type=int, default=100, help="page size, 1..100")

    get = builds.add_parser("get", help="show one build")
    common(get)
    get.add_argument("--build", required=True, help="build id")

    def watching(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--poll-interval", type=float, default=5.0, help="seconds between polls")
        sub.add_argument("--timeout", type=float, help="give up after this many seconds (exit 5)")

    start = builds.add_parser("start", help="start a build; --wait to watch it to the end")
    common(start)
    start.add_argument("--sha", help="40-character commit sha (default: the branch head)")
    start.add_argument("--wait", action="store_true", help="watch the build; exit by its outcome")
    watching(start)

    abort = builds.add_parser("abort", help="abort a running build")
    common(abort)
    abort.add_argument("--build", required=True, help="build id")

    watch = builds.add_parser(
        "watch", help="print each status change; exit 0 on success, non-zero otherwise"
    )
    common(watch)
    watch.add_argument("--build", required=True, help="build id")
    watching(watch)

    follow = builds.add_parser("follow", help="print each new build of a job as it appears")
    common(follow)
    follow.add_argument("--poll-interval", type=float, default=30.0, help="seconds between polls")
    follow.add_argument("--max-builds", type=int, default=0, help="stop after this many builds")
    add_monitor_command(commands)
    return parser


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value


def build_to_json(build: JobBuild) -> dict[str, Any]:
    """A build as a JSON-ready dict with snake_case keys and ISO-8601 datetimes."""
    raw = attrs.asdict(build, recurse=True)
    return {key: _json_value(value) for key, value in raw.items()}


def _row(cells: Sequence[str]) -> str:
    return "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, _COLUMNS, strict=True))


def _cells(build: JobBuild) -> list[str]:
    created = build.created_at.strftime("%Y-%m-%d %H:%M:%S") if build.created_at else "-"
    return [
        build.id,
        str(build.status or "-"),
        build.branch or "-",
        (build.sha or "-")[:7],
        created,
    ]


def outcome_exit_status(build: JobBuild) -> int:
    """The exit status that reports a concluded build's outcome."""
    if build.status == BuildStatus.SUCCESS or (build.status is None and build.success):
        return EXIT_OK
    if build.status == BuildStatus.ABORTED:
        return EXIT_ABORTED
    return EXIT_BUILD_FAILED


class _Printer:
    def __init__(self, fmt: str, out: TextIO) -> None:
        self._fmt = fmt
        self._out = out
        self._header_done = False

    def __call__(self, build: JobBuild) -> None:
        if self._fmt == "json":
            self._out.write(json.dumps(build_to_json(build)) + "\n")
            return
        if not self._header_done:
            self._out.write(_row([name for name, _ in _COLUMNS]).rstrip() + "\n")
            self._header_done = True
        self._out.write(_row(_cells(build)).rstrip() + "\n")


@asynccontextmanager
async def _client(args: argparse.Namespace) -> AsyncIterator[NorthflankClient]:
    if not args.fake:
        if not args.project or not args.job:
            raise _UsageError("--project and --job are required (or use --fake for a demo)")
        async with NorthflankClient() as client:
            yield client
        return
    from .testing import FakeNorthflank  # imported lazily: the server side is demo-only here

    args.project = args.project or DEMO_PROJECT
    args.job = args.job or DEMO_JOB
    async with FakeNorthflank() as fake:
        fake.add_job(DEMO_PROJECT, DEMO_JOB, builds=DEMO_BUILDS)
        fake.configure_builds(step=0.2)  # a demo build takes about 1.4 s from start to finish
        # The demo moves on its own: running builds conclude, and new ones appear now and then.
        fake.simulate(new_build_every=2.0, step=0.2)
        async with NorthflankClient(fake.token, base_url=fake.base_url) as client:
            if args.command in ("start", "watch", "follow"):
                args.poll_interval = min(args.poll_interval, 0.1)
            yield client


class _UsageError(Exception):
    pass


def _check_arguments(args: argparse.Namespace) -> None:
    """Every check of the caller's input that can be made before a request, made at once.

    A bad id, number or sha is a usage error (exit 2) with nothing sent: ``start --wait`` must
    not start a build and only then find its ``--timeout`` unusable.
    """
    try:
        ids = {"--project": args.project, "--job": args.job, "--team": args.team}
        ids["--build"] = getattr(args, "build", None)
        for flag, value in ids.items():
            if value is not None:
                check_id(value, flag)
        if args.command == "list":
            check_number(args.per_page, "--per-page", integer=True, minimum=1, maximum=100)
            if args.limit is not None:
                check_number(args.limit, "--limit", integer=True)
        if args.command in ("start", "watch"):
            check_number(args.poll_interval, "--poll-interval")
            if args.timeout is not None:
                check_number(args.timeout, "--timeout")
        if args.command == "start":
            check_sha(args.sha)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    printer = _Printer(args.format, out)
    _check_arguments(args)
    async with _client(args) as client:
        builds = client.jobs.builds
        if args.command == "list":
            listing = builds.list(
                project_id=args.project,
                job_id=args.job,
                team_id=args.team,
                per_page=args.per_page,
                limit=args.limit,
            )
            async for build in listing:
                printer(build)
            return EXIT_OK
        where = {"project_id": args.project, "job_id": args.job, "team_id": args.team}
        if args.command == "get":
            printer(await builds.get(build_id=args.build, **where))
            return EXIT_OK
        if args.command == "abort":
            await builds.abort(build_id=args.build, **where)
            print(f"aborted {args.build}", file=sys.stderr)
            return EXIT_OK
        if args.command == "follow":
            check_number(args.poll_interval, "--poll-interval")
            seen = 0
            async for build in builds.follow(poll_interval=args.poll_interval, **where):
                printer(build)
                seen += 1
                if args.max_builds and seen >= args.max_builds:
                    break
            return EXIT_OK
        last: JobBuild | None = None
        if args.command == "start":
            last = await builds.start(sha=args.sha, **where)
            printer(last)
            if not args.wait:
                return EXIT_OK
        watcher = builds.watch(
            build_id=last.id if last else args.build,
            poll_interval=args.poll_interval,
            timeout=args.timeout,
            **where,
        )
        async for build in watcher:
            if last is None or (build.status, build.is_concluded) != (
                last.status,
                last.is_concluded,
            ):
                printer(build)  # the start line already showed the first state
            last = build
        assert last is not None
        return outcome_exit_status(last)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    if args.group == "monitor":
        return _main_monitor(args)
    try:
        return asyncio.run(_run(args, sys.stdout))
    except WaitTimeoutError as exc:
        print(f"northflank-async: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    except (_UsageError, ConfigurationError) as exc:
        # Found before any request: the caller's input or settings (a missing token, an
        # insecure base URL), not a failure of the API.
        print(f"northflank-async: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (NorthflankError, ValueError) as exc:
        print(f"northflank-async: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (| head) went away: not an error worth a traceback.
        sys.stderr.close()
        return 0


def _main_monitor(args: argparse.Namespace) -> int:
    try:
        return main_monitor(args)
    except (ValueError, ConfigurationError) as exc:
        print(f"northflank-async: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NorthflankError as exc:
        print(f"northflank-async: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
