"""The transport over a scripted sender: its loop, gate and redaction, with no socket at all.

`Transport` takes its sender and its gate from the client; a test can hand it a sender of its
own (as httpx's ``MockTransport`` replaces the network) and see every attempt it makes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from northflank_async import ClientClosedError, TransportError
from northflank_async._core.retry import RetryPolicy
from northflank_async._core.secret import Secret
from northflank_async._transport.gates import RateLimitGate
from northflank_async._transport.http import Transport
from northflank_async._transport.sender import Answer, Failure
from northflank_async._transport.websocket import WebSocketConnection

TOKEN = "seam-token-0123456789abcdef"


class ScriptedSender:
    """Answers each attempt from a script and records what it was asked to send."""

    def __init__(self, *script: Answer | Failure) -> None:
        self.script = list(script)
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise ClientClosedError("closed")

    async def send(
        self,
        method: str,
        url: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str],
    ) -> Answer | Failure:
        self.sent.append((method, url, dict(headers)))
        return self.script.pop(0)

    async def open_websocket(
        self,
        url: str,
        path: str,
        params: Mapping[str, str],
        *,
        max_frame_bytes: int,
        first_frame: Callable[[], str],
        heartbeat: float | None,
    ) -> WebSocketConnection | TransportError:
        return TransportError("no sockets here", method="GET", path=path)

    async def close(self) -> None:
        self.closed = True


def transport(sender: ScriptedSender, *, max_retries: int = 2) -> Transport:
    return Transport(
        base_url="https://api.example",
        token=Secret(TOKEN),
        sender=sender,
        gate=RateLimitGate(60.0),
        policy=RetryPolicy(max_retries=max_retries, backoff_base=0.0, backoff_max=0.0),
        max_rate_limit_wait=60.0,
    )


def answer(status: int, data: Any, **headers: str) -> Answer:
    body = json.dumps({"data": data} if status < 300 else {"error": data}).encode()
    return status, {"content-type": "application/json", **headers}, body


async def test_every_attempt_goes_through_the_sender_and_is_decided_by_the_loop() -> None:
    lost = Failure(TransportError("lost", method="GET", path="/v1/x"), reached=True, reason="x")
    sender = ScriptedSender(lost, answer(503, {"status": 503, "message": "busy"}), answer(200, 1))
    nf = transport(sender)
    assert await nf.request("GET", "/v1/x") == {"data": 1}
    assert [(m, u) for m, u, _ in sender.sent] == [("GET", "https://api.example/v1/x")] * 3
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for _, _, h in sender.sent)


async def test_a_failure_with_no_retries_left_is_raised_as_is() -> None:
    lost = Failure(TransportError("lost", method="GET", path="/v1/x"), reached=True, reason="x")
    nf = transport(ScriptedSender(lost), max_retries=0)
    with pytest.raises(TransportError, match="lost"):
        await nf.request("GET", "/v1/x")


async def test_the_token_is_hidden_in_what_the_sender_returns() -> None:
    echo = answer(200, {"echo": TOKEN, "escaped": "".join(f"\\u{ord(c):04x}" for c in TOKEN)})
    status, headers, body = echo
    body = body.replace(b"\\\\u", b"\\u")  # the escaped form as JSON text, not a literal
    nf = transport(ScriptedSender((status, headers, body)))
    data = await nf.request("GET", "/v1/x")
    assert TOKEN not in json.dumps(data)
    assert json.loads(body)["data"]["escaped"] == TOKEN  # the escapes did spell it


async def test_closing_closes_the_sender_and_nothing_is_sent_after() -> None:
    sender = ScriptedSender()
    nf = transport(sender)
    await nf.close()
    assert sender.closed
    with pytest.raises(ClientClosedError):
        await nf.request("GET", "/v1/x")
    assert sender.sent == []
