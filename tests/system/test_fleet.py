"""One request budget for a fleet, kept in a real redis-server (see tests/system/_redis.py)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from northflank_async import (
    ConfigurationError,
    Coordinator,
    NorthflankClient,
    RateLimitGateError,
    RedisCoordinator,
)
from northflank_async._core.fleet import Told, derive_budget_key
from northflank_async._core.secret import Secret
from northflank_async._transport.redis_store import _RedisBudget
from northflank_async.cli import main
from northflank_async.testing import FakeNorthflank

from ._fleet_run import run_fleet
from ._redis import RedisServer, require_redis

TOKEN = "nf-fleet-secret-token-0123456789"


@pytest.fixture
async def coordinator(redis_server: RedisServer) -> AsyncIterator[RedisCoordinator]:
    async with RedisCoordinator.from_url(redis_server.url, namespace="test") as coord:
        yield coord


def budget(coordinator: RedisCoordinator, key: str = "k") -> _RedisBudget:
    shared = coordinator.shared_budget(key)
    assert isinstance(shared, _RedisBudget)
    return shared


async def stored(coordinator: RedisCoordinator) -> dict[str, Any]:
    """Every key of the server with its value (hash fields, sorted-set members), as text."""
    client: Any = coordinator._client  # redis' stubs type values as bytes | str
    found: dict[str, Any] = {}
    async for raw in client.scan_iter(match="*"):
        key = raw.decode()
        kind = (await client.type(raw)).decode()
        if kind == "hash":
            value: Any = {k.decode(): v.decode() for k, v in (await client.hgetall(raw)).items()}
        elif kind == "zset":
            value = [m.decode() for m in await client.zrange(raw, 0, -1)]
        else:
            value = kind
        found[key] = value
    return found


# -- the scripts, one reservation at a time --------------------------------------------------


async def test_the_first_request_probes_and_the_others_wait_for_its_answer(
    coordinator: RedisCoordinator,
) -> None:
    shared = budget(coordinator)
    first = await shared.reserve("a", 30)
    assert first.go and first.probe
    second = await shared.reserve("b", 30)
    assert not second.go and second.wait is None  # a probe is out: ask again
    view = await shared.settle("a", Told(limit=300, remaining=299, reset=10), cancelled=False)
    assert (view.limit, view.remaining) == (300, 299)
    assert view.reset_in is not None and 9 < view.reset_in <= 10
    third = await shared.reserve("b", 30)
    assert third.go and not third.probe
    assert third.view is not None and third.view.remaining == 298


async def test_an_answer_counts_the_other_reservations_still_in_flight(
    coordinator: RedisCoordinator,
) -> None:
    shared = budget(coordinator)
    assert (await shared.reserve("p", 30)).probe
    await shared.settle("p", Told(limit=10, remaining=9, reset=60), cancelled=False)
    for ticket in "abc":
        assert (await shared.reserve(ticket, 30)).go
    # The API counted only "a" when it answered; "b" and "c" are still ours to count.
    view = await shared.settle("a", Told(limit=10, remaining=8, reset=60), cancelled=False)
    assert view.remaining == 6
    # A late answer can never raise the count within a window.
    view = await shared.settle("b", Told(limit=10, remaining=9, reset=60), cancelled=False)
    assert view.remaining == 6


async def test_a_spent_window_makes_every_member_wait_for_the_announced_reset(
    coordinator: RedisCoordinator,
) -> None:
    shared = budget(coordinator)
    assert (await shared.reserve("p", 30)).probe
    await shared.settle("p", Told(limit=2, remaining=1, reset=0.4), cancelled=False)
    assert (await shared.reserve("a", 30)).go
    spent = await shared.reserve("b", 30)
    assert not spent.go and spent.wait is not None and 0 < spent.wait <= 0.4
    other = budget(coordinator)  # another process: the same keys
    assert (await other.reserve("c", 30)).wait is not None
    await asyncio.sleep(spent.wait + 0.05)
    # The reset passed with nothing left: the window is unknown, one request probes it.
    after = await other.reserve("c", 30)
    assert after.go and after.probe
    assert not (await shared.reserve("d", 30)).go


async def test_a_reservation_of_a_dead_process_expires(coordinator: RedisCoordinator) -> None:
    shared = budget(coordinator)
    assert (await shared.reserve("dead", 0.1)).probe  # its process dies: never settled
    assert (await shared.reserve("x", 30)).wait is None
    await asyncio.sleep(0.15)
    assert (await shared.reserve("x", 30)).probe
    assert await coordinator._client.zrange(shared.keys[1], 0, -1) == [b"x"]


async def test_a_cancelled_probe_hands_over_and_a_silent_one_opens_the_gate(
    coordinator: RedisCoordinator,
) -> None:
    shared = budget(coordinator)
    assert (await shared.reserve("a", 30)).probe
    await shared.settle("a", None, cancelled=True)
    assert (await shared.reserve("b", 30)).probe  # the next request probes instead
    await shared.settle("b", None, cancelled=False)  # an answer without the headers
    grants = [await shared.reserve(t, 30) for t in "cde"]
    assert all(g.go and not g.probe for g in grants)  # nobody waits for headers that never come


async def test_budgets_with_different_keys_or_namespaces_are_apart(
    coordinator: RedisCoordinator, redis_server: RedisServer
) -> None:
    assert (await budget(coordinator, "one").reserve("a", 30)).probe
    assert (await budget(coordinator, "two").reserve("a", 30)).probe
    async with RedisCoordinator.from_url(redis_server.url, namespace="other") as elsewhere:
        assert (await budget(elsewhere, "one").reserve("a", 30)).probe


# -- the client with a coordinator ----------------------------------------------------------


async def test_clients_sharing_redis_never_draw_a_429(coordinator: RedisCoordinator) -> None:
    async with FakeNorthflank(token=TOKEN, rate_limit=(12, 0.5)) as fake:
        fake.add_job("p", "j", builds=40)
        clients = [
            NorthflankClient(TOKEN, base_url=fake.base_url, coordinator=coordinator, max_retries=0)
            for _ in range(3)
        ]

        async def listing(nf: NorthflankClient) -> int:
            return len(await nf.jobs.builds.list(project_id="p", job_id="j", per_page=10).collect())

        counts = await asyncio.gather(*(listing(nf) for nf in clients for _ in range(4)))
        for nf in clients:
            await nf.close()
        statuses = [r.status for r in fake.requests]
    assert counts == [40] * 12
    assert len(statuses) == 12 * 4 and set(statuses) == {200}  # 4 windows, not one 429
    view = clients[0].rate_limit
    assert view is not None and view.limit == 12


async def test_nothing_of_the_token_is_stored(coordinator: RedisCoordinator) -> None:
    async with FakeNorthflank(token=TOKEN, rate_limit=(100, 60)) as fake:
        fake.add_job("p", "j", builds=5)
        async with NorthflankClient(TOKEN, base_url=fake.base_url, coordinator=coordinator) as nf:
            await nf.jobs.builds.list(project_id="p", job_id="j").collect()
    found = await stored(coordinator)
    key = derive_budget_key(Secret(TOKEN))
    assert list(found) == [f"test:budget:{{{key}}}:state"]  # the in-flight set expired empty
    assert set(found[f"test:budget:{{{key}}}:state"]) == {"limit", "remaining", "reset"}
    text = repr(found)
    assert all(TOKEN[i : i + 8] not in text for i in range(len(TOKEN) - 7))
    assert key == derive_budget_key(Secret(TOKEN)) != derive_budget_key(Secret(TOKEN + "x"))


async def test_a_named_budget_key_is_shared_by_several_tokens(redis_server: RedisServer) -> None:
    coord = RedisCoordinator.from_url(redis_server.url, namespace="acme", budget_key="acme-prod")
    async with coord, FakeNorthflank(token=TOKEN, rate_limit=(100, 60)) as fake:
        fake.add_job("p", "j", builds=1)
        for token in (TOKEN, "another-token-of-the-account"):
            fake.token = token
            async with NorthflankClient(token, base_url=fake.base_url, coordinator=coord) as nf:
                await nf.jobs.builds.list(project_id="p", job_id="j").collect()
        found = await stored(coord)
    assert list(found) == ["acme:budget:{acme-prod}:state"]
    assert found["acme:budget:{acme-prod}:state"]["remaining"] == "98"


async def test_waiting_for_a_probe_is_bounded_by_max_rate_limit_wait(
    coordinator: RedisCoordinator,
) -> None:
    # Another member's probe is out and its answer does not come.
    key = derive_budget_key(Secret(TOKEN))
    assert (await budget(coordinator, key).reserve("elsewhere", 30)).probe
    async with FakeNorthflank(token=TOKEN) as fake:
        fake.add_job("p", "j", builds=1)
        nf = NorthflankClient(
            TOKEN, base_url=fake.base_url, coordinator=coordinator, max_rate_limit_wait=0.2
        )
        async with nf:
            with pytest.raises(RateLimitGateError, match="first request has not told"):
                await nf.jobs.builds.list(project_id="p", job_id="j").collect()
        assert fake.request_count == 0


async def test_a_restarted_redis_is_no_outage(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """After a quick restart the pool's old connection is dead: retried, not an outage."""
    coord = RedisCoordinator.from_url(redis_server.url, namespace="t")
    async with coord, FakeNorthflank(token=TOKEN, rate_limit=(1000, 60)) as fake:
        fake.add_job("p", "j", builds=3)
        async with NorthflankClient(TOKEN, base_url=fake.base_url, coordinator=coord) as nf:
            await nf.jobs.builds.list(project_id="p", job_id="j").collect()
            redis_server.stop()
            redis_server.start()  # between two requests: nothing was ever unreachable
            with caplog.at_level(logging.INFO, logger="northflank_async"):
                await nf.jobs.builds.list(project_id="p", job_id="j").collect()
    assert [r.getMessage() for r in caplog.records if "coordinator" in r.getMessage()] == []


async def test_redis_down_falls_back_with_one_warning_and_comes_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    coord = RedisCoordinator.from_url(redis_server.url, namespace="t", recheck=0.2)
    key = f"t:budget:{{{derive_budget_key(Secret(TOKEN))}}}:state"
    async with coord, FakeNorthflank(token=TOKEN, rate_limit=(1000, 60)) as fake:
        fake.add_job("p", "j", builds=30)
        nf = NorthflankClient(TOKEN, base_url=fake.base_url, coordinator=coord, max_retries=0)
        async with nf:

            async def listings() -> list[int]:
                walks = [
                    nf.jobs.builds.list(project_id="p", job_id="j", per_page=5).collect()
                    for _ in range(4)
                ]
                return [len(builds) for builds in await asyncio.gather(*walks)]

            assert await listings() == [30] * 4
            # The fleet's count: never above the API's 976. It is conservative: an answer is
            # settled (in the background) less the requests still reserved then, and how many
            # those are depends on how late the settling runs, so only a loose floor holds.
            assert 976 - 24 <= int((await stored(coord))[key]["remaining"]) <= 976

            redis_server.stop()
            with caplog.at_level(logging.INFO, logger="northflank_async"):
                assert await listings() == [30] * 4  # 24 requests on the process's own gate
                assert await listings() == [30] * 4
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1  # one line for the outage, not one per request
            message = warnings[0].getMessage()
            assert message.startswith("the fleet's coordinator is unreachable (ConnectionError: ")
            assert message.endswith(
                "): requests use this process's own rate-limit gate until it answers "
                "(tried again every 0.2s)"
            )
            caplog.clear()

            redis_server.start()  # an empty server: the state was not saved
            await asyncio.sleep(0.25)  # past the recheck interval
            with caplog.at_level(logging.INFO, logger="northflank_async"):
                assert await listings() == [30] * 4
            assert [r.getMessage() for r in caplog.records] == [
                "the fleet's coordinator answers again: requests share its budget"
            ]
            state = (await stored(coord))[key]
            # Back on Redis: the first request probed the unknown window, the rest counted.
            assert int(state["remaining"]) < 1000 - 48
    assert {r.status for r in fake.requests} == {200}


# -- configuration -----------------------------------------------------------------------------


def test_bad_names_and_settings_are_configuration_errors() -> None:
    require_redis()
    with pytest.raises(ConfigurationError, match="namespace"):
        RedisCoordinator.from_url("redis://127.0.0.1:1", namespace="a b")
    with pytest.raises(ConfigurationError, match="budget_key"):
        RedisCoordinator.from_url("redis://127.0.0.1:1", budget_key="{x}")
    with pytest.raises(ConfigurationError, match="timeout"):
        RedisCoordinator.from_url("redis://127.0.0.1:1", timeout=0)
    with pytest.raises(ConfigurationError, match="Redis URL"):
        RedisCoordinator.from_url("http://user:hunter2@127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="coordinator must be a Coordinator"):
        NorthflankClient(TOKEN, coordinator="redis://x")  # type: ignore[arg-type]


async def test_the_repr_hides_the_redis_password() -> None:
    require_redis()
    coord = RedisCoordinator.from_url("redis://user:hunter2@127.0.0.1:1/0", namespace="acme")
    async with coord:
        assert repr(coord) == "<RedisCoordinator redis://user:***@127.0.0.1:1/0 namespace='acme'>"
        assert isinstance(coord, Coordinator)


def test_without_redis_the_package_imports_and_names_the_extra() -> None:
    script = (
        "import sys; sys.modules['redis'] = None\n"
        "import northflank_async as nf\n"
        "assert 'redis.asyncio' not in sys.modules\n"
        "try:\n"
        "    nf.RedisCoordinator.from_url('redis://localhost')\n"
        "except nf.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == (
        "RedisCoordinator needs the redis package: pip install 'northflank-async[redis]'"
    )


def test_importing_the_package_does_not_import_redis() -> None:
    script = "import sys, northflank_async; print('redis' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


# -- real processes ----------------------------------------------------------------------------


def test_a_fleet_of_processes_on_one_redis_draws_no_429(redis_server: RedisServer) -> None:
    """Acceptance, reduced for CI (benchmarks/fleet.py runs 8 x 25 on 300 requests per 10 s).

    4 processes x 10 concurrent listings of 3 pages, one token, one Redis, against the fake
    API in its own process with 40 requests a second. Without the coordinator the same run
    draws dozens of 429s (docs/performance.md).
    """
    run = run_fleet(
        processes=4, listings=10, pages=3, limit=40, window=1.0, redis_url=redis_server.url
    )
    assert run["errors"] == 0 and run["builds"] == run["expected_builds"]
    assert run["statuses"] == {200: 4 * 10 * 3}  # not one 429
    assert sum(run["windows"]) == 120 and max(run["windows"]) <= 40
    assert len(run["windows"]) >= 3  # the run needed several windows: the limit was at stake


# -- the command line --------------------------------------------------------------------------


def test_the_cli_shares_the_budget_with_redis(
    redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["builds", "list", "--fake", "--limit", "3", "--format", "jsonl"]
    assert main([*argv, "--redis", redis_server.url, "--budget-key", "acme-prod"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3

    async def keys() -> list[bytes]:
        async with RedisCoordinator.from_url(redis_server.url) as coord:
            return sorted([key async for key in coord._client.scan_iter(match="*")])

    assert asyncio.run(keys()) == [b"northflank-async:budget:{acme-prod}:state"]


def test_the_cli_refuses_bad_fleet_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["builds", "list", "--fake", "--budget-key", "acme"]) == 2
    assert capsys.readouterr().err == "northflank-async: --budget-key needs --redis\n"
    require_redis()
    assert main(["builds", "list", "--fake", "--redis", "redis://x", "--budget-key", "a b"]) == 2
    assert "budget_key must be 1 to 64 characters" in capsys.readouterr().err
