"""The data generator: realistic history for the store, reproducible from the fake's seed.

It makes ids (unique across the fake), commit shas, historical builds (mostly concluded, a
few of the last half hour still in a pipeline stage), concluded runs and the branches every
job starts with. Builds are drawn from one sequence; runs and branches each from a generator
of their own per job (`DataGenerator.side_rng`), so adding runs never shifts the builds a
seed generates. The ids of builds and runs started while the fake serves are drawn from the
system's entropy instead (`DataGenerator.started_id`): unique in one fake and, all but
surely, across fakes, so an id printed by one process is not another fake's.
"""

from __future__ import annotations

import random
import secrets
from typing import Final

from ._clock import WALL_EPOCH_MS, format_ms
from ._records import BUILD_FINAL, BUILD_MESSAGES, BUILD_PIPELINE, Build, Job, Run, registry_uri

__all__ = ["HISTORY_ANCHOR_MS", "JOB_BRANCHES", "DataGenerator"]

#: Weights of the statuses of generated history: mostly concluded, a few still running.
_HISTORY_WEIGHTS: Final = {
    "SUCCESS": 60,
    "FAILURE": 18,
    "ABORTED": 6,
    "CRASHED": 2,
    "SUBMISSION_FAILURE": 2,
    "UNSCHEDULABLE": 1,
    "QUEUED": 1,
    "PENDING": 1,
    "STARTING": 1,
    "CLONING": 1,
    "BUILDING": 3,
    "UPLOADING": 1,
    "IN_PROGRESS": 3,
}
# fmt: off
_ADJECTIVES: Final = (
    "amber", "autumn", "bold", "brave", "brisk", "calm", "clever", "cosmic", "crimson",
    "daring", "eager", "fancy", "fierce", "gentle", "golden", "happy", "hidden", "jolly",
    "joyous", "keen", "lively", "lucky", "mellow", "misty", "noble", "patient", "polished",
    "quiet", "rapid", "rustic", "shiny", "silent", "silver", "smooth", "snowy", "solar", "spry",
    "steady", "stellar", "sunny", "swift", "tidy", "vivid", "wandering", "witty", "young",
    "zesty",
)
_NOUNS: Final = (
    "anchor", "badger", "beacon", "brook", "canyon", "cedar", "comet", "coral", "delta",
    "ember", "falcon", "field", "forest", "galaxy", "garden", "glacier", "harbor", "heron",
    "island", "lagoon", "lantern", "maple", "meadow", "mesa", "meteor", "nebula", "oasis",
    "orbit", "otter", "pebble", "pine", "prairie", "quartz", "raven", "reef", "river",
    "sparrow", "summit", "thunder", "tide", "trail", "valley", "view", "willow", "zephyr",
)
# fmt: on
_BRANCHES: Final = ("main", "main", "main", "main", "develop", "release/2.4", "fix/flaky-ci")
#: The branches every job starts with, "main" first.
JOB_BRANCHES: Final = ("main", "develop", "release/2.4", "fix/flaky-ci")
#: The newest generated build (run) of a fresh job is created shortly before this instant.
HISTORY_ANCHOR_MS: Final = WALL_EPOCH_MS
#: A generated build older than this (before the anchor) is past the pipeline: none sits in a
#: stage for hours, to finish in a second once the fake moves it along (`simulate`).
_PIPELINE_SPAN_MS: Final = 30 * 60_000
_PAST_PIPELINE: Final = {s: w for s, w in _HISTORY_WEIGHTS.items() if s not in BUILD_PIPELINE}


class DataGenerator:
    """Ids, shas and history, drawn reproducibly from `seed`; it knows every id handed out."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self.ids: set[str] = set()  # build ids in use
        self.run_ids: set[str] = set()
        self._moves = 0

    def side_rng(self, job: Job, purpose: str) -> random.Random:
        """A generator of its own per job and purpose: runs and branches never shift
        the sequence that builds are generated from."""
        return random.Random(f"{self._seed}/{purpose}/{job.project_id}/{job.job_id}")

    def new_id(self) -> str:
        """A build id not used yet (``adjective-noun-1234``), now taken."""
        while True:
            adjective, noun = self._rng.choice(_ADJECTIVES), self._rng.choice(_NOUNS)
            build_id = f"{adjective}-{noun}-{self._rng.randint(1000, 9999)}"
            if build_id not in self.ids:
                self.ids.add(build_id)
                return build_id

    def started_id(self) -> str:
        """A new id for a build started while serving, drawn from the system's entropy
        (``adjective-noun-1234``): unique in this fake, and (one in 19 million) across fakes."""
        while True:
            adjective, noun = secrets.choice(_ADJECTIVES), secrets.choice(_NOUNS)
            build_id = f"{adjective}-{noun}-{1000 + secrets.randbelow(9000)}"
            if build_id not in self.ids:
                self.ids.add(build_id)
                return build_id

    def started_run_id(self) -> str:
        """A new run id (``run-`` and 12 hex digits) from the system's entropy, now taken."""
        while True:
            run_id = f"run-{secrets.token_hex(6)}"
            if run_id not in self.run_ids:
                self.run_ids.add(run_id)
                return run_id

    def new_sha(self) -> str:
        """A commit sha: 40 hex digits."""
        return f"{self._rng.getrandbits(160):040x}"

    def new_run_id(self, rng: random.Random) -> str:
        """A run id not used yet (``run-`` and 12 hex digits), drawn from `rng`, now taken."""
        while True:
            run_id = f"run-{rng.getrandbits(48):012x}"
            if run_id not in self.run_ids:
                self.run_ids.add(run_id)
                return run_id

    def branch_sha(self, job: Job, name: str) -> str:
        """A new head commit for branch `name` of `job` (each call moves on)."""
        self._moves += 1
        return f"{self.side_rng(job, f'{name}/{self._moves}').getrandbits(160):040x}"

    def job_branches(self, job: Job) -> list[tuple[str, str]]:
        """The branches a new job starts with, and their head commits."""
        rng = self.side_rng(job, "branches")
        return [(name, f"{rng.getrandbits(160):040x}") for name in JOB_BRANCHES]

    # ------------------------------------------------------------------ builds

    def build_history(self, job: Job, count: int) -> list[Build]:
        """`count` historical builds, newest first, older than the job's oldest."""
        if count < 0:
            raise ValueError("builds must be >= 0")
        rng = self._rng
        created_ms = job.oldest_ms if job.oldest_ms is not None else HISTORY_ANCHOR_MS
        builds = []
        for _ in range(count):
            # Between 1 minute and 4 hours apart, so createdAt strictly decreases.
            created_ms -= rng.randint(60_000, 4 * 3_600_000)
            builds.append(self._historic_build(job, created_ms))
        return builds

    def _historic_build(self, job: Job, created_ms: int) -> Build:
        rng = self._rng
        status = rng.choices(list(_HISTORY_WEIGHTS), weights=list(_HISTORY_WEIGHTS.values()))[0]
        if status in BUILD_PIPELINE and created_ms < HISTORY_ANCHOR_MS - _PIPELINE_SPAN_MS:
            status = rng.choices(list(_PAST_PIPELINE), weights=list(_PAST_PIPELINE.values()))[0]
        build: Build = {"id": self.new_id()}
        if rng.random() < 0.95:
            build["branch"] = rng.choice(_BRANCHES)
        pull_request = rng.random()
        if pull_request < 0.25:
            build["pullRequestId"] = rng.randint(1, 2500)
        elif pull_request < 0.5:
            build["pullRequestId"] = None
        build["status"] = status
        if rng.random() < 0.97:
            build["sha"] = self.new_sha()
        if status == "SUCCESS":
            build["registry"] = {"uri": registry_uri(job, build["id"])}
        concluded = status in BUILD_FINAL
        build["concluded"] = concluded
        build["createdAt"] = format_ms(created_ms)
        if concluded:
            build["success"] = status == "SUCCESS"
            build["message"] = BUILD_MESSAGES[status] if rng.random() < 0.8 else None
            duration_ms = rng.randint(20_000, 900_000)
            build["buildConcludedAt"] = round((created_ms + duration_ms) / 1000, 3)
        elif rng.random() < 0.5:
            build["message"] = None
        return build

    # ------------------------------------------------------------------ runs

    def run_history(self, job: Job, count: int, started_ms: int) -> list[Run]:
        """`count` concluded runs, newest first, started before `started_ms`."""
        if count < 0:
            raise ValueError("runs must be >= 0")
        rng = self.side_rng(job, f"runs{len(job.runs)}")
        runs = []
        for _ in range(count):
            started_ms -= rng.randint(60_000, 12 * 3_600_000)
            succeeded = rng.random() < 0.8
            run_id = self.new_run_id(rng)
            runs.append(
                {
                    "id": run_id,
                    "runName": f"{job.job_id}-{run_id[4:9]}",
                    "status": "SUCCESS" if succeeded else "FAILED",
                    "concluded": True,
                    "active": 0,
                    "succeeded": int(succeeded),
                    "failed": int(not succeeded),
                    "backoffLimit": 0,
                    "completions": 1,
                    "startedAt": format_ms(started_ms),
                    "concludedAt": format_ms(started_ms + rng.randint(5_000, 1_800_000)),
                }
            )
        return runs
