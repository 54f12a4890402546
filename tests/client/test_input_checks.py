"""Caller input the client must refuse before any request: ids, numbers, token, base URL.

Also the cookie jar: the session the client owns keeps and sends no cookie.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from yarl import URL

from northflank_async import ConfigurationError, NorthflankClient
from northflank_async._core.checks import check_number
from northflank_async._core.wire import job_path

from ..conftest import BASE, TOKEN, sent, wire_build

# --------------------------------------------------------------------------- ids as path segments


class TestDotSegments:
    @pytest.mark.parametrize("bad", [".", ".."])
    @pytest.mark.parametrize("field", ["project_id", "job_id", "team_id", "build_id"])
    def test_dot_ids_are_refused_by_the_one_path_builder(self, bad: str, field: str) -> None:
        """`.`/`..` would be resolved away by the URL layer: refused, naming the field."""
        ids = {"project_id": "p", "job_id": "j", "team_id": "t", "build_id": "b"} | {field: bad}
        build_id = ids.pop("build_id")
        with pytest.raises(ValueError, match=field if field != "build_id" else "path parameter"):
            job_path(**ids, tail=("build", build_id))

    @pytest.mark.parametrize("bad", [".", ".."])
    async def test_abort_and_get_send_nothing(
        self, client: NorthflankClient, mocked: Any, bad: str
    ) -> None:
        """abort(build_id="..") used to DELETE the job's build collection."""
        builds = client.jobs.builds
        with pytest.raises(ValueError, match="not a valid id"):
            await builds.abort(project_id="p", job_id="j", build_id=bad)
        with pytest.raises(ValueError, match="not a valid id"):
            await builds.get(project_id=bad, job_id="j", build_id="b")
        with pytest.raises(ValueError, match="not a valid id"):
            builds.list(project_id="p", job_id=bad)
        with pytest.raises(ValueError, match="not a valid id"):
            builds.watch(project_id="p", job_id="j", build_id="b", team_id=bad)
        assert sent(mocked) == []

    def test_lone_surrogate_is_a_value_error_naming_the_field(self) -> None:
        """Text that cannot be UTF-8 encoded is refused with a clear message."""
        with pytest.raises(ValueError, match="job_id is not valid text"):
            job_path(project_id="p", job_id="a\ud800")

    # `blacklist_categories=()` keeps surrogates and controls: every str is a candidate id.
    @settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(ident=st.text(alphabet=st.characters(blacklist_categories=()), min_size=1))
    @example(ident=".")
    @example(ident="..")
    @example(ident="%2E")
    @example(ident="%2e%2E")
    @example(ident=".%2E")
    @example(ident="a/../b")
    @example(ident="%41")
    @example(ident="?#")
    @example(ident="\x00")
    @example(ident="é")
    async def test_any_id_is_refused_or_sent_exactly(self, mocked: Any, ident: str) -> None:
        """Either ValueError before any request, or each id is exactly one segment of the URL
        actually sent, decoding back to the id."""
        mocked.requests.clear()
        mocked.get(
            # Whatever URL the client builds, answer it: the test then reads what was sent.
            _ANY_URL,
            payload={"data": wire_build(1)},
        )
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=0) as nf:
            try:
                await nf.jobs.builds.get(
                    project_id=ident, job_id=ident, build_id=ident, team_id=ident
                )
            except ValueError:
                assert sent(mocked) == []
                return
        ((method, url, _),) = sent(mocked)
        assert method == "GET"
        raw = URL(url).raw_path
        segments = [unquote(segment, errors="strict") for segment in raw.split("/")[1:]]
        assert segments == ["v1", "teams", ident, "projects", ident, "jobs", ident, "build", ident]


_ANY_URL = re.compile(r"https://api\.northflank\.test/.*")


# --------------------------------------------------------------------------- numeric options

_NAN, _INF = math.nan, math.inf


class TestCheckNumber:
    @pytest.mark.parametrize(
        ("value", "kwargs", "message"),
        [
            (True, {}, "x must be a number, got bool True"),
            ("1", {}, "x must be a number, got str '1'"),
            (None, {}, "x must be a number, got NoneType None"),
            (1.5, {"integer": True}, "x must be an integer, got float 1.5"),
            (2.0, {"integer": True}, "x must be an integer, got float 2.0"),
            (_NAN, {}, "x must be a number, not nan"),
            (_NAN, {"infinite": True}, "x must be a number, not nan"),
            (_INF, {}, "x must be finite, got inf"),
            (-_INF, {"infinite": True}, "x must be finite, got -inf"),
            (10**400, {}, "x must be finite, got an integer too large for a float"),
            (-1, {}, "x must be at least 0, got -1"),
            (0, {"above": True}, "x must be greater than 0, got 0"),
            (0, {"minimum": 1}, "x must be at least 1, got 0"),
            (101, {"maximum": 100}, "x must be at most 100, got 101"),
        ],
    )
    def test_refused_with_the_reason(self, value: object, kwargs: Any, message: str) -> None:
        """Each refusal names the option and says why."""
        with pytest.raises(ValueError, match=r"^x must be ") as caught:
            check_number(value, "x", **kwargs)
        assert str(caught.value) == message

    @pytest.mark.parametrize(
        ("value", "kwargs"),
        [(0, {}), (0.0, {}), (1e300, {}), (_INF, {"infinite": True}), (10**400, {"integer": True}),
         (100, {"maximum": 100}), (1e-9, {"above": True})],
    )  # fmt: skip
    def test_accepted(self, value: object, kwargs: Any) -> None:
        """In range, of the right type: no error."""
        check_number(value, "x", **kwargs)

    def test_the_error_class_is_the_callers(self) -> None:
        """Client options raise ConfigurationError through the same helper."""
        with pytest.raises(ConfigurationError, match="x must be finite"):
            check_number(_INF, "x", error=ConfigurationError)


class TestClientOptions:
    @pytest.mark.parametrize(
        ("option", "value", "reason"),
        [
            ("timeout", _NAN, "not nan"),
            ("timeout", _INF, "finite"),
            ("timeout", 0, "greater than 0"),
            ("timeout", "30", "must be a number"),
            ("timeout", True, "must be a number"),
            ("connect_timeout", _NAN, "not nan"),
            ("connect_timeout", -1, "greater than 0"),
            ("max_retries", 1.5, "must be an integer"),
            ("max_retries", True, "must be an integer"),
            ("max_retries", -1, "at least 0"),
            ("backoff_base", _NAN, "not nan"),
            ("backoff_base", _INF, "finite"),
            ("backoff_max", -0.5, "at least 0"),
            ("backoff_max", _NAN, "not nan"),
            ("max_rate_limit_wait", _NAN, "not nan"),
            ("max_rate_limit_wait", -1, "at least 0"),
            ("max_response_bytes", -1, "at least 1"),
            ("max_response_bytes", 0, "at least 1"),
            ("max_response_bytes", 1e6, "must be an integer"),
            ("max_response_bytes", _INF, "must be an integer"),
        ],
    )
    def test_bad_option_is_a_configuration_error(
        self, option: str, value: object, reason: str
    ) -> None:
        """Refused when the client is created, naming the option and the reason."""
        with pytest.raises(ConfigurationError) as caught:
            NorthflankClient(TOKEN, base_url=BASE, **{option: value})  # type: ignore[arg-type]
        assert str(caught.value).startswith(f"{option} must be")
        assert reason in str(caught.value)

    def test_unbounded_rate_limit_wait_is_allowed(self) -> None:
        """+inf means 'always wait for the window': meaningful, so accepted."""
        NorthflankClient(TOKEN, base_url=BASE, max_rate_limit_wait=_INF)

    def test_huge_max_retries_cannot_overflow_the_backoff(self) -> None:
        """A large retry count is legal; its backoff stays a finite number of seconds."""
        client = NorthflankClient(TOKEN, base_url=BASE, max_retries=10**6, backoff_max=8.0)
        assert 4.0 <= client._transport.policy.backoff(5000) <= 8.0


class TestCallArguments:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"per_page": 1.0}, "per_page must be an integer"),
            ({"per_page": 500}, "per_page must be at most 100"),
            ({"limit": 2.5}, "limit must be an integer"),
            ({"limit": True}, "limit must be an integer"),
            ({"limit": -1}, "limit must be at least 0"),
            ({"prefetch": 1.0}, "prefetch must be an integer"),
            ({"prefetch": -1}, "prefetch must be at least 0"),
        ],
    )
    async def test_list(
        self, client: NorthflankClient, mocked: Any, kwargs: Any, message: str
    ) -> None:
        """list() refuses bad numbers at call time."""
        with pytest.raises(ValueError, match=message):
            client.jobs.builds.list(project_id="p", job_id="j", **kwargs)
        assert sent(mocked) == []

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"poll_interval": _NAN}, "poll_interval must be a number, not nan"),
            ({"poll_interval": _INF}, "poll_interval must be finite"),
            ({"poll_interval": -1}, "poll_interval must be at least 1"),  # issue 18: the floor
            ({"poll_interval": "5"}, "poll_interval must be a number"),
            ({"timeout": _NAN}, "timeout must be a number, not nan"),
            ({"timeout": _INF}, "timeout must be finite"),
            ({"timeout": -1}, "timeout must be at least 0"),
            ({"timeout": False}, "timeout must be a number"),
        ],
    )
    async def test_wait_and_watch(
        self, client: NorthflankClient, mocked: Any, kwargs: Any, message: str
    ) -> None:
        """watch() and wait() refuse bad numbers before the first poll."""
        where: dict[str, Any] = {"project_id": "p", "job_id": "j", "build_id": "b"}
        with pytest.raises(ValueError, match=message):
            client.jobs.builds.watch(**where, **kwargs)
        with pytest.raises(ValueError, match=message):
            await client.jobs.builds.wait(**where, **kwargs)
        assert sent(mocked) == []

    @pytest.mark.parametrize("interval", [0, 0.01, 0.5, 0.999])
    async def test_polls_faster_than_the_floor_are_refused(
        self, client: NorthflankClient, mocked: Any, interval: float
    ) -> None:
        """Issue 18: every polling loop refuses an interval below MIN_POLL_INTERVAL (1 s):
        wait(poll_interval=0) made 15,479 requests in 3 s. Nothing is sent."""
        where: dict[str, Any] = {"project_id": "p", "job_id": "j"}
        message = f"poll_interval must be at least 1, got {interval}"
        with pytest.raises(ValueError, match=message):
            client.jobs.builds.watch(**where, build_id="b", poll_interval=interval)
        with pytest.raises(ValueError, match=message):
            await client.jobs.builds.wait(**where, build_id="b", poll_interval=interval)
        with pytest.raises(ValueError, match=message):
            client.jobs.builds.follow(**where, poll_interval=interval)
        with pytest.raises(ValueError, match=message):
            client.job("p", "j").runs.watch("r", poll_interval=interval)
        with pytest.raises(ValueError, match=r"floor must be (at least 1|a positive number)"):
            client.monitor(1000, floor=interval)
        assert sent(mocked) == []

    @pytest.mark.parametrize(
        ("value", "message"),
        [(_NAN, "not nan"), (_INF, "finite"), (-1, "at least 0"), (None, "must be a number")],
    )
    async def test_follow(
        self, client: NorthflankClient, mocked: Any, value: object, message: str
    ) -> None:
        """follow() refuses a bad poll interval at call time."""
        with pytest.raises(ValueError, match=f"poll_interval {message}|poll_interval must be"):
            client.jobs.builds.follow(project_id="p", job_id="j", poll_interval=value)  # type: ignore[arg-type]
        assert sent(mocked) == []


# --------------------------------------------------------------------------- token and base URL


class TestToken:
    @pytest.mark.parametrize(
        "token",
        [f"{TOKEN}\n", f"{TOKEN}\r\nX-Injected: 1", f"{TOKEN}\x00", f"\t{TOKEN}", f"{TOKEN}\x7f"],
    )
    def test_control_characters_are_refused_at_creation(self, token: str) -> None:
        """A configuration error, whose message (and chain) never shows the token."""
        with pytest.raises(ConfigurationError, match="control character") as caught:
            NorthflankClient(token, base_url=BASE)
        assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
        assert caught.value.__cause__ is None

    def test_from_the_environment_too(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A token read from a file with its newline is caught the same way."""
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", f"{TOKEN}\n")
        with pytest.raises(ConfigurationError, match="control character"):
            NorthflankClient(base_url=BASE)


class TestBaseUrl:
    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://user:s3cret-pw@127.0.0.1", "user info"),
            ("http://evil.com@localhost", "user info"),
            ("https://token@api.northflank.com", "user info"),
            ("http://[::1", "cannot be parsed"),
            ("http://localhost:70000", "cannot be parsed"),
            ("http://localhost:port", "cannot be parsed"),
            ("http://localhost:0", "port 0"),
            ("http://localhost\n", "control characters"),
            ("https://api.northflank.com /v1", "without spaces"),
        ],
    )
    def test_refused_at_creation(
        self, url: str, reason: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A ConfigurationError from the argument or the environment; never the password."""
        monkeypatch.delenv("NORTHFLANK_API_BASE_URL", raising=False)
        with pytest.raises(ConfigurationError, match=reason) as caught:
            NorthflankClient(TOKEN, base_url=url)
        assert "s3cret-pw" not in str(caught.value)
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", url)
        with pytest.raises(ConfigurationError, match=reason):
            NorthflankClient(TOKEN)


# --------------------------------------------------------------------------- cookies


@pytest.fixture
async def cookie_server() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A loopback server that sets a cookie on every answer and records the Cookie header."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"data": wire_build(len(seen))})
        response.set_cookie("session", f"s{len(seen)}", path="/")
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        # A host NAME: aiohttp's default jar ignores cookies of IP hosts, not of names.
        yield f"http://localhost:{port}", seen
    finally:
        await runner.cleanup()


async def _get_twice(nf: NorthflankClient) -> None:
    for _ in range(2):
        await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")


async def test_owned_session_keeps_and_sends_no_cookie(
    cookie_server: tuple[str, list[str | None]],
) -> None:
    """The server set a cookie; the next request carries no Cookie header."""
    base_url, seen = cookie_server
    async with NorthflankClient(TOKEN, base_url=base_url, max_retries=0) as nf:
        await _get_twice(nf)
        session = nf._transport._session
        assert session is not None and len(session.cookie_jar) == 0
    assert seen == [None, None]


async def test_lent_session_keeps_the_lenders_jar(
    cookie_server: tuple[str, list[str | None]],
) -> None:
    """A lent session is the lender's: its jar (here aiohttp's default) is left as it is.

    This also shows the server and host above do make a default jar replay the cookie, so the
    test before this one can fail.
    """
    base_url, seen = cookie_server
    async with (
        aiohttp.ClientSession() as session,
        NorthflankClient(TOKEN, base_url=base_url, session=session) as nf,
    ):
        await _get_twice(nf)
    assert seen == [None, "session=s1"]
