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

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from .._core.checks import check_number
from .._core.errors import ConfigurationError
from .._core.fleet import (
    BudgetView,
    Coordinator,
    CoordinatorUnavailable,
    Delivery,
    Grant,
    GroupChannel,
    SharedBudget,
    Told,
    check_name,
)

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["PROBE_LEASE", "STREAM_MAXLEN", "RedisCoordinator"]

_T = TypeVar("_T")

#: A probe whose answer has not come back after this many seconds (its process died, or the
#: API is slow) no longer holds the fleet back: the next request goes as the probe.
PROBE_LEASE = 10.0

# Both scripts set ``hold`` and ``lease`` (milliseconds, or nil) before this prelude. What it
# reads is clamped, since another process (a bug, an older version, a hand) may have written
# it: a reservation is never held longer than ``hold`` from now, a probe's lease never longer
# than ``lease``, and a count no script writes (below 0, not a number) is no count at all (the
# window is unknown: one request probes it); ``remaining`` is at most ``limit``.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if hold then
  local until_ms = now + hold
  for _, late in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. until_ms, '+inf')) do
    redis.call('ZADD', KEYS[2], until_ms, late)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local s = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset', 'probe', 'probe_until',
                     'blind')
local function count(value)
  local n = tonumber(value)
  if n and n == n and n >= 0 and n < 1e15 then return math.floor(n) end
  return nil
end
local limit, remaining, reset = count(s[1]), count(s[2]), count(s[3])
if limit and remaining and remaining > limit then remaining = limit end
local probe, probe_until, blind = s[4], count(s[5]), s[6] == '1'
if probe_until and lease and probe_until > now + lease then probe_until = now + lease end
if probe and (not probe_until or now >= probe_until
              or not redis.call('ZSCORE', KEYS[2], probe)) then
  probe = false  -- its lease or its reservation ran out: it tells nothing
end
local function put(field, value)
  if value then redis.call('HSET', KEYS[1], field, value)
  else redis.call('HDEL', KEYS[1], field) end
end
local function save()
  put('limit', limit)
  put('remaining', remaining)
  put('reset', reset)
  put('probe', probe)
  put('probe_until', probe and probe_until)
  put('blind', blind and '1')
  local keep = 3600000  -- an hour after the last write, or after the reset if later
  if reset and reset > now then keep = keep + reset - now end
  redis.call('PEXPIRE', KEYS[1], keep)
end
local function view()
  return {limit or -1, remaining or -1, reset and math.max(0, reset - now) or -1}
end
"""

# ARGV: ticket, reservation ms, probe lease ms.
# Returns {code, wait ms, limit, remaining, reset in ms} (-1: unknown); code 0: go, 1: go as
# the probe, 2: a probe is out (ask again), 3: the window is spent (wait for its reset).
_RESERVE = (
    "local hold, lease = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    + _PRELUDE
    + """
if reset and now >= reset then reset = nil end
if remaining == 0 and not reset then remaining = nil end
local code, wait = 0, 0
if remaining == nil then
  if probe then
    code, wait = 2, probe_until - now
  elseif not blind then
    code, probe, probe_until = 1, ARGV[1], now + tonumber(ARGV[3])
  end
elseif remaining > 0 or not reset then
  remaining = math.max(0, remaining - 1)
else
  code, wait = 3, reset - now
end
if code < 2 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
end
save()
local v = view()
return {code, wait, v[1], v[2], v[3]}
"""
)

# ARGV: ticket, cancelled ('1'/'0'), then limit, remaining, reset ms ('' when not told).
# Returns {limit, remaining, reset in ms} (-1: unknown).
_SETTLE = (
    "local hold, lease = nil, nil\n"
    + _PRELUDE
    + """
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] ~= '' then
  local others = redis.call('ZCARD', KEYS[2])
  local l, r = tonumber(ARGV[3]), tonumber(ARGV[4])
  local deadline = now + tonumber(ARGV[5])
  local announced = math.max(0, math.min(r, l) - others)
  if remaining == nil or reset == nil or now >= reset then
    remaining, reset = announced, deadline
  else
    remaining = math.min(remaining, announced)
    reset = deadline  -- the answer the store hears last sets the window's end (see resilience.md)
  end
  limit, blind = l, false
end
if probe == ARGV[1] then
  probe = false
  if remaining == nil and ARGV[2] ~= '1' then blind = true end
end
save()
return view()
"""
)


# -- monitoring groups ------------------------------------------------------------------------
#
# Keys of group ``G`` (one hash tag, so one node): ``NS:group:{G}:leader`` (the member holding
# the poll lease, expiring with it), ``NS:group:{G}:fence`` (the fencing counter, raised at
# each new lease), ``NS:group:{G}:positions`` (a hash: each job's durable position, JSON of
# ids and statuses), ``NS:group:{G}:events`` (the stream of events, with the consumer group
# ``members``).

#: A group's stream keeps about this many events (handed out or not), oldest dropped first.
STREAM_MAXLEN = 100_000
_CONSUMERS = "members"

# KEYS: leader, fence. ARGV: member, lease ms. Returns the fencing token, or 0.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  local fence = redis.call('GET', KEYS[2])
  if fence then return tonumber(fence) end
  return redis.call('INCR', KEYS[2])
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""

# KEYS: leader. ARGV: member.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: leader, fence, events, positions. ARGV: member, fence, job, position, maxlen, events...
# Returns 1 when written, 0 (nothing written) when the lease or the fence moved on.
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
for i = 6, #ARGV do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[i])
end
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
return 1
"""


class _RedisGroup:
    """`GroupChannel` on four Redis keys; see the comment above."""

    def __init__(self, coordinator: RedisCoordinator, group: str) -> None:
        self._coordinator = coordinator
        base = f"{coordinator.namespace}:group:{{{group}}}"
        self.leader, self.fence = f"{base}:leader", f"{base}:fence"
        self.events, self.positions_key = f"{base}:events", f"{base}:positions"
        self._ready = False  # the consumer group exists (as far as this member knows)

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
        return {job: _text(v) for job, v in zip(jobs, values, strict=True) if v is not None}

    async def publish(
        self, member: str, fence: int, job: str, position: str, events: list[str]
    ) -> bool:
        keys = [self.leader, self.fence, self.events, self.positions_key]
        args = [member, fence, job, position, STREAM_MAXLEN, *events]
        (written,) = await self._coordinator._run("publish", keys, args)
        return bool(int(written))

    async def _ensure_group(self) -> None:
        if self._ready:
            return
        client = self._coordinator._client
        from redis.exceptions import ResponseError

        async def create() -> None:
            try:
                await client.xgroup_create(self.events, _CONSUMERS, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self._coordinator._call(create)
        self._ready = True

    async def receive(self, member: str, claim_after: float | None) -> Delivery | None:
        await self._ensure_group()
        client = self._coordinator._client
        try:
            if claim_after is not None:
                idle = max(1, round(claim_after * 1000))
                reply = await self._coordinator._call(
                    lambda: client.xautoclaim(
                        self.events, _CONSUMERS, member, idle, start_id="0-0", count=1
                    )
                )
                for entry_id, fields in reply[1]:
                    return _delivery(entry_id, fields, redelivered=True)
            block = max(1, round(self._coordinator._block * 1000))
            answer: Any = await self._coordinator._call(
                lambda: client.xreadgroup(
                    _CONSUMERS, member, {self.events: ">"}, count=1, block=block
                )
            )
        except CoordinatorUnavailable as exc:
            if "NOGROUP" in exc.reason:  # the server lost the group (a restart without data)
                self._ready = False
            raise
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                return _delivery(entry_id, fields, redelivered=False)
        return None

    async def ack(self, entry_ids: list[str]) -> None:
        if entry_ids:
            client = self._coordinator._client
            await self._coordinator._call(lambda: client.xack(self.events, _CONSUMERS, *entry_ids))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _delivery(entry_id: Any, fields: Any, *, redelivered: bool) -> Delivery:
    payload = fields.get(b"e", fields.get("e", b""))
    return Delivery(_text(entry_id), _text(payload), redelivered=redelivered)


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


def _describe(exc: BaseException, hidden: tuple[str, ...] = ()) -> str:
    """``Class: message`` on one line, cut, with every credential of ``hidden`` masked."""
    text = _hide(" ".join(str(exc).split()), hidden)[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _hide(text: str, hidden: tuple[str, ...]) -> str:
    for secret in hidden:  # longest first: a password holding another is masked whole
        text = text.replace(secret, "***")
    return text


# Answers that say the server refused our credentials or their rights: a wrong password (or
# user) is the caller's to fix, not an outage to ride out on each process's own budget.
_AUTH_CLASSES = (
    "AuthenticationError",
    "AuthenticationWrongNumberOfArgsError",
    "AuthorizationError",
    "NoPermissionError",
)
_AUTH_REPLIES = ("NOAUTH", "WRONGPASS", "NOPERM")


def _auth_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing the coordinator's credentials or their rights."""
    try:
        import redis.exceptions
    except ImportError:  # a lent client of a redis-compatible library: its reply says it
        classes: tuple[type[BaseException], ...] = ()
    else:
        found = (getattr(redis.exceptions, name, None) for name in _AUTH_CLASSES)
        classes = tuple(c for c in found if isinstance(c, type))
    return isinstance(exc, classes) or str(exc).lstrip().startswith(_AUTH_REPLIES)


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
        }
        self._block = 0.5  # seconds a member's read of its group's stream waits at most
        self._errors = _redis_errors()
        self._hidden = _credentials(client=client)

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
        redis_asyncio = _import_redis()
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
            hidden = (url, *_credentials(url=url)) if url else ()
            raise ConfigurationError(
                f"the Redis URL {_safe(url)} cannot be used: {_describe(exc, hidden)}"
            ) from None
        coordinator = cls(client, namespace=namespace, budget_key=budget_key, recheck=recheck)
        coordinator._owns_client = True
        coordinator._where = _safe(url)
        coordinator._hidden = _credentials(url=url, client=client)
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

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> list[Any]:
        try:
            reply = await self._scripts[script](keys=keys, args=args)
        except self._errors as exc:
            raise self._failure(exc) from None
        return list(reply) if isinstance(reply, list) else [reply]

    async def _call(self, command: Callable[[], Awaitable[_T]]) -> _T:
        """Run one Redis command; its errors become `CoordinatorUnavailable`, or a
        `ConfigurationError` when Redis refuses the credentials."""
        try:
            return await command()
        except self._errors as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: BaseException) -> Exception:
        """What a Redis error means: an outage to ride out, or credentials to fix."""
        reason = _describe(exc, self._hidden)
        if _auth_failure(exc):
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
_SECRET_PARAMETER = re.compile(r"pass|secret|token|credential|auth", re.IGNORECASE)


def _safe(url: str) -> str:
    """``url`` with every credential masked, as it may land in a log or an error.

    ``redis://user:***@host/0``, ``rediss://host/0?password=***``,
    ``unix:///run/redis.sock?db=0&password=***``; a user name stays.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        userinfo, at, host = netloc.rpartition("@")
        if at and ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
        query = "&".join(_masked_parameter(pair) for pair in parts.query.split("&"))
        safe = urlunsplit(parts._replace(netloc=netloc, query=query if parts.query else ""))
        if not netloc and url.startswith(f"{parts.scheme}://"):  # unix:///path keeps its //
            safe = f"{parts.scheme}://{safe[len(parts.scheme) + 1 :]}"
        return safe
    except ValueError:
        return "<unparsable Redis URL>"


def _masked_parameter(pair: str) -> str:
    name, equals, value = pair.partition("=")
    secret = equals and value and _SECRET_PARAMETER.search(unquote(name))
    return f"{name}=***" if secret else pair


def _credentials(*, url: str | None = None, client: Any = None) -> tuple[str, ...]:
    """The secrets of a Redis URL and of a client's connection settings, longest first, in
    every form an error message might quote them (as written, and decoded)."""
    found: set[str] = set()
    if url is not None:
        try:
            parts = urlsplit(url)
            userinfo = parts.netloc.rpartition("@")[0]
            if ":" in userinfo:
                found.add(userinfo.split(":", 1)[1])
            for pair in parts.query.split("&"):
                name, _, value = pair.partition("=")
                if _SECRET_PARAMETER.search(unquote(name)):
                    found.add(value)
        except ValueError:
            pass
    settings = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if isinstance(settings, dict):
        for name, value in settings.items():
            if isinstance(value, str) and _SECRET_PARAMETER.search(name):
                found.add(value)
    found |= {unquote(secret) for secret in found}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def _import_redis() -> Any:
    try:
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            "RedisCoordinator needs the redis package: pip install 'northflank-async[redis]'"
        ) from None
    return redis.asyncio


def _redis_errors() -> tuple[type[BaseException], ...]:
    """What makes the store unusable: every Redis error, and the socket's own."""
    try:
        from redis.exceptions import RedisError
    except ImportError:  # a lent client of a redis-compatible library
        return (OSError, TimeoutError)
    return (RedisError, OSError, TimeoutError)
