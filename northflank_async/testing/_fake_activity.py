"""The fake's activity, as `FakeNorthflank` drives it: progress, outcomes, a simulated world.

`ActivityFace` is the part of the face that chooses how started builds and runs move along
(`._progress`) and how they end, and `simulate()`: a task, started with the server, that
pushes new builds to the jobs at random (reproducible) intervals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Sequence
from typing import Literal

from ._records import BUILD_FINAL, BUILD_PIPELINE, RUN_FINAL, Job, build_key
from ._rooms import Rooms, check_seconds

__all__ = ["ActivityFace"]


@dataclasses.dataclass(slots=True)
class _Activity:
    every: float | None
    failure_rate: float
    jobs: list[Job] | None
    max_builds: int | None
    rng: random.Random
    jitter: float = 0.0
    pushed: int = 0


def _check_outcome(outcome: str, allowed: frozenset[str]) -> None:
    if outcome not in allowed:
        raise ValueError(f"outcome must be one of {sorted(allowed)}, got {outcome!r}")


class ActivityFace(Rooms):
    """`FakeNorthflank`'s activity methods: progress of started items, outcomes, `simulate`."""

    _activity: _Activity | None = None
    _activity_task: asyncio.Task[None] | None = None

    def configure_builds(
        self, step: Literal["poll"] | float = "poll", outcome: str = "SUCCESS"
    ) -> None:
        """Choose how builds started from now on progress, and how they end.

        With ``step="poll"`` each single GET of a build advances it one stage before
        answering; with a number it advances one stage every `step` seconds of the
        fake's clock (computed when read). A build walks QUEUED, PENDING, STARTING,
        CLONING, BUILDING, UPLOADING and then ends with `outcome` (or the outcome given
        to `set_outcome`).
        """
        _check_outcome(outcome, BUILD_FINAL)
        self._progress.configure("build", step, outcome)

    def simulate(
        self,
        *,
        new_build_every: float | None = 60.0,
        step: float | None = 10.0,
        failure_rate: float = 0.25,
        jobs: Sequence[tuple[str, str]] | None = None,
        max_builds: int | None = None,
        seed: int = 0,
        jitter: float = 0.0,
    ) -> None:
        """Let the fake move on its own: builds run to an outcome, and new ones appear.

        Running builds of the jobs (the historical ones left in a pipeline stage too) move
        one stage every `step` seconds (``None``: keep the current `configure_builds`
        setting), so a build takes ``6 * step`` seconds. While the fake serves, a new build
        is pushed every `new_build_every` seconds on average (exponential gaps; ``None``:
        none) to a job drawn from `jobs` (default: every registered job), until
        `max_builds` were pushed; a fraction `failure_rate` of them ends in FAILURE or
        CRASHED, the others in SUCCESS. With `jitter` (a fraction in ``[0, 1)``), each pushed
        build takes ``6 * step`` times a factor drawn uniformly from ``1 +- jitter`` (0.3:
        +-30%), so its duration varies. The draws are reproducible from `seed`; the
        schedule sleeps on the event loop, so a virtual loop clock runs it in no time.
        Calling it again replaces the activity.
        """
        if new_build_every is not None:
            check_seconds("new_build_every", new_build_every)
            if new_build_every <= 0:
                raise ValueError("new_build_every must be > 0 (or None)")
        if not (isinstance(failure_rate, int | float) and 0 <= failure_rate <= 1):
            raise ValueError("failure_rate must be between 0 and 1")
        if not (isinstance(jitter, int | float) and 0 <= jitter < 1):
            raise ValueError("jitter must be a fraction in [0, 1)")
        if max_builds is not None and (
            isinstance(max_builds, bool) or not isinstance(max_builds, int) or max_builds < 0
        ):
            raise ValueError("max_builds must be an int >= 0 (or None)")
        chosen = None if jobs is None else [self._store.job(p, j) for p, j in jobs]
        if step is not None:
            self.configure_builds(step=check_seconds("step", step))
        for job in chosen if chosen is not None else self._all_jobs():
            for build in job.builds:
                if build.get("concluded") is not True and build.get("status") in BUILD_PIPELINE:
                    self._store.track_build(job, build)
        self._activity = _Activity(
            new_build_every, failure_rate, chosen, max_builds, random.Random(seed), jitter
        )
        if self._activity_task is not None:
            self._activity_task.cancel()
            self._activity_task = None
        if self._runner is not None:
            self._start_activity()

    def _all_jobs(self) -> list[Job]:
        return [job for jobs in self._store.projects.values() for job in jobs.values()]

    def _start_activity(self) -> None:
        activity = self._activity
        if activity is None or activity.every is None or self._activity_task is not None:
            return
        self._activity_task = asyncio.get_running_loop().create_task(
            self._push_builds(activity), name="fake-northflank-activity"
        )

    async def _push_builds(self, activity: _Activity) -> None:
        rng = activity.rng
        assert activity.every is not None
        while activity.max_builds is None or activity.pushed < activity.max_builds:
            await asyncio.sleep(rng.expovariate(1 / activity.every))
            jobs = activity.jobs if activity.jobs is not None else self._all_jobs()
            if not jobs:
                continue
            job = rng.choice(jobs)
            # The world's own builds are reproducible from the seed, as the history is.
            build = self._store.create_build(job, {"id": self._store.seeded_build_id()})
            if rng.random() < activity.failure_rate:
                self.set_outcome(build["id"], rng.choice(("FAILURE", "CRASHED")))
            if activity.jitter:  # drawn only with a jitter: the other draws stay as they were
                factor = rng.uniform(1 - activity.jitter, 1 + activity.jitter)
                self._progress.scale(build_key(job, build["id"]), factor)
            activity.pushed += 1

    def set_outcome(self, build_id: str, outcome: str) -> None:
        """Make the started build `build_id` end with `outcome`.

        `outcome` is one of SUCCESS, FAILURE, CRASHED, SUBMISSION_FAILURE or ABORTED. It
        may be set before or after the build is started (the id comes from the start
        answer or `add_build`); historical builds are not affected.
        """
        _check_outcome(outcome, BUILD_FINAL)
        self._progress.set_outcome("build", build_id, outcome)

    def configure_runs(
        self, step: Literal["poll"] | float = "poll", outcome: str = "SUCCESS"
    ) -> None:
        """Choose how runs started from now on progress, and how they end.

        With ``step="poll"`` a run answers RUNNING to its first two single GETs and
        concludes on the third; with a number it advances one of those three stages
        every `step` seconds of the fake's clock. It ends with `outcome` (SUCCESS or
        FAILED), or the outcome given to `set_run_outcome`.
        """
        _check_outcome(outcome, RUN_FINAL)
        self._progress.configure("run", step, outcome)

    def set_run_outcome(self, run_id: str, outcome: str) -> None:
        """Make the started run `run_id` end with `outcome` (SUCCESS or FAILED).

        It may be set before or after the run is started (the id comes from the start
        answer or `add_run`).
        """
        _check_outcome(outcome, RUN_FINAL)
        self._progress.set_outcome("run", run_id, outcome)

    async def _stop_activity(self) -> None:
        task, self._activity_task = self._activity_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
