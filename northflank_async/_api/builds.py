"""Builds, written once for every owner of builds (a job, a service).

`Builds` is the builds of one owner: list, get, abort, watch, wait, follow, logs, tail_logs
and outcomes, the same for jobs and services. Only starting one differs: a job builds a
commit (`ScopedBuilds.start`, a branch resolved to its head first), a service a commit, a
branch or a pull request (`ServiceBuilds.start`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from .._core.checks import check_sha
from .._core.events import BuildEvent
from .._core.logfilter import LogFilter
from .._core.models import JobBuild
from .._core.wire import check_id
from .._engine.coalesce import poller_for
from .._engine.endpoints import MAX_PER_PAGE, call, list_pages
from .._engine.log_streams import LogStream
from .._engine.monitor import Monitor
from .._engine.workflows import BuildFollower, BuildWatcher
from .derive import item_method
from .items import BUILDS, Items
from .runs import ScopedBranches

__all__ = ["Builds", "ScopedBuilds", "ServiceBuilds"]

# The declared methods' bodies are derived (see .derive): they are never run.
# mypy: disable-error-code="empty-body"


class Builds(Items[JobBuild]):
    """The builds of one job or service; see `ScopedBuilds` and `ServiceBuilds`."""

    _route = BUILDS
    _model = JobBuild

    @item_method(Items._get)
    async def get(self, build_id: str) -> JobBuild:
        """One build, by id."""

    @item_method(Items._abort)
    async def abort(self, build_id: str) -> None:
        """Abort a running build (``ConflictError`` if it has already concluded).

        A retry that meets 409 after an attempt whose answer was lost returns normally: that
        attempt aborted the build.
        """

    def _watch(
        self, item_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> BuildWatcher:
        self._owner.path(BUILDS.segment, item_id)  # a bad id surfaces now, not at a poll
        transport, path = self._transport, self._owner.path(BUILDS.segment)
        poller = poller_for(
            self._ctx.pollers,
            path,
            self._get,
            lambda: list_pages(transport, path, BUILDS.key, JobBuild, MAX_PER_PAGE),
        )
        return BuildWatcher(
            self._get, item_id, poll_interval=poll_interval, timeout=timeout, poller=poller
        )

    @item_method(_watch)
    def watch(
        self, build_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> BuildWatcher:
        """Yield the build when first seen, then at each change of status, until it concludes.

        Polls every ``poll_interval`` seconds, stretching up to 4x that while nothing changes.
        ``timeout`` bounds the whole watch (``WaitTimeoutError``, carrying the last build seen).

        Concurrent watches and waits on builds of one owner, in one client, share their polls:
        one list request of the newest builds answers all of them, and only a build not on it
        costs a ``get`` (a lone watcher reads its build with ``get``).
        """

    @item_method(Items._wait)
    async def wait(
        self, build_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> JobBuild:
        """Poll until the build has concluded and return it (see `watch()`)."""

    def follow(
        self, *, since: str | datetime | None = None, poll_interval: float = 30.0
    ) -> BuildFollower:
        """Yield every build created after ``since``, oldest first, each once, until stopped.

        ``since`` is a build id, an aware datetime, or ``None`` for "from now on". An idle
        poll costs one request; failed polls (after the client's retries) are logged and
        tried again at the next interval with the watermark unchanged.
        """
        if isinstance(since, str):
            check_id(since, "since")
        transport, path = self._transport, self._owner.path(BUILDS.segment)
        return BuildFollower(
            lambda per_page: list_pages(transport, path, BUILDS.key, JobBuild, per_page),
            self._get,
            since=since,
            poll_interval=poll_interval,
        )

    @item_method(Items._logs)
    def logs(
        self,
        build_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duration: float | timedelta | None = None,
        line_limit: int | None = None,
        direction: str = "forward",
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
        filter: LogFilter | None = None,
    ) -> LogStream:
        """The build's log lines in a time window, oldest first (``direction="backward"``: newest).

        ``start``/``end`` are aware datetimes, ``duration`` seconds (or a timedelta): at most
        two of the three (none: the API's default window). ``line_limit`` stops after that many
        lines. Which lines: a `LogFilter` as ``filter=``, or its fields as keywords
        (``container`` picks one container; at most one of the four text/regex filters
        applies), not both. Bad arguments raise ``ValueError`` here, before anything is sent.
        One request per answer the API truncates, each continued from the last line's
        timestamp, no line repeated or skipped. See docs/logs.md.
        """

    @item_method(Items._tail_logs)
    def tail_logs(
        self,
        build_id: str,
        *,
        start: datetime | None = None,
        line_limit: int | None = None,
        container: str | None = None,
        text_includes: str | None = None,
        text_not_includes: str | None = None,
        regex_includes: str | None = None,
        regex_not_includes: str | None = None,
        until_concluded: bool = True,
        allow_insecure: bool | None = None,
        filter: LogFilter | None = None,
    ) -> LogStream:
        """The build's log lines live, over a WebSocket, each once across reconnections.

        Starts with the API's default backlog (its last 10 lines), or ``line_limit`` lines, or
        every line since ``start``; which lines as in `logs()`. With ``until_concluded`` it
        ends once the build has concluded and its last lines have arrived (the build is read
        when the stream has been quiet for 5 s, then less often, up to once a minute). A
        dropped connection reconnects with the client's backoff and resumes after the last
        line. ``wss://`` only, unless the base URL is loopback or the client was made with
        ``allow_insecure=True`` (this method's ``allow_insecure`` is deprecated and ignored).
        Use ``async with`` to close it early.
        """

    def outcomes(
        self, *, since: str | datetime | JobBuild | None = None, budget_per_hour: int | None = None
    ) -> AsyncIterator[JobBuild]:
        """Every build created after ``since`` (default: from now on), once it has concluded.

        A one-owner `Monitor`: each build is yielded once, with its outcome, in the order the
        builds conclude, about one request per poll. Break out of the loop (or ``aclose()``
        the iterator) to stop; the monitor's task ends with it. ``since`` and the budget are
        checked here, before anything is sent.
        """
        owner = self._owner
        monitor = Monitor(self._ctx, budget_per_hour=budget_per_hour)
        watch = getattr(monitor, f"watch_{owner.kind.name}", None)
        if watch is None:
            raise NotImplementedError(f"the monitor cannot watch a {owner.kind.name} yet")
        watch(owner.project_id, owner.owner_id, owner.team_id, since)
        return _concluded(monitor)

    async def _start(self, body: dict[str, Any], overrides: Mapping[str, Any] | None) -> JobBuild:
        if overrides is not None:
            body["overrides"] = dict(overrides)
        path = self._owner.path(BUILDS.segment)
        return await call(self._transport, "POST", path, JobBuild, json=body)


async def _concluded(monitor: Monitor) -> AsyncIterator[JobBuild]:
    async with monitor:
        async for event in monitor:
            if isinstance(event, BuildEvent) and event.kind == "concluded":
                yield event.build


class ScopedBuilds(Builds):
    """``nf.job(...).builds``: the builds of one job."""

    async def start(
        self,
        *,
        sha: str | None = None,
        branch: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> JobBuild:
        """Start a build of ``sha``, of ``branch``'s head commit, or of the job's default branch.

        ``branch`` costs one more request (usually): the API starts a job's builds of a commit
        only, so the branch's head is read from the job's branches first. ``overrides`` is sent
        as given (``buildArguments``, ``buildFiles``, ``docker``, ...). A POST is retried only
        when it cannot have started a build (a 429, a refused connection), so a flaky network
        never starts two.
        """
        if sha is not None and branch is not None:
            raise ValueError("pass sha or branch, not both")
        check_sha(sha)
        if branch is not None:
            sha = await ScopedBranches(self._ctx, self._owner).head(branch)
        return await self._start({} if sha is None else {"sha": sha}, overrides)


class ServiceBuilds(Builds):
    """``nf.service(...).builds``: the builds of one service."""

    async def start(
        self,
        *,
        sha: str | None = None,
        branch: str | None = None,
        pull_request_id: int | str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> JobBuild:
        """Start a build of the service: of ``sha``, of ``branch``, or of a pull request.

        At most one of ``branch`` and ``pull_request_id`` (``ValueError``, nothing sent); each
        is sent as given, the API resolving it (with ``sha``: that commit of it). With none,
        the service's own build settings apply. ``overrides`` is sent as given. Like every
        POST, it is never repeated after it may have reached the API.
        """
        if branch is not None and pull_request_id is not None:
            raise ValueError("pass branch or pull_request_id, not both")
        check_sha(sha)
        if branch is not None and (not isinstance(branch, str) or not branch):
            raise ValueError(f"branch must be a non-empty string, got {branch!r}")
        if pull_request_id is not None and (
            isinstance(pull_request_id, bool)
            or not isinstance(pull_request_id, int | str)
            or pull_request_id == ""
        ):
            raise ValueError(f"pull_request_id must be an int or a string, got {pull_request_id!r}")
        body: dict[str, Any] = {}
        for key, value in (("sha", sha), ("branch", branch), ("pullRequestId", pull_request_id)):
            if value is not None:
                body[key] = value
        return await self._start(body, overrides)
