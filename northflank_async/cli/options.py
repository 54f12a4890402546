"""Options many commands share, and `check_arguments()`, which checks them all by name.

A command that adds its options with these helpers is checked with no code of its own: a bad
id, number or sha is a usage error (exit 2) found before anything is sent.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from .._core.secret import TOKEN_VARIABLES
from .registry import OWNERS, Command, UsageError

__all__ = ["DEFAULT_LIMIT", "check_arguments", "id_option", "listing_options", "watch_options"]

#: How many items a listing shows unless ``--limit N`` or ``--all`` says otherwise.
DEFAULT_LIMIT = 20

# The id options checked with check_id, in the order they are checked (see id_option()).
_ID_OPTIONS: list[str] = ["project", *OWNERS, "team"]


def listing_options(sub: argparse.ArgumentParser) -> None:
    """``-n/--limit N`` (default `DEFAULT_LIMIT`), ``--all`` and ``--per-page N``."""
    how_many = sub.add_mutually_exclusive_group()
    how_many.add_argument(
        "-n",
        "--limit",
        type=int,
        metavar="N",
        help=f"show the first N (default {DEFAULT_LIMIT}; stderr says when there is more)",
    )
    how_many.add_argument(
        "--all", action="store_true", help="show every item (each 100 spend one request)"
    )
    sub.add_argument("--per-page", type=int, default=100, metavar="N", help="page size, 1..100")


def watch_options(sub: argparse.ArgumentParser, what: str) -> None:
    """``--poll-interval S`` and ``--timeout S`` of a watch of ``what`` (a build, a run)."""
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


def id_option(noun: str) -> Callable[[argparse.ArgumentParser], None]:
    """The adder of a required ``--NOUN ID`` (``--build``); its value is checked as an id."""
    if noun not in _ID_OPTIONS:
        _ID_OPTIONS.append(noun)

    def add(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(f"--{noun}", required=True, metavar="ID", help=f"{noun} id")

    return add


def check_arguments(args: argparse.Namespace) -> None:
    """Every check of the caller's input that can be made before a request, made at once.

    A bad id, number or sha is a usage error (exit 2) with nothing sent: ``start --wait`` must
    not start a build and only then find its ``--timeout`` unusable. Options are checked by
    name, so a new command that uses the shared option helpers is checked too.
    """
    from .._core.checks import check_number, check_poll_interval, check_sha
    from .._core.wire import check_id

    spec: Command = args.spec
    if not args.fake:
        owners = " or ".join(f"--{name}" for name in spec.owners)
        missing = args.project is None or (
            bool(spec.owners) and all(getattr(args, n) is None for n in spec.owners)
        )
        if missing:
            need = " and ".join(["--project", *([owners] if owners else [])])
            verb = "are" if owners else "is"
            raise UsageError(f"{need} {verb} required (or use --fake for a demo)")
        if not any(os.environ.get(name) for name in TOKEN_VARIABLES):
            raise UsageError(
                f"no API token: set {TOKEN_VARIABLES[0]} (or {', '.join(TOKEN_VARIABLES[1:])}), "
                "or try a command with --fake"
            )
    try:
        for flag in _ID_OPTIONS:
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
        raise UsageError(str(exc)) from None
    if getattr(args, "budget_key", None) is not None and getattr(args, "redis", None) is None:
        raise UsageError("--budget-key needs --redis")
