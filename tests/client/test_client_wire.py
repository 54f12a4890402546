"""Exact wire behaviour of the client, pinned with aioresponses (no sockets)."""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
import pytest
from yarl import URL

from northflank_async import (
    APIError,
    AuthenticationError,
    BuildStatus,
    ClientClosedError,
    ConfigurationError,
    DecodeError,
    NorthflankClient,
    NotFoundError,
    PaginationError,
    ResponseTooLargeError,
    ServerError,
    UnexpectedRedirectError,
)

from ..conftest import BASE, LIST_URL, TOKEN, list_page, sent, wire_build

ANY_LIST = re.compile(r"^https://api\.northflank\.test/v1/projects/proj/jobs/job/build\?.*$")


def urls(mocked: Any) -> list[URL]:
    return [URL(u) for _, u, _ in sent(mocked)]


class TestClientConfiguration:
    def test_token_from_argument_env_and_fallback(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """argument, then NORTHFLANK_API_TOKEN, then NF_API_TOKEN."""
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", "from-main-env")
        monkeypatch.setenv("NF_API_TOKEN", "from-short-env")
        assert NorthflankClient("arg")._transport._token.reveal() == "arg"
        assert NorthflankClient()._transport._token.reveal() == "from-main-env"
        monkeypatch.delenv("NORTHFLANK_API_TOKEN")
        assert NorthflankClient()._transport._token.reveal() == "from-short-env"

    def test_no_token_says_how_to_fix_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A missing token fails at construction with a helpful message."""
        monkeypatch.delenv("NORTHFLANK_API_TOKEN", raising=False)
        monkeypatch.delenv("NF_API_TOKEN", raising=False)
        with pytest.raises(ConfigurationError, match="NORTHFLANK_API_TOKEN"):
            NorthflankClient()

    def test_base_url_resolution(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """argument, then NORTHFLANK_API_BASE_URL, then the public API."""
        monkeypatch.delenv("NORTHFLANK_API_BASE_URL", raising=False)
        assert NorthflankClient("t").base_url == "https://api.northflank.com"
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", "https://proxy.example/")
        assert NorthflankClient("t").base_url == "https://proxy.example"
        assert NorthflankClient("t", base_url="https://x.example").base_url == "https://x.example"

    @pytest.mark.parametrize("url", ["http://api.example.com", "ftp://x", "nonsense", "https://"])
    def test_insecure_or_broken_base_url_refused(self, url: str) -> None:
        """Plain http to a remote host would send the token in clear."""
        with pytest.raises(ConfigurationError):
            NorthflankClient("t", base_url=url)

    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"]
    )
    def test_loopback_http_allowed(self, url: str) -> None:
        """Local fakes and tunnels need no TLS."""
        assert NorthflankClient("t", base_url=url).base_url == url

    def test_allow_insecure(self) -> None:
        """The caller can insist."""
        assert NorthflankClient("t", base_url="http://x.test", allow_insecure=True).base_url

    def test_repr_hides_token(self) -> None:
        """repr shows the base URL, never the token."""
        nf = NorthflankClient(TOKEN, base_url=BASE)
        assert repr(nf) == f"<NorthflankClient base_url='{BASE}' open>"
        assert TOKEN not in repr(nf)
        assert TOKEN not in repr(vars(nf))
        assert TOKEN not in repr(vars(nf._transport))


class TestListWire:
    async def test_first_request(self, client: NorthflankClient, mocked: Any) -> None:
        """GET .../build?per_page=100 with the bearer token, no redirects followed."""
        mocked.get(ANY_LIST, payload=list_page(range(2)))
        builds = await client.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert [b.id for b in builds] == ["build-0000", "build-0001"]
        [(method, url, kwargs)] = sent(mocked)
        assert method == "GET"
        assert URL(url).path == "/v1/projects/proj/jobs/job/build"
        assert dict(URL(url).query) == {"per_page": "100"}
        assert kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert kwargs["allow_redirects"] is False

    async def test_follows_cursor_and_never_sends_page(
        self, client: NorthflankClient, mocked: Any
    ) -> None:
        """Each next request carries the previous page's cursor."""
        mocked.get(f"{LIST_URL}?per_page=2", payload=list_page(range(2), cursor="c/1+="))
        mocked.get(
            f"{LIST_URL}?per_page=2&cursor=c/1%2B%3D", payload=list_page(range(2, 4), cursor="c2")
        )
        mocked.get(f"{LIST_URL}?per_page=2&cursor=c2", payload=list_page(range(4, 5)))
        builds = await client.jobs.builds.list(
            project_id="proj", job_id="job", per_page=2
        ).collect()
        assert [b.id for b in builds] == [f"build-{i:04d}" for i in range(5)]
        queries = [dict(u.query) for u in urls(mocked)]
        assert queries == [
            {"per_page": "2"},
            {"per_page": "2", "cursor": "c/1+="},
            {"per_page": "2", "cursor": "c2"},
        ]

    async def test_team_route(self, client: NorthflankClient, mocked: Any) -> None:
        """team_id switches the route form."""
        mocked.get(
            re.compile(r".*/v1/teams/my%20team/projects/proj/jobs/job/build.*"),
            payload=list_page(range(1)),
        )
        await client.jobs.builds.list(project_id="proj", job_id="job", team_id="my team").collect()
        assert urls(mocked)[0].raw_path == "/v1/teams/my%20team/projects/proj/jobs/job/build"

    async def test_get_encodes_build_id(self, client: NorthflankClient, mocked: Any) -> None:
        """build_id="../x" reaches /build/..%2Fx, never another route."""
        mocked.get(re.compile(r".*/build/\.\.%2Fx$"), payload={"data": wire_build(1, id="../x")})
        build = await client.jobs.builds.get(project_id="proj", job_id="job", build_id="../x")
        assert build.id == "../x"
        assert urls(mocked)[0].raw_path == "/v1/projects/proj/jobs/job/build/..%2Fx"

    async def test_get_decodes(self, client: NorthflankClient, mocked: Any) -> None:
        """get returns a JobBuild."""
        mocked.get(f"{LIST_URL}/b1", payload={"data": wire_build(1, status="BUILDING")})
        build = await client.jobs.builds.get(project_id="proj", job_id="job", build_id="b1")
        assert build.status is BuildStatus.BUILDING

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"per_page": 0}, "per_page"),
            ({"per_page": 101}, "per_page"),
            ({"per_page": True}, "per_page"),
            ({"limit": -1}, "limit"),
            ({"project_id": ""}, "project_id"),
        ],
    )
    async def test_bad_arguments_fail_before_any_request(
        self, client: NorthflankClient, mocked: Any, kwargs: dict[str, Any], match: str
    ) -> None:
        """ValueError at call time; nothing is sent."""
        args = {"project_id": "proj", "job_id": "job"} | kwargs
        with pytest.raises(ValueError, match=match):
            client.jobs.builds.list(**args)
        assert sent(mocked) == []

    async def test_limit_shrinks_first_page(self, client: NorthflankClient, mocked: Any) -> None:
        """limit below per_page asks for no more than needed."""
        mocked.get(f"{LIST_URL}?per_page=3", payload=list_page(range(3), cursor="c"))
        builds = await client.jobs.builds.list(project_id="proj", job_id="job", limit=3).collect()
        assert len(builds) == 3
        assert len(sent(mocked)) == 1

    async def test_limit_zero_sends_nothing(self, client: NorthflankClient, mocked: Any) -> None:
        """limit=0 yields nothing and costs nothing."""
        assert (
            await client.jobs.builds.list(project_id="proj", job_id="job", limit=0).collect() == []
        )
        assert sent(mocked) == []

    async def test_lazy(self, client: NorthflankClient, mocked: Any) -> None:
        """Creating the iterator sends nothing."""
        client.jobs.builds.list(project_id="proj", job_id="job")
        assert sent(mocked) == []


class TestIteratorEdges:
    async def test_empty_job(self, client: NorthflankClient, mocked: Any) -> None:
        """A job without builds: one request, nothing yielded."""
        mocked.get(ANY_LIST, payload=list_page(range(0)))
        it = client.jobs.builds.list(project_id="proj", job_id="job")
        assert await it.collect() == []
        assert len(sent(mocked)) == 1

    async def test_exactly_one_full_page(self, client: NorthflankClient, mocked: Any) -> None:
        """A full page saying hasNextPage false ends the listing without another request."""
        mocked.get(ANY_LIST, payload=list_page(range(100)))
        assert len(await client.jobs.builds.list(project_id="proj", job_id="job").collect()) == 100
        assert len(sent(mocked)) == 1

    async def test_next_page_without_cursor(self, client: NorthflankClient, mocked: Any) -> None:
        """hasNextPage true with no cursor is an error, not an early stop."""
        mocked.get(ANY_LIST, payload=list_page(range(2), has_next=True))
        it = client.jobs.builds.list(project_id="proj", job_id="job")
        with pytest.raises(PaginationError) as info:
            await it.collect()
        assert (it.resume_cursor, it.items_yielded) == (None, 0)
        assert "resume with list(..., cursor=None)" in "".join(info.value.__notes__)

    async def test_repeated_cursor(self, client: NorthflankClient, mocked: Any) -> None:
        """A cursor loop is an error, not an endless walk."""
        mocked.get(f"{LIST_URL}?per_page=100", payload=list_page(range(2), cursor="A"))
        mocked.get(f"{LIST_URL}?per_page=100&cursor=A", payload=list_page(range(2, 4), cursor="A"))
        seen: list[str] = []

        it = client.jobs.builds.list(project_id="proj", job_id="job")

        async def walk() -> None:
            async for build in it:
                seen.append(build.id)

        with pytest.raises(PaginationError, match="repeated"):
            await walk()
        assert seen == ["build-0000", "build-0001"]
        assert (it.resume_cursor, it.items_yielded) == ("A", 2)

    async def test_break_fetches_no_more(self, client: NorthflankClient, mocked: Any) -> None:
        """Breaking out costs no further request."""
        mocked.get(ANY_LIST, payload=list_page(range(3), cursor="next"))
        async for _ in client.jobs.builds.list(project_id="proj", job_id="job"):
            break
        assert len(sent(mocked)) == 1

    async def test_aclose_stops(self, client: NorthflankClient, mocked: Any) -> None:
        """aclose ends the walk: no more items, no more requests."""
        mocked.get(ANY_LIST, payload=list_page(range(3), cursor="next"))
        it = client.jobs.builds.list(project_id="proj", job_id="job")
        assert (await it.__anext__()).id == "build-0000"
        await it.aclose()
        await it.aclose()
        assert [b async for b in it] == []
        assert len(sent(mocked)) == 1

    async def test_pages(self, client: NorthflankClient, mocked: Any) -> None:
        """pages() yields Page objects with the next cursor."""
        mocked.get(f"{LIST_URL}?per_page=2", payload=list_page(range(2), cursor="c1"))
        mocked.get(f"{LIST_URL}?per_page=2&cursor=c1", payload=list_page(range(2, 3)))
        pages = [
            p
            async for p in client.jobs.builds.list(
                project_id="proj", job_id="job", per_page=2
            ).pages()
        ]
        assert [(len(p.items), p.count, p.has_next_page, p.cursor) for p in pages] == [
            (2, 2, True, "c1"),
            (1, 1, False, None),
        ]

    async def test_pages_after_items_refused(self, client: NorthflankClient, mocked: Any) -> None:
        """Mixing items and pages of one iterator would skip data."""
        mocked.get(ANY_LIST, payload=list_page(range(2), cursor="c"))
        it = client.jobs.builds.list(project_id="proj", job_id="job")
        await it.__anext__()
        with pytest.raises(RuntimeError):
            it.pages()

    async def test_malformed_page_is_decode_error_with_resume_point(
        self, client: NorthflankClient, mocked: Any
    ) -> None:
        """A bad build on page 2 names its path, and says where to resume."""
        bad = list_page(range(2, 4))
        bad["data"]["builds"][1]["createdAt"] = 12j.imag and "not a date"
        mocked.get(f"{LIST_URL}?per_page=2", payload=list_page(range(2), cursor="c1"))
        mocked.get(f"{LIST_URL}?per_page=2&cursor=c1", payload=bad)
        it = client.jobs.builds.list(project_id="proj", job_id="job", per_page=2)
        with pytest.raises(DecodeError) as info:
            await it.collect()
        assert info.value.field == "data.builds[1].createdAt"
        assert (it.resume_cursor, it.items_yielded) == ("c1", 2)


class TestErrors:
    @pytest.mark.parametrize("status", [401, 403, 404, 409, 400])
    async def test_client_errors_are_not_retried(self, mocked: Any, status: int) -> None:
        """A 4xx is final: sent once even with retries on."""
        mocked.get(
            ANY_LIST,
            status=status,
            payload={"error": {"status": status, "message": "nope"}},
            repeat=True,
        )
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=3, backoff_base=0) as nf:
            with pytest.raises(APIError) as info:
                await nf.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert info.value.status == status
        assert info.value.message == "nope"
        assert len(sent(mocked)) == 1

    async def test_401_message_and_no_token(self, client: NorthflankClient, mocked: Any) -> None:
        """The error reads well and never carries the token."""
        mocked.get(
            ANY_LIST,
            status=401,
            payload={"error": {"status": 401, "message": "Unauthorized", "id": "e9"}},
        )
        with pytest.raises(AuthenticationError) as info:
            await client.jobs.builds.list(project_id="proj", job_id="job").collect()
        text = str(info.value)
        assert text == "401 GET /v1/projects/proj/jobs/job/build: Unauthorized (error id e9)"
        assert TOKEN not in repr(info.value)
        assert TOKEN not in repr(vars(info.value))

    async def test_404_on_get(self, client: NorthflankClient, mocked: Any) -> None:
        """NotFoundError names the path."""
        mocked.get(
            f"{LIST_URL}/nope",
            status=404,
            payload={"error": {"status": 404, "message": "Build not found"}},
        )
        with pytest.raises(
            NotFoundError, match="404 GET /v1/projects/proj/jobs/job/build/nope: Build not found"
        ):
            await client.jobs.builds.get(project_id="proj", job_id="job", build_id="nope")

    async def test_html_502(self, client: NorthflankClient, mocked: Any) -> None:
        """A proxy's HTML 502 is a ServerError."""
        mocked.get(ANY_LIST, status=502, body="<html>bad gateway</html>", content_type="text/html")
        with pytest.raises(ServerError) as info:
            await client.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert info.value.status == 502

    async def test_no_log_line_carries_the_token(
        self, mocked: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Retries log method, path and reason, never the token."""
        caplog.set_level(logging.DEBUG)
        mocked.get(ANY_LIST, status=503, repeat=True)
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=2, backoff_base=0) as nf:
            with pytest.raises(ServerError):
                await nf.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert len(sent(mocked)) == 3
        assert "retrying GET /v1/projects/proj/jobs/job/build after 503" in caplog.text
        assert TOKEN not in caplog.text


class TestLifecycle:
    async def test_lent_session_is_not_closed(self, mocked: Any) -> None:
        """A session the user lends stays theirs."""
        mocked.get(ANY_LIST, payload=list_page(range(1)))
        async with aiohttp.ClientSession() as session:
            async with NorthflankClient(TOKEN, base_url=BASE, session=session) as nf:
                await nf.jobs.builds.list(project_id="proj", job_id="job").collect()
            assert not session.closed

    async def test_owned_session_closed_and_client_unusable(self, mocked: Any) -> None:
        """After close, requests raise ClientClosedError."""
        mocked.get(ANY_LIST, payload=list_page(range(1)))
        nf = NorthflankClient(TOKEN, base_url=BASE)
        await nf.jobs.builds.list(project_id="proj", job_id="job").collect()
        session = nf._transport._session
        await nf.close()
        await nf.close()
        assert session is not None
        assert session.closed
        assert nf.closed
        with pytest.raises(ClientClosedError):
            await nf.jobs.builds.get(project_id="proj", job_id="job", build_id="b")


class TestSafety:
    async def test_redirect_is_not_followed(self, client: NorthflankClient, mocked: Any) -> None:
        """A 3xx raises instead of carrying the token to another host."""
        mocked.get(ANY_LIST, status=302, headers={"Location": "https://elsewhere.test/steal"})
        with pytest.raises(UnexpectedRedirectError, match=r"elsewhere\.test/steal not followed"):
            await client.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert len(sent(mocked)) == 1

    async def test_oversized_body_is_refused(self, mocked: Any) -> None:
        """A body over max_response_bytes is never buffered, nor retried."""
        mocked.get(ANY_LIST, body=b"x" * 5000, repeat=True)
        async with NorthflankClient(TOKEN, base_url=BASE, max_response_bytes=4096) as nf:
            with pytest.raises(ResponseTooLargeError, match="max_response_bytes"):
                await nf.jobs.builds.list(project_id="proj", job_id="job").collect()
        assert len(sent(mocked)) == 1
