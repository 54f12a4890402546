"""``northflank-async notifications create``: a notification integration, from the shell.

``notifications list``, ``get`` and ``delete`` are a row of `items.KINDS` (the account's
items: no project, no owner). ``create`` has options of its own: the name, ``--webhook``,
``--event`` and ``--project`` (each repeatable). The secret is read from the environment
(`webhooks.SECRET_VARIABLE`, its first secret when several are set), never from an option.
"""

from __future__ import annotations

import argparse

from .exits import EXIT_OK
from .registry import Context, UsageError, command
from .webhooks import SECRET_VARIABLE, webhook_secrets

__all__: list[str] = []


def _create_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "name",
        metavar="NAME",
        help="its name: 3-39 characters, a letter first, words of letters and digits joined "
        "by one space or hyphen (its id is made from it)",
    )
    sub.add_argument("--webhook", required=True, metavar="URL", help="where it POSTs events")
    sub.add_argument(
        "--event",
        dest="events",
        action="append",
        metavar="EVENT",
        help="an event it sends (build:success, job-run:failure, ...; repeat for several; "
        "default: every build:* and job-run:* event)",
    )
    sub.add_argument(
        "--project",
        dest="projects",
        action="append",
        metavar="ID",
        help="send only the events of this project (repeat for several; default: every one)",
    )


@command(
    "notifications",
    "create",
    f"create a webhook integration (type RAW_WEBHOOK); its secret: {SECRET_VARIABLE}",
    arguments=_create_options,
    owners=(),
    project=False,
)
async def _create(ctx: Context) -> int:
    from .._core.notifications import WEBHOOK_EVENTS
    from .._core.wire import check_id

    args = ctx.args
    found = webhook_secrets(required=False)
    events = tuple(args.events) if args.events else WEBHOOK_EVENTS
    try:
        for project in args.projects or ():
            check_id(project, "--project")
        integration = await ctx.client.notifications.create(
            args.name,
            args.webhook,
            secret=found[0] if found else None,
            events=events,
            projects=args.projects,
        )
    except ValueError as exc:  # checked before the request: nothing was sent
        raise UsageError(str(exc)) from None
    if not found:
        ctx.output.note(
            f"created without a secret ({SECRET_VARIABLE} is unset): a receiver of this "
            "client refuses notifications that carry none"
        )
    ctx.output.one(integration)
    return EXIT_OK
