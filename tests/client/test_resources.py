"""Runs, jobs and branches, scoped and flat, in both route forms, against the fake API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from northflank_async import (
    ConflictError,
    JobType,
    NorthflankClient,
    NotFoundError,
    RunStatus,
    WaitTimeoutError,
)
from northflank_async.testing import FakeNorthflank

from .._virtual import on_virtual_clock, virtual_client

P, J, TEAM = "proj", "nightly", "acme"
ROUTES = pytest.mark.parametrize("team", [None, TEAM], ids=["project-route", "team-route"])


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped fixture's fake, with this module's data."""
    server = northflank_fake
    _add_jobs(server)
    return server


def _add_jobs(fake: FakeNorthflank) -> None:
    fake.add_job(P, J, builds=130, runs=120, name="Nightly")
    fake.add_job(P, "weekly", builds=2)


@asynccontextmanager
async def served(team: str | None) -> AsyncIterator[tuple[FakeNorthflank, NorthflankClient]]:
    """The ``fake`` and ``nf`` fixtures' pair on the virtual clock (tests/_virtual.py), for the
    tests that poll: polls are at least MIN_POLL_INTERVAL (1 s) apart and take no real time."""
    async with FakeNorthflank(rate_limit=None) as fake:
        _add_jobs(fake)
        async with virtual_client(fake, backoff_base=0, team_id=team) as nf:
            yield fake, nf


@pytest.fixture(params=[None, TEAM], ids=["project-route", "team-route"])
async def nf(
    request: pytest.FixtureRequest, fake: FakeNorthflank
) -> AsyncIterator[NorthflankClient]:
    """A client on either route form: the team one through the client's default team."""
    async with NorthflankClient(
        fake.token, base_url=fake.base_url, backoff_base=0, team_id=request.param
    ) as client:
        yield client


def route(nf: NorthflankClient, tail: str) -> str:
    team = f"/teams/{nf.team_id}" if nf.team_id else ""
    return f"/v1{team}/projects/{P}{tail}"


class TestRuns:
    async def test_list_walks_every_page(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """120 runs over 2 pages, in the fake's order, scoped and flat alike."""
        runs = await nf.job(P, J).runs.list().collect()
        assert [r.id for r in runs] == [r["id"] for r in fake.runs(P, J)]
        flat = await nf.jobs.runs.list(project_id=P, job_id=J, per_page=50).collect()
        assert [r.id for r in flat] == [r.id for r in runs]
        assert all(r.status in set(RunStatus) for r in runs)
        assert fake.requests[0].path == route(nf, f"/jobs/{J}/runs")
        assert fake.request_count == 2 + 3

    @ROUTES
    @on_virtual_clock
    async def test_start_runs_exactly_the_build_named(self, team: str | None) -> None:
        """build_id= and sha= become deployment.internal; the run then concludes."""
        async with served(team) as (fake, nf):
            job = nf.job(P, J)
            build = fake.builds(P, J)[0]
            started = await job.runs.start(build_id=build["id"])
            assert fake.run_deployment(P, J, started.id) == {"internal": {"buildId": build["id"]}}
            assert started.run_name
            by_sha = await job.runs.start(sha=build["sha"], runtime_environment={"A": "1"})
            assert fake.run_deployment(P, J, by_sha.id) == {"internal": {"buildSHA": build["sha"]}}
            assert fake.requests[-1].body["runtimeEnvironment"] == {"A": "1"}
            final = await job.runs.wait(started.id, poll_interval=1)
            assert final.is_concluded and final.status == RunStatus.SUCCESS

    @ROUTES
    @on_virtual_clock
    async def test_watch_get_and_abort(self, team: str | None) -> None:
        """watch yields each status once; abort ends a running run; a second abort is 409."""
        async with served(team) as (_, nf):
            job = nf.job(P, J)
            started = await job.runs.start()
            assert (await job.runs.get(started.id)).status == RunStatus.RUNNING
            await job.runs.abort(started.id)
            with pytest.raises(ConflictError):
                await job.runs.abort(started.id)
            states = [run async for run in job.runs.watch(started.id, poll_interval=1)]
            assert len(states) == 1 and states[0].is_concluded

    @ROUTES
    @on_virtual_clock
    async def test_wait_timeout_carries_the_last_run(self, team: str | None) -> None:
        """A run that cannot conclude in time: WaitTimeoutError with the last state."""
        async with served(team) as (fake, nf):
            fake.configure_runs(step=3600.0)  # an hour a stage: it stays RUNNING
            job = nf.job(P, J)
            started = await job.runs.start()
            with pytest.raises(WaitTimeoutError) as info:
                await job.runs.wait(started.id, poll_interval=1, timeout=20.0)
        assert info.value.last is not None and info.value.last.id == started.id
        assert info.value.build is None

    async def test_start_refuses_conflicting_arguments(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """build_id and sha together, or a bad sha: ValueError, nothing sent."""
        with pytest.raises(ValueError, match="not both"):
            await nf.job(P, J).runs.start(build_id="b", sha="0" * 40)
        with pytest.raises(ValueError, match="sha"):
            await nf.job(P, J).runs.start(sha="abc")
        assert fake.request_count == 0


class TestJobs:
    async def test_list_and_get(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """The project's jobs, and one job with its details."""
        jobs = await nf.jobs.list(P).collect()
        assert sorted(j.id for j in jobs) == ["nightly", "weekly"]
        job = await nf.jobs.get(P, J)
        assert (job.id, job.name, job.job_type) == (J, "Nightly", JobType.MANUAL)
        assert (await nf.job(P, J).get()).id == J
        assert fake.requests[0].path == route(nf, "/jobs")

    async def test_unknown_job_is_not_found(self, nf: NorthflankClient) -> None:
        """A job that does not exist: NotFoundError."""
        with pytest.raises(NotFoundError):
            await nf.jobs.get(P, "missing")


class TestBranches:
    async def test_list(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """Every branch, with its head commit."""
        branches = await nf.job(P, J).branches.list().collect()
        heads = {b.name: b.commit.sha if b.commit else None for b in branches}
        assert heads["main"] == fake.branch_head(P, J, "main")
        assert fake.requests[0].path == route(nf, f"/jobs/{J}/branches")

    async def test_start_from_a_branch_costs_one_lookup(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """start(branch=) sends the branch head's sha: one branches request, one start."""
        fake.add_branch(P, J, "feature/x")
        build = await nf.job(P, J).builds.start(branch="feature/x")
        assert build.sha == fake.branch_head(P, J, "feature/x")
        assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests] == [
            ("GET", "branches"),
            ("POST", "build"),
        ]
        assert fake.requests[-1].body == {"sha": build.sha}

    async def test_unknown_branch_is_refused_before_a_start(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """No branch of that name: ValueError, and no build is started."""
        with pytest.raises(ValueError, match="no branch named 'nope'"):
            await nf.job(P, J).builds.start(branch="nope")
        assert [r.method for r in fake.requests] == ["GET"]


class TestScopedHandles:
    async def test_bad_ids_are_refused_when_the_handle_is_made(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """nf.job('..', ...) raises at once, before any request."""
        with pytest.raises(ValueError, match="project_id"):
            nf.job("..", J)
        with pytest.raises(ValueError, match="job_id"):
            nf.job(P, ".")
        assert fake.request_count == 0

    async def test_a_calls_team_wins_over_the_clients(self, fake: FakeNorthflank) -> None:
        """team_id on the call overrides the client's default team."""
        async with NorthflankClient(fake.token, base_url=fake.base_url, team_id="t1") as nf:
            await nf.job(P, J, team_id="t2").builds.list(limit=1).collect()
            await nf.jobs.builds.list(project_id=P, job_id=J, limit=1).collect()
        assert [r.path.split("/")[3] for r in fake.requests] == ["t2", "t1"]
        assert repr(nf.job(P, J)) == f"<JobHandle project_id={P!r} job_id={J!r} team_id='t1'>"


class TestLostAnswerAbort:
    async def test_an_abort_whose_answer_was_lost_is_done(self, fake: FakeNorthflank) -> None:
        """The DELETE aborts the build but its answer is dropped: the retry's 409 means done."""
        async with NorthflankClient(fake.token, base_url=fake.base_url, backoff_base=0) as nf:
            build = await nf.job(P, J).builds.start()
            # "drop" too: our second attempt is lost as well; the third meets the 409.
            fake.script("lost_answer", "drop")
            await nf.job(P, J).builds.abort(build.id)
            assert (await nf.job(P, J).builds.get(build.id)).status == "ABORTED"
        assert [r.status for r in fake.requests if r.method == "DELETE"] == [None, None, 409]
