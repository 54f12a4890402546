"""The fake's data, as `FakeNorthflank` shows it: jobs, services, builds, runs, branches.

`DataFace` is the part of the face that registers and reads the store's records (the live
objects the fake serves), applying time-based progress before handing them out.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ._records import Branch, Build, Run, build_key, run_key
from ._rooms import Rooms

__all__ = ["DataFace"]

_HEX: Final = frozenset("0123456789abcdefABCDEF")


class DataFace(Rooms):
    """`FakeNorthflank`'s data methods: register and read jobs, services and their items."""

    def add_job(
        self,
        project_id: str,
        job_id: str,
        builds: int | list[Build] = 0,
        *,
        runs: int = 0,
        **fields: Any,
    ) -> list[Build]:
        """Register a job (and its project), with builds appended after existing ones.

        An int generates that many realistic historical builds, newest first and
        reproducible from the constructor's `seed`; a list stores (deep copies of) the
        given builds as they are, newest first. Generated or given builds go after the
        job's existing ones (they are older). Historical builds never progress. Returns
        the builds stored by this call (the live objects the fake serves).

        A new job gets a record (name `job_id`, jobType ``manual``, tags ``[]``, served
        by the jobs endpoints; `fields` override or add its wire fields, e.g.
        ``name="Nightly"``), the branches main, develop, release/2.4 and fix/flaky-ci
        with stable head commits (`branch_head`), and `runs` generated concluded runs.
        """
        if isinstance(builds, bool) or not isinstance(builds, int | list):
            raise TypeError("builds must be an int or a list of builds")
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 0:
            raise ValueError("runs must be an int >= 0")
        if isinstance(builds, int) and builds < 0:
            raise ValueError("builds must be >= 0")
        job = self._store.add_job(project_id, job_id, fields)
        stored = self._store.add_builds(job, builds)
        self._store.add_run_history(job, runs)
        return stored

    def add_service(
        self, project_id: str, service_id: str, builds: int | list[Build] = 0, **fields: Any
    ) -> list[Build]:
        """Register a service (and its project), its builds appended after existing ones.

        Its builds are served under ``/v1/projects/{p}/services/{s}/build`` (and the team
        form), with their logs at ``.../build-logs``, exactly like a job's; ``builds`` works
        as in `add_job`. A started service build takes ``sha``, ``branch`` or
        ``pullRequestId`` (not both of the last two: 400). Returns the builds stored.
        """
        if isinstance(builds, bool) or not isinstance(builds, int | list):
            raise TypeError("builds must be an int or a list of builds")
        if isinstance(builds, int) and builds < 0:
            raise ValueError("builds must be >= 0")
        service = self._store.add_service(project_id, service_id, fields)
        return self._store.add_builds(service, builds)

    def service_builds(self, project_id: str, service_id: str) -> list[Build]:
        """Return the builds of a registered service, newest first (the live objects)."""
        service = self._store.services.get(project_id, {}).get(service_id)
        if service is None:
            raise KeyError(f"unknown service {project_id}/{service_id}: call add_service first")
        for build in service.builds:
            self._progress.advance(build_key(service, build["id"]), poll=False)
        return list(service.builds)

    def add_build(self, project_id: str, job_id: str, **fields: Any) -> Build:
        """Push a new build at the head of a registered job, as if it was started now.

        It gets a fresh unique id, ``createdAt`` now (later than any other build of the
        job) and status QUEUED; `fields` override anything. A build left in a pipeline
        stage (QUEUED..UPLOADING) progresses like a started one. Returns the live build.
        """
        job = self._store.job(project_id, job_id)
        if "id" in fields and (not isinstance(fields["id"], str) or fields["id"] in job.by_id):
            raise ValueError(f"build id {fields.get('id')!r} is not a new string id")
        return self._store.create_build(job, fields)

    def builds(self, project_id: str, job_id: str) -> list[Build]:
        """Return the builds of a registered job, newest first.

        Time-based progress is applied first. The dicts are the live objects the fake
        serves: changing them changes its answers. Raises KeyError for an unknown job.
        """
        job = self._store.job(project_id, job_id)
        for build in job.builds:
            self._progress.advance(build_key(job, build["id"]), poll=False)
        return list(job.builds)

    def add_run(
        self, project_id: str, job_id: str, *, deployment: Any = None, **fields: Any
    ) -> Run:
        """Push a new run at the head of a registered job, as if it was started now.

        It gets a fresh unique id and ``runName``, ``startedAt`` now and status RUNNING;
        `fields` override anything (``status="SUCCESS"`` or ``"FAILED"`` makes it
        concluded). A RUNNING run progresses like a started one. `deployment` is kept as
        if sent in the start body (see `run_deployment`). Returns the live run.
        """
        job = self._store.job(project_id, job_id)
        if "id" in fields and (not isinstance(fields["id"], str) or fields["id"] in job.runs_by_id):
            raise ValueError(f"run id {fields.get('id')!r} is not a new string id")
        json.dumps(fields)  # refuse what the fake could not serve, before storing anything
        return self._store.create_run(job, fields, deployment)

    def runs(self, project_id: str, job_id: str) -> list[Run]:
        """Return the runs of a registered job, newest first (live dicts, progress applied).

        Raises KeyError for an unknown job.
        """
        job = self._store.job(project_id, job_id)
        for run in job.runs:
            self._progress.advance(run_key(job, run["id"]), poll=False)
        return list(job.runs)

    def run_deployment(self, project_id: str, job_id: str, run_id: str) -> Any:
        """Return the ``deployment`` a run was started with, or None.

        It is a copy of the start body's ``deployment`` (e.g. ``{"internal": {"buildId":
        ...}}``), so tests can check which build or commit a run was started from.
        """
        job = self._store.job(project_id, job_id)
        if run_id not in job.runs_by_id:
            raise KeyError(f"unknown run {run_id!r} of job {project_id}/{job_id}")
        return job.run_deployments.get(run_id)

    def job(self, project_id: str, job_id: str) -> dict[str, Any]:
        """Return the live record of a registered job (as ``GET {job}`` serves it)."""
        return self._store.job(project_id, job_id).record

    def branches(self, project_id: str, job_id: str) -> list[Branch]:
        """Return the branches of a registered job (live dicts, in the order served)."""
        return list(self._store.job(project_id, job_id).branches.values())

    def branch_head(self, project_id: str, job_id: str, branch: str = "main") -> str:
        """Return the sha of the head commit of a job's branch (KeyError when unknown)."""
        branches = self._store.job(project_id, job_id).branches
        if branch not in branches:
            raise KeyError(f"unknown branch {branch!r} of job {project_id}/{job_id}")
        sha: str = branches[branch]["commit"]["sha"]
        return sha

    def add_branch(self, project_id: str, job_id: str, name: str, sha: str | None = None) -> Branch:
        """Add branch `name` to a job, or move it, with head commit `sha`.

        Without `sha` the branch moves to a new (reproducible) commit. Returns the live
        branch. Raises ValueError for an empty name or a sha that is not 40 hex digits.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("a branch name must be a non-empty string")
        if sha is not None and not (
            isinstance(sha, str) and len(sha) == 40 and all(c in _HEX for c in sha)
        ):
            raise ValueError(f"sha must be 40 hex characters, got {sha!r}")
        return self._store.set_branch(self._store.job(project_id, job_id), name, sha)
