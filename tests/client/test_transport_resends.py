"""Every request the server receives is an attempt of ours (issue 18, point 3).

aiohttp resends an idempotent request once, by itself, when a reused keep-alive connection
fails (``ServerDisconnectedError``). The server below closes every connection, without an
answer, when the second request on it arrives: each such request is what aiohttp would
resend behind our back. These tests count what the server received against what the client
counted (``on_request_start``: one per attempt, after the rate-limit gate).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from northflank_async import ConflictError, NorthflankClient, RequestStart, TransportError

from ..conftest import TOKEN, wire_build

P, J, BUILD = "proj", "job", "build-0001"
BUILD_PATH = f"/v1/projects/{P}/jobs/{J}/build/{BUILD}"


class ClosingServer:
    """Answers the first request of each connection; closes it when the second one arrives.

    A DELETE of the build aborts it (even when its answer is then lost); a DELETE of an
    aborted build is answered 409, as the API does.
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.per_connection: dict[object, int] = {}
        self.aborted = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((request.method, request.path))
        key = request.transport
        self.per_connection[key] = self.per_connection.get(key, 0) + 1
        first = self.per_connection[key] == 1
        if request.method == "DELETE":
            if self.aborted:
                return _json(409, {"error": {"status": 409, "message": "Build has concluded"}})
            self.aborted = True  # the effect happens whether or not the answer arrives
        if not first:
            assert request.transport is not None
            request.transport.close()  # read, acted on, never answered
            return web.Response(status=500)
        if request.method == "DELETE":
            return _json(200, {"data": {}})
        return _json(200, {"data": wire_build(1, id=BUILD)})


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status, headers={"Connection": "keep-alive"})


@asynccontextmanager
async def closing_server() -> AsyncIterator[tuple[ClosingServer, str]]:
    server = ClosingServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def client_of(
    base_url: str, *, lent: bool, **options: Any
) -> AsyncIterator[tuple[NorthflankClient, list[RequestStart]]]:
    """A client (with its own session, or a lent one) that records every attempt it sends."""
    starts: list[RequestStart] = []
    session = aiohttp.ClientSession() if lent else None
    try:
        async with NorthflankClient(
            TOKEN,
            base_url=base_url,
            session=session,
            backoff_base=0,
            on_request_start=starts.append,
            **options,
        ) as nf:
            yield nf, starts
    finally:
        if session is not None:
            await session.close()


async def outcomes(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run ``calls`` one after the other; each result or error, in order."""
    results: list[Any] = []
    for call in calls:
        try:
            results.append(await call())
        except TransportError as error:
            results.append(error)
    return results


@pytest.mark.parametrize("lent", [False, True], ids=["own-session", "lent-session"])
async def test_20_gets_without_retries_reach_the_server_20_times(lent: bool) -> None:
    """max_retries=0: each GET is sent once; a dropped one fails, nothing is resent unseen."""
    async with (
        closing_server() as (server, base),
        client_of(base, lent=lent, max_retries=0) as (
            nf,
            starts,
        ),
    ):
        results = await outcomes([lambda: nf.job(P, J).builds.get(BUILD) for _ in range(20)])
    assert len(server.received) == len(starts) == 20  # aiohttp alone made it 39
    failed = [r for r in results if isinstance(r, TransportError)]
    assert len(failed) == 10  # every second request met a closed keep-alive connection
    assert all("ServerDisconnectedError" in str(error) for error in failed)


@pytest.mark.parametrize("lent", [False, True], ids=["own-session", "lent-session"])
async def test_our_retries_are_the_only_repeats(lent: bool) -> None:
    """With retries, every repeat is ours: counted, as attempt 2, and each GET succeeds."""
    async with (
        closing_server() as (server, base),
        client_of(base, lent=lent, max_retries=2) as (
            nf,
            starts,
        ),
    ):
        for _ in range(10):
            await nf.job(P, J).builds.get(BUILD)
    assert len(server.received) == len(starts)
    assert [s.attempt for s in starts].count(2) == len(starts) - 10


@pytest.mark.parametrize("lent", [False, True], ids=["own-session", "lent-session"])
async def test_abort_whose_answer_was_lost_is_done_after_our_repeat(lent: bool) -> None:
    """The DELETE aborts the build, its answer is lost; OUR retry meets 409: done, no error."""
    async with closing_server() as (server, base), client_of(base, lent=lent) as (nf, starts):
        await nf.job(P, J).builds.get(BUILD)  # opens the connection the DELETE reuses
        await nf.job(P, J).builds.abort(BUILD)
    deletes = [s for s in starts if s.method == "DELETE"]
    assert [s.attempt for s in deletes] == [1, 2]
    assert [m for m, _ in server.received] == ["GET", "DELETE", "DELETE"]


@pytest.mark.parametrize("lent", [False, True], ids=["own-session", "lent-session"])
async def test_lost_abort_without_retries_is_sent_once(lent: bool) -> None:
    """max_retries=0: the lost DELETE is not resent behind our back; its loss is reported."""
    async with (
        closing_server() as (server, base),
        client_of(base, lent=lent, max_retries=0) as (
            nf,
            starts,
        ),
    ):
        await nf.job(P, J).builds.get(BUILD)
        with pytest.raises(TransportError, match="ServerDisconnectedError"):
            await nf.job(P, J).builds.abort(BUILD)
        assert server.aborted
        with pytest.raises(ConflictError):  # a new call's first 409 is a conflict, as always
            await nf.job(P, J).builds.abort(BUILD)
    assert [m for m, _ in server.received] == ["GET", "DELETE", "DELETE"]
    assert len(starts) == 3


async def test_a_lent_sessions_own_middlewares_still_run_once_per_attempt() -> None:
    """Our middleware is added to a lent session's, not in their place."""
    seen: list[str] = []

    async def recording(
        request: aiohttp.ClientRequest, handler: Callable[..., Awaitable[aiohttp.ClientResponse]]
    ) -> aiohttp.ClientResponse:
        seen.append(request.method)
        return await handler(request)

    async with closing_server() as (server, base):
        session = aiohttp.ClientSession(middlewares=(recording,))
        try:
            async with NorthflankClient(TOKEN, base_url=base, session=session, max_retries=0) as nf:
                await outcomes([lambda: nf.job(P, J).builds.get(BUILD) for _ in range(4)])
        finally:
            await session.close()
    assert seen == ["GET"] * 4
    assert len(server.received) == 4


async def test_a_middleware_that_resends_is_refused_before_sending() -> None:
    """A lent session's middleware that sends an attempt twice: the second send never leaves."""

    async def resending(
        request: aiohttp.ClientRequest, handler: Callable[..., Awaitable[aiohttp.ClientResponse]]
    ) -> aiohttp.ClientResponse:
        response = await handler(request)
        response.release()
        return await handler(request)  # a resend behind the client's back

    async with closing_server() as (server, base):
        session = aiohttp.ClientSession(middlewares=(resending,))
        try:
            async with NorthflankClient(TOKEN, base_url=base, session=session, max_retries=0) as nf:
                with pytest.raises(TransportError, match="sent again within one attempt"):
                    await nf.job(P, J).builds.get(BUILD)
        finally:
            await session.close()
    assert len(server.received) == 1
