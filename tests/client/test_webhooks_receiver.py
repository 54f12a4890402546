"""The webhook receiver over HTTP: a real aiohttp server on loopback, real POSTs.

Each test starts the receiver's own server (`serve()`, port 0) or mounts its handler in an
application of its own, sends with an aiohttp client, and reads what the receiver yields.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from northflank_async import WebhookEvent, WebhookReceiver

from ..unit.test_webhooks_parse import DOCUMENTED, SECRET, body, build_event, headers

OLD_SECRET = "whsec-the-old-one-7654321"
WRONG = "whsec-wrong-guess-0000000000"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def post(
    session: aiohttp.ClientSession, url: str, data: Any, **kwargs: Any
) -> tuple[int, Any]:
    async with session.post(url, data=data, **kwargs) as answer:
        return answer.status, await answer.json()


async def next_event(receiver: WebhookReceiver) -> WebhookEvent:
    # Nothing waits on time: an event queued before is handed out at once.
    assert receiver.pending, "nothing is queued"
    return await anext(receiver)


async def test_the_documented_payload_arrives_with_its_service(
    session: aiohttp.ClientSession,
) -> None:
    receiver = WebhookReceiver(SECRET)
    async with receiver.serve() as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
        status, answer = await post(session, server.url, body(DOCUMENTED), headers=headers())
        assert (status, answer) == (200, {"data": {"queued": True}})
        event = await next_event(receiver)
    assert (event.kind, event.service_id, event.project_id) == (
        "build:start",
        "website",
        "personal-blog",
    )
    assert event.build is not None and event.build.id == "social-hour-1312"


def nested(depth: int) -> bytes:
    return b'{"event": "build:start", "data": ' + b"[" * depth + b"]" * depth + b"}"


async def big_stream() -> AsyncIterator[bytes]:
    for _ in range(10):  # 10 MB, chunked: no Content-Length to refuse it by
        yield b" " * (1 << 20)


HOSTILE: list[tuple[str, dict[str, Any], int]] = [
    ("wrong token", {"data": body(DOCUMENTED), "headers": headers(token=WRONG)}, 401),
    ("missing token", {"data": body(DOCUMENTED), "headers": headers(token=None)}, 401),
    ("10 MB body", {"data": io.BytesIO(b" " * (10 << 20)), "headers": headers()}, 413),
    ("10 MB chunked", {"data": big_stream(), "headers": headers()}, 413),
    ("nested 5,000 deep", {"data": nested(5000), "headers": headers()}, 400),
    ("wrong types", {"data": body(build_event(concluded="yes")), "headers": headers()}, 400),
    ("missing build id", {"data": body({"event": "build:success", "data": {"build": {}}}),
                          "headers": headers()}, 400),
    ("not JSON", {"data": b"<xml/>", "headers": headers()}, 400),
]  # fmt: skip


async def test_hostile_deliveries_are_refused_in_the_envelope_and_yield_nothing(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = WebhookReceiver([SECRET, OLD_SECRET])
    async with receiver.serve(path="/northflank") as server:
        for name, request, expected in HOSTILE:
            status, answer = await post(session, server.url, **request)
            assert status == expected, name
            assert answer == {"error": {"status": expected, "message": answer["error"]["message"]}}
            assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
        for method in ("GET", "PUT", "DELETE"):
            async with session.request(method, server.url, headers=headers()) as refused:
                assert refused.status == 405 and refused.headers["Allow"] == "POST"
                assert (await refused.json())["error"]["status"] == 405
        assert receiver.pending == 0
        status, _ = await post(session, server.url, body(DOCUMENTED), headers=headers())
        assert status == 200
        assert (await next_event(receiver)).service_id == "website"  # the first one yielded
    assert receiver.pending == 0
    shown = [repr(vars(record)) + record.getMessage() for record in caplog.records]
    assert any("refused" in text for text in shown)  # the refusals were logged...
    for text in shown:  # ...and never with a token or a secret
        assert SECRET not in text and OLD_SECRET not in text and WRONG not in text


async def test_a_repeated_event_id_is_answered_but_yielded_once(
    session: aiohttp.ClientSession,
) -> None:
    receiver = WebhookReceiver(SECRET)
    async with receiver.serve() as server:
        answers = await asyncio.gather(
            *(post(session, server.url, body(build_event()), headers=headers(event_id="evt-A"))
              for _ in range(5))
        )  # fmt: skip
        again = headers(event_id="evt-A")
        answers.append(await post(session, server.url, body(build_event()), headers=again))
        assert sorted(answers, key=str) == sorted(
            [(200, {"data": {"queued": True}})] + [(200, {"data": {"duplicate": True}})] * 5,
            key=str,
        )
        await post(session, server.url, body(DOCUMENTED), headers=headers(event_id="evt-B"))
        assert [e.event_id for e in receiver.take_pending()] == ["evt-A", "evt-B"]


async def test_rotation_over_http(session: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver([OLD_SECRET, SECRET])
    async with receiver.serve() as server:
        for i, token in enumerate((OLD_SECRET, SECRET)):
            status, _ = await post(
                session, server.url, body(DOCUMENTED), headers=headers(token, f"e{i}")
            )
            assert status == 200
    assert [e.event_id for e in receiver.take_pending()] == ["e0", "e1"]


async def test_an_unknown_kind_is_yielded_with_its_raw_data(
    session: aiohttp.ClientSession,
) -> None:
    payload = {"event": "addon:backup:success", "data": {"addon": {"id": "db"}}}
    receiver = WebhookReceiver(SECRET)
    async with receiver.serve() as server:
        assert (await post(session, server.url, body(payload), headers=headers()))[0] == 200
        event = await next_event(receiver)
    assert (event.kind, event.build, event.raw) == ("addon:backup:success", None, payload)


async def test_iterating_again_continues_where_it_stopped(session: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver(SECRET)
    async with receiver.serve() as server:
        for i in range(3):
            await post(session, server.url, body(DOCUMENTED), headers=headers(event_id=f"e{i}"))
        seen = []
        async for event in receiver:
            seen.append(event.event_id)
            break
        async for event in receiver:
            seen.append(event.event_id)
            if len(seen) == 3:
                break
    assert seen == ["e0", "e1", "e2"]


async def test_a_waiting_consumer_is_woken_and_close_ends_the_iteration(
    session: aiohttp.ClientSession,
) -> None:
    receiver = WebhookReceiver(SECRET)

    async def consume() -> list[str]:
        return [event.event_id async for event in receiver]

    async with receiver.serve() as server:
        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0)  # the consumer waits on an empty queue
        await post(session, server.url, body(DOCUMENTED), headers=headers(event_id="e0"))
        receiver.close()
        status, answer = await post(
            session, server.url, body(DOCUMENTED), headers=headers(event_id="e1")
        )
        assert status == 503 and answer["error"]["status"] == 503
        assert await consumer == ["e0"]


async def test_a_full_queue_answers_503_so_the_sender_retries(
    session: aiohttp.ClientSession,
) -> None:
    receiver = WebhookReceiver(SECRET, queue_size=2)
    async with receiver.serve() as server:
        statuses = []
        for i in range(3):
            sent = headers(event_id=f"e{i}")
            statuses.append((await post(session, server.url, body(DOCUMENTED), headers=sent))[0])
        assert statuses == [200, 200, 503]
        assert [e.event_id for e in receiver.take_pending()] == ["e0", "e1"]
        resent = await post(session, server.url, body(DOCUMENTED), headers=headers(event_id="e2"))
        assert resent == (200, {"data": {"queued": True}})


async def test_the_handler_mounts_in_an_application_of_ones_own(
    session: aiohttp.ClientSession,
) -> None:
    receiver = WebhookReceiver(SECRET, max_body=1000)
    app = web.Application()
    app.router.add_route("*", "/hooks/northflank", receiver.handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks/northflank"
        assert (await post(session, url, body(DOCUMENTED), headers=headers()))[0] == 200
        status, answer = await post(session, url, json.dumps({"x": "y" * 1000}), headers=headers())
        assert (status, answer["error"]["status"]) == (413, 413)
    finally:
        await runner.cleanup()
    assert [e.service_id for e in receiver.take_pending()] == ["website"]
