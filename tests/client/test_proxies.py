"""The environment's proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) is honoured, or switched off.

A loopback proxy records the head of every request it is sent: an ``http://`` target reaches
it as an absolute-form request (which it forwards to the fake), an ``https://`` one (and the
log tail's ``wss://``) as a ``CONNECT`` (which it tunnels to a server that is not TLS, so the
request then fails; the ``CONNECT`` is what is checked). The API host, ``api.example.test``,
is resolved to 127.0.0.1 by a patched ``getaddrinfo`` (no DNS), so that a request that goes
around the proxy reaches the fake directly and the proxy sees nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from yarl import URL

from northflank_async import LogStreamError, NorthflankClient, TransportError
from northflank_async.testing import FakeNorthflank

HOST = "api.example.test"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY", "NO_PROXY")


class LoopbackProxy:
    """An HTTP proxy on 127.0.0.1 that records each request's first line, then forwards it.

    Absolute-form requests (in origin form, as a proxy forwards them) and ``CONNECT`` tunnels
    both go to ``target`` (host, port), whatever host the request line names.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.seen: list[str] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> LoopbackProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:  # the pipes see the end of their streams and return
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            first, rest = head.split(b"\r\n", 1)
            self.seen.append(first.decode())
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.append(up_writer)
            method, target, version = first.split(b" ")
            if method == b"CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                origin = b"/" + target.split(b"://", 1)[1].split(b"/", 1)[1]
                up_writer.write(b" ".join((method, origin, version)) + b"\r\n" + rest)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
def resolve_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """``api.example.test`` resolves to 127.0.0.1, with no DNS; other names as usual."""
    real: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == HOST else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeNorthflank]:
    async with FakeNorthflank(rate_limit=None) as served:
        served.add_job("proj", "nightly", builds=3)
        yield served


def _port(fake: FakeNorthflank) -> int:
    port = URL(fake.base_url).port
    assert port is not None
    return port


@pytest.fixture
async def proxy(fake: FakeNorthflank) -> AsyncIterator[LoopbackProxy]:
    async with LoopbackProxy(("127.0.0.1", _port(fake))) as running:
        yield running


def _client(fake: FakeNorthflank, base_url: str, **options: Any) -> NorthflankClient:
    return NorthflankClient(
        fake.token, base_url=base_url, allow_insecure=True, max_retries=0, **options
    )


async def _list(nf: NorthflankClient) -> int:
    return len(await nf.job("proj", "nightly").builds.list().collect())


pytestmark = pytest.mark.usefixtures("resolve_host", "no_proxy_variables")


async def test_http_proxy_sees_an_absolute_form_request(
    fake: FakeNorthflank, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is used by default: the request reaches the API through the proxy."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    base = f"http://{HOST}:{_port(fake)}"
    async with _client(fake, base) as nf:
        assert await _list(nf) == 3
    assert proxy.seen == [f"GET {base}/v1/projects/proj/jobs/nightly/build?per_page=100 HTTP/1.1"]


async def test_https_proxy_sees_the_connect(
    fake: FakeNorthflank, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY is used by default: an https request opens a CONNECT tunnel to the API.

    The tunnel leads to a server that speaks no TLS, so the request then fails.
    """
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with _client(fake, f"https://{HOST}") as nf:
        with pytest.raises(TransportError):
            await _list(nf)
    assert proxy.seen == [f"CONNECT {HOST}:443 HTTP/1.1"]


async def test_the_log_tail_handshake_uses_https_proxy(
    fake: FakeNorthflank, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log tail's wss:// handshake goes through HTTPS_PROXY (aiohttp alone reads only
    WSS_PROXY for it)."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with _client(fake, f"https://{HOST}") as nf:
        tail = nf.job("proj", "nightly").builds.tail_logs("any-build")
        with pytest.raises((TransportError, LogStreamError)):
            async for _ in tail:
                pass
    assert proxy.seen[:1] == [f"CONNECT {HOST}:443 HTTP/1.1"]


async def test_trust_env_false_goes_direct(
    fake: FakeNorthflank, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NorthflankClient(trust_env=False) ignores the proxy variables."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with _client(fake, f"http://{HOST}:{_port(fake)}", trust_env=False) as nf:
        assert await _list(nf) == 3
    assert proxy.seen == []


async def test_no_proxy_names_the_host(
    fake: FakeNorthflank, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that NO_PROXY names is reached directly."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", f"localhost,{HOST}")
    async with _client(fake, f"http://{HOST}:{_port(fake)}") as nf:
        assert await _list(nf) == 3
    assert proxy.seen == []


async def test_a_loopback_base_url_is_never_proxied(
    fake: FakeNorthflank, proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No proxy can reach this machine's loopback: the fake works behind a corporate proxy."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with _client(fake, fake.base_url) as nf:
        assert await _list(nf) == 3
    assert proxy.seen == []


@pytest.mark.parametrize("trust_env", [False, True])
async def test_a_lent_session_keeps_its_own_setting(
    fake: FakeNorthflank,
    proxy: LoopbackProxy,
    monkeypatch: pytest.MonkeyPatch,
    trust_env: bool,
) -> None:
    """The client's trust_env applies to the session it owns, never to a lent one."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    base = f"http://{HOST}:{_port(fake)}"
    async with (
        aiohttp.ClientSession(trust_env=trust_env) as session,
        _client(fake, base, session=session, trust_env=not trust_env) as nf,
    ):
        assert await _list(nf) == 3
    assert len(proxy.seen) == (1 if trust_env else 0)


def test_trust_env_must_be_a_bool() -> None:
    """A wrong type is a ConfigurationError, like every other bad option."""
    from northflank_async import ConfigurationError

    with pytest.raises(ConfigurationError, match="trust_env"):
        NorthflankClient("t", trust_env="no")  # type: ignore[arg-type]
