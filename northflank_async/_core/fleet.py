"""What a fleet of clients shares, and the pure parts of sharing it. No I/O.

A `Coordinator` is a store that several processes reach (Redis for
`RedisCoordinator`). Today it shares one thing, the account's
request budget (`SharedBudget`); ``_http``'s fleet gate reserves a slot there before
every attempt and settles it with the answer's ``x-ratelimit-*`` headers.

Growing it: a coordinator hands out one object per shared concern, keyed under its namespace
(``shared_budget(key)`` today). Group monitoring would add ``group_channel(group)`` (one
leader at a time, with a fencing token that every write of the leader carries) and
``_group_delivery(group)`` (events handed to one member each, acknowledged, and handed again
after a consumer's lease expires), on the same connection and namespace, without touching the
budget.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any, Protocol, Self

import attrs

from .errors import ConfigurationError
from .events import BuildEvent, MonitorEvent, RunEvent
from .models import BuildStatus, JobBuild, JobRun, RunStatus
from .secret import Secret

__all__ = [
    "BUDGET_KEY_HMAC_KEY",
    "BudgetView",
    "Claimed",
    "Coordinator",
    "CoordinatorUnavailable",
    "Delivery",
    "Grant",
    "GroupChannel",
    "SharedBudget",
    "Told",
    "WebhookChannel",
    "check_name",
    "claimed",
    "claims_of",
    "decode_event",
    "derive_budget_key",
    "encode_event",
    "outcome_key",
    "outcome_of",
]

#: The fixed, public key of the HMAC-SHA256 that turns a token into its budget key. Not a
#: secret: it only separates this use of the token from any other hash of it. The token is
#: a long random string, so its budget key cannot be turned back into it.
BUDGET_KEY_HMAC_KEY = b"northflank-async/budget-key/v1"
# Hex digits of the HMAC kept: 128 bits, no collision between the tokens of one fleet.
_DIGEST_CHARS = 32

# Namespaces and budget keys become parts of Redis keys: short, printable, no braces (Redis
# Cluster's hash tags) and no spaces.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(value: object, what: str) -> str:
    """``value`` if it can name a namespace or budget key; `ConfigurationError` if not."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        shown = repr(value) if isinstance(value, str) and len(value) <= 80 else type(value).__name__
        raise ConfigurationError(
            f"{what} must be 1 to 64 characters of letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit; got {shown}"
        )
    return value


def derive_budget_key(token: Secret) -> str:
    """The budget key of a token: ``t-`` and 32 hex digits of its HMAC-SHA256.

    Tokens of one account that should share one budget are given an explicit key instead.
    """
    digest = hmac.new(BUDGET_KEY_HMAC_KEY, token.reveal().encode(), hashlib.sha256)
    return "t-" + digest.hexdigest()[:_DIGEST_CHARS]


@attrs.frozen
class Told:
    """What an answer's ``x-ratelimit-*`` headers told: limit, remaining, seconds to reset."""

    limit: int
    remaining: int
    reset: float


@attrs.frozen
class BudgetView:
    """The shared budget as the store last showed it; ``None`` fields are unknown."""

    limit: int | None
    remaining: int | None
    reset_in: float | None  # seconds until the announced reset, from when it was read


@attrs.frozen
class Grant:
    """The store's answer to a reservation.

    ``go``: the request may be sent now (``probe``: as the one request that tells the fleet
    its window). Otherwise ``wait`` is the number of seconds until the spent window resets,
    or ``None`` while another member's probe is out (ask again shortly).
    """

    go: bool
    probe: bool = False
    wait: float | None = None
    view: BudgetView | None = None


class CoordinatorUnavailable(Exception):
    """The store could not be reached or refused; ``reason`` is short and credential-free."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SharedBudget(Protocol):
    """One request budget shared by every client that names it (the fleet gate's store).

    Both methods raise `CoordinatorUnavailable` when the store cannot be used.
    """

    async def reserve(self, ticket: str, hold: float) -> Grant:
        """Reserve a slot for one attempt; ``hold`` bounds how long the reservation lives."""
        ...

    async def settle(self, ticket: str, told: Told | None, *, cancelled: bool) -> BudgetView:
        """The attempt of ``ticket`` is over; ``told`` is what its answer announced."""
        ...


@attrs.frozen
class Delivery:
    """One event of a group's stream handed to this member: its entry id and its text.

    ``redelivered``: it had been handed to another member first, which did not acknowledge it
    within the lease (a consumer that died or stalled).
    """

    entry_id: str
    payload: str
    redelivered: bool = False


class GroupChannel(Protocol):
    """What the members of one monitoring group share (see `Coordinator`).

    Every method raises `CoordinatorUnavailable` when the store cannot be used.
    """

    async def acquire(self, member: str, lease: float) -> int | None:
        """Take or renew the poll lease for ``lease`` seconds: its fencing token, else None."""
        ...

    async def release(self, member: str) -> None:
        """Give the lease up if ``member`` holds it."""
        ...

    async def positions(self, jobs: list[str]) -> dict[str, str]:
        """The durable positions stored for ``jobs`` (those that have one)."""
        ...

    async def publish(
        self, member: str, fence: int, job: str, position: str, events: list[Claimed]
    ) -> bool:
        """Append ``events`` and store ``job``'s ``position``, at once, if ``fence`` is current.

        Each event is its text and its claims (`claims_of`): an event whose claim was taken
        already (by `tell`, `claim_outcome`, or published), or whose outcome was told (a start
        or a status after its end), is not appended.
        False (nothing written) when another member took the lease since.
        """
        ...

    async def claim_outcome(self, outcome: str) -> bool:
        """Claim the outcome ``outcome`` (`outcome_key`) for the caller: True the first time
        for the whole group (whether a poll or a notification told it), False after."""
        ...

    async def tell(self, events: list[Claimed]) -> int:
        """Append ``events`` with their claims (`claims_of`), at once, as `publish` does but
        without a lease: what a member told by a notification appends (an outcome, and the
        start before it). A claimed outcome is always in the stream, handed to one member and
        handed again when that member does not acknowledge it (`claim_outcome` alone would
        lose it with a member that dies before handing it out). The number appended."""
        ...

    async def receive(self, member: str, claim_after: float | None) -> Delivery | None:
        """The next event for ``member``: one unacknowledged for ``claim_after`` seconds (when
        given), else a new one; None after a short wait with nothing to hand.
        """
        ...

    async def ack(self, entry_ids: list[str]) -> None:
        """The events of ``entry_ids`` were handled."""
        ...


class WebhookChannel(Protocol):
    """The webhook notifications of one receiving group: a durable queue with one consumer per
    event (see `Coordinator.webhook_channel`). Every method raises `CoordinatorUnavailable`
    when the store cannot be used.
    """

    async def queue(self, event_id: str, payload: str, ttl: float, limit: int) -> bool | None:
        """Queue ``payload`` unless ``event_id`` was queued within ``ttl`` seconds: True when
        queued, False for a repeat, None (nothing queued) when ``limit`` events wait already.
        """
        ...

    async def receive(self, member: str, claim_after: float, count: int) -> list[Delivery]:
        """Up to ``count`` events for ``member``: first those another member left
        unacknowledged for ``claim_after`` seconds, else new ones (after a short wait)."""
        ...

    async def ack(self, entry_ids: list[str]) -> None:
        """The events of ``entry_ids`` were handled: they leave the queue."""
        ...


_EVENT_FIELDS = ("status", "concluded", "success", "created_at", "build_concluded_at")
_RUN_FIELDS = ("status", "concluded", "succeeded", "failed", "started_at", "concluded_at")


def outcome_key(project_id: str, owner_id: str, build_id: str) -> str:
    """The claim of a build's outcome in a group: the same key whether a poll or a
    notification told it (``project/owner/build``)."""
    return f"{project_id}/{owner_id}/{build_id}"


def outcome_of(event: MonitorEvent) -> str | None:
    """The outcome a ``concluded`` event tells (`outcome_key`); None for other kinds. A run's
    outcome is keyed apart from a build's (``run:`` before its id)."""
    return _item_key(event) if event.kind == "concluded" else None


#: An event as a group's stream takes it: its text, the key it claims (appended only the
#: first time that key is set, for the whole group) and the key that keeps it out once set.
Claimed = tuple[str, str | None, str | None]


def claims_of(event: MonitorEvent) -> tuple[str | None, str | None]:
    """The key ``event`` claims and the key that keeps it out, in a group's stream.

    A ``concluded`` event claims its outcome (`outcome_of`): told once, by a poll or a
    notification. A ``created`` event claims its item's start, and is kept out once the
    outcome was told (a notification of an end that came first appended the start before it).
    A ``status`` event is kept out once the outcome was told (a concluded build never goes
    back). So the stream holds each item's ``created`` before its ``concluded``.
    """
    item = _item_key(event)
    if item is None:
        return None, None
    if event.kind == "concluded":
        return item, None
    if event.kind == "created":
        return item + "/created", item
    return None, item


def claimed(event: MonitorEvent) -> Claimed:
    """``event`` as a group's stream takes it (`Claimed`)."""
    return (encode_event(event), *claims_of(event))


def _item_key(event: MonitorEvent) -> str | None:
    if isinstance(event, RunEvent):
        return outcome_key(event.project_id, event.job_id, "run:" + event.run.id)
    owner = event.job_id or event.service_id
    if owner is None:
        return None
    return outcome_key(event.project_id, owner, event.build.id)


def encode_event(event: MonitorEvent) -> str:
    """An event as a group's stream keeps it: kind, ids, and the build's (or run's) status
    fields only. A run's event is marked ``"item": "run"``."""
    item: JobBuild | JobRun
    fields: tuple[str, ...]
    if isinstance(event, RunEvent):
        record: dict[str, Any] = {"item": "run", "service_id": None}
        item, fields = event.run, _RUN_FIELDS
    else:
        record = {"service_id": event.service_id}
        item, fields = event.build, _EVENT_FIELDS
    record.update(kind=event.kind, project_id=event.project_id, job_id=event.job_id, id=item.id)
    for name in fields:
        value = getattr(item, name)
        record[name] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(record, separators=(",", ":"))


def decode_event(payload: str) -> MonitorEvent:
    """The event `encode_event()` wrote; ``ValueError`` for text that is not one."""
    try:
        record = json.loads(payload)
        status = record["status"]
        run = record.get("item") == "run"
        enum = RunStatus if run else BuildStatus
        known = status in enum.__members__.values()

        def moment(name: str) -> datetime | None:
            value = record[name]
            return None if value is None else datetime.fromisoformat(value)

        if run:
            job_run = JobRun(
                id=str(record["id"]),
                status=RunStatus(status) if known else status,
                concluded=record["concluded"],
                succeeded=record["succeeded"],
                failed=record["failed"],
                started_at=moment("started_at"),
                concluded_at=moment("concluded_at"),
            )
            return RunEvent(record["kind"], job_run, record["project_id"], record["job_id"])
        build = JobBuild(
            id=str(record["id"]),
            status=BuildStatus(status) if known else status,
            concluded=record["concluded"],
            success=record["success"],
            created_at=moment("created_at"),
            build_concluded_at=moment("build_concluded_at"),
        )
        return BuildEvent(
            record["kind"],
            build,
            record["project_id"],
            record.get("job_id"),
            service_id=record.get("service_id"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a group event: {error}") from None


class Coordinator(abc.ABC):
    """A store that a fleet of clients shares: pass one as ``NorthflankClient(coordinator=...)``.

    Every client given a coordinator draws on one request budget with every other client (in
    any process) that uses the same store, namespace and budget key. The shipped
    implementation is `RedisCoordinator`; the interface between a
    coordinator and the client is private for now.

    A coordinator may be shared by several clients of one event loop. Close it with
    `aclose()` (or ``async with``) once its clients are closed.
    """

    @abc.abstractmethod
    def shared_budget(self, derived_key: str) -> SharedBudget:
        """The budget of a client whose token derives ``derived_key`` (unless one is named)."""

    def group_channel(self, group: str) -> GroupChannel:
        """The channel of monitoring group ``group`` (`ConfigurationError` if not supported)."""
        raise ConfigurationError(f"{type(self).__name__} does not support monitoring groups")

    def webhook_channel(self, group: str) -> WebhookChannel:
        """The queue of receiving group ``group`` (`ConfigurationError` if not supported)."""
        raise ConfigurationError(f"{type(self).__name__} does not support receiving groups")

    @property
    def recheck_interval(self) -> float:
        """Seconds between two attempts to reach an unreachable store (requests go meanwhile)."""
        return 5.0

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the coordinator's connections. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
