"""The monitor's events: what it saw happen to a build. Pure: no I/O.

`JobTracker` (``tracking``) makes them; the monitor hands them out, and a group's stream keeps
them as text (``fleet.encode_event``).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

from .models import JobBuild

__all__ = ["BuildEvent", "BuildEventKind"]

BuildEventKind: TypeAlias = Literal["created", "status", "concluded"]
_KINDS = ("created", "status", "concluded")


@attrs.frozen
class BuildEvent:
    """Something the monitor saw happen to a build of a watched job.

    ``kind`` is ``"created"`` (a build new to the monitor), ``"status"`` (a running build
    changed status) or ``"concluded"`` (the build finished; ``build`` holds its outcome).
    """

    kind: BuildEventKind = attrs.field(validator=attrs.validators.in_(_KINDS))
    build: JobBuild
    project_id: str
    job_id: str
