"""The ``northflank-async`` command line: `main()`.

The package, by module:

- `registry`: `Command`, `command()`, the owners (``--job``), the parser; `exits`: the exit
  statuses;
- `options`: options many commands share, and the one check of them all before a request;
- `items`: builds and runs, their commands generated from one table (`items.KINDS`);
- `commands`: the commands of a single kind (``builds follow``, ``builds stats``, ``jobs``);
- `logs`: ``logs`` of any kind; `monitor`: ``northflank-async monitor``;
- `notifications`: ``notifications create`` (list, get and delete are a row of `items.KINDS`);
  `webhooks`: ``webhooks serve``, a receiver of notifications;
- `demo`: where every command's client comes from, the API or the ``--fake`` demo; and
  ``northflank-async fake``, the demo served until Ctrl-C;
- `output` and `tables`: what is printed, in the format the user chose; `streams`: the lines
  ``monitor`` and ``webhooks serve`` print as events come.

Exit statuses, so that a shell script or CI step can gate on a build or a run, and tell a
typo from an outage: `exits` (every one offered here too), described in `registry.EPILOG`.
``--help``, ``--version`` and ``completion`` import neither aiohttp nor the client (modules
import them when a command runs).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any, TextIO

from .._core.escape import visible
from . import items  # noqa: F401  registers the kinds' commands: their groups lead --help

# isort: split
from . import commands  # noqa: F401  registers the commands of a single kind

# isort: split
from . import (
    exits,
    notifications,  # noqa: F401  registers notifications create
)
from .demo import add_fake_command, check_fake_arguments, run_fake
from .exits import *  # noqa: F403  every exit status is public here (`exits.__all__`)
from .monitor import add_monitor_command, check_monitor_arguments
from .options import check_arguments
from .registry import (
    Command,
    Context,
    UsageError,
    build_parser,
)
from .webhooks import CannotListen, add_webhooks_command

__all__ = ["MISSING_EXTRA", "main", *exits.__all__]  # every exit status: see `exits`

#: What the command says when its own dependencies (the ``cli`` extra) are not installed.
MISSING_EXTRA = "pip install 'northflank-async[cli]'"
_EXTRA_MODULES = ("rich", "shtab")
_SHELLS = ("bash", "zsh", "fish", "tcsh")


def _more_commands(groups: Any) -> None:
    add_monitor_command(groups)
    add_webhooks_command(groups)
    add_fake_command(groups)
    completion = groups.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script: eval it, or save it where your shell reads "
        "completions (see docs/cli.md).",
    )
    completion.add_argument("shell", choices=_SHELLS, help="the shell: " + ", ".join(_SHELLS))


async def _run(args: Any, out: TextIO, err: TextIO) -> int:
    from .demo import COMMANDS_DEMO, open_client
    from .output import Output

    spec: Command = args.spec
    async with open_client(args, COMMANDS_DEMO, team_id=getattr(args, "team", None)) as client:
        return await spec.handler(Context(args, client, Output(args.format, out, err)))


def _missing_extra() -> list[str]:
    return [name for name in _EXTRA_MODULES if find_spec(name) is None]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    missing = _missing_extra()
    if missing:
        print(
            f"northflank-async: the command line needs {' and '.join(missing)}: {MISSING_EXTRA}",
            file=sys.stderr,
        )
        return exits.EXIT_USAGE
    parser = build_parser(_more_commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse found (2)
        return exc.code if isinstance(exc.code, int) else exits.EXIT_USAGE
    if args.group == "completion":
        import shtab

        sys.stdout.write(shtab.complete(parser, shell=args.shell))
        return exits.EXIT_OK
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)  # end the line the terminal echoed ^C on
        return exits.EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (| head) went away: not an error worth a traceback.
        _silence_stdout()
        return exits.EXIT_OK
    except UsageError as exc:
        print(f"northflank-async: {visible(str(exc))}", file=sys.stderr)
        return exits.EXIT_USAGE
    except Exception as exc:
        status = _failure(exc)
        if status is None:
            raise
        return status


def _dispatch(args: Any) -> int:
    import asyncio

    if args.group == "fake":
        check_fake_arguments(args)
        return run_fake(args, sys.stdout, sys.stderr)
    if args.group == "monitor":
        from .monitor import run_monitor

        try:
            check_monitor_arguments(args)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            return asyncio.run(run_monitor(args, sys.stdout))
        except CannotListen as exc:  # --webhooks-port taken
            print(f"northflank-async: {visible(str(exc))}", file=sys.stderr)
            return exits.EXIT_ERROR
    if args.group == "webhooks":
        from .webhooks import run_webhooks

        return run_webhooks(args, sys.stdout)
    check_arguments(args)
    return asyncio.run(_run(args, sys.stdout, sys.stderr))


def _failure(exc: Exception) -> int | None:
    """One line on stderr for a failure, and its exit status by cause (`None`: a bug)."""
    from .._core.errors import (
        AuthenticationError,
        ConfigurationError,
        NorthflankError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        WaitTimeoutError,
    )
    from .._core.secret import TOKEN_VARIABLES

    if isinstance(exc, WaitTimeoutError):
        status, prefix = exits.EXIT_TIMEOUT, ""
    elif isinstance(exc, ConfigurationError):
        # Found before any request: the caller's settings (an insecure base URL, a token
        # with a newline), not a failure of the API.
        status, prefix = exits.EXIT_USAGE, ""
    elif isinstance(exc, NotFoundError):
        status, prefix = exits.EXIT_NOT_FOUND, "error: "
    elif isinstance(exc, AuthenticationError | PermissionDeniedError):
        status, prefix = exits.EXIT_AUTH, "error: "
    elif isinstance(exc, RateLimitError):
        status, prefix = exits.EXIT_RATE_LIMITED, "error: "
    elif isinstance(exc, NorthflankError | ValueError):
        status, prefix = exits.EXIT_ERROR, "error: "
    else:
        return None
    # An API error quotes the server's message: shown, never obeyed by the terminal.
    hint = ""
    if isinstance(exc, AuthenticationError):
        first, *others = TOKEN_VARIABLES
        hint = f" (check the token in {first}, or {', '.join(others)})"
    elif isinstance(exc, PermissionDeniedError):
        hint = " (check the token's role, or --team for an organisation's project)"
    print(f"northflank-async: {prefix}{visible(str(exc))}{hint}", file=sys.stderr)
    return status


def _silence_stdout() -> None:
    # Python flushes stdout at exit; on a closed pipe that flush fails again, loudly.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
