"""The ``northflank-async`` command line.

``--fake`` runs any command against an embedded :class:`~northflank_async.testing.FakeNorthflank`
seeded with demo builds, so the tool can be tried with no token and no network.
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

from ._client import NorthflankClient
from ._errors import NorthflankError
from ._models import JobBuild

__all__ = ["main"]

DEMO_PROJECT = "demo-project"
DEMO_JOB = "nightly"
DEMO_BUILDS = 250

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
        async with NorthflankClient(fake.token, base_url=fake.base_url) as client:
            yield client


class _UsageError(Exception):
    pass


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    printer = _Printer(args.format, out)
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
        else:
            build = await builds.get(
                project_id=args.project, job_id=args.job, build_id=args.build, team_id=args.team
            )
            printer(build)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args, sys.stdout))
    except (NorthflankError, ValueError) as exc:
        print(f"northflank-async: error: {exc}", file=sys.stderr)
        return 1
    except _UsageError as exc:
        print(f"northflank-async: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (| head) went away: not an error worth a traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
