"""The monitor's events: what it saw happen to a build, or to a job's run. Pure: no I/O.

`JobTracker` and `RunTracker` (``tracking``) make them; the monitor hands them out, and a
group's stream keeps them as text (``fleet.encode_event``).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

from .models import JobBuild, JobRun

__all__ = ["BuildEvent", "BuildEventKind", "MonitorEvent", "RunEvent"]

BuildEventKind: TypeAlias = Literal["created", "status", "concluded"]
_KINDS = ("created", "status", "concluded")


@attrs.frozen
class BuildEvent:
    """Something the monitor saw happen to a build of a watched job or service.

    ``kind`` is ``"created"`` (a build new to the monitor), ``"status"`` (a running build
    changed status) or ``"concluded"`` (the build finished; ``build`` holds its outcome).
    The build's owner is ``job_id`` for a job, ``service_id`` for a service (exactly one is
    set); ``owner_kind`` and ``owner_id`` name either.
    """

    kind: BuildEventKind = attrs.field(validator=attrs.validators.in_(_KINDS))
    build: JobBuild
    project_id: str
    job_id: str | None = None
    service_id: str | None = attrs.field(default=None, kw_only=True)

    @classmethod
    def of_owner(
        cls, kind: BuildEventKind, build: JobBuild, project_id: str, owner_kind: str, owner_id: str
    ) -> BuildEvent:
        """The event of a build of a job (``owner_kind="job"``) or of a service."""
        if owner_kind == "service":
            return cls(kind, build, project_id, service_id=owner_id)
        return cls(kind, build, project_id, owner_id)

    def __attrs_post_init__(self) -> None:
        if (self.job_id is None) == (self.service_id is None):
            raise ValueError("a build event names its job or its service, exactly one")

    @property
    def owner_kind(self) -> Literal["job", "service"]:
        """``"job"`` or ``"service"``: what owns the build."""
        return "job" if self.job_id is not None else "service"

    @property
    def owner_id(self) -> str:
        """The id of the job or service that owns the build."""
        owner = self.job_id if self.job_id is not None else self.service_id
        assert owner is not None  # checked when made
        return owner


@attrs.frozen
class RunEvent:
    """Something the monitor saw happen to a run of a job watched with ``runs=True``.

    ``kind`` is ``"created"`` (a run new to the monitor), ``"status"`` (a running run changed
    status) or ``"concluded"`` (the run finished; ``run`` holds its outcome: ``run.status``
    is ``RunStatus.FAILED`` for a failed run).
    """

    kind: BuildEventKind = attrs.field(validator=attrs.validators.in_(_KINDS))
    run: JobRun
    project_id: str
    job_id: str

    @property
    def owner_kind(self) -> Literal["job"]:
        """``"job"``: only jobs have runs."""
        return "job"

    @property
    def owner_id(self) -> str:
        """The id of the job that owns the run."""
        return self.job_id


#: What a monitor yields: a build's event, or (for a job watched with ``runs=True``) a run's.
MonitorEvent: TypeAlias = BuildEvent | RunEvent
