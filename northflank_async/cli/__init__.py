"""The ``northflank-async`` command line: `main()`.

The package, by module:

- `registry`: `Command`, `command()`, the owners (``--job``), exit statuses, the parser;
- `options`: options many commands share, and the one check of them all before a request;
- `items`: builds and runs, their commands generated from one table (`items.KINDS`);
- `commands`: the commands of a single kind (``builds follow``, ``builds stats``, ``jobs``);
- `logs`: ``logs`` of any kind; `monitor`: ``northflank-async monitor``;
- `demo`: where every command's client comes from, the API or the ``--fake`` demo;
- `output` and `tables`: what is printed, in the format the user chose.

Exit statuses, so that a shell script or CI step can gate on a build or a run: see
`registry.EPILOG`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .._core.errors import ConfigurationError, NorthflankError, WaitTimeoutError
from .._core.escape import visible
from . import items  # noqa: F401  registers the kinds' commands: their groups lead --help

# isort: split
from . import commands  # noqa: F401  registers the commands of a single kind
from .demo import COMMANDS_DEMO, open_client
from .monitor import add_monitor_command, check_monitor_arguments, run_monitor
from .options import check_arguments
from .output import Output
from .registry import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Command,
    Context,
    UsageError,
    build_parser,
)

# The exit statuses main() returns itself; the others are in registry.
__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "main",
]


def _more_commands(groups: Any) -> None:
    add_monitor_command(groups)
    completion = groups.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script: eval it, or save it where your shell reads "
        "completions (see docs/cli.md).",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))


async def _run(args: Any, out: TextIO, err: TextIO) -> int:
    spec: Command = args.spec
    async with open_client(args, COMMANDS_DEMO) as client:
        return await spec.handler(Context(args, client, Output(args.format, out, err)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser(_more_commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse found (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.group == "completion":
        import shtab

        sys.stdout.write(shtab.complete(parser, shell=args.shell))
        return EXIT_OK
    try:
        if args.group == "monitor":
            try:
                check_monitor_arguments(args)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            return asyncio.run(run_monitor(args, sys.stdout))
        check_arguments(args)
        return asyncio.run(_run(args, sys.stdout, sys.stderr))
    except WaitTimeoutError as exc:
        print(f"northflank-async: {visible(str(exc))}", file=sys.stderr)
        return EXIT_TIMEOUT
    except (UsageError, ConfigurationError) as exc:
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
