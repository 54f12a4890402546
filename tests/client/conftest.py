"""Fixtures of the client tests: the shipped fake and client, and a scripted loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from northflank_async import NorthflankClient
from northflank_async.testing import FakeNorthflank

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a loopback aiohttp server answering every request with a handler; its base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def fake(northflank_fake: FakeNorthflank) -> FakeNorthflank:
    """The shipped ``northflank_fake``; a module overrides ``fake`` to add its data, and passes
    options to the fake with the plugin's marker (``pytestmark``)."""
    return northflank_fake


@pytest.fixture
def nf(fake: FakeNorthflank, northflank_client: NorthflankClient) -> NorthflankClient:
    """The shipped ``northflank_client`` (backoff waits off), once ``fake`` holds its data."""
    return northflank_client
