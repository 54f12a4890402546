"""Concurrent ``wait()`` / ``watch()`` calls on one job share a list request. Pure: no I/O.

`answer_waiters()` tells which of the build ids waited on a page answers, and which still
need a ``get`` (the engine's ``coalesce`` drives it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from .models import JobBuild

__all__ = ["PageAnswers", "answer_waiters"]


@attrs.frozen
class PageAnswers:
    """What one list page tells the waiters of a job: builds ``found``, ids still ``missing``."""

    found: Mapping[str, JobBuild]
    missing: frozenset[str]


def answer_waiters(waiting: Iterable[str], newest_first: Sequence[JobBuild]) -> PageAnswers:
    """Which of the build ids waited on a page answers, and which still need a ``get``.

    All the ``wait()`` / ``watch()`` calls on builds of one job share one list request per
    poll: each waiter reads its build from ``found``; only the ids in ``missing`` (not listed,
    e.g. fallen off the newest page) cost a ``get`` each.
    """
    wanted = set(waiting)
    found: dict[str, JobBuild] = {}
    for build in newest_first:
        if build.id in wanted and build.id not in found:
            found[build.id] = build
    return PageAnswers(found=found, missing=frozenset(wanted - found.keys()))
