"""The store: projects, jobs, builds, runs and branches, and the data generator.

Everything is kept as JSON objects in the API's wire format, newest first. The store
owns the data and its consistency (ids unique, ``createdAt`` ordered, concluded items
with their concluded fields); it hands started items to the progress engine, which moves
them along through the callbacks given here.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping
from typing import Any, Final

from ._clock import WALL_EPOCH_MS, Clock, format_ms, parse_ms, wall_ms
from ._logs import LogBook
from ._progress import ProgressEngine

__all__ = [
    "BUILD_FINAL",
    "BUILD_PIPELINE",
    "BUILD_STATUSES",
    "RUN_FINAL",
    "RUN_PIPELINE",
    "Branch",
    "Build",
    "Job",
    "Run",
    "Store",
]

Build = dict[str, Any]
"""A build as stored and served: a JSON object in the wire format of the API."""
Run = dict[str, Any]
"""A job run as stored and served (wire format)."""
Branch = dict[str, Any]
"""A branch as stored and served: ``{"id", "name", "commit": {"sha", ...}}``."""

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
_MESSAGES: Final = {
    "SUCCESS": "Image successfully built",
    "FAILURE": "Build failed",
    "CRASHED": "Build crashed",
    "SUBMISSION_FAILURE": "Build submission failed",
    "ABORTED": "Build aborted",
}
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
_JOB_BRANCHES: Final = ("main", "develop", "release/2.4", "fix/flaky-ci")
#: The newest generated build of a fresh job is created shortly before this instant.
_HISTORY_ANCHOR_MS: Final = WALL_EPOCH_MS
#: A job's ``createdAt``: a year before the anchor, older than any generated history.
_JOB_CREATED_MS: Final = WALL_EPOCH_MS - 365 * 86_400_000


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


class Store:
    """All data of the fake, generated reproducibly from `seed`."""

    def __init__(self, *, seed: int, clock: Clock, progress: ProgressEngine) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._clock = clock
        self._progress = progress
        self.projects: dict[str, dict[str, Job]] = {}
        self.services: dict[str, dict[str, Job]] = {}
        self._ids: set[str] = set()
        self._run_ids: set[str] = set()
        self._moves = 0
        self.logs = LogBook(seed)

    # ------------------------------------------------------------------ lookups

    def find_job(self, project_id: str, job_id: str) -> Job | None:
        """Return the job, or None when it (or its project) is unknown."""
        return self.projects.get(project_id, {}).get(job_id)

    def job(self, project_id: str, job_id: str) -> Job:
        """Return a registered job; KeyError (saying what to do) when unknown."""
        found = self.find_job(project_id, job_id)
        if found is None:
            raise KeyError(f"unknown job {project_id}/{job_id}: call add_job first")
        return found

    # ------------------------------------------------------------------ jobs

    def add_job(self, project_id: str, job_id: str, fields: Mapping[str, Any]) -> Job:
        """Register a job (and project) with its record and branches, or update its record."""
        jobs = self.projects.setdefault(project_id, {})
        job = jobs.get(job_id)
        if job is None:
            record: dict[str, Any] = {
                "id": job_id,
                "appId": job_id,
                "name": job_id,
                "tags": [],
                "projectId": project_id,
                "jobType": "manual",
                "createdAt": format_ms(_JOB_CREATED_MS),
                "disabledCI": False,
                "disabledCD": False,
                "suspended": False,
            }
            job = jobs[job_id] = Job(project_id, job_id, record)
            self._generate_branches(job)
        if fields:
            job.record.update(json.loads(json.dumps(dict(fields))))  # a copy, and JSON
        return job

    def add_service(self, project_id: str, service_id: str, fields: Mapping[str, Any]) -> Job:
        """Register a service (and project) with its record, or update its record."""
        self.projects.setdefault(project_id, {})
        services = self.services.setdefault(project_id, {})
        service = services.get(service_id)
        if service is None:
            record = {"id": service_id, "name": service_id, "projectId": project_id}
            service = services[service_id] = Job(project_id, service_id, record, kind="service")
        if fields:
            service.record.update(json.loads(json.dumps(dict(fields))))
        return service

    # ------------------------------------------------------------------ builds

    def add_builds(self, job: Job, builds: int | list[Build]) -> list[Build]:
        """Append generated (an int) or given builds after the job's existing ones."""
        if isinstance(builds, int):
            stored = self._generate_history(job, builds)
        else:
            stored = [self._checked_copy(job, build) for build in builds]
        for build in stored:
            job.builds.append(build)
            job.by_id[build["id"]] = build
            job.note_created(parse_ms(build.get("createdAt")))
        return stored

    def create_build(self, job: Job, fields: Mapping[str, Any]) -> Build:
        """Prepend a build created now; it progresses if it sits in a pipeline stage."""
        created_ms = max(wall_ms(self._clock), (job.newest_ms or 0) + 1)
        build_id = fields["id"] if "id" in fields else self._new_id()
        self._ids.add(build_id)
        build: Build = {
            "id": build_id,
            "branch": "main",
            "status": "QUEUED",
            "sha": self._new_sha(),
            "concluded": False,
            "createdAt": format_ms(created_ms),
        }
        status = fields.get("status", "QUEUED")
        if status in BUILD_FINAL:
            self.conclude_build(job, build, status)
        build.update(fields)
        job.builds.insert(0, build)
        job.by_id[build_id] = build
        job.note_created(parse_ms(build.get("createdAt")))
        if status in BUILD_PIPELINE and build.get("concluded") is not True:
            self.track_build(job, build)
        return build

    def track_build(self, job: Job, build: Build) -> None:
        """Move a build in a pipeline stage along it (a new one, or a historical one)."""
        key = build_key(job, build["id"])
        if self._progress.is_active(key):
            return

        def set_status(value: str) -> None:
            build["status"] = value
            self.logs.build_status(key, value, wall_ms(self._clock))

        def conclude(outcome: str, at: float) -> None:
            self.conclude_build(job, build, outcome, at=at)

        started_ms = max(wall_ms(self._clock), parse_ms(build.get("createdAt")) or 0)
        self.logs.track_build(key, build, started_ms)
        self._progress.track(
            key,
            kind="build",
            item_id=build["id"],
            pipeline=BUILD_PIPELINE,
            stage=BUILD_PIPELINE.index(build["status"]),
            set_status=set_status,
            conclude=conclude,
        )

    def conclude_build(
        self, job: Job, build: Build, status: str, *, at: float | None = None
    ) -> None:
        """Give `build` its final status with consistent concluded/success fields.

        `at` is the clock reading of the conclusion (default: now).
        """
        created_ms = parse_ms(build.get("createdAt")) or 0
        build["status"] = status
        build["concluded"] = True
        build["success"] = status == "SUCCESS"
        build["message"] = _MESSAGES.get(status, status.capitalize())
        # After createdAt even if createdAt was pushed into the future by ordering.
        now_ms = wall_ms(self._clock if at is None else (lambda: at))
        concluded_ms = max(now_ms, created_ms + 1)
        build["buildConcludedAt"] = round(concluded_ms / 1000, 3)
        if status == "SUCCESS":
            build["registry"] = {"uri": self._registry_uri(job, build["id"])}
        self.logs.build_status(build_key(job, build["id"]), status, concluded_ms)

    def _checked_copy(self, job: Job, build: Build) -> Build:
        if not isinstance(build, dict) or not isinstance(build.get("id"), str):
            raise ValueError(f"each build must be a dict with a string id, got {build!r}")
        if build["id"] in job.by_id:
            raise ValueError(f"each build needs a new string id, got {build.get('id')!r}")
        copied: Build = json.loads(json.dumps(build))  # also proves it is JSON
        self._ids.add(copied["id"])
        return copied

    def _new_id(self) -> str:
        while True:
            adjective, noun = self._rng.choice(_ADJECTIVES), self._rng.choice(_NOUNS)
            build_id = f"{adjective}-{noun}-{self._rng.randint(1000, 9999)}"
            if build_id not in self._ids:
                self._ids.add(build_id)
                return build_id

    def _new_sha(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"

    def _registry_uri(self, job: Job, build_id: str) -> str:
        return f"registry.northflank.com/{job.project_id}/{job.job_id}:{build_id}"

    def _generate_history(self, job: Job, count: int) -> list[Build]:
        if count < 0:
            raise ValueError("builds must be >= 0")
        rng = self._rng
        created_ms = job.oldest_ms if job.oldest_ms is not None else _HISTORY_ANCHOR_MS
        builds = []
        for _ in range(count):
            # Between 1 minute and 4 hours apart, so createdAt strictly decreases.
            created_ms -= rng.randint(60_000, 4 * 3_600_000)
            builds.append(self._historic_build(job, created_ms))
        return builds

    def _historic_build(self, job: Job, created_ms: int) -> Build:
        rng = self._rng
        status = rng.choices(list(_HISTORY_WEIGHTS), weights=list(_HISTORY_WEIGHTS.values()))[0]
        build: Build = {"id": self._new_id()}
        if rng.random() < 0.95:
            build["branch"] = rng.choice(_BRANCHES)
        pull_request = rng.random()
        if pull_request < 0.25:
            build["pullRequestId"] = rng.randint(1, 2500)
        elif pull_request < 0.5:
            build["pullRequestId"] = None
        build["status"] = status
        if rng.random() < 0.97:
            build["sha"] = self._new_sha()
        if status == "SUCCESS":
            build["registry"] = {"uri": self._registry_uri(job, build["id"])}
        concluded = status in BUILD_FINAL
        build["concluded"] = concluded
        build["createdAt"] = format_ms(created_ms)
        if concluded:
            build["success"] = status == "SUCCESS"
            build["message"] = _MESSAGES[status] if rng.random() < 0.8 else None
            duration_ms = rng.randint(20_000, 900_000)
            build["buildConcludedAt"] = round((created_ms + duration_ms) / 1000, 3)
        elif rng.random() < 0.5:
            build["message"] = None
        return build

    # ------------------------------------------------------------------ runs

    def _side_rng(self, job: Job, purpose: str) -> random.Random:
        """A generator of its own per job and purpose: runs and branches never shift
        the sequence that builds are generated from."""
        return random.Random(f"{self._seed}/{purpose}/{job.project_id}/{job.job_id}")

    def _new_run_id(self, rng: random.Random) -> str:
        while True:
            run_id = f"run-{rng.getrandbits(48):012x}"
            if run_id not in self._run_ids:
                self._run_ids.add(run_id)
                return run_id

    def add_run_history(self, job: Job, count: int) -> list[Run]:
        """Append `count` generated concluded runs, older than the job's existing ones."""
        if count < 0:
            raise ValueError("runs must be >= 0")
        rng = self._side_rng(job, f"runs{len(job.runs)}")
        started_ms = min(
            [parse_ms(run.get("startedAt")) or _HISTORY_ANCHOR_MS for run in job.runs]
            + [_HISTORY_ANCHOR_MS]
        )
        stored = []
        for _ in range(count):
            started_ms -= rng.randint(60_000, 12 * 3_600_000)
            succeeded = rng.random() < 0.8
            run_id = self._new_run_id(rng)
            run: Run = {
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
            job.runs.append(run)
            job.runs_by_id[run_id] = run
            stored.append(run)
        return stored

    def create_run(self, job: Job, fields: Mapping[str, Any], deployment: Any = None) -> Run:
        """Prepend a run started now; it progresses while RUNNING and not concluded."""
        rng = self._side_rng(job, f"run{len(job.runs)}")
        run_id = fields["id"] if "id" in fields else self._new_run_id(rng)
        self._run_ids.add(run_id)
        newest = max([parse_ms(r.get("startedAt")) or 0 for r in job.runs[:1]] + [0])
        run: Run = {
            "id": run_id,
            "runName": f"{job.job_id}-{run_id[-5:]}",
            "status": "RUNNING",
            "concluded": False,
            "active": 1,
            "succeeded": 0,
            "failed": 0,
            "backoffLimit": 0,
            "completions": 1,
            "startedAt": format_ms(max(wall_ms(self._clock), newest + 1)),
        }
        status = fields.get("status", "RUNNING")
        if status in RUN_FINAL:
            self.conclude_run(run, status)
        run.update(json.loads(json.dumps(dict(fields))))
        job.runs.insert(0, run)
        job.runs_by_id[run_id] = run
        if deployment is not None:
            job.run_deployments[run_id] = json.loads(json.dumps(deployment))
        if status == "RUNNING" and run.get("concluded") is not True:

            def set_status(value: str) -> None:
                run["status"] = value

            def conclude(outcome: str, at: float) -> None:
                self.conclude_run(run, outcome, job)

            started_ms = parse_ms(run.get("startedAt")) or wall_ms(self._clock)
            self.logs.track_run(run_key(job, run_id), run, started_ms)
            self._progress.track(
                run_key(job, run_id),
                kind="run",
                item_id=run_id,
                pipeline=RUN_PIPELINE,
                stage=0,
                set_status=set_status,
                conclude=conclude,
            )
        return run

    def conclude_run(self, run: Run, status: str, job: Job | None = None) -> None:
        """Give `run` its final status with consistent counters and ``concludedAt``.

        With its `job`, a live run's log is concluded too."""
        started_ms = parse_ms(run.get("startedAt")) or 0
        run["status"] = status
        run["concluded"] = True
        run["active"] = 0
        run["succeeded"] = int(status == "SUCCESS")
        run["failed"] = int(status != "SUCCESS")
        concluded_ms = max(wall_ms(self._clock), started_ms + 1)
        run["concludedAt"] = format_ms(concluded_ms)
        if job is not None:
            self.logs.run_concluded(run_key(job, run["id"]), status, concluded_ms)

    # ------------------------------------------------------------------ branches

    def _generate_branches(self, job: Job) -> None:
        rng = self._side_rng(job, "branches")
        for name in _JOB_BRANCHES:
            sha = f"{rng.getrandbits(160):040x}"
            self.set_branch(job, name, sha, date_ms=_HISTORY_ANCHOR_MS)

    def set_branch(
        self, job: Job, name: str, sha: str | None = None, *, date_ms: int | None = None
    ) -> Branch:
        """Add branch `name`, or move it, to commit `sha` (a new random commit when None)."""
        if sha is None:
            self._moves += 1
            sha = f"{self._side_rng(job, f'{name}/{self._moves}').getrandbits(160):040x}"
        date = format_ms(wall_ms(self._clock) if date_ms is None else date_ms)
        commit = {"sha": sha, "message": f"Update {name}", "date": date}
        branch = job.branches.get(name)
        if branch is None:
            branch = job.branches[name] = {"id": name, "name": name, "commit": commit}
        else:
            branch["commit"] = commit
        return branch


def build_key(job: Job, build_id: str) -> tuple[str, str, str, str]:
    """The progress engine's key of a build."""
    owner = job.job_id if job.kind == "job" else f"{job.kind}/{job.job_id}"
    return ("build", job.project_id, owner, build_id)


def run_key(job: Job, run_id: str) -> tuple[str, str, str, str]:
    """The progress engine's key of a run."""
    return ("run", job.project_id, job.job_id, run_id)
