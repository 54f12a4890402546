"""The client: configuration, the transport it owns, and the resources hung from it."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, TypedDict, Unpack, overload
from urllib.parse import urlsplit

from .._core.checks import check_number
from .._core.errors import ConfigurationError
from .._core.events import BuildEvent, RunEvent
from .._core.fleet import Coordinator
from .._core.models import RateLimit
from .._core.observe import Hook, RequestEnd, RequestStart
from .._core.owners import JOB, SERVICE, Owner
from .._core.retry import RetryPolicy
from .._core.secret import TOKEN_VARIABLES, Secret
from .._core.urls import DEFAULT_BASE_URL, check_base_url, has_control, is_loopback
from .._engine.context import ClientContext
from .._engine.monitor import Monitor
from .._transport.gates import make_gate
from .._transport.http import Transport
from .._transport.sender import AiohttpSender, check_trace_configs
from .flat import Jobs
from .handles import JobHandle, ServiceHandle
from .notifications import Notifications

if TYPE_CHECKING:  # annotations only: aiohttp is the transport's, imported there
    import aiohttp

    from .webhooks import WebhookReceiver

__all__ = ["DEFAULT_BASE_URL", "MonitorOptions", "NorthflankClient"]


def _check_token(token: object) -> None:
    # The message never shows the token: it is a secret, and a broken one is often most of one.
    if not isinstance(token, str):
        raise ConfigurationError(f"the API token must be a string, got {type(token).__name__}")
    if has_control(token):
        raise ConfigurationError(
            "the API token contains a control character (CR, LF, NUL, ...): "
            "check how it was copied or read (a trailing newline?)"
        )


class _Polling(TypedDict, total=False):
    # The options `Monitor` takes as they are.
    floor: float
    idle_cap: float
    per_page: int
    webhooks: WebhookReceiver | None
    reconcile: float
    verify: bool


class MonitorOptions(_Polling, total=False):
    """The keywords of `NorthflankClient.monitor` but ``runs`` (which decides the events' type).

    Defaults: ``floor`` `MIN_POLL_INTERVAL` (1 s), ``idle_cap`` 300 s, ``per_page`` 100,
    ``group`` none, ``lease`` 30 s, ``webhooks`` none, ``reconcile`` 600 s, ``verify`` false.
    """

    group: str | None
    lease: float


class NorthflankClient:
    """An asyncio client for the Northflank API.

    Use it as ``async with NorthflankClient() as nf: ...`` (or call `close()`). The token
    comes from ``token``, else ``NORTHFLANK_API_TOKEN``, else ``NF_API_TOKEN``; the base URL
    from ``base_url``, else ``NORTHFLANK_API_BASE_URL``, else ``https://api.northflank.com``.

    The client owns one pooled `aiohttp.ClientSession`, created on first use, unless
    ``session`` lends one (which it then never closes). The session it owns keeps and sends no
    cookies (the token is the only credential); a lent session's cookie jar is left as its owner
    configured it.

    ``timeout`` bounds each attempt of a request in seconds, ``connect_timeout`` its TCP/TLS
    connect; ``max_retries`` retries failed attempts with exponential backoff (``backoff_base``
    .. ``backoff_max`` seconds); rate-limit waits longer than ``max_rate_limit_wait`` seconds raise
    `RateLimitError` instead of sleeping; bodies larger than
    ``max_response_bytes`` are refused. A bad option, token or base URL raises
    `ConfigurationError` here, naming what is wrong. ``team_id`` sets a
    default team for every call, for organisation-scoped tokens (a call's own ``team_id=`` wins).

    Every request carries the client's ``User-Agent``, ``Accept`` and connect timeout, also on a
    lent session. For metrics and tracing, ``on_request_start`` and ``on_request_end`` are plain
    (not async) callables, called in the request's task with a `RequestStart` or
    `RequestEnd` for each attempt, retries included; an exception they raise is logged
    once and swallowed. ``trace_configs`` (``aiohttp.TraceConfig``) go to the session the
    client creates; a lent session keeps its own. See docs/observability.md.

    The session the client owns honours ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY`` (and
    ``WSS_PROXY`` for the log tail), for requests and the log tail alike, unless ``trust_env``
    is false; a loopback base URL (``localhost``, 127.0.0.0/8, ``::1``) is always reached
    directly, as no proxy can reach it. A lent session keeps its own ``trust_env``.
    ``coordinator`` (a `RedisCoordinator`) makes the client draw on
    one request budget with every other client, in any process, that shares it: each request
    reserves its slot there before it is sent. The client does not close it.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_rate_limit_wait: float = 60.0,
        max_response_bytes: int = 32 * 1024 * 1024,
        allow_insecure: bool = False,
        team_id: str | None = None,
        on_request_start: Callable[[RequestStart], object] | None = None,
        on_request_end: Callable[[RequestEnd], object] | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        coordinator: Coordinator | None = None,
        trust_env: bool = True,
    ) -> None:
        token = token or next(
            (os.environ[name] for name in TOKEN_VARIABLES if os.environ.get(name)), None
        )
        if not token:
            raise ConfigurationError(
                "no Northflank API token: pass NorthflankClient(token=...) or set "
                "NORTHFLANK_API_TOKEN (create one under Team settings > API > Tokens)"
            )
        _check_token(token)
        option = functools.partial(check_number, error=ConfigurationError)
        option(timeout, "timeout", above=True)
        option(connect_timeout, "connect_timeout", above=True)
        option(max_retries, "max_retries", integer=True)
        option(backoff_base, "backoff_base")
        option(backoff_max, "backoff_max")
        # +inf is meaningful here: always wait for the window, however long.
        option(max_rate_limit_wait, "max_rate_limit_wait", infinite=True)
        option(max_response_bytes, "max_response_bytes", integer=True, minimum=1)
        if coordinator is not None and not isinstance(coordinator, Coordinator):
            raise ConfigurationError(
                "coordinator must be a Coordinator such as RedisCoordinator, got "
                f"{type(coordinator).__name__}"
            )
        traces = check_trace_configs(trace_configs, session)
        if not isinstance(trust_env, bool):
            raise ConfigurationError(f"trust_env must be a bool, got {type(trust_env).__name__}")
        start_hook = (
            None if on_request_start is None else Hook(on_request_start, "on_request_start")
        )
        end_hook = None if on_request_end is None else Hook(on_request_end, "on_request_end")
        resolved_url = base_url or os.environ.get("NORTHFLANK_API_BASE_URL") or DEFAULT_BASE_URL
        secret = Secret(token)
        attempt_timeout = timeout
        base = check_base_url(resolved_url, allow_insecure)
        self._transport = Transport(
            base_url=base,
            token=secret,
            sender=AiohttpSender(
                session=session,
                timeout=attempt_timeout,
                connect_timeout=min(connect_timeout, timeout),
                max_response_bytes=max_response_bytes,
                trace_configs=traces,
                redact=secret.redact,
                trust_env=trust_env and not is_loopback(urlsplit(base).hostname or ""),
            ),
            gate=make_gate(
                max_rate_limit_wait, coordinator=coordinator, token=secret, hold=attempt_timeout
            ),
            policy=RetryPolicy(
                max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max
            ),
            max_rate_limit_wait=max_rate_limit_wait,
            on_request_start=start_hook,
            on_request_end=end_hook,
        )
        # What resources and monitors are lent: the transport, the default team, the
        # coordinator and the shared polls, in one place.
        self._ctx = ClientContext(self._transport, team_id, coordinator)
        self.jobs = Jobs(self._ctx)
        self.notifications = Notifications(self._ctx)

    def job(self, project_id: str, job_id: str, team_id: str | None = None) -> JobHandle:
        """A handle on one job: ``job.builds``, ``job.runs`` and ``job.branches`` need no ids.

        ``team_id`` (else the client's ``team_id``) selects the organisation route form. The
        ids are checked here, before any request.
        """
        owner = Owner(JOB, project_id, job_id, self._ctx.team(team_id))
        return JobHandle(self._ctx, owner.checked())

    def service(
        self, project_id: str, service_id: str, team_id: str | None = None
    ) -> ServiceHandle:
        """A handle on one service: ``service.builds`` has the methods of a job's builds.

        ``team_id`` (else the client's ``team_id``) selects the organisation route form. The
        ids are checked here, before any request.
        """
        owner = Owner(SERVICE, project_id, service_id, self._ctx.team(team_id))
        return ServiceHandle(self._ctx, owner.checked())

    @overload
    def monitor(
        self,
        budget_per_hour: int | None = None,
        *,
        runs: Literal[False] = False,
        **options: Unpack[MonitorOptions],
    ) -> Monitor[BuildEvent]: ...

    @overload
    def monitor(
        self, budget_per_hour: int | None = None, *, runs: bool, **options: Unpack[MonitorOptions]
    ) -> Monitor[BuildEvent | RunEvent]: ...

    def monitor(
        self,
        budget_per_hour: int | None = None,
        *,
        runs: bool = False,
        **options: Unpack[MonitorOptions],
    ) -> Monitor[BuildEvent] | Monitor[BuildEvent | RunEvent]:
        """A `Monitor` of builds of many jobs within ``budget_per_hour`` requests.

        Use it as ``async with nf.monitor() as monitor:``. The budget defaults to half the
        account's limit as the API announces it, else 500. ``floor`` is the shortest interval
        between two polls of one job (at least ``MIN_POLL_INTERVAL``, 1 s), ``idle_cap`` how
        far an idle job backs off, but never beyond its even share of the budget (jobs x 3600 /
        budget seconds: a generous budget is used); ``per_page`` is the size of a poll's page.

        ``group`` shares the work with every monitor of that name on the client's
        coordinator (``ConfigurationError`` without one): one member polls at a time, each
        event is handed to one member, and an event not acknowledged within ``lease``
        seconds (nor a lease renewed that long) passes to another member. See the guide's
        "Fleet" page.

        ``runs=True`` lets `Monitor.watch_job` watch a job's runs too (``runs=True`` there):
        the monitor then yields ``BuildEvent | RunEvent`` (a ``Monitor[BuildEvent |
        RunEvent]``); without it, `BuildEvent` only (a ``Monitor[BuildEvent]``).

        ``webhooks`` makes it a hybrid monitor: the receiver's notifications of watched jobs
        and services (and ``job-run:*`` ones of jobs whose runs are watched) become the same
        events at once, and each job is polled once per ``reconcile`` seconds (at least 1 s)
        to catch lost ones; ``verify=True`` trusts no notification without a ``get`` of its
        build or run (one request each). In a group, a member that takes a notification of
        an outcome hands it out if it claims that outcome first for the group. See
        docs/webhooks.md, "The hybrid monitor".

        The keywords but ``runs``, with their defaults, are listed once, in `MonitorOptions`.
        """
        unknown = sorted(options.keys() - MonitorOptions.__optional_keys__)
        if unknown:
            raise TypeError(f"monitor() got an unexpected keyword argument {unknown[0]!r}")
        group = options.pop("group", None)
        lease = options.pop("lease", 30.0)
        polling: _Polling = options  # what is left: Monitor's own keywords (and defaults)
        coordinator = self._ctx.coordinator
        channel = None
        if group is not None:
            if coordinator is None:
                raise ConfigurationError(
                    "a monitoring group needs a client with a coordinator: "
                    "NorthflankClient(coordinator=RedisCoordinator.from_url(...))"
                )
            check_number(lease, "lease", above=True, error=ConfigurationError)
            channel = coordinator.group_channel(group)
        return Monitor[BuildEvent | RunEvent](
            self._ctx,
            budget_per_hour=budget_per_hour,
            group=channel,
            group_name=group or "",
            lease=float(lease),
            recheck=1.0 if coordinator is None else coordinator.recheck_interval,
            max_rate_limit_wait=self._transport.max_rate_limit_wait,
            runs=runs,
            **polling,
        )

    @property
    def team_id(self) -> str | None:
        """The default team of every call (``None``: the project route form)."""
        return self._ctx.default_team

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._transport.base_url

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit state the latest answer announced (``None`` before any answer)."""
        return self._transport.rate_limit

    @property
    def closed(self) -> bool:
        """Whether `close()` has been called."""
        return self._transport.closed

    async def close(self) -> None:
        """Close the session the client owns (a lent session is left open). Idempotent."""
        await self._transport.close()

    async def __aenter__(self) -> NorthflankClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<NorthflankClient base_url={self.base_url!r} {state}>"
