"""The store: projects, jobs (services), builds, runs and branches, kept consistent.

Everything is kept as JSON objects in the API's wire format (`._records`), newest first. The
store owns the data and its consistency (ids unique, ``createdAt`` ordered, concluded items
with their concluded fields); `._generate` makes the history it is seeded with. It hands
started items to the progress engine, which moves them along through the callbacks given
here, and tells the log book (`._logs`) where each live item stands.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._clock import WALL_EPOCH_MS, Clock, format_ms, parse_ms, wall_ms
from ._generate import HISTORY_ANCHOR_MS, DataGenerator
from ._integrations import Integrations
from ._logs import LogBook
from ._progress import ProgressEngine
from ._records import (
    BUILD_FINAL,
    BUILD_MESSAGES,
    BUILD_PIPELINE,
    RUN_FINAL,
    RUN_PIPELINE,
    Branch,
    Build,
    Job,
    Run,
    build_key,
    registry_uri,
    run_key,
)

__all__ = ["Store"]

#: A job's ``createdAt``: a year before the anchor, older than any generated history.
_JOB_CREATED_MS: Final = WALL_EPOCH_MS - 365 * 86_400_000
#: The notification event of each final status of a build (the others: build:failure).
_BUILD_EVENTS: Final = {"SUCCESS": "build:success", "ABORTED": "build:abort"}

Listener = Callable[[str, Job, dict[str, Any]], None]
"""Told each event of a live build or run: its type (``build:start``, ...), owner and item."""


class Store:
    """All data of the fake, generated reproducibly from `seed`."""

    def __init__(self, *, seed: int, clock: Clock, progress: ProgressEngine) -> None:
        self._generate = DataGenerator(seed)
        self._clock = clock
        self._progress = progress
        self.projects: dict[str, dict[str, Job]] = {}
        self.services: dict[str, dict[str, Job]] = {}
        self.logs = LogBook(seed)
        self.integrations = Integrations(clock)
        self.listener: Listener | None = None  # the notifier, once the fake has one

    def _tell(self, event_type: str, job: Job, item: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(event_type, job, item)

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
            for name, sha in self._generate.job_branches(job):
                self.set_branch(job, name, sha, date_ms=HISTORY_ANCHOR_MS)
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
            stored = self._generate.build_history(job, builds)
        else:
            stored = [self._checked_copy(job, build) for build in builds]
        for build in stored:
            job.builds.append(build)
            job.by_id[build["id"]] = build
            job.note_created(parse_ms(build.get("createdAt")))
        return stored

    def seeded_build_id(self) -> str:
        """A new build id drawn from the seed (as the history's are), not from entropy."""
        return self._generate.new_id()

    def create_build(self, job: Job, fields: Mapping[str, Any]) -> Build:
        """Prepend a build created now; it progresses if it sits in a pipeline stage."""
        created_ms = max(wall_ms(self._clock), (job.newest_ms or 0) + 1)
        build_id = fields["id"] if "id" in fields else self._generate.started_id()
        self._generate.ids.add(build_id)
        build: Build = {
            "id": build_id,
            "branch": "main",
            "status": "QUEUED",
            "sha": self._generate.new_sha(),
            "concluded": False,
            "createdAt": format_ms(created_ms),
        }
        status = fields.get("status", "QUEUED")
        if status in BUILD_FINAL:
            self.conclude_build(job, build, status, tell=False)
        build.update(fields)
        job.builds.insert(0, build)
        job.by_id[build_id] = build
        job.note_created(parse_ms(build.get("createdAt")))
        self._tell("build:start", job, build)
        if status in BUILD_FINAL:
            self._tell(_BUILD_EVENTS.get(status, "build:failure"), job, build)
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
        self, job: Job, build: Build, status: str, *, at: float | None = None, tell: bool = True
    ) -> None:
        """Give `build` its final status with consistent concluded/success fields.

        `at` is the clock reading of the conclusion (default: now); `tell` sends its event.
        """
        created_ms = parse_ms(build.get("createdAt")) or 0
        build["status"] = status
        build["concluded"] = True
        build["success"] = status == "SUCCESS"
        build["message"] = BUILD_MESSAGES.get(status, status.capitalize())
        # After createdAt even if createdAt was pushed into the future by ordering.
        now_ms = wall_ms(self._clock if at is None else (lambda: at))
        concluded_ms = max(now_ms, created_ms + 1)
        build["buildConcludedAt"] = round(concluded_ms / 1000, 3)
        if status == "SUCCESS":
            build["registry"] = {"uri": registry_uri(job, build["id"])}
        self.logs.build_status(build_key(job, build["id"]), status, concluded_ms)
        if tell:
            self._tell(_BUILD_EVENTS.get(status, "build:failure"), job, build)

    def _checked_copy(self, job: Job, build: Build) -> Build:
        if not isinstance(build, dict) or not isinstance(build.get("id"), str):
            raise ValueError(f"each build must be a dict with a string id, got {build!r}")
        if build["id"] in job.by_id:
            raise ValueError(f"each build needs a new string id, got {build.get('id')!r}")
        copied: Build = json.loads(json.dumps(build))  # also proves it is JSON
        self._generate.ids.add(copied["id"])
        return copied

    # ------------------------------------------------------------------ runs

    def add_run_history(self, job: Job, count: int) -> list[Run]:
        """Append `count` generated concluded runs, older than the job's existing ones."""
        started_ms = min(
            [parse_ms(run.get("startedAt")) or HISTORY_ANCHOR_MS for run in job.runs]
            + [HISTORY_ANCHOR_MS]
        )
        stored = self._generate.run_history(job, count, started_ms)
        for run in stored:
            job.runs.append(run)
            job.runs_by_id[run["id"]] = run
        return stored

    def create_run(self, job: Job, fields: Mapping[str, Any], deployment: Any = None) -> Run:
        """Prepend a run started now; it progresses while RUNNING and not concluded."""
        run_id = fields["id"] if "id" in fields else self._generate.started_run_id()
        self._generate.run_ids.add(run_id)
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
        self._tell("job-run:start", job, run)
        if status in RUN_FINAL:
            self._tell(_run_event(status), job, run)
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

    def conclude_run(
        self, run: Run, status: str, job: Job | None = None, *, aborted: bool = False
    ) -> None:
        """Give `run` its final status with consistent counters and ``concludedAt``.

        With its `job`, a live run's log is concluded too and its event sent
        (``job-run:abort`` when `aborted`)."""
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
            self._tell("job-run:abort" if aborted else _run_event(status), job, run)

    # ------------------------------------------------------------------ branches

    def set_branch(
        self, job: Job, name: str, sha: str | None = None, *, date_ms: int | None = None
    ) -> Branch:
        """Add branch `name`, or move it, to commit `sha` (a new random commit when None)."""
        if sha is None:
            sha = self._generate.branch_sha(job, name)
        date = format_ms(wall_ms(self._clock) if date_ms is None else date_ms)
        commit = {"sha": sha, "message": f"Update {name}", "date": date}
        branch = job.branches.get(name)
        if branch is None:
            branch = job.branches[name] = {"id": name, "name": name, "commit": commit}
        else:
            branch["commit"] = commit
        return branch


def _run_event(status: str) -> str:
    return "job-run:success" if status == "SUCCESS" else "job-run:failure"
