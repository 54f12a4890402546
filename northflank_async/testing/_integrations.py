"""The fake's notification integrations: kept, checked as the API checks them, served.

An `Integration` is its wire record (what ``get`` answers: never the secret) beside its
secret. `Integrations` creates, updates and deletes them from request bodies checked like the
real API's (a 400 naming the field at fault), and keeps each one's failure status, which the
delivery room (`._notify`) writes: ``numberOfFailedRequests``, ``timeOfFirstFailedRequest``,
``disabled``. Ids are made from the name as Northflank makes them (``"My Hook"`` ->
``my-hook``); a second integration of the same id is a 409. Pure: no aiohttp.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._clock import Clock, format_ms, wall_ms
from ._requests import ApiError

__all__ = ["INTEGRATION_TYPES", "Integration", "Integrations", "trigger_keys"]

INTEGRATION_TYPES: Final = frozenset({"RAW_WEBHOOK", "DISCORD", "TEAMS", "TEAMS_WORKFLOWS"})
_NAME_RE: Final = re.compile(r"[a-zA-Z]((-|\s)?[a-zA-Z0-9]+((-|\s)[a-zA-Z0-9]+)*)?")
_URL_RE: Final = re.compile(r"https?://[^/\s?#]+([/?#]\S*)?", re.IGNORECASE)
_FIELDS: Final = frozenset(
    {"name", "type", "webhook", "secret", "restricted", "projects", "restrictions", "events"}
)
_LISTED: Final[tuple[str, ...]] = (
    "id", "name", "type", "webhook", "status", "createdAt", "updatedAt"
)  # fmt: skip


def trigger_keys(events: object) -> dict[str, bool]:
    """The ``events`` object of a fixture's ``events`` (short names or ``trigger:`` keys)."""
    if isinstance(events, str) or not isinstance(events, list | tuple | set | frozenset):
        raise ValueError('events must be a list of event names, e.g. ["build:success"]')
    keys = {}
    for event in events:
        if not isinstance(event, str) or not event:
            raise ValueError(f"not an event name: {event!r}")
        keys[event if event.startswith("trigger:") else f"trigger:{event}"] = True
    return keys


@dataclasses.dataclass(slots=True, eq=False)
class Integration:
    """One integration: the record the API shows, and the secret it never shows."""

    record: dict[str, Any]
    secret: str | None = dataclasses.field(default=None, repr=False)

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.record["status"]
        return status

    def sends(self, event_type: str, project_id: str) -> bool:
        """Whether an event of this type, in this project, is delivered to it now."""
        if self.status["disabled"] or self.record["type"] != "RAW_WEBHOOK":
            return False
        if self.record["events"].get(f"trigger:{event_type}") is not True:
            return False
        projects = self.record.get("projects") or []
        return not (self.record.get("restricted") and projects and project_id not in projects)

    def listed(self) -> dict[str, Any]:
        """The integration as the list shows it (status without its failure counts)."""
        listed: dict[str, Any] = {k: self.record[k] for k in _LISTED if k in self.record}
        listed["status"] = {key: self.status[key] for key in ("disabled", "reason")}
        return listed


def _invalid(field: str, complaint: str) -> ApiError:
    return ApiError(400, "Invalid request body", details={field: complaint})


def _slug(name: str) -> str:
    return re.sub(r"[\s-]+", "-", name.strip().lower())


class Integrations:
    """Every integration of the fake (one account: the team route form serves the same)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.by_id: dict[str, Integration] = {}
        self.on_create: Callable[[], None] | None = None  # the notifier wakes its pump

    def find(self, integration_id: str) -> Integration:
        found = self.by_id.get(integration_id)
        if found is None:
            raise ApiError(404, "Notification integration not found", {"id": integration_id})
        return found

    def create(self, body: Any) -> Integration:
        """A new integration from a create body checked as the API checks it."""
        checked = self._check(body, create=True)
        integration_id = _slug(checked["name"])
        if integration_id in self.by_id:
            raise ApiError(409, "Notification integration already exists", {"id": integration_id})
        now = format_ms(wall_ms(self._clock))
        secret = checked.pop("secret", None)
        record = {
            "id": integration_id,
            **checked,
            "projects": checked.get("projects", []),
            "restricted": checked.get("restricted", False),
            "status": {"disabled": False, "reason": False, "numberOfFailedRequests": 0},
            "createdAt": now,
            "updatedAt": now,
        }
        integration = self.by_id[integration_id] = Integration(record, secret)
        if self.on_create is not None:
            self.on_create()
        return integration

    def update(self, integration_id: str, body: Any) -> None:
        """Change the fields an update body gives (checked first; ``type`` is refused)."""
        integration = self.find(integration_id)
        checked = self._check(body, create=False)
        if "secret" in checked:
            if integration.record["type"] != "RAW_WEBHOOK":
                raise _invalid("secret", "only RAW_WEBHOOK integrations have a secret")
            integration.secret = checked.pop("secret")
        integration.record.update(checked)
        integration.record["updatedAt"] = format_ms(wall_ms(self._clock))

    def delete(self, integration_id: str) -> None:
        self.find(integration_id)
        del self.by_id[integration_id]

    def failed(self, integration: Integration, disable_after: int | None) -> None:
        """Count one failed delivery request; disable it at ``disable_after`` failures."""
        status = integration.status
        status["numberOfFailedRequests"] = status.get("numberOfFailedRequests", 0) + 1
        status.setdefault("timeOfFirstFailedRequest", format_ms(wall_ms(self._clock)))
        if disable_after is not None and status["numberOfFailedRequests"] >= disable_after:
            status["disabled"] = True
            status["reason"] = True  # the reference types it boolean

    def succeeded(self, integration: Integration) -> None:
        """A delivery got its 2xx: the failure streak is over."""
        status = integration.status
        status["numberOfFailedRequests"] = 0
        status.pop("timeOfFirstFailedRequest", None)

    # ------------------------------------------------------------------ checks

    def _check(self, body: Any, *, create: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise ApiError(400, "Invalid request body", dict.fromkeys(unknown, "not allowed"))
        if not create and "type" in body:
            raise _invalid("type", "cannot be updated")
        checked: dict[str, Any] = {}
        for field in ("name", "type", "webhook", "events") if create else ():
            if field not in body:
                raise _invalid(field, "required")
        if "name" in body:
            name = body["name"]
            if not (isinstance(name, str) and 3 <= len(name) <= 39 and _NAME_RE.fullmatch(name)):
                raise _invalid("name", "3-39 characters matching the integration name pattern")
            checked["name"] = name
        if "type" in body:
            if body["type"] not in INTEGRATION_TYPES:
                raise _invalid("type", f"must be one of {sorted(INTEGRATION_TYPES)}")
            checked["type"] = body["type"]
        if "webhook" in body:
            webhook = body["webhook"]
            if not (isinstance(webhook, str) and _URL_RE.fullmatch(webhook)):
                raise _invalid("webhook", "must be an http(s) URL")
            checked["webhook"] = webhook
        if "secret" in body:
            if not isinstance(body["secret"], str):
                raise _invalid("secret", "must be a string")
            if create and checked["type"] != "RAW_WEBHOOK":
                raise _invalid("secret", "only RAW_WEBHOOK integrations have a secret")
            checked["secret"] = body["secret"]
        if "events" in body:
            checked["events"] = self._check_events(body["events"])
        if "restricted" in body:
            if not isinstance(body["restricted"], bool):
                raise _invalid("restricted", "must be a boolean")
            checked["restricted"] = body["restricted"]
        if "projects" in body:
            projects = body["projects"]
            if not (isinstance(projects, list) and all(isinstance(p, str) for p in projects)):
                raise _invalid("projects", "must be an array of project ids")
            checked["projects"] = list(projects)
        if "restrictions" in body:
            if not isinstance(body["restrictions"], dict):
                raise _invalid("restrictions", "must be an object")
            checked["restrictions"] = json.loads(json.dumps(body["restrictions"]))
        return checked

    @staticmethod
    def _check_events(events: Any) -> dict[str, bool]:
        if not isinstance(events, Mapping):
            raise _invalid("events", "must be an object of trigger:* booleans")
        for key, value in events.items():
            if not key.startswith("trigger:") or not isinstance(value, bool):
                raise _invalid(f"events.{key}", "must be a trigger:* key with a boolean")
        return dict(events)
