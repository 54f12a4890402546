"""The typed objects the API's answers decode into.

Models hold snake_case attributes only; the camelCase wire names live in ``_converter``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import attrs

__all__ = [
    "Branch",
    "BranchCommit",
    "BuildStatus",
    "Job",
    "JobBuild",
    "JobRun",
    "JobType",
    "LogLine",
    "NotificationIntegration",
    "NotificationStatus",
    "Page",
    "RateLimit",
    "Registry",
    "RunStarted",
    "RunStatus",
]

T = TypeVar("T")


class _Model:
    """The base of the models the API's answers decode into: it holds only the weak-reference
    slot, so that each model keeps weak references while its own slots are exactly its fields.

    That is what lets the decoder fill a model fast (``_core.structure``): it stores the fields
    into an unfrozen twin with the same slots and then gives the object the model's class.
    CPython allows that ``__class__`` assignment only between layouts it can prove equal, and it
    proves it for a ``__weakref__`` slot only when that slot comes before the others, as here.
    """

    __slots__ = ("__weakref__",)


class BuildStatus(enum.StrEnum):
    """The documented statuses of a job build.

    The API may add statuses: a build whose status this enum does not know still decodes, and its
    ``status`` is then the raw string (which compares equal to the wire value).
    """

    QUEUED = "QUEUED"
    PENDING = "PENDING"
    UNSCHEDULABLE = "UNSCHEDULABLE"
    STARTING = "STARTING"
    CLONING = "CLONING"
    BUILDING = "BUILDING"
    UPLOADING = "UPLOADING"
    ABORTED = "ABORTED"
    FAILURE = "FAILURE"
    SUBMISSION_FAILURE = "SUBMISSION_FAILURE"
    SUCCESS = "SUCCESS"
    CRASHED = "CRASHED"
    IN_PROGRESS = "IN_PROGRESS"

    @property
    def is_terminal(self) -> bool:
        """Whether a build in this status has finished and will not change again.

        The reference does not list terminal statuses; we take ``SUCCESS``, ``FAILURE``,
        ``ABORTED``, ``CRASHED`` and ``SUBMISSION_FAILURE``. A build's own ``concluded`` flag
        wins when present: prefer `JobBuild.is_concluded`.
        """
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        BuildStatus.SUCCESS,
        BuildStatus.FAILURE,
        BuildStatus.ABORTED,
        BuildStatus.CRASHED,
        BuildStatus.SUBMISSION_FAILURE,
    }
)


@attrs.frozen
class Registry(_Model):
    """Where the image a build produced can be pulled from."""

    uri: str | None = None


@attrs.frozen(kw_only=True)
class JobBuild(_Model):
    """One build of a job.

    Every attribute but ``id`` may be ``None`` when the API leaves the field out or sends
    ``null``. ``status`` is a `BuildStatus`, or the raw string for a status this version
    does not know. ``pull_request_id`` is an ``int`` or a ``str``, as the API sent it (the
    official types allow both). Datetimes are timezone-aware UTC.
    """

    id: str
    branch: str | None = None
    pull_request_id: int | str | None = None
    status: BuildStatus | str | None = None
    sha: str | None = None
    registry: Registry | None = None
    concluded: bool | None = None
    created_at: datetime | None = None
    success: bool | None = None
    message: str | None = None
    build_concluded_at: datetime | None = None

    @property
    def is_concluded(self) -> bool:
        """Whether the build has finished: ``concluded`` when the API sent it, else the status."""
        if self.concluded is not None:
            return self.concluded
        return isinstance(self.status, BuildStatus) and self.status.is_terminal

    @property
    def duration(self) -> timedelta | None:
        """How long the build took: ``build_concluded_at - created_at``.

        ``None`` while either time is unknown (a running build has no ``build_concluded_at``).
        """
        if self.created_at is None or self.build_concluded_at is None:
            return None
        return self.build_concluded_at - self.created_at


class RunStatus(enum.StrEnum):
    """The documented statuses of a job run.

    As with `BuildStatus`, a status this enum does not know still decodes: the run's
    ``status`` is then the raw string.
    """

    SUCCESS = "SUCCESS"
    RUNNING = "RUNNING"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """Whether a run in this status has finished: ``SUCCESS`` or ``FAILED``.

        A run's own ``concluded`` flag wins when present: prefer `JobRun.is_concluded`.
        """
        return self is not RunStatus.RUNNING


@attrs.frozen(kw_only=True)
class JobRun(_Model):
    """One run of a job.

    Every attribute but ``id`` may be ``None`` when the API leaves the field out or sends
    ``null``. ``status`` is a `RunStatus`, or the raw string for a status this version
    does not know. ``active``, ``succeeded`` and ``failed`` are counts as the API sends them
    (``0`` or ``1`` for a run of one completion). Datetimes are timezone-aware UTC.
    """

    id: str
    run_name: str | None = None
    status: RunStatus | str | None = None
    concluded: bool | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    backoff_limit: int | None = None
    completions: int | None = None
    started_at: datetime | None = None
    concluded_at: datetime | None = None

    @property
    def is_concluded(self) -> bool:
        """Whether the run has finished: ``concluded`` when the API sent it, else the status."""
        if self.concluded is not None:
            return self.concluded
        return isinstance(self.status, RunStatus) and self.status.is_terminal


@attrs.frozen(kw_only=True)
class RunStarted(_Model):
    """The answer to starting a job run: the new run's ``id`` and ``run_name``.

    Fetch the run itself (its status, its times) by its ``id``.
    """

    id: str
    run_name: str | None = None


class JobType(enum.StrEnum):
    """How a job is started: by hand (or the API), or on a cron schedule.

    A type this enum does not know still decodes: the job's ``job_type`` is then the raw string.
    """

    MANUAL = "manual"
    CRON = "cron"


@attrs.frozen(kw_only=True)
class Job(_Model):
    """A job of a project.

    Every attribute but ``id`` may be ``None``: the list endpoint leaves out ``projectId`` and
    ``createdAt``, and any field may be missing from a newer or older API. ``tags`` is empty
    when the API sends none. ``job_type`` is a `JobType`, or the raw string for a type
    this version does not know. ``created_at`` is timezone-aware UTC.
    """

    id: str
    app_id: str | None = None
    name: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    project_id: str | None = None
    job_type: JobType | str | None = None
    created_at: datetime | None = None
    disabled_ci: bool | None = None
    disabled_cd: bool | None = None
    suspended: bool | None = None


@attrs.frozen
class BranchCommit(_Model):
    """The head commit of a branch."""

    sha: str | None = None


@attrs.frozen(kw_only=True)
class Branch(_Model):
    """A branch of the repository a job builds from, with its head commit."""

    id: str
    name: str | None = None
    commit: BranchCommit | None = None


@attrs.frozen(kw_only=True)
class LogLine(_Model):
    """One line of a build's (or run's) log.

    ``ts`` is when the line was written (timezone-aware UTC) and ``container_id`` the container
    that wrote it, when the API says. ``text`` is the line: the wire's ``log`` value when it is a
    string, else that value as compact JSON text, which is then also kept, as decoded, in
    ``raw`` (``None`` for a string line).
    """

    ts: datetime
    container_id: str | None = None
    text: str
    raw: object | None = None


@attrs.frozen(kw_only=True)
class NotificationStatus(_Model):
    """Whether a notification integration still sends, and how its deliveries fail.

    Northflank disables an integration whose deliveries keep failing: ``disabled`` is then
    true. ``reason`` is kept as the API sent it (typed boolean in the reference, any JSON
    here). ``number_of_failed_requests`` and ``time_of_first_failed_request`` describe the
    failures (``get`` only; the list leaves them out).
    """

    disabled: bool | None = None
    reason: object | None = None
    time_of_first_failed_request: datetime | None = None
    number_of_failed_requests: int | None = None


@attrs.frozen(kw_only=True)
class NotificationIntegration(_Model):
    """A notification integration: where Northflank POSTs events, and which ones.

    ``events`` holds the short names of the events it sends (``"build:success"``, ...),
    sorted; ``projects`` the projects it is restricted to (empty: every project, or not
    sent). The list endpoint sends only ``id, name, type, webhook, status, createdAt,
    updatedAt``: the other attributes are then empty or ``None``. The secret is write-only:
    the API never sends it back, and no attribute holds it.
    """

    id: str
    name: str | None = None
    type: str | None = None
    webhook: str | None = None
    status: NotificationStatus | None = None
    events: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    restricted: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def disabled(self) -> bool:
        """Whether Northflank has disabled it (its deliveries kept failing)."""
        return self.status is not None and self.status.disabled is True


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing.

    ``cursor`` fetches the *next* page and is ``None`` on the last one; ``count`` is the number
    of items the API said this page holds.
    """

    items: Sequence[T]
    has_next_page: bool
    count: int
    cursor: str | None


@attrs.frozen
class RateLimit:
    """The rate-limit state the API announced on its latest answer.

    ``remaining`` requests are left in a window of ``limit`` that resets at ``reset_at``.
    """

    limit: int
    remaining: int
    reset_at: datetime
