"""The Redis coordinator: one request budget for a fleet, kept by two server-side scripts.

``redis`` (the ``redis`` extra) is imported only when a coordinator connects, so that
``import northflank_async`` never needs it. Both scripts read Redis' own clock
(``redis.call('TIME')``): the processes' clocks never meet.

Keys, for namespace ``NS`` and budget key ``K`` (``{K}`` is a Redis Cluster hash tag, so both
keys live on one node):

- ``NS:budget:{K}:state``, a hash: ``limit``, ``remaining`` (the fleet's own count),
  ``reset`` (the announced reset, in milliseconds on Redis' clock), ``probe`` and
  ``probe_until`` (the ticket of the request that goes first while the window is unknown,
  and the end of its lease), ``blind`` (``1`` once a probe's answer told nothing). It expires
  an hour after its last write, or after the announced reset if that is later.
- ``NS:budget:{K}:inflight``, a sorted set: one random ticket per request in flight, scored
  with the end of its reservation (milliseconds on Redis' clock). It expires with its last
  reservation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._core.checks import check_number
from .._core.errors import ConfigurationError
from .._core.fleet import (
    BudgetView,
    Claimed,
    Coordinator,
    CoordinatorUnavailable,
    Delivery,
    Grant,
    GroupChannel,
    SharedBudget,
    Told,
    WebhookChannel,
    check_name,
)
from .redis_scripts import (
    _ACQUIRE,
    _CONSUMERS,
    _DONE,
    _PUBLISH,
    _QUEUE,
    _RELEASE,
    _RESERVE,
    _SETTLE,
    _TELL,
    OUTCOME_TTL,
    STREAM_MAXLEN,
)
from .redis_support import auth_failure, credentials, describe, import_redis, redis_errors, safe
from .redis_webhooks import RedisWebhooks, StreamConsumers, text

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["PROBE_LEASE", "STREAM_MAXLEN", "RedisCoordinator"]

_T = TypeVar("_T")

#: A probe whose answer has not come back after this many seconds (its process died, or the
#: API is slow) no longer holds the fleet back: the next request goes as the probe.
PROBE_LEASE = 10.0


class _RedisGroup:
    """`GroupChannel` on four Redis keys; see the comment above."""

    def __init__(self, coordinator: RedisCoordinator, group: str) -> None:
        self._coordinator = coordinator
        self.base = base = f"{coordinator.namespace}:group:{{{group}}}"
        self.leader, self.fence = f"{base}:leader", f"{base}:fence"
        self.events, self.positions_key = f"{base}:events", f"{base}:positions"
        self._consumers = StreamConsumers(coordinator, self.events)

    async def acquire(self, member: str, lease: float) -> int | None:
        ms = max(1, round(lease * 1000))
        (fence,) = await self._coordinator._run("acquire", [self.leader, self.fence], [member, ms])
        return int(fence) or None

    async def release(self, member: str) -> None:
        await self._coordinator._run("release", [self.leader], [member])

    async def positions(self, jobs: list[str]) -> dict[str, str]:
        if not jobs:
            return {}
        client = self._coordinator._client
        values = await self._coordinator._call(lambda: client.hmget(self.positions_key, jobs))
        return {job: text(v) for job, v in zip(jobs, values, strict=True) if v is not None}

    async def publish(
        self, member: str, fence: int, job: str, position: str, events: list[Claimed]
    ) -> bool:
        keys = [self.leader, self.fence, self.events, self.positions_key]
        args: list[Any] = [member, fence, job, position, STREAM_MAXLEN, _ms(OUTCOME_TTL)]
        self._claims(events, keys, args)
        (written,) = await self._coordinator._run("publish", keys, args)
        return bool(int(written))

    def _claims(self, events: list[Claimed], keys: list[str], args: list[Any]) -> None:
        """Each event's mode, text and keys, as the scripts read them (`_APPEND`)."""
        for body, claim, guard in events:
            keys += [self.told(key) for key in (claim, guard) if key is not None]
            args += [(claim is not None) + 2 * (guard is not None), body]

    def told(self, outcome: str) -> str:
        return f"{self.base}:told:{outcome}"

    async def claim_outcome(self, outcome: str) -> bool:
        client = self._coordinator._client
        key, ms = self.told(outcome), _ms(OUTCOME_TTL)
        return bool(await self._coordinator._call(lambda: client.set(key, "1", nx=True, px=ms)))

    async def tell(self, events: list[Claimed]) -> int:
        keys, args = [self.events], [_ms(OUTCOME_TTL), STREAM_MAXLEN]
        self._claims(events, keys, args)
        (appended,) = await self._coordinator._run("tell", keys, args)
        return int(appended)

    async def receive(self, member: str, claim_after: float | None) -> Delivery | None:
        got = await self._consumers.read(member, claim_after, 1)
        return got[0] if got else None

    async def ack(self, entry_ids: list[str]) -> None:
        if entry_ids:
            client = self._coordinator._client
            await self._coordinator._call(lambda: client.xack(self.events, _CONSUMERS, *entry_ids))


def _cancellations() -> int:
    """The cancellations requested of the current task and not withdrawn (`Task.cancelling`)."""
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


def _honour_cancellation(asked: int) -> None:
    """Raise the cancellation a Redis command answered through, if one came meanwhile.

    On Python 3.11, ``asyncio.wait_for`` (redis-py sends each command under it when a socket
    timeout is set, as `RedisCoordinator.from_url` does) returns the result of an operation
    that ended just as its caller was cancelled, and drops the cancellation. The caller then
    went on as if never cancelled: a group member's loop read its stream again, for ever, and
    a replica asked to stop hung. A cancellation withdrawn on the way (a timeout's, turned
    into `TimeoutError`) lowers the count again and is not raised.
    """
    if _cancellations() > asked:
        raise asyncio.CancelledError


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _seconds(ms: Any) -> float | None:
    value = int(ms)
    return None if value < 0 else value / 1000


def _view(limit: Any, remaining: Any, reset_ms: Any) -> BudgetView:
    lim, rem = int(limit), int(remaining)
    return BudgetView(
        limit=None if lim < 0 else lim,
        remaining=None if rem < 0 else rem,
        reset_in=_seconds(reset_ms),
    )


class _RedisBudget:
    """`SharedBudget` on two Redis keys; see the module's docstring."""

    def __init__(self, coordinator: RedisCoordinator, key: str) -> None:
        self._coordinator = coordinator
        base = f"{coordinator.namespace}:budget:{{{key}}}"
        self.keys = [f"{base}:state", f"{base}:inflight"]

    async def reserve(self, ticket: str, hold: float) -> Grant:
        hold_ms = max(1, round(hold * 1000))
        probe_ms = min(hold_ms, round(PROBE_LEASE * 1000))
        reply = await self._coordinator._run("reserve", self.keys, [ticket, hold_ms, probe_ms])
        code, wait, limit, remaining, reset = reply
        view = _view(limit, remaining, reset)
        code = int(code)
        if code in (0, 1):
            return Grant(go=True, probe=code == 1, view=view)
        return Grant(go=False, wait=int(wait) / 1000 if code == 3 else None, view=view)

    async def settle(self, ticket: str, told: Told | None, *, cancelled: bool) -> BudgetView:
        numbers: list[str | int] = (
            [told.limit, told.remaining, round(told.reset * 1000)] if told else ["", "", ""]
        )
        args = [ticket, "1" if cancelled else "0", *numbers]
        limit, remaining, reset = await self._coordinator._run("settle", self.keys, args)
        return _view(limit, remaining, reset)


class RedisCoordinator(Coordinator):
    """One request budget for every client, in any process, that shares a Redis server.

    ``RedisCoordinator.from_url("redis://host:6379/0", namespace="acme")`` connects lazily;
    ``NorthflankClient(coordinator=...)`` then reserves every request's slot in Redis before
    sending it (see the guide's "Fleet" page). Needs the ``redis`` extra:
    ``pip install 'northflank-async[redis]'``.

    ``namespace`` prefixes every key (several fleets can share one server). The budget key
    is derived from each client's token (a keyed hash: the token itself is never stored), or
    named with ``budget_key`` so that several tokens of one account share one budget.
    ``timeout`` bounds each Redis command in seconds; while Redis cannot be reached, requests
    go through each process's own gate (one warning) and Redis is tried again every
    ``recheck`` seconds.

    ``RedisCoordinator(client, ...)`` borrows an existing ``redis.asyncio.Redis`` (which
    `aclose()` then leaves open). A coordinator belongs to one event loop.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        namespace: str = "northflank-async",
        budget_key: str | None = None,
        recheck: float = 5.0,
    ) -> None:
        self.namespace = check_name(namespace, "namespace")
        self.budget_key = None if budget_key is None else check_name(budget_key, "budget_key")
        check_number(recheck, "recheck", above=True, error=ConfigurationError)
        self._recheck = float(recheck)
        self._client = client
        self._owns_client = False
        self._where = "a lent redis.asyncio.Redis"
        self._scripts = {
            "reserve": client.register_script(_RESERVE),
            "settle": client.register_script(_SETTLE),
            "acquire": client.register_script(_ACQUIRE),
            "release": client.register_script(_RELEASE),
            "publish": client.register_script(_PUBLISH),
            "tell": client.register_script(_TELL),
            "queue": client.register_script(_QUEUE),
            "done": client.register_script(_DONE),
        }
        self._block = 0.5  # seconds a member's read of its group's stream waits at most
        self._errors = redis_errors()
        self._hidden = credentials(client=client)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "northflank-async",
        budget_key: str | None = None,
        timeout: float = 2.0,
        recheck: float = 5.0,
    ) -> RedisCoordinator:
        """A coordinator on its own connection pool to ``url`` (``redis://``, ``rediss://``,
        ``unix://``), which `aclose()` closes. Nothing connects before the first request.
        """
        redis_asyncio = import_redis()
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError

        check_number(timeout, "timeout", above=True, error=ConfigurationError)
        if not isinstance(url, str):
            raise ConfigurationError(f"the Redis URL must be a string, got {type(url).__name__}")
        try:
            client = redis_asyncio.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # One more attempt, at once: after Redis restarts, the pool's first command
                # meets a connection the old server closed, and that is no outage (it would
                # log a second "unreachable" for one outage). An unreachable server fails
                # the retry as fast, and the fallback follows. A script run twice for a lost
                # reply only over-counts a reservation, which expires. A timeout is not
                # retried: it already took its full time.
                retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
                retry_on_error=[ConnectionError],  # redis-py 5.0 uses `retry` only with it
            )
        except ValueError as exc:  # a scheme redis does not know, a bad port or db
            hidden = (url, *credentials(url=url)) if url else ()
            raise ConfigurationError(
                f"the Redis URL {safe(url)} cannot be used: {describe(exc, hidden)}"
            ) from None
        coordinator = cls(client, namespace=namespace, budget_key=budget_key, recheck=recheck)
        coordinator._owns_client = True
        coordinator._where = safe(url)
        coordinator._hidden = credentials(url=url, client=client)
        coordinator._block = min(1.0, timeout / 2)
        return coordinator

    @property
    def recheck_interval(self) -> float:
        """Seconds between two attempts to reach Redis while it is unreachable."""
        return self._recheck

    def shared_budget(self, derived_key: str) -> SharedBudget:
        """The fleet's budget: under ``budget_key`` if one was named, else ``derived_key``
        (a keyed hash of the token; the client's gate asks for it)."""
        return _RedisBudget(self, self.budget_key or derived_key)

    def group_channel(self, group: str) -> GroupChannel:
        """The store of monitoring group ``group``: its lease, positions and events."""
        return _RedisGroup(self, check_name(group, "group"))

    def webhook_channel(self, group: str) -> WebhookChannel:
        """The queue of receiving group ``group``: notifications handed to one member each."""
        return RedisWebhooks(self, check_name(group, "group"))

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> list[Any]:
        asked = _cancellations()
        try:
            reply = await self._scripts[script](keys=keys, args=args)
        except self._errors as exc:
            raise self._failure(exc) from None
        _honour_cancellation(asked)
        return list(reply) if isinstance(reply, list) else [reply]

    async def _call(self, command: Callable[[], Awaitable[_T]]) -> _T:
        """Run one Redis command; its errors become `CoordinatorUnavailable`, or a
        `ConfigurationError` when Redis refuses the credentials."""
        asked = _cancellations()
        try:
            answer = await command()
        except self._errors as exc:
            raise self._failure(exc) from None
        _honour_cancellation(asked)
        return answer

    def _failure(self, exc: BaseException) -> BaseException:
        """What a Redis error means: an outage to ride out, or credentials to fix; or, while
        the task is being cancelled, the cancellation itself.

        A cancellation can surface from the Redis client as one of its errors (its connection
        clean-up on the way out fails, or a timeout of its own takes the cancellation's place):
        taken for an outage, it would be ridden out by the loops that retry, and the cancelled
        task would run on.
        """
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            return asyncio.CancelledError()
        reason = describe(exc, self._hidden)
        if auth_failure(exc):
            return ConfigurationError(
                f"Redis at {self._where} refused the coordinator's credentials ({reason}): "
                "check the user and password of the Redis URL (and the user's ACL rights)"
            )
        return CoordinatorUnavailable(reason)

    async def aclose(self) -> None:
        """Close the connection pool this coordinator opened (a lent client stays open)."""
        if self._owns_client:
            self._owns_client = False
            await self._client.aclose()

    def __repr__(self) -> str:
        key = f" budget_key={self.budget_key!r}" if self.budget_key else ""
        return f"<RedisCoordinator {self._where} namespace={self.namespace!r}{key}>"


# Query parameters that carry a credential (redis-py passes any parameter on to the
# connection: ``?password=``, ``?ssl_password=``, ...).
