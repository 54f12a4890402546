"""Tests of `northflank_async.testing.FakeNorthflank` over real sockets.

They talk to the fake with a plain `aiohttp.ClientSession`, never with the project's
client, so that the fake can be trusted when it is used to test that client.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from multidict import CIMultiDict

from northflank_async.testing import FakeNorthflank, RecordedRequest

TOKEN = "nf-fake-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUILDS = "/v1/projects/demo/jobs/nightly/build"
STATUSES = {
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
}
FINAL = {"SUCCESS", "FAILURE", "ABORTED", "CRASHED", "SUBMISSION_FAILURE"}
ID_RE = re.compile(r"[a-z]+-[a-z]+-[0-9]{4}")
CREATED_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
async def fake() -> AsyncIterator[FakeNorthflank]:
    async with FakeNorthflank(seed=1) as server:
        server.add_job("demo", "nightly", builds=250)
        yield server


@pytest.fixture
async def http(fake: FakeNorthflank) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=AUTH) as session:
        yield session


async def call(
    session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, CIMultiDict[str]]:
    """Send one request; return status, parsed JSON body and (case-insensitive) headers."""
    async with session.request(method, path, **kwargs) as response:
        return response.status, await response.json(), CIMultiDict(response.headers)


def assert_error(body: Any, status: int, message: str | None = None) -> None:
    """Check the API's error envelope."""
    error = body["error"]
    assert error["status"] == status
    assert isinstance(error["message"], str)
    assert error["message"]
    assert re.fullmatch(r"[0-9a-f]{6,}", error["id"])
    if message is not None:
        assert error["message"] == message


def epoch(created_at: str) -> float:
    return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------- listing


async def test_cursor_pagination_walks_every_build(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    counts, ids, params = [], [], {"per_page": "100"}
    while True:
        status, body, headers = await call(http, "GET", BUILDS, params=params)
        assert status == 200
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
            assert name in headers
        page = body["pagination"]
        counts.append(page["count"])
        assert page["count"] == len(body["data"]["builds"])
        ids += [build["id"] for build in body["data"]["builds"]]
        if not page["hasNextPage"]:
            assert "cursor" not in page
            break
        params = {"per_page": "100", "cursor": page["cursor"]}
    assert counts == [100, 100, 50]
    assert ids == [build["id"] for build in fake.builds("demo", "nightly")]
    assert len(set(ids)) == 250


async def test_page_numbers_and_default_page_size(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    everything = fake.builds("demo", "nightly")
    _, first, _ = await call(http, "GET", BUILDS)
    assert first["pagination"]["count"] == 50
    assert first["data"]["builds"] == everything[:50]
    _, third, _ = await call(http, "GET", BUILDS, params={"per_page": "100", "page": "3"})
    assert [b["id"] for b in third["data"]["builds"]] == [b["id"] for b in everything[200:]]
    assert third["pagination"] == {"hasNextPage": False, "count": 50}
    _, beyond, _ = await call(http, "GET", BUILDS, params={"per_page": "100", "page": "9"})
    assert beyond == {"data": {"builds": []}, "pagination": {"hasNextPage": False, "count": 0}}


async def test_cursor_wins_over_page(http: aiohttp.ClientSession) -> None:
    _, first, _ = await call(http, "GET", BUILDS, params={"per_page": "10"})
    cursor = first["pagination"]["cursor"]
    _, both, _ = await call(
        http, "GET", BUILDS, params={"per_page": "10", "page": "5", "cursor": cursor}
    )
    _, second, _ = await call(http, "GET", BUILDS, params={"per_page": "10", "page": "2"})
    assert both["data"] == second["data"]


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": "0"},
        {"per_page": "101"},
        {"per_page": "abc"},
        {"per_page": "-5"},
        {"page": "0"},
        {"page": "x"},
        {"cursor": "not-a-cursor"},
    ],
)
async def test_bad_list_parameters_are_400(
    http: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    status, body, headers = await call(http, "GET", BUILDS, params=params)
    assert status == 400
    assert_error(body, 400)
    assert "x-ratelimit-remaining" in headers


async def test_cursor_of_another_job_is_400(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    fake.add_job("demo", "other", builds=5)
    _, body, _ = await call(http, "GET", BUILDS, params={"per_page": "1"})
    foreign = body["pagination"]["cursor"]
    status, body, _ = await call(
        http, "GET", "/v1/projects/demo/jobs/other/build", params={"cursor": foreign}
    )
    assert status == 400
    assert_error(body, 400, "Invalid cursor")


# ---------------------------------------------------------------------- get, 404, 401, routes


async def test_get_build_and_not_found(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    build = fake.builds("demo", "nightly")[7]
    status, body, _ = await call(http, "GET", f"{BUILDS}/{build['id']}")
    assert (status, body) == (200, {"data": build})
    for path, message in [
        (f"{BUILDS}/no-such-build-0000", "Build not found"),
        ("/v1/projects/demo/jobs/nope/build", "Job not found"),
        ("/v1/projects/nope/jobs/nightly/build", "Project not found"),
        ("/v1/projects/demo/jobs/nightly/metrics", "Route not found"),
        ("/v2/anything", "Route not found"),
    ]:
        status, body, headers = await call(http, "GET", path)
        assert status == 404, path
        assert_error(body, 404, message)
        assert "x-ratelimit-limit" in headers


async def test_wrong_method_is_405(http: aiohttp.ClientSession) -> None:
    status, body, headers = await call(http, "PUT", BUILDS)
    assert status == 405
    assert_error(body, 405)
    assert set(headers["Allow"].split(", ")) == {"GET", "POST"}


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", TOKEN, f"Basic {TOKEN}"])
async def test_unauthorized_and_token_never_recorded(
    fake: FakeNorthflank, auth: str | None
) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=headers) as session:
        status, body, answer_headers = await call(session, "GET", BUILDS)
    assert status == 401
    assert_error(body, 401, "Unauthorized")
    assert "x-ratelimit-reset" in answer_headers
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=AUTH) as session:
        assert (await call(session, "GET", BUILDS))[0] == 200
    assert [request.status for request in fake.requests] == [401, 200]
    assert TOKEN not in repr(fake.requests)
    assert fake.requests[1].headers["Authorization"] == "Bearer <redacted>"


async def test_team_route_serves_the_same_store(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    build = fake.builds("demo", "nightly")[0]
    team_path = f"/v1/teams/any-team/projects/demo/jobs/nightly/build/{build['id']}"
    status, body, _ = await call(http, "GET", team_path)
    assert (status, body) == (200, {"data": build})
    _, listed, _ = await call(http, "GET", "/v1/teams/t2/projects/demo/jobs/nightly/build")
    assert listed["data"]["builds"][0] == build
    assert fake.requests[0].path == team_path


async def test_percent_encoded_path_parameters(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    fake.add_job("my/project", "job?x", [{"id": "../x", "status": "SUCCESS"}, {"id": "x"}])
    prefix = f"/v1/projects/{quote('my/project', safe='')}/jobs/{quote('job?x', safe='')}"
    status, body, _ = await call(http, "GET", f"{prefix}/build/..%2Fx")
    assert (status, body) == (200, {"data": {"id": "../x", "status": "SUCCESS"}})
    assert fake.requests[-1].path == "/v1/projects/my%2Fproject/jobs/job%3Fx/build/..%2Fx"
    status, body, _ = await call(http, "GET", f"{prefix}/build")
    assert status == 200
    assert [build["id"] for build in body["data"]["builds"]] == ["../x", "x"]
    # An encoded slash must not be read as a path separator (the route would change).
    status, _, _ = await call(http, "GET", f"{BUILDS}/a%2Fb")
    assert status == 404


# ---------------------------------------------------------------------- rate limit


async def test_rate_limit_window_is_enforced_and_resets() -> None:
    async with (
        FakeNorthflank(rate_limit=(2, 0.5)) as fake,
        aiohttp.ClientSession(base_url=fake.base_url, headers=AUTH) as http,
    ):
        fake.add_job("demo", "nightly", builds=3)
        first, second, third = [await call(http, "GET", BUILDS) for _ in range(3)]
        assert (first[0], first[2]["x-ratelimit-remaining"]) == (200, "1")
        assert (second[0], second[2]["x-ratelimit-remaining"]) == (200, "0")
        assert first[2]["x-ratelimit-limit"] == "2"
        assert first[2]["x-ratelimit-reset"] == "1"  # 0.5 s, rounded up
        status, body, headers = third
        assert status == 429
        assert_error(body, 429)
        assert headers["Retry-After"] == "1"
        assert headers["x-ratelimit-remaining"] == "0"
        status, _, headers = await call(http, "GET", BUILDS)
        assert (status, headers["x-ratelimit-remaining"]) == (429, "0")  # 429s are free
        await asyncio.sleep(0.55)
        status, _, headers = await call(http, "GET", BUILDS)
        # A new window: the rejected request did not count.
        assert (status, headers["x-ratelimit-remaining"]) == (200, "1")


async def test_rate_limit_can_be_changed_or_disabled(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    fake.set_rate_limit(1, 60.0)
    assert (await call(http, "GET", BUILDS))[0] == 200
    status, _, headers = await call(http, "GET", BUILDS)
    assert (status, headers["Retry-After"]) == (429, "60")
    fake.set_rate_limit(None)
    for _ in range(3):
        status, _, headers = await call(http, "GET", BUILDS)
        assert status == 200
        assert headers["x-ratelimit-limit"] == headers["x-ratelimit-remaining"] == "1000000"


# ---------------------------------------------------------------------- faults


async def test_scripted_error_statuses(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    fake.set_rate_limit(5, 60.0)
    fake.script(500, 503, 504, 429, 418, "ok")
    for expected in (500, 503, 504, 429, 418, 200):
        status, body, headers = await call(http, "GET", BUILDS)
        assert status == expected
        if expected != 200:
            assert_error(body, expected)
            assert "x-ratelimit-reset" in headers
    assert headers["x-ratelimit-remaining"] == "4"  # only the "ok" step counted
    assert [request.status for request in fake.requests] == [500, 503, 504, 429, 418, 200]


async def test_scripted_429_uses_retry_after(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    fake.script(429, 429)
    _, _, headers = await call(http, "GET", BUILDS)
    assert (headers["Retry-After"], headers["x-ratelimit-reset"]) == ("0", "0")
    fake.retry_after = 2
    _, _, headers = await call(http, "GET", BUILDS)
    assert (headers["Retry-After"], headers["x-ratelimit-reset"]) == ("2", "2")


@pytest.mark.parametrize("step", [502, "html502"])
async def test_html_502_like_a_proxy(
    fake: FakeNorthflank, http: aiohttp.ClientSession, step: int | str
) -> None:
    fake.script(step)
    async with http.get(BUILDS) as response:
        assert response.status == 502
        assert response.content_type == "text/html"
        assert "502 Bad Gateway" in await response.text()


async def test_drop_closes_the_connection_without_answer(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    # aiohttp's client retries an idempotent request once when the server disconnects,
    # so a GET needs two drops to surface; a POST is never retried.
    fake.script("drop", "drop", "drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "GET", BUILDS)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "POST", BUILDS, json={})
    assert [request.status for request in fake.requests] == [None, None, None]
    assert len(fake.builds("demo", "nightly")) == 250  # the dropped POST did nothing
    assert (await call(http, "GET", BUILDS))[0] == 200


async def test_truncate_drops_mid_body(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    fake.script("truncate")
    async with http.get(BUILDS) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert fake.requests[0].status is None
    assert (await call(http, "GET", BUILDS))[0] == 200


async def test_slow_answers_late(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    fake.slow_seconds = 0.2
    fake.script("slow")
    started = time.monotonic()
    status, body, _ = await call(http, "GET", BUILDS)
    assert time.monotonic() - started >= 0.2
    assert status == 200
    assert body["pagination"]["count"] == 50


async def test_slow_is_cancelled_by_client_timeout_and_by_close() -> None:
    fake = FakeNorthflank()
    await fake.start()
    fake.add_job("demo", "nightly", builds=1)
    fake.script("slow", "slow")
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=AUTH) as http:
        with pytest.raises(asyncio.TimeoutError):
            await call(http, "POST", BUILDS, timeout=aiohttp.ClientTimeout(total=0.1))
        pending = asyncio.create_task(call(http, "POST", BUILDS))
        for _ in range(200):  # until the fake holds the second request
            if fake.request_count == 2:
                break
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await fake.close()
        assert time.monotonic() - started < 1.0
        with pytest.raises(aiohttp.ClientConnectionError):
            await pending
    assert [request.status for request in fake.requests] == [None, None]


async def test_random_faults_are_reproducible(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    async def statuses() -> list[int]:
        return [(await call(http, "GET", BUILDS, params={"per_page": "1"}))[0] for _ in range(30)]

    fake.faults(0.5, seed=7, kinds=(500, 503, 429))
    first = await statuses()
    fake.faults(0.5, seed=7, kinds=(500, 503, 429))
    assert await statuses() == first
    assert {200, 500, 503, 429} == set(first)
    fake.faults(0.5, seed=8, kinds=(500, 503, 429))
    assert await statuses() != first
    fake.faults(0)
    assert set(await statuses()) == {200}


async def test_scripted_steps_come_before_random_faults(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    fake.faults(1.0, kinds=(503,))
    fake.script("ok", 500)
    results = [(await call(http, "GET", BUILDS))[0] for _ in range(3)]
    assert results == [200, 500, 503]


def test_invalid_fault_kinds_are_rejected() -> None:
    fake = FakeNorthflank()
    for bad in (200, 99, "explode", True):
        with pytest.raises(ValueError, match="unknown fault"):
            fake.script(bad)
    with pytest.raises(ValueError, match="rate"):
        fake.faults(1.5)


async def test_latency_is_added(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    await call(http, "GET", BUILDS)  # connect first: time only the answer
    fake.latency = 0.15
    started = time.monotonic()
    assert (await call(http, "GET", BUILDS))[0] == 200
    assert time.monotonic() - started >= 0.15


# ---------------------------------------------------------------------- start, abort, progress


async def test_started_build_progresses_on_each_get(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await call(http, "POST", BUILDS, json={})
    build = body["data"]
    assert status == 200
    assert (build["status"], build["concluded"]) == ("QUEUED", False)
    assert "success" not in build
    assert "buildConcludedAt" not in build
    assert re.fullmatch(r"[0-9a-f]{40}", build["sha"])
    assert fake.builds("demo", "nightly")[0]["id"] == build["id"]
    _, listed, _ = await call(http, "GET", BUILDS, params={"per_page": "1"})
    assert listed["data"]["builds"][0]["status"] == "QUEUED"  # listing does not poll
    seen = []
    for _ in range(6):
        _, got, _ = await call(http, "GET", f"{BUILDS}/{build['id']}")
        seen.append(got["data"]["status"])
    assert seen == ["PENDING", "STARTING", "CLONING", "BUILDING", "UPLOADING", "SUCCESS"]
    final = got["data"]
    assert (final["concluded"], final["success"]) == (True, True)
    assert isinstance(final["buildConcludedAt"], float)
    assert final["buildConcludedAt"] > epoch(final["createdAt"])
    assert final["registry"]["uri"]
    _, again, _ = await call(http, "GET", f"{BUILDS}/{build['id']}")
    assert again["data"] == final  # concluded builds stay put


async def test_set_outcome_failure(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    _, body, _ = await call(http, "POST", BUILDS, json={"sha": "ab" * 20})
    assert body["data"]["sha"] == "ab" * 20
    fake.set_outcome(body["data"]["id"], "FAILURE")
    for _ in range(6):
        _, got, _ = await call(http, "GET", f"{BUILDS}/{body['data']['id']}")
    final = got["data"]
    assert (final["status"], final["concluded"], final["success"]) == ("FAILURE", True, False)
    assert "registry" not in final


async def test_abort_build(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    _, body, _ = await call(http, "POST", BUILDS)  # no body at all is fine too
    path = f"{BUILDS}/{body['data']['id']}"
    assert (await call(http, "DELETE", path))[:2] == (200, {"data": {}})
    _, got, _ = await call(http, "GET", path)
    aborted = got["data"]
    assert (aborted["status"], aborted["concluded"], aborted["success"]) == (
        "ABORTED",
        True,
        False,
    )
    assert aborted["message"] == "Build aborted"
    assert aborted["buildConcludedAt"] > epoch(aborted["createdAt"])
    status, again, _ = await call(http, "DELETE", path)
    assert status == 409
    assert_error(again, 409)
    concluded = next(b for b in fake.builds("demo", "nightly") if b.get("concluded"))
    assert (await call(http, "DELETE", f"{BUILDS}/{concluded['id']}"))[0] == 409
    status, missing, _ = await call(http, "DELETE", f"{BUILDS}/no-such-build")
    assert status == 404
    assert_error(missing, 404, "Build not found")


async def test_time_based_progress(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    fake.configure_builds(step=0.01, outcome="CRASHED")
    _, body, _ = await call(http, "POST", BUILDS, json={})
    assert body["data"]["status"] == "QUEUED"
    await asyncio.sleep(0.1)
    _, listed, _ = await call(http, "GET", BUILDS, params={"per_page": "1"})
    final = listed["data"]["builds"][0]
    assert (final["id"], final["status"], final["concluded"]) == (
        body["data"]["id"],
        "CRASHED",
        True,
    )
    fake.configure_builds(step=60.0)
    _, slow, _ = await call(http, "POST", BUILDS, json={})
    _, got, _ = await call(http, "GET", f"{BUILDS}/{slow['data']['id']}")
    assert got["data"]["status"] == "QUEUED"  # time mode ignores polls


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"[]", "must be a JSON object"),
        (b"not json", "not valid JSON"),
        (b'{"sha": "xyz"}', "sha"),
        (b'{"sha": 12}', "sha"),
        (b'{"overrides": []}', "overrides"),
        (b'{"branch": "main"}', "branch"),
    ],
)
async def test_start_rejects_bad_bodies(
    fake: FakeNorthflank, http: aiohttp.ClientSession, payload: bytes, complaint: str
) -> None:
    headers = {"Content-Type": "application/json"}
    status, body, _ = await call(http, "POST", BUILDS, data=payload, headers=headers)
    assert status == 400
    assert_error(body, 400)
    assert complaint in json.dumps(body["error"])
    assert len(fake.builds("demo", "nightly")) == 250


async def test_add_build_prepends_and_progresses(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    newest = fake.builds("demo", "nightly")[0]
    added = fake.add_build("demo", "nightly", branch="feature/x")
    second = fake.add_build("demo", "nightly", status="SUCCESS")
    builds = fake.builds("demo", "nightly")
    assert [b["id"] for b in builds[:3]] == [second["id"], added["id"], newest["id"]]
    assert epoch(second["createdAt"]) > epoch(added["createdAt"]) > epoch(newest["createdAt"])
    assert (added["status"], added["branch"], added["concluded"]) == ("QUEUED", "feature/x", False)
    assert (second["concluded"], second["success"]) == (True, True)
    assert ID_RE.fullmatch(added["id"])
    _, got, _ = await call(http, "GET", f"{BUILDS}/{added['id']}")
    assert got["data"]["status"] == "PENDING"
    _, got, _ = await call(http, "GET", f"{BUILDS}/{second['id']}")
    assert got["data"]["status"] == "SUCCESS"
    with pytest.raises(KeyError):
        fake.add_build("demo", "missing")


# ---------------------------------------------------------------------- data


def test_generated_builds_are_realistic_and_reproducible() -> None:
    builds = FakeNorthflank(seed=3).add_job("p", "j", builds=400)
    assert builds == FakeNorthflank(seed=3).add_job("p", "j", builds=400)
    assert builds != FakeNorthflank(seed=4).add_job("p", "j", builds=400)
    assert len({b["id"] for b in builds}) == 400
    assert all(ID_RE.fullmatch(b["id"]) for b in builds)
    created = [b["createdAt"] for b in builds]
    assert all(CREATED_RE.fullmatch(c) for c in created)
    times = [epoch(c) for c in created]
    assert all(newer > older for newer, older in itertools.pairwise(times))
    statuses = [b["status"] for b in builds]
    assert set(statuses) <= STATUSES
    assert len(set(statuses)) >= 6
    assert statuses.count("SUCCESS") + statuses.count("FAILURE") > 0.6 * len(builds)
    assert any(s not in FINAL for s in statuses)
    for build in builds:
        final = build["status"] in FINAL
        assert build["concluded"] is final
        assert ("success" in build) is final
        assert ("buildConcludedAt" in build) is final
        if final:
            assert build["success"] is (build["status"] == "SUCCESS")
            assert isinstance(build["buildConcludedAt"], float)
            assert build["buildConcludedAt"] > epoch(build["createdAt"])
        assert ("registry" in build) is (build["status"] == "SUCCESS")
        assert "sha" not in build or re.fullmatch(r"[0-9a-f]{40}", build["sha"])
    pull_requests = [b.get("pullRequestId", "absent") for b in builds]
    assert None in pull_requests
    assert "absent" in pull_requests
    assert any(isinstance(p, int) for p in pull_requests)
    assert any(b.get("message", "absent") is None for b in builds)
    assert any("branch" not in b for b in builds)


def test_add_job_appends_older_builds_and_stores_lists() -> None:
    fake = FakeNorthflank()
    first = fake.add_job("p", "j", builds=5)
    more = fake.add_job("p", "j", builds=5)
    stored = fake.builds("p", "j")
    assert stored == first + more
    assert epoch(more[0]["createdAt"]) < epoch(first[-1]["createdAt"])
    given: list[dict[str, Any]] = [{"id": "b2", "status": "FAILURE"}, {"id": "b1", "message": None}]
    assert fake.add_job("p", "k", given) == given
    given[0]["status"] = "changed"  # the fake keeps its own copy
    assert fake.builds("p", "k")[0]["status"] == "FAILURE"
    with pytest.raises(ValueError, match="id"):
        fake.add_job("p", "k", [{"id": "b1"}])


# ---------------------------------------------------------------------- observability


async def test_requests_and_connections_are_recorded(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    await call(http, "GET", BUILDS, params={"per_page": "2", "page": "1"})
    await call(http, "POST", BUILDS, json={"overrides": {"buildArguments": {"A": "1"}}})
    await call(http, "GET", f"{BUILDS}/nope")
    assert fake.request_count == 3
    assert fake.connection_count == 1
    first, second, third = fake.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.query, first.body, first.status) == (
        "GET",
        BUILDS,
        {"per_page": "2", "page": "1"},
        None,
        200,
    )
    assert second.body == {"overrides": {"buildArguments": {"A": "1"}}}
    assert (second.method, third.status) == ("POST", 404)
    assert isinstance(first.peer_port, int)
    assert first.peer_port == second.peer_port == third.peer_port
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=AUTH) as other:
        await call(other, "GET", BUILDS)
    assert fake.connection_count == 2
    fake.reset_stats()
    assert (fake.request_count, fake.connection_count, fake.requests) == (0, 0, [])


async def test_start_and_close_without_context_manager() -> None:
    fake = FakeNorthflank(token="other-token")
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    await fake.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.base_url)
        fake.add_job("p", "j", builds=1)
        headers = {"Authorization": "Bearer other-token"}
        async with aiohttp.ClientSession(headers=headers) as http:
            status, _, _ = await call(http, "GET", f"{fake.base_url}/v1/projects/p/jobs/j/build")
        assert status == 200
    finally:
        await fake.close()
    await fake.close()  # closing twice is fine


# ---------------------------------------------------------------------- command line


def test_recorded_request_is_frozen() -> None:
    request = RecordedRequest("GET", "/", {}, {}, None, 1, 200)
    with pytest.raises(AttributeError):
        request.status = 500  # type: ignore[misc]
    assert json.loads(json.dumps(request.query)) == {}


# ---------------------------------------------------------------------- lost answers


async def test_lost_answer_aborts_the_build_then_drops_the_connection(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    """The DELETE takes effect in the store, but the client sees a dropped connection."""
    _, started, _ = await call(http, "POST", BUILDS, json={})
    build_id = started["data"]["id"]
    # aiohttp's client resends an idempotent request once when the server disconnects:
    # the "drop" meets that resend, so the client surfaces the lost answer.
    fake.script("lost_answer", "drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "DELETE", f"{BUILDS}/{build_id}")
    build = next(b for b in fake.builds("demo", "nightly") if b["id"] == build_id)
    assert (build["status"], build["concluded"]) == ("ABORTED", True)
    assert [(r.method, r.status) for r in fake.requests] == [
        ("POST", 200),
        ("DELETE", None),
        ("DELETE", None),
    ]
    # A retry of the lost DELETE meets the done abort.
    assert (await call(http, "DELETE", f"{BUILDS}/{build_id}"))[0] == 409


async def test_lost_answer_as_a_random_fault_starts_the_build(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    fake.faults(1.0, kinds=("lost_answer",))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "POST", BUILDS, json={})  # a POST is never retried by aiohttp
    fake.faults(0)
    newest = fake.builds("demo", "nightly")[0]
    assert (newest["status"], len(fake.builds("demo", "nightly"))) == ("QUEUED", 251)


# ---------------------------------------------------------------------- the fake's edges


@pytest.mark.parametrize("path", [BUILDS, "/v1/projects/demo/jobs/nightly/runs"])
async def test_deeply_nested_body_is_an_enveloped_400(
    fake: FakeNorthflank, http: aiohttp.ClientSession, path: str
) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    headers = {"Content-Type": "application/json"}
    status, body, _ = await call(http, "POST", path, data=deep, headers=headers)
    assert status == 400
    assert_error(body, 400, "Request body is nested too deeply")
    assert fake.requests[-1].status == 400


async def test_body_over_one_mib_is_an_enveloped_413(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    payload = json.dumps({"overrides": {"x": "a" * (1024 * 1024)}}).encode()
    headers = {"Content-Type": "application/json"}
    status, body, _ = await call(http, "POST", BUILDS, data=io.BytesIO(payload), headers=headers)
    assert status == 413
    assert_error(body, 413, "Request body too large")
    assert len(fake.builds("demo", "nightly")) == 250
    assert (fake.requests[-1].status, fake.requests[-1].body) == (413, None)


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (aiohttp.web.HTTPNotFound(), 404),
        (aiohttp.web.HTTPMethodNotAllowed("PUT", ["GET"]), 405),
        (aiohttp.web.HTTPRequestEntityTooLarge(1, 2), 413),
        (RecursionError("maximum recursion depth exceeded"), 500),
        (RuntimeError("a bug in the fake"), 500),
    ],
)
async def test_aiohttp_errors_and_bugs_use_the_envelope(
    fake: FakeNorthflank,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    raised: BaseException,
    status: int,
) -> None:
    def explode(*_: object) -> None:
        raise raised

    monkeypatch.setattr(fake._routes, "_serve", explode)
    got, body, _ = await call(http, "GET", BUILDS)
    assert got == status
    assert_error(body, status)


async def test_the_record_is_bounded_and_the_count_is_true() -> None:
    assert FakeNorthflank().record_limit == 10_000
    async with (
        FakeNorthflank(record_limit=5) as fake,
        aiohttp.ClientSession(base_url=fake.base_url, headers=AUTH) as http,
    ):
        fake.add_job("demo", "nightly", builds=3)
        for page in range(1, 13):
            await call(http, "GET", BUILDS, params={"page": str(page)})
        assert fake.request_count == 12
        assert [r.query["page"] for r in fake.requests] == ["8", "9", "10", "11", "12"]
        assert all(r.status == 200 for r in fake.requests)
        fake.reset_stats()
        assert (fake.request_count, fake.requests) == (0, [])
    with pytest.raises(ValueError, match="record_limit"):
        FakeNorthflank(record_limit=0)


@pytest.mark.parametrize("name", ["latency", "retry_after", "slow_seconds"])
@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_seconds_are_refused(name: str, value: float) -> None:
    fake = FakeNorthflank()
    with pytest.raises(ValueError, match=name):
        setattr(fake, name, value)
    if name == "latency":
        with pytest.raises(ValueError, match="latency"):
            FakeNorthflank(latency=value)


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--builds", "-1"], "--builds: -1 is not >= 0"),
        (["--runs", "-3"], "--runs"),
        (["--fault-rate", "2"], "--fault-rate: 2 is not a finite number between 0 and 1"),
        (["--fault-rate", "nan"], "--fault-rate"),
        (["--port", "70000"], "--port: 70000 is not between 0 and 65535"),
        (["--latency", "-1"], "--latency: -1 is not a finite number >= 0"),
        (["--latency", "inf"], "--latency"),
        (["--builds", "many"], "'many' is not an integer"),
    ],
)
def test_command_line_refuses_bad_arguments_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    from northflank_async.testing.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", *argv])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("python -m northflank_async.testing: error: ")
    assert complaint in err


# ---------------------------------------------------------------------- jobs, runs, branches


@pytest.fixture(params=["/v1", "/v1/teams/any-team"], ids=["team-token", "organisation"])
def prefix(request: pytest.FixtureRequest) -> str:
    """Both route forms; the organisation form accepts any team id."""
    value: str = request.param
    return value


async def walk(
    http: aiohttp.ClientSession, path: str, key: str, per_page: int
) -> tuple[list[Any], list[int]]:
    """Follow cursors through a listing; return every item and each page's count."""
    items: list[Any] = []
    counts: list[int] = []
    params = {"per_page": str(per_page)}
    while True:
        status, body, headers = await call(http, "GET", path, params=params)
        assert status == 200
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
            assert name in headers
        page = body["pagination"]
        assert page["count"] == len(body["data"][key])
        counts.append(page["count"])
        items += body["data"][key]
        if not page["hasNextPage"]:
            assert "cursor" not in page
            return items, counts
        params = {"per_page": str(per_page), "cursor": page["cursor"]}


LISTED_JOB_KEYS = {"id", "appId", "name", "tags", "jobType", "disabledCI", "disabledCD"}


async def test_jobs_list_pages_and_get(
    fake: FakeNorthflank, http: aiohttp.ClientSession, prefix: str
) -> None:
    for number in range(120):
        fake.add_job("demo", f"job-{number:03d}")
    fake.add_job("demo", "described", description="Has one", tags=["a"])
    jobs, counts = await walk(http, f"{prefix}/projects/demo/jobs", "jobs", 50)
    assert counts == [50, 50, 22]
    assert [job["id"] for job in jobs][:2] == ["nightly", "job-000"]
    assert len({job["id"] for job in jobs}) == 122
    for job in jobs:
        assert LISTED_JOB_KEYS <= set(job) <= LISTED_JOB_KEYS | {"description", "suspended"}
        assert (job["jobType"], job["disabledCI"], job["disabledCD"]) == ("manual", False, False)
    assert jobs[-1]["description"] == "Has one"
    assert jobs[-1]["tags"] == ["a"]
    status, body, _ = await call(http, "GET", f"{prefix}/projects/demo/jobs/nightly")
    assert status == 200
    job = body["data"]
    assert (job["id"], job["name"], job["projectId"], job["tags"]) == (
        "nightly",
        "nightly",
        "demo",
        [],
    )
    assert CREATED_RE.fullmatch(job["createdAt"])
    assert job == fake.job("demo", "nightly")


async def test_jobs_not_found_and_bad_pages(http: aiohttp.ClientSession, prefix: str) -> None:
    for path, message in [
        (f"{prefix}/projects/nope/jobs", "Project not found"),
        (f"{prefix}/projects/demo/jobs/nope", "Job not found"),
        (f"{prefix}/projects/nope/jobs/nightly", "Project not found"),
        (f"{prefix}/projects/demo/jobs/nightly/runs/nope", "Run not found"),
        (f"{prefix}/projects/demo/jobs/nope/runs", "Job not found"),
        (f"{prefix}/projects/demo/jobs/nope/branches", "Job not found"),
    ]:
        status, body, _ = await call(http, "GET", path)
        assert status == 404, path
        assert_error(body, 404, message)
    for path in ("jobs", "jobs/nightly/runs", "jobs/nightly/branches"):
        for params in ({"per_page": "101"}, {"per_page": "0"}, {"cursor": "nope"}):
            status, body, _ = await call(
                http, "GET", f"{prefix}/projects/demo/{path}", params=params
            )
            assert status == 400, (path, params)
            assert_error(body, 400)
    status, body, headers = await call(http, "PUT", f"{prefix}/projects/demo/jobs/nightly/runs")
    assert status == 405
    assert_error(body, 405)
    assert set(headers["Allow"].split(", ")) == {"GET", "POST"}


async def test_branches_list_and_move(
    fake: FakeNorthflank, http: aiohttp.ClientSession, prefix: str
) -> None:
    path = f"{prefix}/projects/demo/jobs/nightly/branches"
    head = fake.branch_head("demo", "nightly", "main")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    _, body, _ = await call(http, "GET", path)
    branches = body["data"]["branches"]
    assert [b["name"] for b in branches] == ["main", "develop", "release/2.4", "fix/flaky-ci"]
    assert branches[0] == {"id": "main", "name": "main", "commit": branches[0]["commit"]}
    assert branches[0]["commit"]["sha"] == head
    moved = fake.add_branch("demo", "nightly", "main", "ab" * 20)
    assert fake.branch_head("demo", "nightly") == "ab" * 20 == moved["commit"]["sha"]
    fresh = fake.add_branch("demo", "nightly", "feature/x")
    assert fresh["commit"]["sha"] not in (head, "ab" * 20)
    for number in range(120):
        fake.add_branch("demo", "nightly", f"topic-{number}")
    every, counts = await walk(http, path, "branches", 100)
    assert counts == [100, 25]
    assert [b["name"] for b in every] == [b["name"] for b in fake.branches("demo", "nightly")]
    with pytest.raises(ValueError, match="sha"):
        fake.add_branch("demo", "nightly", "main", "xyz")
    with pytest.raises(KeyError):
        fake.branch_head("demo", "nightly", "missing")


def test_branch_heads_are_stable_for_a_seed() -> None:
    first, second = FakeNorthflank(seed=5), FakeNorthflank(seed=5)
    for fake in (first, second):
        fake.add_job("p", "j", builds=3)
    assert first.branch_head("p", "j") == second.branch_head("p", "j")
    other = FakeNorthflank(seed=6)
    other.add_job("p", "j")
    assert other.branch_head("p", "j") != first.branch_head("p", "j")
    # Branches draw from their own generator: builds are the same as before they existed.
    assert first.builds("p", "j") == FakeNorthflank(seed=5).add_job("p", "j", builds=3)


RUN_KEYS = {
    "id",
    "runName",
    "status",
    "concluded",
    "active",
    "succeeded",
    "failed",
    "backoffLimit",
    "completions",
    "startedAt",
}


async def test_runs_list_across_pages(
    fake: FakeNorthflank, http: aiohttp.ClientSession, prefix: str
) -> None:
    fake.add_job("demo", "nightly", runs=120)
    runs, counts = await walk(http, f"{prefix}/projects/demo/jobs/nightly/runs", "runs", 50)
    assert counts == [50, 50, 20]
    assert runs == fake.runs("demo", "nightly")
    assert len({run["id"] for run in runs}) == 120
    starts = [epoch(run["startedAt"]) for run in runs]
    assert all(newer > older for newer, older in itertools.pairwise(starts))
    for run in runs:
        assert set(run) == RUN_KEYS | {"concludedAt"}
        assert run["status"] in {"SUCCESS", "FAILED"}
        assert run["concluded"] is True
        assert (run["active"], run["succeeded"], run["failed"]) == (
            (0, 1, 0) if run["status"] == "SUCCESS" else (0, 0, 1)
        )
        assert epoch(run["concludedAt"]) > epoch(run["startedAt"])
    assert {run["status"] for run in runs} == {"SUCCESS", "FAILED"}


async def test_start_run_from_a_build_and_watch_it_progress(
    fake: FakeNorthflank, http: aiohttp.ClientSession, prefix: str
) -> None:
    runs_path = f"{prefix}/projects/demo/jobs/nightly/runs"
    build_id = fake.builds("demo", "nightly")[3]["id"]
    deployment = {"internal": {"buildId": build_id}}
    status, body, _ = await call(http, "POST", runs_path, json={"deployment": deployment})
    assert status == 200
    assert set(body["data"]) == {"id", "runName"}
    run_id = body["data"]["id"]
    assert fake.run_deployment("demo", "nightly", run_id) == deployment
    assert fake.runs("demo", "nightly")[0]["runName"] == body["data"]["runName"]
    _, listed, _ = await call(http, "GET", runs_path)
    assert listed["data"]["runs"][0]["status"] == "RUNNING"  # listing does not poll
    seen = []
    for _ in range(3):
        _, got, _ = await call(http, "GET", f"{runs_path}/{run_id}")
        seen.append(got["data"]["status"])
    assert seen == ["RUNNING", "RUNNING", "SUCCESS"]
    final = got["data"]
    assert set(final) == RUN_KEYS | {"concludedAt"}
    assert (final["concluded"], final["active"], final["succeeded"], final["failed"]) == (
        True,
        0,
        1,
        0,
    )
    assert epoch(final["concludedAt"]) > epoch(final["startedAt"])


async def test_run_outcome_abort_and_conflict(
    fake: FakeNorthflank, http: aiohttp.ClientSession, prefix: str
) -> None:
    runs_path = f"{prefix}/projects/demo/jobs/nightly/runs"
    sha = fake.branch_head("demo", "nightly")
    _, body, _ = await call(
        http, "POST", runs_path, json={"deployment": {"internal": {"buildSHA": sha}}}
    )
    failing = body["data"]["id"]
    fake.set_run_outcome(failing, "FAILED")
    for _ in range(3):
        _, got, _ = await call(http, "GET", f"{runs_path}/{failing}")
    assert (got["data"]["status"], got["data"]["failed"]) == ("FAILED", 1)
    assert fake.run_deployment("demo", "nightly", failing) == {"internal": {"buildSHA": sha}}
    _, body, _ = await call(http, "POST", runs_path)  # no body: the job's own settings
    running = body["data"]["id"]
    assert fake.run_deployment("demo", "nightly", running) is None
    assert (await call(http, "DELETE", f"{runs_path}/{running}"))[:2] == (200, {"data": {}})
    aborted = fake.runs("demo", "nightly")[0]
    assert (aborted["id"], aborted["status"], aborted["concluded"]) == (running, "FAILED", True)
    for run_id in (running, failing):
        status, again, _ = await call(http, "DELETE", f"{runs_path}/{run_id}")
        assert status == 409
        assert_error(again, 409, "Run has already concluded")
    status, missing, _ = await call(http, "DELETE", f"{runs_path}/no-such-run")
    assert status == 404
    assert_error(missing, 404, "Run not found")


async def test_add_run_and_time_based_progress_on_an_injected_clock() -> None:
    now = [100.0]
    fake = FakeNorthflank(clock=lambda: now[0])
    fake.add_job("p", "j")
    fake.configure_runs(step=10.0, outcome="FAILED")
    run = fake.add_run("p", "j")
    done = fake.add_run("p", "j", status="SUCCESS")
    assert run["startedAt"] == "2025-06-30T12:01:40.000Z"  # the epoch plus 100 s
    assert (done["concluded"], done["succeeded"]) == (True, 1)
    now[0] += 29.0
    assert fake.runs("p", "j")[1]["status"] == "RUNNING"
    now[0] += 1.0
    assert (run["status"], run["concluded"]) == ("RUNNING", False)  # nothing moves unread
    assert fake.runs("p", "j")[1]["status"] == "FAILED"
    assert run["concludedAt"] == "2025-06-30T12:02:10.000Z"
    build = fake.add_build("p", "j")
    assert build["createdAt"] == "2025-06-30T12:02:10.000Z"
    with pytest.raises(ValueError, match="outcome"):
        fake.set_run_outcome(run["id"], "ABORTED")
    with pytest.raises(ValueError, match="run id"):
        fake.add_run("p", "j", id=run["id"])
    with pytest.raises(KeyError):
        fake.runs("p", "missing")


async def test_start_run_with_an_unknown_build_is_404(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    body = {"deployment": {"internal": {"buildId": "no-such-build"}}}
    status, answer, _ = await call(http, "POST", "/v1/projects/demo/jobs/nightly/runs", json=body)
    assert status == 404
    assert_error(answer, 404, "Build not found")
    assert fake.runs("demo", "nightly") == []


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"[]", "must be a JSON object"),
        (b"not json", "not valid JSON"),
        (b'{"sha": "' + b"ab" * 20 + b'"}', "sha"),
        (b'{"runtimeEnvironment": []}', "runtimeEnvironment"),
        (b'{"storage": 1}', "storage"),
        (b'{"deployment": "main"}', "deployment"),
        (b'{"deployment": {}}', "deployment"),
        (b'{"deployment": {"internal": {}, "external": {"imagePath": "x"}}}', "deployment"),
        (b'{"deployment": {"internal": {"buildSHA": "xyz"}}}', "buildSHA"),
        (b'{"deployment": {"internal": {"buildId": 5}}}', "buildId"),
        (b'{"deployment": {"internal": {"commit": "x"}}}', "commit"),
        (b'{"deployment": {"external": {}}}', "imagePath"),
        (b'{"deployment": {"external": {"imagePath": "x", "credentials": 1}}}', "credentials"),
    ],
)
async def test_start_run_rejects_bad_bodies(
    fake: FakeNorthflank, http: aiohttp.ClientSession, prefix: str, payload: bytes, complaint: str
) -> None:
    headers = {"Content-Type": "application/json"}
    path = f"{prefix}/projects/demo/jobs/nightly/runs"
    status, body, _ = await call(http, "POST", path, data=payload, headers=headers)
    assert status == 400
    assert_error(body, 400)
    assert complaint in json.dumps(body["error"])
    assert fake.runs("demo", "nightly") == []


@pytest.mark.parametrize(
    "body",
    [
        {"deployment": {"internal": {"buildSHA": "latest", "branch": "main", "id": "nightly"}}},
        {"deployment": {"external": {"imagePath": "nginx:latest", "credentials": "cred"}}},
        {"runtimeEnvironment": {"A": "1"}, "runtimeFiles": {}, "billing": {}, "docker": {}},
    ],
)
async def test_start_run_accepts_documented_bodies(
    fake: FakeNorthflank, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    status, answer, _ = await call(http, "POST", "/v1/projects/demo/jobs/nightly/runs", json=body)
    assert status == 200
    assert fake.runs("demo", "nightly")[0]["id"] == answer["data"]["id"]
