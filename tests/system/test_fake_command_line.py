"""The fake API's command line (`python -m northflank_async.testing`), run as its own process:
it serves until Ctrl-C, and binds beyond loopback only when told, with a warning.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

import northflank_async

from ..fake.test_fake_api import AUTH, TOKEN, call
from ..fake.test_fake_label import SERVER

# Where `northflank_async` was imported from, so the subprocess imports the same copy.
PACKAGE_ROOT = str(Path(northflank_async.__file__).resolve().parent.parent)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.1", "example.com"])
async def test_a_bind_beyond_loopback_is_refused_without_allow_remote(host: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "northflank_async.testing", "--host", host, "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(),
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 2 and out == b""
    assert b"is not a loopback address" in err and b"--allow-remote" in err
    assert err.count(b"\n") == 1


async def test_allow_remote_serves_with_a_warning() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "northflank_async.testing",
        "--host", "0.0.0.0", "--port", "0", "--allow-remote", "--builds", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(),
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        warning = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        fields = dict(part.split("=", 1) for part in line.split())
        port = fields["base_url"].rsplit(":", 1)[1]
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/v1/projects/demo/jobs/nightly/build") as answer,
        ):
            assert (answer.status, answer.headers["Server"]) == (401, SERVER)
        process.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0 and rest == b""
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert warning.startswith("warning: the fake listens on http://0.0.0.0:")
    assert "'nf-fake-token'" in warning and "anyone who can reach it can use it" in warning


async def test_command_line_serves_until_interrupted() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "northflank_async.testing",
        "--port",
        "0",
        "--builds",
        "30",
        "--project",
        "cli-project",
        "--job",
        "cli-job",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        fields = dict(part.split("=", 1) for part in line.split())
        assert (fields["project"], fields["job"], fields["token"]) == (
            "cli-project",
            "cli-job",
            TOKEN,
        )
        url = f"{fields['base_url']}/v1/projects/cli-project/jobs/cli-job/build"
        async with aiohttp.ClientSession(headers=AUTH) as http:
            status, body, _ = await call(http, "GET", url, params={"per_page": "100"})
        assert (status, body["pagination"]["count"]) == (200, 30)
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0
        assert stderr == b""
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
