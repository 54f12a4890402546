"""The monitor's two trackers: `JobTracker` over builds, `RunTracker` over a job's runs.

Each is the one `ItemTracker` (``tracking``) over another model: only an item's time, its
event and how a stored position names it differ. Pure: no sockets, no event loop.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from .events import BuildEvent, BuildEventKind, RunEvent
from .models import BuildStatus, JobBuild, JobRun, RunStatus
from .tracking import ItemTracker

__all__ = ["JobTracker", "RunTracker"]


@attrs.define(eq=False)
class JobTracker(ItemTracker[JobBuild, BuildEvent]):
    """The tracker of a job's (or service's) builds: it makes `BuildEvent` values."""

    model = JobBuild
    statuses = BuildStatus

    def _time_of(self, item: JobBuild) -> datetime | None:
        return item.created_at

    def _event(self, kind: BuildEventKind, item: JobBuild) -> BuildEvent:
        return BuildEvent.of_owner(kind, item, self.project_id, self.owner_kind, self.job_id)

    def _stub(self, item_id: str, status: object) -> JobBuild:
        return JobBuild(id=item_id, status=status, concluded=False)  # type: ignore[arg-type]


@attrs.define(eq=False)
class RunTracker(ItemTracker[JobRun, RunEvent]):
    """The tracker of a job's runs: it makes `RunEvent` values (``since``: a run id, a
    `JobRun`, an aware datetime, those started at or after it, or None)."""

    model = JobRun
    statuses = RunStatus

    def _time_of(self, item: JobRun) -> datetime | None:
        return item.started_at

    def _event(self, kind: BuildEventKind, item: JobRun) -> RunEvent:
        return RunEvent(kind, item, self.project_id, self.job_id)

    def _stub(self, item_id: str, status: object) -> JobRun:
        return JobRun(id=item_id, status=status, concluded=False)  # type: ignore[arg-type]
