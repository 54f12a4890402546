"""Notification integrations: their names, events and request bodies, checked locally. Pure.

An integration's ``events`` travel as an object of ``trigger:*`` booleans
(``{"trigger:build:success": true}``); callers name events either way, short
(``"build:success"``) or as the API's key. `integration_body()` checks every argument of a
create or update before any request and builds the body the API takes; the secret stays a
`Secret` until the body is made (no repr or traceback local shows it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

from .secret import Secret
from .urls import has_control

__all__ = [
    "INTEGRATION_TYPES",
    "TRIGGER_PREFIX",
    "WEBHOOK_EVENTS",
    "check_integration_name",
    "check_secret",
    "event_keys",
    "integration_body",
    "short_event",
]

TRIGGER_PREFIX: Final = "trigger:"
#: The types the reference lists for a new integration (``RAW_WEBHOOK`` POSTs raw JSON).
INTEGRATION_TYPES: Final = frozenset({"RAW_WEBHOOK", "DISCORD", "TEAMS", "TEAMS_WORKFLOWS"})
#: The events a receiver of builds and runs wants: every build and job-run event.
WEBHOOK_EVENTS: Final = (
    "build:start",
    "build:success",
    "build:failure",
    "build:abort",
    "job-run:start",
    "job-run:success",
    "job-run:failure",
    "job-run:abort",
    "job-run:terminate",
)
_NAME_RE: Final = re.compile(r"[a-zA-Z]((-|\s)?[a-zA-Z0-9]+((-|\s)[a-zA-Z0-9]+)*)?")
_NAME_LENGTH: Final = (3, 39)
_EVENT_RE: Final = re.compile(r"[a-zA-Z0-9-]+(:[a-zA-Z0-9-]+)+")


def check_integration_name(name: object) -> str:
    """``name`` when the API would take it (3-39 characters, its pattern), else ``ValueError``."""
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, got {type(name).__name__}")
    low, high = _NAME_LENGTH
    # The length first: the pattern then never runs on a long input.
    if not low <= len(name) <= high or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"name {name!r} is not a valid integration name: {low}-{high} characters, a letter "
            "first, then letters and digits in words joined by one space or hyphen"
        )
    return name


def short_event(key: str) -> str:
    """An event's short name: ``trigger:build:success`` -> ``build:success``."""
    return key[len(TRIGGER_PREFIX) :] if key.startswith(TRIGGER_PREFIX) else key


def event_keys(events: Iterable[str]) -> dict[str, bool]:
    """The API's ``events`` object for ``events``, named short or as the API's keys."""
    if isinstance(events, str | bytes) or not isinstance(events, Iterable):
        raise ValueError('events must be a list of event names, e.g. ["build:success"]')
    keys: dict[str, bool] = {}
    for event in events:
        if not isinstance(event, str) or not _EVENT_RE.fullmatch(short_event(event)):
            raise ValueError(f"not an event name: {event!r} (e.g. 'build:success')")
        keys[TRIGGER_PREFIX + short_event(event)] = True
    if not keys:
        raise ValueError("events must name at least one event")
    return keys


def _check_url(webhook: object) -> str:
    if not isinstance(webhook, str) or has_control(webhook) or " " in webhook:
        raise ValueError("webhook must be a URL without spaces or control characters")
    scheme, _, rest = webhook.partition("://")
    if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        raise ValueError(f"webhook must be an http(s) URL with a host, got {webhook!r}")
    return webhook


def integration_body(
    name: str | None,
    webhook: str | None,
    events: Iterable[str] | None,
    /,
    *,
    secret: object = None,
    projects: Sequence[str] | None = None,
    restricted: bool | None = None,
    type: str | None = None,
) -> dict[str, Any]:
    """The body of a create (``type`` given) or an update, every argument checked first.

    ``None`` leaves a field out. ``projects`` restricts the integration to those projects
    (``restricted`` then defaults to true). ``secret`` is checked by `check_secret`.
    """
    checked = check_secret(secret)
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = check_integration_name(name)
    if type is not None:
        if type not in INTEGRATION_TYPES:
            raise ValueError(f"type must be one of {sorted(INTEGRATION_TYPES)}, got {type!r}")
        body["type"] = type
    if webhook is not None:
        body["webhook"] = _check_url(webhook)
    if events is not None:
        body["events"] = event_keys(events)
    if projects is not None:
        if isinstance(projects, str) or not all(isinstance(p, str) and p for p in projects):
            raise ValueError("projects must be a list of project ids")
        body["projects"] = list(projects)
        if restricted is None:
            restricted = True
    if restricted is not None:
        if not isinstance(restricted, bool):
            raise ValueError("restricted must be a bool")
        body["restricted"] = restricted
    if checked is not None:
        if type is not None and type != "RAW_WEBHOOK":
            raise ValueError("a secret is only sent by RAW_WEBHOOK integrations")
        body["secret"] = checked.reveal()
    return body


def check_secret(secret: object) -> Secret | None:
    """A webhook secret, as a `Secret` (``None``: none): a non-empty string, printable."""
    if secret is None:
        return None
    if not isinstance(secret, str) or not secret or has_control(secret):
        raise ValueError("secret must be a non-empty string without control characters")
    return Secret(secret)
