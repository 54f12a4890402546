"""The fleet's Redis edges: credentials in every URL form, odd state, refused passwords.

On a real redis-server (tests/system/_redis.py): one plain, one that requires a password.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from northflank_async import ConfigurationError, NorthflankClient, RedisCoordinator
from northflank_async._core.fleet import Told
from northflank_async._transport.redis_store import _RedisBudget
from northflank_async._transport.redis_support import safe as _safe
from northflank_async.cli import main
from northflank_async.testing import FakeNorthflank

from ._redis import RedisServer, require_redis

TOKEN = "nf-fleet-edges-token-0123456789"
PASSWORD = "s3cret-Pa55word"


@pytest.fixture
def locked_server() -> Iterator[RedisServer]:
    server = RedisServer(require_redis(), password=PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def coordinator(redis_server: RedisServer) -> AsyncIterator[RedisCoordinator]:
    async with RedisCoordinator.from_url(redis_server.url, namespace="test") as coord:
        yield coord


def budget(coordinator: RedisCoordinator) -> _RedisBudget:
    shared = coordinator.shared_budget("k")
    assert isinstance(shared, _RedisBudget)
    return shared


async def redis_now_ms(coordinator: RedisCoordinator) -> int:
    seconds, micros = await coordinator._client.time()
    return int(seconds) * 1000 + int(micros) // 1000


# -- credentials: masked in every form ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:hunter2@127.0.0.1:1/0", "redis://user:***@127.0.0.1:1/0"),
        ("redis://:hunter2@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
        ("redis://127.0.0.1:1/0?password=hunter2", "redis://127.0.0.1:1/0?password=***"),
        (
            "rediss://u@127.0.0.1:1/0?username=u&password=hunter2&ssl_password=hunter3",
            "rediss://u@127.0.0.1:1/0?username=u&password=***&ssl_password=***",
        ),
        (
            "unix:///run/redis.sock?db=0&password=hunter2",
            "unix:///run/redis.sock?db=0&password=***",
        ),
        ("unix://u:hunter2@/run/redis.sock", "unix://u:***@/run/redis.sock"),
        ("redis://u:hun%40ter2@127.0.0.1:1/0", "redis://u:***@127.0.0.1:1/0"),
        ("redis://127.0.0.1:1/0", "redis://127.0.0.1:1/0"),
    ],
)
async def test_every_form_of_credential_is_masked_in_the_repr(url: str, shown: str) -> None:
    require_redis()
    assert _safe(url) == shown
    async with RedisCoordinator.from_url(url, namespace="acme") as coord:
        assert repr(coord) == f"<RedisCoordinator {shown} namespace='acme'>"
        assert "hunter" not in repr(coord) and "hun%40" not in repr(coord)


@pytest.mark.parametrize(
    "url",
    [
        "redis://u:hunter2@127.0.0.1:99999/0",
        "redis://127.0.0.1:99999/0?password=hunter2",
        "unix:///run/redis.sock?db=x&password=hunter2",
    ],
)
def test_a_url_that_cannot_be_used_is_named_without_its_password(url: str) -> None:
    require_redis()
    with pytest.raises(ConfigurationError, match="Redis URL") as caught:
        RedisCoordinator.from_url(url)
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


def test_credentials_are_found_in_every_form() -> None:
    from northflank_async._transport.redis_support import credentials as _credentials

    url = "redis://u:p%40ss@h/0?password=q1&ssl_password=q2&db=3"
    assert set(_credentials(url=url)) == {"p%40ss", "p@ss", "q1", "q2"}


# -- odd state written by another process ---------------------------------------------------------


async def test_a_negative_remaining_is_no_count_and_one_request_probes(
    coordinator: RedisCoordinator,
) -> None:
    shared = budget(coordinator)
    assert (await shared.reserve("p", 30)).probe
    await shared.settle("p", Told(limit=10, remaining=9, reset=600), cancelled=False)
    await coordinator._client.hset(shared.keys[0], "remaining", -5)  # another process's bug
    grant = await shared.reserve("a", 30)
    assert grant.go and grant.probe  # not a wait of 600 s: the window is learnt again
    view = await shared.settle("a", Told(limit=10, remaining=7, reset=590), cancelled=False)
    assert view.remaining == 7
    # A count above the limit is no more believed than the limit.
    await coordinator._client.hset(shared.keys[0], "remaining", 10**9)
    grant = await shared.reserve("b", 30)
    assert grant.go and grant.view is not None and grant.view.remaining == 9


async def test_reservations_scored_far_ahead_are_held_no_longer_than_the_hold(
    coordinator: RedisCoordinator,
) -> None:
    """A probe and reservations written for a year block the fleet for one hold at most."""
    shared = budget(coordinator)
    client: Any = coordinator._client
    state, inflight = shared.keys
    far = await redis_now_ms(coordinator) + 365 * 86_400_000
    await client.zadd(inflight, {"rogue-probe": far, **{f"rogue-{n}": far for n in range(50)}})
    await client.hset(state, mapping={"probe": "rogue-probe", "probe_until": far})
    grant = await shared.reserve("x", 0.2)
    assert not grant.go and grant.wait is None  # the rogue probe is out, for now
    now = await redis_now_ms(coordinator)
    scores = [score for _, score in await client.zrange(inflight, 0, -1, withscores=True)]
    assert len(scores) == 51 and max(scores) <= now + 200
    assert int(await client.hget(state, "probe_until")) <= now + 200
    await asyncio.sleep(0.25)  # past the hold, on Redis' clock
    grant = await shared.reserve("y", 30)
    assert grant.go and grant.probe
    assert await client.zrange(inflight, 0, -1) == [b"y"]
    # The API's answer is not shrunk by the rogue reservations: they are gone.
    view = await shared.settle("y", Told(limit=100, remaining=99, reset=60), cancelled=False)
    assert view.remaining == 99


# -- a refused password is a configuration error, not an outage ----------------------------------


@pytest.mark.parametrize(
    "form",
    ["redis://:wrong-{p}@127.0.0.1:{port}/0", "redis://127.0.0.1:{port}/0?password=wrong-{p}",
     "redis://127.0.0.1:{port}/0", "redis://nobody:{p}@127.0.0.1:{port}/0"],
)  # fmt: skip
async def test_a_refused_password_fails_fast_and_sends_nothing(
    locked_server: RedisServer, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    url = form.format(p=PASSWORD, port=locked_server.port)
    coord = RedisCoordinator.from_url(url, namespace="t")
    async with coord, FakeNorthflank(token=TOKEN) as fake:
        fake.add_job("p", "j", builds=3)
        async with NorthflankClient(TOKEN, base_url=fake.base_url, coordinator=coord) as nf:
            with caplog.at_level(logging.INFO, logger="northflank_async"):
                for _ in range(2):  # every request, not the first only
                    with pytest.raises(ConfigurationError) as caught:
                        await nf.jobs.builds.list(project_id="p", job_id="j").collect()
                    message = str(caught.value)
                    assert "refused the coordinator's credentials" in message
                    assert PASSWORD not in message and "127.0.0.1" in message
        assert fake.request_count == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no "outage"


async def test_the_right_password_shares_the_budget(locked_server: RedisServer) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{locked_server.port}/0"
    async with (
        RedisCoordinator.from_url(url, namespace="t") as coord,
        FakeNorthflank(token=TOKEN) as fake,
    ):
        fake.add_job("p", "j", builds=3)
        async with NorthflankClient(TOKEN, base_url=fake.base_url, coordinator=coord) as nf:
            assert len(await nf.jobs.builds.list(project_id="p", job_id="j").collect()) == 3
        assert [k async for k in coord._client.scan_iter(match="t:budget:*:state")]


async def test_a_user_without_the_rights_fails_fast(locked_server: RedisServer) -> None:
    """NOPERM (an ACL user that may not run scripts) is as much a setting to fix."""
    admin = f"redis://:{PASSWORD}@127.0.0.1:{locked_server.port}/0"
    async with RedisCoordinator.from_url(admin) as coord:
        admin_client: Any = coord._client  # redis' stubs leave execute_command untyped
        await admin_client.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "~*", "+get")
    url = f"redis://reader:pw@127.0.0.1:{locked_server.port}/0"
    async with (
        RedisCoordinator.from_url(url, namespace="t") as coord,
        FakeNorthflank(token=TOKEN) as fake,
    ):
        async with NorthflankClient(TOKEN, base_url=fake.base_url, coordinator=coord) as nf:
            with pytest.raises(ConfigurationError, match="NoPermissionError"):
                await nf.jobs.builds.list(project_id="p", job_id="j").collect()
        assert fake.request_count == 0


def test_the_cli_says_a_refused_password_is_a_usage_error(
    locked_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{locked_server.port}/0?password=wrong-{PASSWORD}"
    assert main(["builds", "list", "--fake", "--limit", "3", "--redis", url]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and PASSWORD not in captured.err
    assert captured.err.splitlines()[-1].startswith(  # after --fake's notice
        f"northflank-async: Redis at redis://127.0.0.1:{locked_server.port}/0?password=*** "
        "refused the coordinator's credentials (AuthenticationError: "
    )
