"""The typed objects the API's answers decode into.

Models hold snake_case attributes only; the camelCase wire names live in ``_converter``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, TypeVar

import attrs

__all__ = ["BuildStatus", "JobBuild", "Page", "RateLimit", "Registry"]

T = TypeVar("T")


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
        wins when present: prefer :attr:`JobBuild.is_concluded`.
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
class Registry:
    """Where the image a build produced can be pulled from."""

    uri: str | None = None


@attrs.frozen(kw_only=True)
class JobBuild:
    """One build of a job.

    Every attribute but ``id`` may be ``None`` when the API leaves the field out or sends
    ``null``. ``status`` is a :class:`BuildStatus`, or the raw string for a status this version
    does not know. Datetimes are timezone-aware UTC.
    """

    id: str
    branch: str | None = None
    pull_request_id: int | None = None
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
