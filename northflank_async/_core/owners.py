"""Owners of builds: a job or a service, and where one lives. Pure: no I/O.

Jobs and services have the same builds (the same object, routes, logs and pagination) under
their own route segment. An `OwnerKind` is the table entry that tells them apart; an `Owner`
is one job or service, named once, whose `path()` every resource call is built from. A new
owner kind of builds is one more `OwnerKind` here (see docs/architecture.md).
"""

from __future__ import annotations

import attrs

from .wire import owner_path

__all__ = ["JOB", "SERVICE", "Owner", "OwnerKind"]


@attrs.frozen
class OwnerKind:
    """What kind of thing owns builds: its name, its route segment and its id's name."""

    name: str  # "job": also the monitor's ``watch_<name>``
    segment: str  # "jobs": the route segment after the project
    id_name: str  # "job_id": the keyword that names one, in errors and in the flat form


JOB = OwnerKind("job", "jobs", "job_id")
SERVICE = OwnerKind("service", "services", "service_id")


@attrs.frozen
class Owner:
    """One job or service: its kind, project, id and, for organisation tokens, its team."""

    kind: OwnerKind
    project_id: str
    owner_id: str
    team_id: str | None

    def describe(self) -> str:
        """``project_id='p' job_id='j'`` (and ``team_id=...``): the ids, for a repr."""
        team = f" team_id={self.team_id!r}" if self.team_id is not None else ""
        return f"project_id={self.project_id!r} {self.kind.id_name}={self.owner_id!r}{team}"

    def path(self, *tail: str) -> str:
        """The path of ``tail`` under the owner, every segment checked and percent-encoded."""
        return owner_path(
            self.kind.segment,
            self.kind.id_name,
            project_id=self.project_id,
            owner_id=self.owner_id,
            team_id=self.team_id,
            tail=tail,
        )

    def checked(self) -> Owner:
        """The owner itself, once its ids are known to make a path (``ValueError`` if not)."""
        self.path()
        return self
