"""Handles: one job or service, named once (``nf.job(...)``, ``nf.service(...)``)."""

from __future__ import annotations

from .._core.models import Job
from .._core.owners import Owner
from .._engine.context import ClientContext
from .._engine.endpoints import call
from .builds import ScopedBuilds, ServiceBuilds
from .runs import ScopedBranches, ScopedRuns

__all__ = ["JobHandle", "ServiceHandle"]


class _Handle:
    def __init__(self, ctx: ClientContext, owner: Owner) -> None:
        self._ctx = ctx
        self._transport = ctx.transport
        self._owner = owner

    @property
    def project_id(self) -> str:
        """The project."""
        return self._owner.project_id

    @property
    def team_id(self) -> str | None:
        """The team of the route form used (``None``: the project form)."""
        return self._owner.team_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._owner.describe()}>"


class JobHandle(_Handle):
    """One job, named once: ``job = nf.job("my-project", "nightly")``.

    ``job.builds``, ``job.runs`` and ``job.branches`` take no project or job ids;
    ``await job.get()`` reads the job itself.
    """

    def __init__(self, ctx: ClientContext, owner: Owner) -> None:
        super().__init__(ctx, owner)
        self.builds = ScopedBuilds(ctx, owner)
        self.runs = ScopedRuns(ctx, owner)
        self.branches = ScopedBranches(ctx, owner)

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self._owner.owner_id

    async def get(self) -> Job:
        """The job itself."""
        return await call(self._transport, "GET", self._owner.path(), Job)


class ServiceHandle(_Handle):
    """One service, named once: ``service = nf.service("my-project", "website")``.

    ``service.builds`` has the methods of a job's builds (list, get, start, abort, watch,
    wait, follow, logs, tail_logs, outcomes) and takes no project or service ids; only
    `ServiceBuilds.start` differs (a branch or a pull request may be built).
    """

    def __init__(self, ctx: ClientContext, owner: Owner) -> None:
        super().__init__(ctx, owner)
        self.builds = ServiceBuilds(ctx, owner)

    @property
    def service_id(self) -> str:
        """The service's id."""
        return self._owner.owner_id
