"""A job's runs and its repository's branches (jobs only).

`ScopedRuns` declares the run methods; all but ``start`` are the definitions builds use too
(`Items`), derived with `item_method`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .._core.checks import check_sha
from .._core.logfilter import LogFilter
from .._core.models import Branch, JobRun, RunStarted
from .._core.owners import Owner
from .._engine.context import ClientContext
from .._engine.endpoints import MAX_PER_PAGE, call, listing
from .._engine.log_streams import LogStream
from .._engine.pagination import AsyncCursorIterator
from .._engine.workflows import RunWatcher
from .derive import item_method
from .items import RUNS, Items

__all__ = ["ScopedBranches", "ScopedRuns"]

# The declared methods' bodies are derived (see .derive): they are never run.
# mypy: disable-error-code="empty-body"


class ScopedRuns(Items[JobRun]):
    """``nf.job(...).runs``: the runs of one job."""

    _route = RUNS
    _model = JobRun

    @item_method(Items._get)
    async def get(self, run_id: str) -> JobRun:
        """One run of the job, by id."""

    async def start(
        self,
        *,
        build_id: str | None = None,
        sha: str | None = None,
        runtime_environment: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> RunStarted:
        """Start a run of the job; ``build_id`` or ``sha`` picks exactly which build it runs.

        Both map to ``deployment.internal`` (``buildId`` / ``buildSHA``), so a bot can run the
        build it has just made; with neither, the job's own deployment settings apply.
        ``runtime_environment`` becomes ``runtimeEnvironment``; ``options`` holds any other
        field of the start-run body, sent as given (``runtimeFiles``, ``billing``, ``docker``,
        ``storage``). Like every POST, it is never repeated after it may have reached the API.
        """
        if build_id is not None and sha is not None:
            raise ValueError("pass build_id or sha, not both")
        if build_id is not None and (not isinstance(build_id, str) or not build_id):
            raise ValueError(f"build_id must be a non-empty string, got {build_id!r}")
        check_sha(sha)
        body: dict[str, Any] = dict(options or {})
        if build_id is not None:
            body["deployment"] = {"internal": {"buildId": build_id}}
        elif sha is not None:
            body["deployment"] = {"internal": {"buildSHA": sha}}
        if runtime_environment is not None:
            body["runtimeEnvironment"] = dict(runtime_environment)
        path = self._owner.path(RUNS.segment)
        return await call(self._transport, "POST", path, RunStarted, json=body)

    @item_method(Items._abort)
    async def abort(self, run_id: str) -> None:
        """Abort a running run (``ConflictError`` if it has already concluded)."""

    def _watch(
        self, item_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> RunWatcher:
        self._owner.path(RUNS.segment, item_id)  # a bad id surfaces now, not at a poll
        return RunWatcher(self._get, item_id, poll_interval=poll_interval, timeout=timeout)

    @item_method(_watch)
    def watch(
        self, run_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> RunWatcher:
        """Yield the run when first seen, then at each change of status, until it concludes."""

    @item_method(Items._wait)
    async def wait(
        self, run_id: str, *, poll_interval: float = 5.0, timeout: float | None = None
    ) -> JobRun:
        """Poll until the run has concluded and return it (see `watch()`)."""

    @item_method(Items._logs)
    def logs(
        self,
        run_id: str,
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
        """The run's log lines in a time window, oldest first (see `ScopedBuilds.logs()`)."""

    @item_method(Items._tail_logs)
    def tail_logs(
        self,
        run_id: str,
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
        """The run's log lines live, each once across reconnections (see `ScopedBuilds`).

        With ``until_concluded`` it ends once the run has concluded and its last lines have
        arrived. ``allow_insecure`` is deprecated and ignored.
        """


class ScopedBranches:
    """``nf.job(...).branches``: the branches of one job's repository."""

    def __init__(self, ctx: ClientContext, owner: Owner) -> None:
        self._ctx = ctx
        self._transport = ctx.transport
        self._owner = owner

    def __repr__(self) -> str:
        return f"<ScopedBranches {self._owner.describe()}>"

    def list(
        self, *, per_page: int = MAX_PER_PAGE, cursor: str | None = None, limit: int | None = None
    ) -> AsyncCursorIterator[Branch]:
        """Every branch of the job's repository, fetched page by page."""
        return listing(
            self._transport,
            self._owner.path("branches"),
            "branches",
            Branch,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=0,
        )

    async def head(self, name: str) -> str:
        """The sha of branch ``name``'s head commit (one request unless it is past page 1)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"branch must be a non-empty string, got {name!r}")
        checked = 0
        async for branch in self.list():
            checked += 1
            if branch.name == name:
                sha = branch.commit.sha if branch.commit is not None else None
                if sha is None:
                    raise ValueError(f"branch {name!r} has no head commit")
                return sha
        raise ValueError(f"no branch named {name!r} among the job's {checked} branches")
