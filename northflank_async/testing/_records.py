"""The records the fake serves: builds, runs, branches, the jobs (services) that own them, and
log lines.

Everything is a JSON object in the API's wire format. This room says what a record is: the
statuses a build or run walks through and ends in, when one counts as concluded, a `Job` with
its lists (newest first) and indexes, and the keys the progress engine and the log book use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

__all__ = [
    "BUILD_FINAL",
    "BUILD_MESSAGES",
    "BUILD_PIPELINE",
    "BUILD_STATUSES",
    "RUN_FINAL",
    "RUN_PIPELINE",
    "Branch",
    "Build",
    "Job",
    "LogLine",
    "Run",
    "Timed",
    "build_concluded",
    "build_key",
    "registry_uri",
    "run_concluded",
    "run_key",
]

Build = dict[str, Any]
"""A build as stored and served: a JSON object in the wire format of the API."""
Run = dict[str, Any]
"""A job run as stored and served (wire format)."""
Branch = dict[str, Any]
"""A branch as stored and served: ``{"id", "name", "commit": {"sha", ...}}``."""
LogLine = dict[str, Any]
"""A log line on the wire: ``{"containerId": str, "log": any, "ts": ISO-8601}``."""
Timed = tuple[int, LogLine]
"""A log line with its ``ts`` in epoch milliseconds, for sorting and windows."""

#: Every status value the reference documents for a build.
BUILD_STATUSES: Final = (
    "QUEUED",
    "PENDING",
    "UNSCHEDULABLE",
    "STARTING",
    "CLONING",
    "BUILDING",
    "UPLOADING",
    "ABORTED",
    "FAILURE",
    "SUBMISSION_FAILURE",
    "SUCCESS",
    "CRASHED",
    "IN_PROGRESS",
)
#: The stages a started build walks through, one step at a time, before its outcome.
BUILD_PIPELINE: Final = ("QUEUED", "PENDING", "STARTING", "CLONING", "BUILDING", "UPLOADING")
#: Statuses a build can end in; they are the allowed outcomes of `configure_builds`.
BUILD_FINAL: Final = frozenset({"SUCCESS", "FAILURE", "CRASHED", "SUBMISSION_FAILURE", "ABORTED"})
#: A started run answers RUNNING to its first two polls and concludes on the third.
RUN_PIPELINE: Final = ("RUNNING", "RUNNING", "RUNNING")
#: Statuses a run can end in (an aborted run ends FAILED: the reference knows no other).
RUN_FINAL: Final = frozenset({"SUCCESS", "FAILED"})
#: The ``message`` of a build concluded with each final status.
BUILD_MESSAGES: Final = {
    "SUCCESS": "Image successfully built",
    "FAILURE": "Build failed",
    "CRASHED": "Build crashed",
    "SUBMISSION_FAILURE": "Build submission failed",
    "ABORTED": "Build aborted",
}


def build_concluded(build: Build) -> bool:
    """Whether a build has concluded: its ``concluded`` flag, else a final status."""
    concluded = build.get("concluded")
    if isinstance(concluded, bool):
        return concluded
    return build.get("status") in BUILD_FINAL


def run_concluded(run: Run) -> bool:
    """Whether a run has concluded: its ``concluded`` flag, else a final status."""
    concluded = run.get("concluded")
    if isinstance(concluded, bool):
        return concluded
    return run.get("status") in RUN_FINAL


@dataclasses.dataclass(slots=True)
class Job:
    """One job: its record, builds, runs and branches (lists newest first, by-id indexes)."""

    project_id: str
    job_id: str
    record: dict[str, Any]
    builds: list[Build] = dataclasses.field(default_factory=list)
    by_id: dict[str, Build] = dataclasses.field(default_factory=dict)
    runs: list[Run] = dataclasses.field(default_factory=list)
    runs_by_id: dict[str, Run] = dataclasses.field(default_factory=dict)
    run_deployments: dict[str, Any] = dataclasses.field(default_factory=dict)
    branches: dict[str, Branch] = dataclasses.field(default_factory=dict)
    newest_ms: int | None = None
    oldest_ms: int | None = None
    kind: str = "job"  # or "service": its builds only (no runs, no branches)

    def note_created(self, created_ms: int | None) -> None:
        """Widen the known createdAt range with one build's creation time."""
        if created_ms is None:
            return
        self.newest_ms = created_ms if self.newest_ms is None else max(self.newest_ms, created_ms)
        self.oldest_ms = created_ms if self.oldest_ms is None else min(self.oldest_ms, created_ms)

    def listed_record(self) -> dict[str, Any]:
        """The job as the list endpoint shows it (without projectId and createdAt)."""
        return {k: v for k, v in self.record.items() if k not in ("projectId", "createdAt")}


def registry_uri(job: Job, build_id: str) -> str:
    """Where a successful build's image is pushed (its ``registry.uri``)."""
    return f"registry.northflank.com/{job.project_id}/{job.job_id}:{build_id}"


def build_key(job: Job, build_id: str) -> tuple[str, str, str, str]:
    """The progress engine's key of a build."""
    owner = job.job_id if job.kind == "job" else f"{job.kind}/{job.job_id}"
    return ("build", job.project_id, owner, build_id)


def run_key(job: Job, run_id: str) -> tuple[str, str, str, str]:
    """The progress engine's key of a run."""
    return ("run", job.project_id, job.job_id, run_id)
