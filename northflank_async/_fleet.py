"""What a fleet of clients shares, and the pure parts of sharing it. No I/O.

A `Coordinator` is a store that several processes reach (Redis for
`RedisCoordinator`). Today it shares one thing, the account's
request budget (`SharedBudget`); ``_http``'s fleet gate reserves a slot there before
every attempt and settles it with the answer's ``x-ratelimit-*`` headers.

Growing it: a coordinator hands out one object per shared concern, keyed under its namespace
(``_shared_budget(key)`` today). Group monitoring would add ``_group_lease(group)`` (one
leader at a time, with a fencing token that every write of the leader carries) and
``_group_delivery(group)`` (events handed to one member each, acknowledged, and handed again
after a consumer's lease expires), on the same connection and namespace, without touching the
budget.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import re
from typing import Protocol, Self

import attrs

from ._errors import ConfigurationError
from ._secrets import Secret

__all__ = [
    "BUDGET_KEY_HMAC_KEY",
    "BudgetView",
    "Coordinator",
    "CoordinatorUnavailable",
    "Grant",
    "SharedBudget",
    "Told",
    "check_name",
    "derive_budget_key",
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
    def _shared_budget(self, derived_key: str) -> SharedBudget:
        """The budget of a client whose token derives ``derived_key`` (unless one is named)."""

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
