"""Tests of the fake API's logs: generated lines, the range route and the WebSocket tail.

They talk to the fake with a plain `aiohttp.ClientSession` (and its ``ws_connect``), never
with the project's client. Time comes from a manual clock injected into the fake, so what
is visible when is decided by the test, not by the machine's speed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from northflank_async.testing import FakeNorthflank

TOKEN = "nf-fake-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIXES = ["/v1/projects/demo/jobs/nightly", "/v1/teams/acme/projects/demo/jobs/nightly"]
EARLY = "2020-01-01T00:00:00.000Z"  # before any generated line


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeNorthflank]:
    async with FakeNorthflank(seed=3, clock=clock) as server:
        server.add_job("demo", "nightly", builds=40, runs=10)
        yield server


@pytest.fixture
async def http(fake: FakeNorthflank) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=AUTH) as session:
        yield session


@pytest.fixture(params=PREFIXES, ids=["team", "org"])
def prefix(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def with_status(fake: FakeNorthflank, status: str) -> dict[str, Any]:
    return next(b for b in fake.builds("demo", "nightly") if b["status"] == status)


async def get_logs(
    http: aiohttp.ClientSession, path: str, **params: str
) -> tuple[int, Any, CIMultiDict[str]]:
    async with http.get(path, params=params) as response:
        return response.status, await response.json(), CIMultiDict(response.headers)


def lines_of(body: Any) -> list[dict[str, Any]]:
    """The lines of a range answer, whatever its shape."""
    data = body["data"]
    lines: list[dict[str, Any]] = (
        data if isinstance(data, list) else data.get("logs", data.get("data"))
    )
    return lines


# ---------------------------------------------------------------------- generated lines


async def test_generated_build_logs_are_reproducible_and_realistic(fake: FakeNorthflank) -> None:
    """Clone, steps and push phases; bursts share a ts; same seed, same lines."""
    build = with_status(fake, "SUCCESS")
    lines = fake.build_logs("demo", "nightly", build["id"])
    texts = [line["log"] for line in lines if isinstance(line["log"], str)]
    assert any(t.startswith("Cloning repository") for t in texts)
    assert any(t.startswith("Step 3/") for t in texts)
    assert any(t.startswith("Pushing image") for t in texts)
    assert lines[-1]["log"] == "Build complete: image pushed"
    stamps = [line["ts"] for line in lines]
    assert stamps == sorted(stamps)
    assert max(stamps.count(ts) for ts in stamps) >= 3  # bursts of lines on one ts
    assert all(set(line) == {"containerId", "log", "ts"} for line in lines)
    async with FakeNorthflank(seed=3, clock=fake.clock) as twin:
        twin.add_job("demo", "nightly", builds=40, runs=10)
        assert twin.build_logs("demo", "nightly", build["id"]) == lines


async def test_failed_builds_end_with_an_error_and_skip_the_push(fake: FakeNorthflank) -> None:
    """A failed build's last line is its error; it never pushed an image."""
    build = with_status(fake, "FAILURE")
    lines = fake.build_logs("demo", "nightly", build["id"])
    assert lines[-1]["log"].startswith("ERROR: failed to solve")
    assert not any(str(line["log"]).startswith("Pushing image") for line in lines)


async def test_some_logs_have_two_containers_or_a_non_string_log(fake: FakeNorthflank) -> None:
    """The generator exercises clients with a second container and object-valued logs."""
    logs = [fake.build_logs("demo", "nightly", b["id"]) for b in fake.builds("demo", "nightly")]
    assert any(len({line["containerId"] for line in lines}) == 2 for lines in logs)
    assert any(any(isinstance(line["log"], dict) for line in lines) for lines in logs)
    runs = [fake.run_logs("demo", "nightly", r["id"]) for r in fake.runs("demo", "nightly")]
    assert all(lines for lines in runs)
    for run, lines in zip(fake.runs("demo", "nightly"), runs, strict=True):
        last = lines[-1]["log"]
        assert last.startswith("Error:") if run["status"] == "FAILED" else last.endswith("fully")


async def test_a_live_build_log_grows_as_it_progresses(
    fake: FakeNorthflank, clock: ManualClock
) -> None:
    """Lines appear with progress; earlier snapshots are prefixes of later ones."""
    fake.configure_builds(step=10.0)
    build = fake.add_build("demo", "nightly")
    fake.set_outcome(build["id"], "FAILURE")
    snapshots = []
    for _ in range(30):
        snapshots.append(fake.build_logs("demo", "nightly", build["id"]))
        clock.now += 2.5
    assert snapshots[0] == []  # QUEUED: nothing yet
    for earlier, later in itertools.pairwise(snapshots):
        assert later[: len(earlier)] == earlier
    assert len({len(s) for s in snapshots}) >= 5  # it grew in several steps
    final = fake.build_logs("demo", "nightly", build["id"])
    assert fake.builds("demo", "nightly")[0]["status"] == "FAILURE"
    assert final[-1]["log"].startswith("ERROR:")
    assert all(line["ts"] <= final[-1]["ts"] for line in final)


async def test_an_aborted_build_stops_its_log(
    fake: FakeNorthflank, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Aborting mid-build ends the log with "Build aborted" and no push."""
    fake.configure_builds(step=10.0)
    build = fake.add_build("demo", "nightly", status="BUILDING")
    clock.now += 3.0
    async with http.delete(f"{PREFIXES[0]}/build/{build['id']}") as response:
        assert response.status == 200
    clock.now += 100.0
    lines = fake.build_logs("demo", "nightly", build["id"])
    assert lines[-1]["log"] == "Build aborted"
    assert not any(str(line["log"]).startswith("Pushing") for line in lines)


async def test_add_log_lines_by_hand(fake: FakeNorthflank, clock: ManualClock) -> None:
    """Hand lines merge by ts, show when the clock reaches them, and are checked."""
    run = fake.add_run("demo", "nightly", status="SUCCESS")
    before = fake.run_logs("demo", "nightly", run["id"])
    added = fake.add_log_lines(
        "demo",
        "nightly",
        run["id"],
        ["hello", {"log": {"k": 1}, "containerId": "side"}],
        kind="run",
    )
    assert [line["log"] for line in added] == ["hello", {"k": 1}]
    assert added[0]["containerId"] == f"{run['id']}-main"
    future = fake.add_log_lines(
        "demo", "nightly", run["id"], [{"log": "later", "ts": "2099-01-01T00:00:00Z"}], kind="run"
    )
    assert fake.run_logs("demo", "nightly", run["id"]) == before + added
    assert future[0]["ts"] == "2099-01-01T00:00:00.000Z"
    with pytest.raises(KeyError):
        fake.add_log_lines("demo", "nightly", "no-such-build", ["x"])
    with pytest.raises(KeyError):
        fake.build_logs("demo", "nightly", "no-such-build")
    with pytest.raises(ValueError, match="ts"):
        fake.add_log_lines("demo", "nightly", run["id"], [{"log": "x", "ts": "soon"}], kind="run")
    with pytest.raises(ValueError, match="16384"):
        fake.add_log_lines("demo", "nightly", run["id"], ["x" * 20_000], kind="run")
    with pytest.raises(TypeError):
        fake.add_log_lines("demo", "nightly", run["id"], "not a list", kind="run")


# ---------------------------------------------------------------------- range route


@pytest.mark.parametrize("shape", ["data", "data.logs", "data.data"])
@pytest.mark.parametrize("pagination", [True, False])
async def test_every_envelope_shape(
    fake: FakeNorthflank, http: aiohttp.ClientSession, prefix: str, shape: str, pagination: bool
) -> None:
    """Each shape, with or without pagination, holds the same lines."""
    build = with_status(fake, "SUCCESS")
    fake.set_log_shape(shape, pagination=pagination)
    status, body, headers = await get_logs(
        http, f"{prefix}/build-logs", queryType="range", buildId=build["id"], startTime=EARLY
    )
    assert status == 200
    assert lines_of(body) == fake.build_logs("demo", "nightly", build["id"])
    assert set(body) == ({"data", "pagination"} if pagination else {"data"})
    if pagination:
        assert body["pagination"] == {"hasNextPage": False, "count": len(lines_of(body))}
    assert "x-ratelimit-remaining" in headers
    assert fake.requests[-1].query["buildId"] == build["id"]


async def test_scripted_shapes_apply_per_request(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    """One scripted shape per range answer, then the fake's setting again."""
    build = with_status(fake, "SUCCESS")
    fake.script_log_shapes("data.logs", "data.data:nopagination")
    path = f"{PREFIXES[0]}/build-logs"
    bodies = [
        (await get_logs(http, path, buildId=build["id"], startTime=EARLY))[1] for _ in range(3)
    ]
    assert isinstance(bodies[0]["data"], dict) and "logs" in bodies[0]["data"]
    assert "pagination" in bodies[0]
    assert set(bodies[1]) == {"data"} and "data" in bodies[1]["data"]
    assert isinstance(bodies[2]["data"], list)
    with pytest.raises(ValueError, match="unknown log shape"):
        fake.script_log_shapes("logs")


async def test_truncated_range_continues_from_the_last_ts_exactly(
    fake: FakeNorthflank, http: aiohttp.ClientSession, prefix: str
) -> None:
    """Cut inside a burst of lines on one ts; continuing from the cursor loses nothing."""
    build = with_status(fake, "SUCCESS")
    expected = fake.build_logs("demo", "nightly", build["id"])
    got: list[dict[str, Any]] = []
    start, cut_in_burst = EARLY, False
    for _ in range(200):
        _, body, _ = await get_logs(
            http, f"{prefix}/build-logs", buildId=build["id"], startTime=start, lineLimit="4"
        )
        page = lines_of(body)
        # startTime is inclusive: skip the lines at that ts already received.
        seen_at_start = sum(1 for line in got if line["ts"] == page[0]["ts"])
        got.extend(page[seen_at_start:])
        if not body["pagination"]["hasNextPage"]:
            break
        cursor = body["pagination"]["cursor"]
        assert cursor == page[-1]["ts"]
        index = len(got)
        cut_in_burst |= index < len(expected) and expected[index]["ts"] == cursor
        start = cursor
    assert got == expected
    assert cut_in_burst  # at least one answer was cut between lines sharing a ts


async def test_backward_range_continues_with_an_inclusive_end(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    """Backward answers are newest first; endTime (inclusive) continues them."""
    build = with_status(fake, "FAILURE")
    expected = fake.build_logs("demo", "nightly", build["id"])
    _, body, _ = await get_logs(
        http,
        f"{PREFIXES[0]}/build-logs",
        buildId=build["id"],
        startTime=EARLY,
        direction="backward",
        lineLimit="5",
    )
    page = lines_of(body)
    assert page == expected[::-1][:5]
    assert body["pagination"] == {"hasNextPage": True, "cursor": page[-1]["ts"], "count": 5}
    _, body, _ = await get_logs(
        http,
        f"{PREFIXES[0]}/build-logs",
        buildId=build["id"],
        startTime=EARLY,
        endTime=page[-1]["ts"],
        direction="backward",
        lineLimit="1000",
    )
    older = lines_of(body)
    assert older[0]["ts"] == page[-1]["ts"]  # the end is inclusive
    seen = sum(1 for line in page if line["ts"] == page[-1]["ts"])
    assert page + older[seen:] == expected[::-1]


async def test_time_window_rules(
    fake: FakeNorthflank, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Default last 30 minutes; start/end inclusive; duration; at most two of three."""
    path = f"{PREFIXES[0]}/build-logs"
    old = with_status(fake, "SUCCESS")  # history lies hours before the clock's now
    _, body, _ = await get_logs(http, path, buildId=old["id"])
    assert lines_of(body) == []
    lines = fake.build_logs("demo", "nightly", old["id"])
    first, last = lines[0]["ts"], lines[-1]["ts"]
    _, body, _ = await get_logs(http, path, buildId=old["id"], startTime=first, endTime=last)
    assert lines_of(body) == lines
    _, body, _ = await get_logs(http, path, buildId=old["id"], startTime=first, duration="0.001")
    assert lines_of(body) == [line for line in lines if line["ts"] <= lines[0]["ts"]]
    _, body, _ = await get_logs(http, path, buildId=old["id"], endTime=last, duration="1800")
    assert lines_of(body) == lines
    fake.configure_builds(step=1.0)
    live = fake.add_build("demo", "nightly", status="BUILDING")
    clock.now += 2.0
    _, body, _ = await get_logs(http, path, buildId=live["id"], duration="60")
    assert lines_of(body) == fake.build_logs("demo", "nightly", live["id"]) != []
    for params, field in [
        ({"startTime": first, "endTime": last, "duration": "5"}, "At most two"),
        ({"startTime": "yesterday"}, "Invalid startTime"),
        ({"endTime": "2025-13-01T00:00:00Z"}, "Invalid endTime"),
        ({"duration": "-1"}, "Invalid duration"),
        ({"duration": "nan"}, "Invalid duration"),
        ({"startTime": last, "endTime": first}, "after endTime"),
        ({"lineLimit": "0"}, "Invalid lineLimit"),
        ({"lineLimit": "ten"}, "Invalid lineLimit"),
        ({"direction": "sideways"}, "Invalid direction"),
    ]:
        if field == "after endTime" and first == last:
            continue
        status, body, _ = await get_logs(http, path, buildId=old["id"], **params)
        assert status == 400, params
        assert field in body["error"]["message"], params


async def test_filters_and_container(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    """Each text/regex filter, the container filter, and the one-filter rule."""
    builds = fake.builds("demo", "nightly")
    build = next(
        b
        for b in builds
        if len({line["containerId"] for line in fake.build_logs("demo", "nightly", b["id"])}) == 2
    )
    lines = fake.build_logs("demo", "nightly", build["id"])
    path = f"{PREFIXES[1]}/build-logs"

    async def ask(**params: str) -> list[dict[str, Any]]:
        status, body, _ = await get_logs(http, path, buildId=build["id"], startTime=EARLY, **params)
        assert status == 200, body
        return lines_of(body)

    def text(line: dict[str, Any]) -> str:
        log = line["log"]
        return log if isinstance(log, str) else json.dumps(log, separators=(",", ":"))

    assert await ask(textIncludes="Step ") == [ln for ln in lines if "Step " in text(ln)]
    assert await ask(textNotIncludes="--->") == [ln for ln in lines if "--->" not in text(ln)]
    assert await ask(regexIncludes=r"^Step \d+/") == [
        ln for ln in lines if text(ln).startswith("Step ")
    ]
    assert await ask(regexNotIncludes="e") == [ln for ln in lines if "e" not in text(ln)]
    assert await ask(textIncludes='"level":"warn"') == [
        ln for ln in lines if isinstance(ln["log"], dict)
    ]
    cache = await ask(containerName="cache")
    assert cache and all(ln["containerId"] == f"{build['id']}-cache" for ln in cache)
    assert await ask(containerName=f"{build['id']}-cache") == cache
    for params in [{"textIncludes": "a", "regexIncludes": "b"}, {"regexIncludes": "("}]:
        status, _, _ = await get_logs(http, path, buildId=build["id"], **params)
        assert status == 400, params


async def test_range_errors_and_cap(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    """Unknown ids are 404; tail over HTTP is 400; the page cap truncates."""
    run = fake.runs("demo", "nightly")[0]
    base = PREFIXES[0]
    cases = [
        (f"{base}/build-logs", {"buildId": "nope-nope-0000"}, 404, "Build not found"),
        (f"{base}/logs", {"runId": "run-nope"}, 404, "Run not found"),
        (f"{base}/build-logs", {}, 400, "Missing buildId"),
        (f"{base}/logs", {"runId": run["id"], "queryType": "tail"}, 400, "WebSocket"),
        (f"{base}/logs", {"runId": run["id"], "queryType": "live"}, 400, "Invalid queryType"),
        ("/v1/projects/demo/jobs/nope/logs", {"runId": run["id"]}, 404, "Job not found"),
    ]
    for path, params, status, message in cases:
        got, body, headers = await get_logs(http, path, **params)
        assert got == status and message in body["error"]["message"], params
        assert "x-ratelimit-limit" in headers
    fake.log_page_limit = 3
    _, body, _ = await get_logs(http, f"{base}/logs", runId=run["id"], startTime=EARLY)
    assert len(lines_of(body)) == 3 and body["pagination"]["hasNextPage"] is True
    async with aiohttp.ClientSession(base_url=fake.base_url) as anonymous:
        status, _, _ = await get_logs(anonymous, f"{base}/logs", runId=run["id"])
    assert status == 401


# ---------------------------------------------------------------------- WebSocket tail


def init_frame(token: str = TOKEN) -> dict[str, Any]:
    return {"type": "init", "data": {"auth": {"type": "apiToken", "apiToken": token}}}


async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    """The next frame as JSON, or None once the socket is closed (or dropped)."""
    message = await ws.receive(timeout=10)  # a safety net against a hang, not an assertion
    if message.type == aiohttp.WSMsgType.TEXT:
        return json.loads(message.data)
    return None


async def test_tail_sends_existing_lines_then_new_ones(
    fake: FakeNorthflank, http: aiohttp.ClientSession, clock: ManualClock, prefix: str
) -> None:
    """Init, then the last 10 lines, then lines as the build progresses."""
    fake.configure_builds(step=2.0)
    build = fake.add_build("demo", "nightly", status="BUILDING")
    clock.now += 3.0
    params = {"queryType": "tail", "buildId": build["id"]}
    async with http.ws_connect(f"{prefix}/build-logs", params=params) as ws:
        await ws.send_json(init_frame())
        assert await receive(ws) == {"type": "init", "data": {"auth": "successful"}}
        first = await receive(ws)
        assert first["type"] == "log-lines"
        assert first["data"] == fake.build_logs("demo", "nightly", build["id"])[-10:]
        clock.now += 10.0  # the build concludes
        got = list(first["data"])
        while got[-1]["log"] != "Build complete: image pushed":
            frame = await receive(ws)
            assert frame["type"] == "log-lines"
            got.extend(frame["data"])
    everything = fake.build_logs("demo", "nightly", build["id"])
    assert got == everything[len(everything) - len(got) :]
    assert fake.tail_count == 1 and fake.tails[0].auth == "successful"
    assert fake.requests[-1].status == 101


async def test_tail_honours_line_limit_start_time_and_filters(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    """A tail can resume from a ts with a larger lineLimit, and filter."""
    build = with_status(fake, "SUCCESS")
    lines = fake.build_logs("demo", "nightly", build["id"])
    middle = lines[len(lines) // 2]["ts"]
    params = {
        "queryType": "tail",
        "buildId": build["id"],
        "startTime": middle,
        "lineLimit": "1000",
        "textNotIncludes": "--->",
    }
    async with http.ws_connect(f"{PREFIXES[0]}/build-logs", params=params) as ws:
        await ws.send_json(init_frame())
        await receive(ws)
        frame = await receive(ws)
    assert frame["data"] == [
        ln for ln in lines if ln["ts"] >= middle and "--->" not in str(ln["log"])
    ]


async def test_tail_of_a_run(
    fake: FakeNorthflank, http: aiohttp.ClientSession, clock: ManualClock, prefix: str
) -> None:
    """Runs tail on .../logs with runId."""
    fake.configure_runs(step=5.0)
    run = fake.add_run("demo", "nightly")
    clock.now += 4.0
    params = {"queryType": "tail", "runId": run["id"], "lineLimit": "1000"}
    async with http.ws_connect(f"{prefix}/logs", params=params) as ws:
        await ws.send_json(init_frame())
        await receive(ws)
        got = (await receive(ws))["data"]
        clock.now += 20.0
        while not str(got[-1]["log"]).startswith(("Job completed", "Error:")):
            got.extend((await receive(ws))["data"])
    assert got == fake.run_logs("demo", "nightly", run["id"])


@pytest.mark.parametrize("scripted", [False, True])
async def test_tail_refuses_a_wrong_token(
    fake: FakeNorthflank, http: aiohttp.ClientSession, scripted: bool
) -> None:
    """A wrong token (or a scripted refusal) gets auth "failed", then the socket closes."""
    build = with_status(fake, "SUCCESS")
    if scripted:
        fake.script_tail("refuse_auth")
    params = {"queryType": "tail", "buildId": build["id"]}
    async with http.ws_connect(f"{PREFIXES[0]}/build-logs", params=params) as ws:
        await ws.send_json(init_frame(TOKEN if scripted else "wrong-token"))
        answer = await receive(ws)
        assert answer["type"] == "init" and answer["data"]["auth"] == "failed"
        assert answer["data"]["message"]
        assert await receive(ws) is None
    assert fake.tails[0].auth == "failed"


async def test_tail_rejects_a_token_in_the_url_and_never_records_it(
    fake: FakeNorthflank, http: aiohttp.ClientSession
) -> None:
    """A credential in the query string is an error frame; the record redacts it."""
    build = with_status(fake, "SUCCESS")
    for key in ("token", "q"):
        params = {"queryType": "tail", "buildId": build["id"], key: TOKEN}
        async with http.ws_connect(f"{PREFIXES[0]}/build-logs", params=params) as ws:
            await ws.send_json(init_frame())
            frame = await receive(ws)
            assert frame["type"] == "error" and "URL" in frame["data"]["message"]
            assert await receive(ws) is None
    recorded = repr(fake.requests) + repr(fake.tails)
    assert TOKEN not in recorded
    assert fake.tails[0].query["token"] == "<redacted>"


async def test_tail_protocol_errors(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    """No init frame first, or an unknown build: an error frame, then close."""
    build = with_status(fake, "SUCCESS")
    path = f"{PREFIXES[0]}/build-logs"
    async with http.ws_connect(path, params={"queryType": "tail", "buildId": build["id"]}) as ws:
        await ws.send_json({"type": "hello"})
        frame = await receive(ws)
        assert frame["type"] == "error" and "init" in frame["data"]["message"]
    async with http.ws_connect(path, params={"queryType": "tail", "buildId": "nope"}) as ws:
        await ws.send_json(init_frame())
        assert (await receive(ws))["data"]["auth"] == "successful"
        frame = await receive(ws)
        assert frame == {"type": "error", "data": {"message": "Build not found"}}
        assert await receive(ws) is None


async def tail_until_concluded(
    fake: FakeNorthflank,
    http: aiohttp.ClientSession,
    clock: ManualClock,
    build_id: str,
) -> list[dict[str, Any]]:
    """A reconnecting tail, as a client would write it: resume from the last ts and skip
    the lines already received at that ts. The clock moves 1 s whenever no frame comes
    for a moment (how often does not matter: the lines received are compared in full)."""
    got: list[dict[str, Any]] = []
    while not got or not str(got[-1]["log"]).startswith(("Build complete", "ERROR")):
        params = {"queryType": "tail", "buildId": build_id, "lineLimit": "100000"}
        params["startTime"] = got[-1]["ts"] if got else EARLY
        async with http.ws_connect(f"{PREFIXES[0]}/build-logs", params=params) as ws:
            await ws.send_json(init_frame())
            assert (await receive(ws))["data"]["auth"] == "successful"
            first = True
            while True:
                try:
                    message = await ws.receive(timeout=0.1)
                except TimeoutError:
                    clock.now += 1.0
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    break  # dropped: reconnect
                frame = json.loads(message.data)
                assert frame["type"] == "log-lines"
                batch = frame["data"]
                if first and got:
                    batch = batch[sum(1 for line in got if line["ts"] == batch[0]["ts"]) :]
                first = False
                got.extend(batch)
                if str(got[-1]["log"]).startswith(("Build complete", "ERROR")):
                    break
    return got


async def test_tail_dropped_three_times_loses_and_repeats_nothing(
    fake: FakeNorthflank, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Three drops mid-build; resuming from the last ts gives every line once, in order."""
    fake.configure_builds(step=1.0)
    build = fake.add_build("demo", "nightly")
    fake.script_tail("drop_after:2", "drop_after:2", "drop_after:2")
    got = await tail_until_concluded(fake, http, clock, build["id"])
    assert got == fake.build_logs("demo", "nightly", build["id"])
    assert fake.tail_count == 4
    assert [t.ended for t in fake.tails[:3]] == ["drop"] * 3


async def test_scripted_tail_frames(
    fake: FakeNorthflank, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """error_after, unknown_after, oversized_after and close_after act as documented."""
    build = with_status(fake, "SUCCESS")
    path = f"{PREFIXES[0]}/build-logs"
    params = {"queryType": "tail", "buildId": build["id"], "startTime": EARLY}
    fake.script_tail("error_after:1", "unknown_after:0", "oversized_after:1", "close_after:1")

    async def frames(count: int = 3) -> list[Any]:
        out = []
        async with http.ws_connect(path, params=params) as ws:
            await ws.send_json(init_frame())
            await receive(ws)
            for _ in range(count):
                frame = await receive(ws)
                out.append(frame)
                if frame is None:
                    out.append(ws.close_code)
                    break
        return out

    error = await frames()
    assert error[0]["type"] == "log-lines"
    assert error[1] == {
        "type": "error",
        "data": {"message": "Internal error while tailing logs (injected)"},
    }
    unknown = await frames(2)
    assert unknown[0]["type"] == "log-stats" and unknown[1]["type"] == "log-lines"
    oversized = await frames(2)
    assert len(json.dumps(oversized[1])) > 32_768 and oversized[1]["type"] == "log-lines"
    closed = await frames()
    assert closed[1:] == [None, 1012]
    with pytest.raises(ValueError, match="unknown tail step"):
        fake.script_tail("drop_after")


async def test_tail_frames_are_bounded(fake: FakeNorthflank, http: aiohttp.ClientSession) -> None:
    """Many big lines are split into frames of at most 32 kB each."""
    build = with_status(fake, "SUCCESS")
    big = [{"log": f"{i:04d} " + "y" * 10_000, "ts": "2025-01-01T00:00:00Z"} for i in range(20)]
    fake.add_log_lines("demo", "nightly", build["id"], big)
    params = {"queryType": "tail", "buildId": build["id"], "startTime": EARLY}
    params["lineLimit"] = "100000"
    sizes, count = [], 0
    async with http.ws_connect(f"{PREFIXES[0]}/build-logs", params=params) as ws:
        await ws.send_json(init_frame())
        await receive(ws)
        while count < len(fake.build_logs("demo", "nightly", build["id"])):
            message = await ws.receive(timeout=10)
            sizes.append(len(message.data.encode()))
            count += len(json.loads(message.data)["data"])
    assert len(sizes) >= 7 and max(sizes) <= 32_768


async def test_closing_the_fake_ends_open_tails(clock: ManualClock) -> None:
    """Closing the fake closes its tails (going away) instead of waiting for them."""
    async with FakeNorthflank(clock=clock) as fake:
        fake.add_job("demo", "nightly", builds=1)
        build = fake.builds("demo", "nightly")[0]
        async with aiohttp.ClientSession(base_url=fake.base_url) as session:
            params = {"queryType": "tail", "buildId": build["id"]}
            async with session.ws_connect(f"{PREFIXES[0]}/build-logs", params=params) as ws:
                await ws.send_json(init_frame())
                await receive(ws)
                closer = asyncio.create_task(fake.close())  # while the client reads
                while await receive(ws) is not None:
                    pass
                await closer
                assert ws.close_code == 1001
        assert fake.tails[0].ended == "fake closing"
