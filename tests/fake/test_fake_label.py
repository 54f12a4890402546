"""The fake never passes for a service: it signs every answer, and binds loopback unless told.

It accepts one fixed token that it prints; served beyond this machine, anyone could use it.
"""

from __future__ import annotations

import io

import aiohttp
import pytest

from northflank_async import NorthflankClient
from northflank_async._version import __version__
from northflank_async.testing import FakeNorthflank

SERVER = f"northflank-async-fake/{__version__}"


async def test_every_answer_says_it_is_the_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    """200s, API errors, aiohttp's own errors, faults, bugs and WebSocket handshakes alike."""
    async with FakeNorthflank() as fake:
        fake.add_job("p", "j", builds=3, runs=0)
        builds = f"{fake.base_url}/v1/projects/p/jobs/j/build"
        auth = {"Authorization": f"Bearer {fake.token}"}
        fake.script(500, 429, "html502")
        answers: list[tuple[int, str | None]] = []
        async with aiohttp.ClientSession() as http:
            for method, url, headers, body in [
                ("GET", builds, auth, None),  # scripted 500
                ("GET", builds, auth, None),  # scripted 429
                ("GET", builds, auth, None),  # scripted proxy page
                ("GET", builds, auth, None),  # 200
                ("GET", builds, {}, None),  # 401
                ("GET", f"{fake.base_url}/nowhere", auth, None),  # 404
                ("POST", builds, auth, io.BytesIO(b"x" * (1024**2 + 1))),  # 413, aiohttp's
            ]:
                async with http.request(method, url, headers=headers, data=body) as answer:
                    answers.append((answer.status, answer.headers.get("Server")))
            tail = f"{fake.base_url}/v1/projects/p/jobs/j/build-logs"
            build_id = fake.builds("p", "j")[0]["id"]
            params = {"buildId": build_id, "queryType": "tail"}
            async with http.ws_connect(tail, params=params) as ws:
                handshake = ws._response.headers.get("Server")  # the 101's headers

            def bug(*_: object) -> None:
                raise RuntimeError("a bug in the fake")

            monkeypatch.setattr(fake._routes, "_serve", bug)
            async with http.get(builds, headers=auth) as answer:
                answers.append((answer.status, answer.headers.get("Server")))
            monkeypatch.undo()
        assert [status for status, _ in answers] == [500, 429, 502, 200, 401, 404, 413, 500]
        assert {server for _, server in answers} == {SERVER}
        assert handshake == SERVER
        async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:  # still the API
            assert len(await nf.jobs.builds.list(project_id="p", job_id="j").collect()) == 3


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_binds_need_no_flag(host: str) -> None:
    from northflank_async.testing.__main__ import _parse_args

    assert _parse_args(["--host", host]).host == host
