"""The command registry: every ``northflank-async GROUP NAME`` is one `Command` in `COMMANDS`.

A command is a group and a name (``builds list``), a function that adds its own options to
its subparser, and an async handler that gets a `Context` and returns the exit status.
Register one with `command()`. Every command gets the options of `_common()` (``--project``,
its owner's id, ``--team``, ``--format``, ``--fake``, ``--redis``, ``--budget-key``); the
options many commands share (``--limit``, ``--poll-interval``, ...) are in `options`, and
`options.check_arguments()` checks each of them, by name, before anything is sent.

An owner is what a command's items belong to: a job (``--job``) or a service (``--service``).
`OWNERS` maps its name to its option and to the handle it opens on the client; a command lists
the owners it accepts (``owners=("job",)``; none: the project is enough), and takes exactly one
of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn

from .._core.secret import TOKEN_VARIABLES
from .._core.urls import DEFAULT_BASE_URL
from .._version import __version__
from .basics import FORMATS, SEE_TOP_HELP, UsageError
from .demo import DEMO_BUILDS, DEMO_JOB, DEMO_PROJECT, DEMO_SERVICE
from .exits import EXIT_ABORTED, EXIT_BUILD_FAILED, EXIT_OK

if TYPE_CHECKING:  # the client is imported once a command runs, never for --help
    from .._api.client import NorthflankClient
    from .._api.handles import JobHandle
    from .._core.models import JobBuild, JobRun
    from .output import Output

__all__ = [
    "COMMANDS",
    "EPILOG",
    "FORMATS",
    "GROUP_HELP",
    "OWNERS",
    "SEE_TOP_HELP",
    "Command",
    "Context",
    "Owner",
    "Parser",
    "UsageError",
    "build_parser",
    "command",
    "outcome_exit_status",
]


_TOKEN, *_OTHER_TOKENS = TOKEN_VARIABLES
_TOKEN_LINES = "".join(
    f"  {name:<25}read when {_TOKEN} is unset\n" for name in _OTHER_TOKENS
)  # fmt: skip

EPILOG = f"""\
environment variables:
  {_TOKEN:<25}the API token (never printed); not needed with --fake
{_TOKEN_LINES}\
  NORTHFLANK_API_BASE_URL  the API's address (default {DEFAULT_BASE_URL})
  NORTHFLANK_WEBHOOK_SECRET
                           the webhook secret of webhooks serve, monitor --webhooks-port and
                           notifications create (never printed; "new,old" while rotating)
  NO_COLOR                 set (non-empty): no colour, even on a terminal
  FORCE_COLOR              set (non-empty): colour even when stdout is not a terminal
  COLUMNS                  the width tables fit into (default: the terminal's; piped: no limit)

exit statuses:
  0    done; for watch and start --wait: the build or run succeeded
  1    the build or run concluded without success
  2    usage error: a bad or missing argument, id or setting (nothing was sent)
  3    the build was aborted
  4    the API failed (5xx, a bad answer) or the network did
  5    --timeout ran out before the build or run concluded
  6    not found (404): no such project, job, service, build or run
  7    authentication (401) or permission (403): check {_TOKEN}
  8    rate limit: the API answered 429, or the request budget would wait too long
  130  interrupted (Ctrl-C)

try it with no token: northflank-async builds list --fake, or run northflank-async fake
shell completion: northflank-async completion bash|zsh|fish|tcsh (see docs/cli.md)
"""


def outcome_exit_status(item: JobBuild | JobRun) -> int:
    """The exit status that reports a concluded build's or run's outcome."""
    from .._core.models import BuildStatus, JobRun, RunStatus

    if isinstance(item, JobRun):
        return EXIT_OK if item.status == RunStatus.SUCCESS else EXIT_BUILD_FAILED
    if item.status == BuildStatus.SUCCESS or (item.status is None and item.success):
        return EXIT_OK
    if item.status == BuildStatus.ABORTED:
        return EXIT_ABORTED
    return EXIT_BUILD_FAILED


_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class Parser(argparse.ArgumentParser):
    """An argument parser that suggests the command meant (``builds lst``: did you mean list)."""

    def error(self, message: str) -> NoReturn:
        match = _CHOICE.search(message)
        if match is not None:
            choices = re.findall(r"'([^']*)'", match[2])
            close = difflib.get_close_matches(match[1], choices, n=1, cutoff=0.5)
            if close:
                message += f"\n\ndid you mean: {self.prog} {close[0]}"
        super().error(message)


@dataclasses.dataclass(frozen=True)
class Owner:
    """What items belong to: its option (``--NAME ID``), its demo id, the handle it opens."""

    name: str
    help: str
    demo: str
    handle: Callable[[NorthflankClient, argparse.Namespace], Any]


OWNERS: dict[str, Owner] = {
    "job": Owner(
        "job",
        "job id",
        DEMO_JOB,
        lambda client, args: client.job(args.project, args.job, args.team),
    ),
    "service": Owner(
        "service",
        "service id",
        DEMO_SERVICE,
        lambda client, args: client.service(args.project, args.service, args.team),
    ),
}


@dataclasses.dataclass
class Context:
    """What a handler works with: the parsed options, the client and the output."""

    args: argparse.Namespace
    client: NorthflankClient
    output: Output

    @property
    def job(self) -> JobHandle:
        """The job named by ``--project``/``--job``/``--team``."""
        return self.client.job(self.args.project, self.args.job, self.args.team)

    @property
    def owner(self) -> Any:
        """The handle of the owner the options name (``nf.job(...)`` for ``--job``); a
        command of the account's items (no owner, no project): the client."""
        spec: Command = self.args.spec
        if not spec.owners and not spec.project:
            return self.client
        name = next(n for n in spec.owners if getattr(self.args, n, None) is not None)
        return OWNERS[name].handle(self.client, self.args)


Handler = Callable[[Context], Awaitable[int]]


@dataclasses.dataclass(frozen=True)
class Command:
    """One command: ``group name``, its help, its options, its handler.

    ``owners`` are the owners (`OWNERS`) whose id it takes, one of them required; none: it
    needs ``--project`` only, or with ``project=False`` not even that (the account's items:
    its owner is the client). ``formats`` are the ``--format`` choices it offers.
    """

    group: str
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler
    owners: tuple[str, ...] = ("job",)
    formats: tuple[str, ...] = FORMATS
    project: bool = True


COMMANDS: list[Command] = []
GROUP_HELP: dict[str, str] = {}
# The order of a group's commands in --help (registration order for any other name).
_ORDER = ("list", "get", "create", "start", "abort", "delete", "watch", "follow", "stats", "logs")


def command(
    group: str,
    name: str,
    help: str,
    *,
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
    owners: tuple[str, ...] = ("job",),
    formats: tuple[str, ...] = FORMATS,
    project: bool = True,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as ``northflank-async GROUP NAME``."""

    def register(handler: Handler) -> Handler:
        COMMANDS.append(Command(group, name, help, arguments, handler, owners, formats, project))
        return handler

    return register


_FORMAT_HELP = {
    "text": "one line per log line: time, container, text (default)",
    "table": "a table that fits the terminal (default)",
    "json": "one JSON document (a list, or an object for one item)",
    "jsonl": "one JSON object per line",
    "csv": "comma-separated values with a header row",
}


def _common(sub: argparse.ArgumentParser, spec: Command) -> None:
    needed = sub.add_argument_group("required (with --fake: the demo's ids)")
    if spec.project:
        needed.add_argument(
            "--project", metavar="ID", help=f"project id (with --fake: {DEMO_PROJECT})"
        )
    owners = needed.add_mutually_exclusive_group() if len(spec.owners) > 1 else needed
    for owner in map(OWNERS.__getitem__, spec.owners):
        owners.add_argument(
            f"--{owner.name}", metavar="ID", help=f"{owner.help} (with --fake: {owner.demo})"
        )
    sub.add_argument("--team", metavar="ID", help="team id, for organisation-scoped tokens")
    sub.add_argument(
        "-o",
        "--format",
        choices=spec.formats,
        metavar="FORMAT",
        default="table" if "table" in spec.formats else spec.formats[0],
        help="output: " + "; ".join(f"{f}: {_FORMAT_HELP[f]}" for f in spec.formats),
    )
    sub.add_argument(
        "--fake",
        action="store_true",
        help=f"use a fake API that lives for this command, seeded with {DEMO_BUILDS} demo "
        "builds (no token or network needed; `northflank-async fake` keeps one running)",
    )
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


def _usage(sub: argparse.ArgumentParser, spec: Command) -> str:
    """The usage line: the options a command needs first, without brackets, then the rest."""
    needs = ["--project ID"] if spec.project else []
    if spec.owners:
        owners = " | ".join(f"--{name} ID" for name in spec.owners)
        needs.append(f"({owners})" if len(spec.owners) > 1 else owners)
    for action in sub._actions:
        if action.required and action.option_strings:
            needs.append(f"{action.option_strings[-1]} {action.metavar or 'VALUE'}")
        elif not action.option_strings:  # a positional argument (notifications create NAME)
            needs.append(str(action.metavar or action.dest.upper()))
    if not needs:
        return "%(prog)s [options]\n       %(prog)s --fake [options]"
    return f"%(prog)s {' '.join(needs)} [options]\n       %(prog)s --fake [options]"


def build_parser(more: Callable[[Any], None]) -> argparse.ArgumentParser:
    """The parser of every registered command; ``more`` adds the others (monitor, completion)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog="northflank-async",
        description="Work with Northflank jobs, builds and runs from the shell.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    first = {spec.group: index for index, spec in reversed(list(enumerate(COMMANDS)))}
    place = {name: index for index, name in enumerate(_ORDER)}
    subparsers: dict[str, Any] = {}
    for spec in sorted(COMMANDS, key=lambda c: (first[c.group], place.get(c.name, len(_ORDER)))):
        if spec.group not in subparsers:
            about = GROUP_HELP.get(spec.group)
            group = groups.add_parser(
                spec.group, help=about, description=about, epilog=SEE_TOP_HELP
            )
            subparsers[spec.group] = group.add_subparsers(
                dest="command", required=True, metavar="COMMAND"
            )
        sub = subparsers[spec.group].add_parser(
            spec.name, help=spec.help, description=spec.help, epilog=SEE_TOP_HELP
        )
        _common(sub, spec)
        spec.arguments(sub)
        sub.usage = _usage(sub, spec)
        sub.set_defaults(spec=spec)
    more(groups)
    return parser
