"""The token never leaks: every failure path the suite can provoke, swept for the token.

Each case makes one request over a real loopback socket, to a raw TCP server that answers
malformed or hostile HTTP (an echo of the ``Authorization`` header it received, in the status
line, a header, the message, the details, the error id, a redirect's ``Location``) or to
:class:`FakeNorthflank` with a scripted fault. Then the token is looked for in every log record
(DEBUG, every logger), in ``str``/``repr`` of the raised error and of every exception reachable
from it (``__cause__``, ``__context__`` and exception-valued attributes, with ``repr`` of each
one's ``args`` and ``__dict__``), in its traceback formatted with locals, and in the CLI's output
for the same case.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import threading
import traceback
import zlib
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import pytest

import northflank_async.cli as _cli
from northflank_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    NorthflankClient,
    NorthflankError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UnexpectedRedirectError,
)
from northflank_async.cli import demo as _cli_demo
from northflank_async.testing import FakeNorthflank

R = TypeVar("R")

TOKEN = "nf-SWEEP-7f3a9c2e5b1d4086a2c4e6f8"
PROJECT, JOB = "p", "j"
OPTIONS: dict[str, Any] = {"max_retries": 1, "backoff_base": 0.0, "backoff_max": 0.0}

Responder = Callable[[str], bytes]
"""What the raw server writes back, given the ``Authorization`` header it received."""


class Served:
    """Servers on their own loop in a thread, reachable from a test's loop and the CLI's alike."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._closers: list[Callable[[], Coroutine[Any, Any, None]]] = []
        #: The Authorization headers the raw server received, in order.
        self.seen: list[str] = []

    def __enter__(self) -> Served:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for close in reversed(self._closers):
            self.run(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def raw(self, respond: Responder) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                auth = next(
                    (
                        line.partition(b":")[2].strip().decode()
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"authorization:")
                    ),
                    "",
                )
                self.seen.append(auth)
                writer.write(respond(auth))
                await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        async def start() -> int:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)

            async def close() -> None:
                server.close()
                await server.wait_closed()

            self._closers.append(close)
            port: int = server.sockets[0].getsockname()[1]
            return port

        return f"http://127.0.0.1:{self.run(start())}"

    def fake(self, token: str) -> FakeNorthflank:
        fake = FakeNorthflank(token=token, rate_limit=None)
        fake.add_job(PROJECT, JOB, builds=[{"id": "b", "status": "SUCCESS", "concluded": True}])
        fake.retry_after = 0
        fake.slow_seconds = 30.0
        self.run(fake.start())
        self._closers.append(fake.close)
        return fake


# ---------------------------------------------------------------------------- raw answers


def http(status_line: bytes, headers: list[bytes], body: bytes = b"") -> bytes:
    head = [status_line, *headers]
    if not any(h.lower().startswith((b"content-length", b"transfer-encoding")) for h in headers):
        head.append(b"Content-Length: %d" % len(body))
    if not any(h.lower().startswith(b"connection:") for h in headers):
        # The raw server answers once, then closes: it says so, as HTTP/1.1 asks. (aiohttp no
        # longer resends a retry that meets the closed connection, issue 18: ours would.)
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def echo_error(status: int, *, escaped: bool = False) -> Responder:
    """A well-formed error answer that echoes the Authorization it received everywhere it can."""

    def respond(auth: str) -> bytes:
        payload = {
            "error": {
                "status": status,
                "message": f"the credentials {auth} are refused",
                "id": auth,
                "details": {"authorization": auth, "seen": [auth, {auth: auth}]},
            }
        }
        body = json.dumps(payload).encode()
        if escaped:  # the same, with every character JSON-escaped: no literal token on the wire
            body = body.replace(auth.encode(), escape(auth).encode())
        headers = [b"Content-Type: application/json", b"X-Echo: " + auth.encode()]
        headers += [b"X-" + auth.split()[-1].encode() + b": 1", b"Retry-After: 0"]
        return http(b"HTTP/1.1 %d Echo" % status, headers, body)

    return respond


def fixed(answer: bytes) -> Responder:
    return lambda auth: answer


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def _bad_status_line(auth: str) -> bytes:
    return http(b"HTTP/1.1 4O4 " + auth.encode(), [])


def _long_header(auth: str) -> bytes:
    return http(b"HTTP/1.1 200 OK", [b"X-Echo: " + auth.encode() + b"a" * 9000])


_REFUSES_MANY_HEADERS = tuple(int(p) for p in aiohttp.__version__.split(".")[:2]) >= (3, 14)


def _many_headers(auth: str) -> bytes:
    return http(b"HTTP/1.1 200 OK", [b"X-Echo-%d: %s" % (i, auth.encode()) for i in range(500)])


def _encoded(encoding: bytes) -> Responder:
    def respond(auth: str) -> bytes:
        body = b'{"data": "' + auth.encode() + b'"}'
        return http(b"HTTP/1.1 200 OK", [b"Content-Encoding: " + encoding], body)

    return respond


def _corrupt_deflate(auth: str) -> bytes:
    body = zlib.compress(auth.encode())[:-6] + auth.encode()
    return http(b"HTTP/1.1 200 OK", [b"Content-Encoding: deflate"], body)


def _cut_short(auth: str) -> bytes:
    body = b'{"data": {"id": "' + auth.encode()
    return http(b"HTTP/1.1 200 OK", [b"Content-Length: 4096"], body)


def _too_large(auth: str) -> bytes:
    return http(b"HTTP/1.1 200 OK", [], auth.encode() * 20)


def _too_large_chunked(auth: str) -> bytes:
    return http(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"], chunked(auth.encode() * 20))


def _not_json(auth: str) -> bytes:
    return http(b"HTTP/1.1 200 OK", [b"Content-Type: text/plain"], b"hello " + auth.encode())


def escape(text: str) -> str:
    """``text`` as a JSON string literal's content with every character escaped."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _bad_build(auth: str) -> bytes:
    build = {"id": auth, "status": auth, "branch": auth, "createdAt": auth, "concluded": auth}
    body = json.dumps({"data": build}).encode()
    return http(b"HTTP/1.1 200 OK", [b"Content-Type: application/json"], body)


def _bad_build_escaped(auth: str) -> bytes:
    body = '{"data": {"id": "b", "createdAt": "' + escape(auth) + '"}}'
    return http(b"HTTP/1.1 200 OK", [b"Content-Type: application/json"], body.encode())


def _redirect(auth: str) -> bytes:
    location = b"https://evil.example/?t=" + auth.replace(" ", "%20").encode()
    return http(b"HTTP/1.1 302 Found", [b"Location: " + location])


# ---------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    name: str
    raises: type[Exception]
    retried: bool
    raw: Responder | None = None
    script: tuple[int | str, ...] = ()
    wrong_token: bool = False  # the fake expects another token: a genuine 401
    refused: bool = False
    build: str = "b"
    options: dict[str, Any] = field(default_factory=dict)


_ECHOED = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    418: APIError,
    429: RateLimitError,
    500: ServerError,
    503: ServerError,
}
_RETRIED = {408, 429, 500, 502, 503, 504}

CASES = [
    # A hostile or broken server, over a raw socket.
    Case("bad-status-line", TransportError, True, raw=_bad_status_line),
    Case("header-over-8190-bytes", TransportError, True, raw=_long_header),
    # aiohttp 3.14 refuses more than 128 headers; older ones read them all, and the answer then
    # fails to decode: either way a typed error, and the sweep still looks for the token.
    Case(
        "500-headers",
        TransportError if _REFUSES_MANY_HEADERS else NorthflankError,
        _REFUSES_MANY_HEADERS,  # a transport failure is retried; a DecodeError is not
        raw=_many_headers,
    ),
    Case("unknown-encoding-zstd", NorthflankError, True, raw=_encoded(b"zstd")),
    Case("unknown-encoding-br", NorthflankError, True, raw=_encoded(b"br")),
    Case("corrupt-deflate", TransportError, True, raw=_corrupt_deflate),
    Case("cut-short-body", TransportError, True, raw=_cut_short),
    Case("closed-without-answer", TransportError, True, raw=fixed(b"")),
    Case("refused", TransportError, True, refused=True),
    Case(
        "too-large",
        ResponseTooLargeError,
        False,
        raw=_too_large,
        options={"max_response_bytes": 64},
    ),
    Case(
        "too-large-chunked",
        ResponseTooLargeError,
        False,
        raw=_too_large_chunked,
        options={"max_response_bytes": 64},
    ),
    Case("not-json", DecodeError, False, raw=_not_json),
    Case("undecodable-build", DecodeError, False, raw=_bad_build),
    Case("undecodable-build-escaped", DecodeError, False, raw=_bad_build_escaped),
    Case("redirect-echo", UnexpectedRedirectError, False, raw=_redirect),
    *(
        Case(f"echo-{status}", cls, status in _RETRIED, raw=echo_error(status))
        for status, cls in _ECHOED.items()
    ),
    Case("echo-escaped-401", AuthenticationError, False, raw=echo_error(401, escaped=True)),
    Case("echo-escaped-503", ServerError, True, raw=echo_error(503, escaped=True)),
    # The fake API's own faults.
    Case("fake-wrong-token", AuthenticationError, False, wrong_token=True),
    Case("fake-not-found", NotFoundError, False, build="missing"),
    *(
        Case(f"fake-{fault}", cls, fault in _RETRIED, script=(fault, fault))
        for fault, cls in [
            (400, BadRequestError),
            (403, PermissionDeniedError),
            (408, APIError),
            (409, ConflictError),
            (429, RateLimitError),
            (500, ServerError),
            (503, ServerError),
            (504, ServerError),
        ]
    ),
    Case("fake-html502", ServerError, True, script=("html502", "html502")),
    # aiohttp itself resends an idempotent request once when a reused connection drops.
    Case("fake-drop", TransportError, True, script=("drop",) * 4),
    Case("fake-truncate", TransportError, True, script=("truncate", "truncate")),
    Case("fake-slow", RequestTimeoutError, True, script=("slow", "slow"), options={"timeout": 0.3}),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def base_url_for(case: Case, served: Served) -> str:
    if case.refused:
        return f"http://127.0.0.1:{_free_port()}"
    if case.raw is not None:
        return served.raw(case.raw)
    fake = served.fake("nf-another-token" if case.wrong_token else TOKEN)
    fake.script(*case.script)
    return fake.base_url


# ---------------------------------------------------------------------------------- sweep


def exposures(error: BaseException) -> list[str]:
    """Every text an error exposes: its chain, attributes, args and traceback with locals."""
    texts: list[str] = []
    todo, seen = [error], set()
    while todo:
        exc = todo.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        attributes = dict(getattr(exc, "__dict__", {}))
        texts += [str(exc), repr(exc), repr(exc.args), repr(attributes)]
        for value in [*attributes.values(), *exc.args, exc.__cause__, exc.__context__]:
            if isinstance(value, BaseException):
                todo.append(value)
            elif value is not None:
                texts += [str(value), repr(value)]
    formatted = traceback.TracebackException.from_exception(error, capture_locals=True)
    texts.append("".join(formatted.format()))
    return texts


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = [caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), str(record.msg), repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            texts += exposures(record.exc_info[1])
    return texts


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying ")]


@pytest.fixture
def served() -> Iterator[Served]:
    with Served() as servers:
        yield servers


@pytest.fixture(autouse=True)
def _debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger's records, DEBUG and up


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_library(case: Case, served: Served, caplog: pytest.LogCaptureFixture) -> None:
    """The error (with chain, attributes and traceback locals) and every log record hide it."""
    base_url = base_url_for(case, served)
    async with NorthflankClient(TOKEN, base_url=base_url, **OPTIONS | case.options) as nf:
        with pytest.raises(NorthflankError) as caught:
            await nf.jobs.builds.get(project_id=PROJECT, job_id=JOB, build_id=case.build)
    error = caught.value
    assert isinstance(error, case.raises), repr(error)
    if case.raw is not None:
        assert served.seen and served.seen[0] == f"Bearer {TOKEN}"  # it had the token to echo
    lines = retry_lines(caplog)
    assert len(lines) == (1 if case.retried else 0), lines
    assert all(len(line) < 250 and "Authorization" not in line for line in lines), lines
    leaks = [text for text in exposures(error) + log_texts(caplog) if TOKEN in text]
    assert not leaks, leaks[0][:2000]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_cli(
    case: Case,
    served: Served,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI's one error line, and all it logs on the way, hide it."""
    monkeypatch.setenv("NORTHFLANK_API_TOKEN", TOKEN)
    monkeypatch.setenv("NORTHFLANK_API_BASE_URL", base_url_for(case, served))
    # Only the retry and timeout settings differ from a user's run: no backoff waits.
    client = functools.partial(NorthflankClient, **OPTIONS | case.options)
    monkeypatch.setattr(_cli_demo, "NorthflankClient", client)  # where the CLI makes it
    code = _cli.main(["builds", "get", "--project", PROJECT, "--job", JOB, "--build", case.build])
    out, err = capsys.readouterr()
    # Issue 21: the exit status says the cause (not found, authentication, rate limit).
    by_cause = {"401": _cli.EXIT_AUTH, "403": _cli.EXIT_AUTH, "404": _cli.EXIT_NOT_FOUND}
    by_cause |= {"429": _cli.EXIT_RATE_LIMITED, "wrong-token": _cli.EXIT_AUTH}
    by_cause |= {"not-found": _cli.EXIT_NOT_FOUND}
    cause = next((k for k in by_cause if case.name.endswith(k)), None)
    assert code == (_cli.EXIT_ERROR if cause is None else by_cause[cause])
    assert err.startswith("northflank-async: error: ") and err.count("\n") == 1, err
    leaks = [text for text in [out, err, *log_texts(caplog)] if TOKEN in text]
    assert not leaks, leaks[0][:2000]


async def test_partial_echo_is_hidden(served: Served) -> None:
    """A server that echoes pieces of the token (8 characters or more) gets them hidden too."""
    head, tail = TOKEN[:12], TOKEN[-9:]

    def respond(auth: str) -> bytes:
        body = json.dumps({"error": {"message": f"token {head}... rejected", "details": [tail]}})
        return http(b"HTTP/1.1 401 No", [b"X-Hint: " + tail.encode()], body.encode())

    async with NorthflankClient(TOKEN, base_url=served.raw(respond), **OPTIONS) as nf:
        with pytest.raises(AuthenticationError) as caught:
            await nf.jobs.builds.get(project_id=PROJECT, job_id=JOB, build_id="b")
    error = caught.value
    assert str(error) == "401 GET /v1/projects/p/jobs/j/build/b: token <token hidden>... rejected"
    assert error.details == ["<token hidden>"]
    assert error.headers["X-Hint"] == "<token hidden>"


@pytest.mark.skipif(not _REFUSES_MANY_HEADERS, reason="aiohttp < 3.14 reads 500 headers")
async def test_retry_line_is_short_and_names_the_failure(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry logs the exception class and a one-line reason, not aiohttp's whole repr."""
    base_url = served.raw(_many_headers)
    async with NorthflankClient(TOKEN, base_url=base_url, **OPTIONS) as nf:
        with pytest.raises(TransportError) as caught:
            await nf.jobs.builds.get(project_id=PROJECT, job_id=JOB, build_id="b")
    assert retry_lines(caplog) == [
        "retrying GET /v1/projects/p/jobs/j/build/b after ClientResponseError: "
        "Too many headers received (attempt 2 of 2) in 0.00s"
    ]
    assert str(caught.value) == (
        "GET /v1/projects/p/jobs/j/build/b failed: ClientResponseError: Too many headers received"
    )
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.parametrize("spelled", [str, escape], ids=["literal", "json-escaped"])
async def test_echo_in_a_successful_answer_is_hidden(
    served: Served, spelled: Callable[[str], str]
) -> None:
    """A build that carries the token back (as is or JSON-escaped) arrives with it hidden."""

    def respond(auth: str) -> bytes:
        fields = f'"branch": "{spelled(auth)}", "message": "x{spelled(TOKEN)}x"'
        body = '{"data": {"id": "b", ' + fields + "}}"
        return http(b"HTTP/1.1 200 OK", [b"X-Echo: " + auth.encode()], body.encode())

    async with NorthflankClient(TOKEN, base_url=served.raw(respond), **OPTIONS) as nf:
        build = await nf.jobs.builds.get(project_id=PROJECT, job_id=JOB, build_id="b")
    assert (build.branch, build.message) == ("Bearer <token hidden>", "x<token hidden>x")
