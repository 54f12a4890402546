"""Service builds through the same definitions as job builds, in both route forms, on the fake.

Also: the log filter as one value (`LogFilter`), and the derived forms (`_api/derive.py`)
refusing a declaration that differs from its definition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from northflank_async import (
    BuildStatus,
    ConflictError,
    JobBuild,
    LogFilter,
    NorthflankClient,
    NotFoundError,
    ServiceBuilds,
    ServiceHandle,
)
from northflank_async.testing import FakeNorthflank

from .._virtual import on_virtual_clock, virtual_client

P, S, J, TEAM = "proj", "website", "nightly", "acme"
ROUTES = pytest.mark.parametrize("team", [None, TEAM], ids=["project-route", "team-route"])
EARLY = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped fixture's fake, with this module's data."""
    server = northflank_fake
    server.add_service(P, S, builds=130)
    server.add_job(P, J, builds=3)
    return server


@pytest.fixture(params=[None, TEAM], ids=["project-route", "team-route"])
async def nf(
    request: pytest.FixtureRequest, fake: FakeNorthflank
) -> AsyncIterator[NorthflankClient]:
    async with NorthflankClient(
        fake.token, base_url=fake.base_url, backoff_base=0, team_id=request.param
    ) as client:
        yield client


def route(team: str | None, tail: str) -> str:
    return f"/v1{f'/teams/{team}' if team else ''}/projects/{P}/services/{S}{tail}"


class TestServiceBuilds:
    async def test_list_walks_every_page(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """130 builds over 2 pages of 100, in the fake's order, under /services/{id}/build."""
        service = nf.service(P, S)
        assert isinstance(service, ServiceHandle) and isinstance(service.builds, ServiceBuilds)
        builds = await service.builds.list().collect()
        assert [b.id for b in builds] == [b["id"] for b in fake.service_builds(P, S)]
        assert len(builds) == 130
        assert [r.path for r in fake.requests] == [route(nf.team_id, "/build")] * 2

    async def test_get_and_unknown(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """One build by id; an unknown service is a NotFoundError."""
        wanted = fake.service_builds(P, S)[7]
        build = await nf.service(P, S).builds.get(wanted["id"])
        assert (build.id, build.sha) == (wanted["id"], wanted["sha"])
        assert fake.requests[-1].path == route(nf.team_id, f"/build/{wanted['id']}")
        with pytest.raises(NotFoundError):
            await nf.service(P, "nope").builds.get(wanted["id"])

    async def test_start_with_a_branch_or_a_pull_request(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """The branch (or pull request) travels in the body as given: no branch lookup."""
        builds = nf.service(P, S).builds
        started = await builds.start(branch="develop", overrides={"buildArguments": {"A": "1"}})
        assert fake.requests[-1].body == {
            "branch": "develop",
            "overrides": {"buildArguments": {"A": "1"}},
        }
        assert fake.request_count == 1
        assert started.branch == "develop" and started.id == fake.service_builds(P, S)[0]["id"]
        pull = await builds.start(pull_request_id=42, sha="a" * 40)
        assert fake.requests[-1].body == {"sha": "a" * 40, "pullRequestId": 42}
        assert pull.pull_request_id == 42

    async def test_branch_and_pull_request_refused_before_any_request(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        builds = nf.service(P, S).builds
        with pytest.raises(ValueError, match="branch or pull_request_id"):
            await builds.start(branch="main", pull_request_id=7)
        with pytest.raises(ValueError, match="pull_request_id"):
            await builds.start(pull_request_id=True)
        with pytest.raises(ValueError, match="sha"):
            await builds.start(sha="abc")
        assert fake.request_count == 0

    async def test_abort(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """A running build aborts; aborting a concluded one is a ConflictError."""
        builds = nf.service(P, S).builds
        started = await builds.start(branch="main")
        await builds.abort(started.id)
        assert fake.requests[-1].method == "DELETE"
        assert fake.requests[-1].path == route(nf.team_id, f"/build/{started.id}")
        assert (await builds.get(started.id)).status == BuildStatus.ABORTED
        with pytest.raises(ConflictError):
            await builds.abort(started.id)

    @ROUTES
    @on_virtual_clock
    async def test_wait_for_a_started_build(self, team: str | None) -> None:
        """A started service build walks the pipeline and concludes; wait() returns it."""
        async with FakeNorthflank(rate_limit=None) as fake:
            fake.add_service(P, S, builds=2)
            async with virtual_client(fake, backoff_base=0, team_id=team) as nf:
                builds = nf.service(P, S).builds
                started = await builds.start(branch="main")
                done = await builds.wait(started.id, poll_interval=1)
        assert done.id == started.id and done.is_concluded
        assert done.status == fake.service_builds(P, S)[0]["status"]
        assert {r.path for r in fake.requests if r.method == "GET"} <= {
            route(team, f"/build/{started.id}"),
            route(team, "/build"),
        }

    @ROUTES
    @on_virtual_clock
    async def test_a_monitor_of_one_service_reports_a_new_builds_outcome_once(
        self, team: str | None
    ) -> None:
        """watch_service: a build started after the first poll is created, then concluded,
        each once, and its events name the service."""
        async with FakeNorthflank(rate_limit=None) as fake:
            fake.add_service(P, S, builds=3)
            fake.configure_builds(step=5.0)
            async with virtual_client(fake, backoff_base=0, team_id=team) as nf:
                async with nf.monitor(budget_per_hour=3600, floor=1) as monitor:
                    monitor.watch_service(P, S)
                    await monitor.ready()
                    started = await nf.service(P, S).builds.start(branch="main")
                    events = []
                    async for event in monitor:
                        events.append(event)
                        if event.kind == "concluded":
                            break
                # The outcomes() shortcut: the same monitor for one service.
                second = await nf.service(P, S).builds.start(branch="main")
                outcomes = nf.service(P, S).builds.outcomes(since=started.id)
                seen = [build.id async for build in _first(outcomes, 1)]
        ours = [e for e in events if e.build.id == started.id]
        assert ours[0].kind == "created" and ours[-1].kind == "concluded"
        assert [e.kind for e in ours].count("concluded") == 1
        assert all(e.service_id == S and e.job_id is None for e in events)
        assert all(e.owner_kind == "service" and e.owner_id == S for e in events)
        assert ours[-1].build.is_concluded
        assert seen == [second.id]  # built after `since`, concluded, yielded once

    async def test_logs_with_a_filter(self, fake: FakeNorthflank, nf: NorthflankClient) -> None:
        """Logs at /services/{id}/build-logs; a LogFilter and its keywords send the same query."""
        build_id = next(b["id"] for b in fake.service_builds(P, S) if b["status"] == "SUCCESS")
        builds = nf.service(P, S).builds
        lines = [line async for line in builds.logs(build_id, start=EARLY)]
        assert lines
        assert fake.requests[-1].path == route(nf.team_id, "/build-logs")
        assert fake.requests[-1].query["buildId"] == build_id
        word = lines[0].text.split()[0]
        by_value = [
            line.text
            async for line in builds.logs(
                build_id, start=EARLY, filter=LogFilter(text_includes=word)
            )
        ]
        value_query = fake.requests[-1].query
        by_keyword = [
            line.text async for line in builds.logs(build_id, start=EARLY, text_includes=word)
        ]
        assert fake.requests[-1].query == value_query
        assert by_value == by_keyword == [line.text for line in lines if word in line.text]

    def test_bad_ids_refused_at_the_handle(self, nf: NorthflankClient) -> None:
        with pytest.raises(ValueError, match="service_id"):
            nf.service(P, "..")
        assert repr(nf.service(P, S)).startswith(f"<ServiceHandle project_id='{P}' service_id=")


class TestLogFilter:
    def test_checked_when_made(self) -> None:
        with pytest.raises(ValueError, match="at most one"):
            LogFilter(text_includes="a", regex_includes="b")
        with pytest.raises(ValueError, match="container"):
            LogFilter(container="")

    async def test_filter_and_keywords_not_both(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """filter= with a filter keyword is a ValueError, in every form, before any request."""
        both = {"filter": LogFilter(container="main"), "text_includes": "x"}
        with pytest.raises(ValueError, match="not both"):
            nf.job(P, J).builds.logs("b", **both)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not both"):
            nf.jobs.runs.tail_logs(project_id=P, job_id=J, run_id="r", **both)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not both"):
            nf.service(P, S).builds.tail_logs("b", **both)  # type: ignore[arg-type]
        assert fake.request_count == 0


class TestDerivedForms:
    async def test_flat_job_form_with_keywords(
        self, fake: FakeNorthflank, nf: NorthflankClient
    ) -> None:
        """The flat form takes its ids by keyword, the item id too, and refuses positionals."""
        wanted = fake.builds(P, J)[1]["id"]
        build = await nf.jobs.builds.get(project_id=P, job_id=J, build_id=wanted)
        assert build.id == wanted
        assert (await nf.job(P, J).builds.get(build_id=wanted)).id == wanted
        with pytest.raises(TypeError, match="keyword"):
            await nf.jobs.builds.get(P, J, wanted)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="job_id"):
            await nf.jobs.builds.get(project_id=P, build_id=wanted)  # type: ignore[call-arg]

    def test_a_declaration_that_drifts_is_refused_at_import(self) -> None:
        from northflank_async._api.derive import flat_method, item_method
        from northflank_async._api.items import Items

        with pytest.raises(TypeError, match="differ"):

            @item_method(Items._wait)
            async def wait(self: object, build_id: str, *, poll_interval: float = 2.0) -> None:
                """Another default, one parameter missing."""

        with pytest.raises(TypeError, match="differ"):

            @flat_method(ServiceBuilds.get)
            async def get(self: object, *, project_id: str, service_id: str, id: str) -> None:
                """The item id renamed."""


class TestBuildEventOwner:
    def test_a_service_event_names_its_service(self) -> None:
        from northflank_async import BuildEvent, JobBuild
        from northflank_async._core.fleet import decode_event, encode_event

        event = BuildEvent("concluded", JobBuild(id="b", concluded=True), P, service_id=S)
        assert (event.owner_kind, event.owner_id, event.job_id) == ("service", S, None)
        assert decode_event(encode_event(event)) == event
        job = BuildEvent("created", JobBuild(id="b"), P, J)
        assert (job.owner_kind, job.owner_id, job.service_id) == ("job", J, None)
        with pytest.raises(ValueError, match="exactly one"):
            BuildEvent("created", JobBuild(id="b"), P, J, service_id=S)
        with pytest.raises(ValueError, match="exactly one"):
            BuildEvent("created", JobBuild(id="b"), P)


async def _first(items: AsyncIterator[JobBuild], count: int) -> AsyncIterator[JobBuild]:
    """The first ``count`` items, then the iterator closed."""
    taken = 0
    try:
        async for item in items:
            yield item
            taken += 1
            if taken == count:
                return
    finally:
        await items.aclose()  # type: ignore[attr-defined]
