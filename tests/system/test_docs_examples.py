"""Every Python example in README.md and docs/ runs, against FakeNorthflank.

Blocks are run as written, with the names a reader has in scope: the public API, a client
``nf`` (from the environment, which points at the fake), a valid ``sha``, a concluded ``build``
and a ``slow_work`` coroutine. Blocks that define ``test_*`` coroutines have them called.
Blocks that follow a job forever run until they have reported a build pushed meanwhile.
Polling intervals written in an example (``poll_interval=30``) are cut to the floor, 1 s
(``MIN_POLL_INTERVAL``), and every block runs on the virtual clock (``tests/_virtual.py``: a
looptime loop, and clients that hold the clock still while an answer is in flight), so that
examples wait for the fake's builds in no real time; nothing else in a block is changed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import northflank_async
from northflank_async import NorthflankClient
from northflank_async._engine import log_streams as _log_streams
from northflank_async.testing import FakeNorthflank

from .._support import ThreadedFake
from .._virtual import GuardedClient, run_virtual

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
SHA = "12c15e7ee25fd78f567ebf87f9178b8ad70025b3"
POLL_INTERVAL = re.compile(r"poll_interval=[0-9.]+")
JOBS = [("my-project", "nightly"), ("p", "j"), ("proj", "nightly")]


def examples() -> list[Any]:
    found = []
    for path in SOURCES:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            name = f"{path.relative_to(ROOT)}:{line}"
            found.append(pytest.param(match.group(1), id=name))
    return found


@pytest.fixture(scope="module")
def served() -> Iterator[ThreadedFake]:
    with ThreadedFake() as threaded:
        fake = threaded.fake

        def seed() -> None:
            for project, job in JOBS:
                fake.add_job(project, job, builds=30)
            fake.add_job("p", "j", builds=[{"id": "joyous-view-6290", "status": "SUCCESS"}])
            fake.add_service("my-project", "website", builds=3)

        threaded.call(seed)
        yield threaded


@pytest.fixture
def environment(served: ThreadedFake, monkeypatch: pytest.MonkeyPatch) -> ThreadedFake:
    monkeypatch.setenv("NORTHFLANK_API_TOKEN", served.fake.token)
    monkeypatch.setenv("NORTHFLANK_API_BASE_URL", served.fake.base_url)
    # A log tail reads the build's state after 5 s of quiet: 10 ms here.
    monkeypatch.setattr(_log_streams, "CHECK_FIRST", 0.01)
    monkeypatch.setattr(_log_streams, "CHECK_CAP", 0.05)
    return served


async def _concluded_build(nf: NorthflankClient) -> northflank_async.JobBuild:
    build = await nf.jobs.builds.start(project_id="p", job_id="j")
    # The fake advances a build one status per read: read it to its end.
    return await nf.jobs.builds.wait(project_id="p", job_id="j", build_id=build.id, poll_interval=1)


async def _slow_work(_: object) -> None:
    await asyncio.sleep(0)


def _namespace() -> dict[str, Any]:
    names = {name: getattr(northflank_async, name) for name in northflank_async.__all__}
    return names | {
        "NorthflankClient": GuardedClient,  # the clients a block makes hold the clock in flight
        "asyncio": asyncio,
        "sha": SHA,
        "slow_work": _slow_work,
    }


async def _call_tests(namespace: dict[str, Any]) -> int:
    """Call the block's test coroutines, with the plugin's fixtures where they ask for them."""
    tests = [
        f for n, f in namespace.items() if n.startswith("test_") and inspect.iscoroutinefunction(f)
    ]
    for test in tests:
        wanted = set(inspect.signature(test).parameters)
        assert wanted <= {"northflank_fake", "northflank_client"}, wanted
        async with (
            FakeNorthflank() as fake,
            GuardedClient(fake.token, base_url=fake.base_url, backoff_base=0) as nf,
        ):
            fixtures = {"northflank_fake": fake, "northflank_client": nf}
            await test(**{name: fixtures[name] for name in wanted})
    return len(tests)


async def _run_async(code: Any, namespace: dict[str, Any], served: ThreadedFake) -> None:
    async with GuardedClient() as nf:
        namespace |= {"nf": nf, "build": await _concluded_build(nf)}
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result
        await _call_tests(namespace)


async def _run_follower(
    code: Any, namespace: dict[str, Any], served: ThreadedFake, out: io.StringIO
) -> None:
    """A block that follows forever: push builds until it reports one, then stop it."""
    block = asyncio.create_task(_run_async(code, namespace, served))
    async with asyncio.timeout(20):
        while "new build" not in out.getvalue():
            assert not block.done(), block.exception()
            await asyncio.sleep(0.2)
            served.call(lambda: [served.fake.add_build(p, j) for p, j in JOBS])
    block.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await block


@pytest.mark.parametrize("source", examples())
def test_example_runs(source: str, environment: ThreadedFake) -> None:
    """The example runs to completion (or, for a follower, reports a new build)."""
    source = POLL_INTERVAL.sub("poll_interval=1", source)
    code = compile(source, "<docs>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace = _namespace()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if ".follow(" in source:
            assert "poll_interval=1" in source, "a follow example must say its poll_interval"
            run_virtual(_run_follower(code, namespace, environment, out))
        elif code.co_flags & inspect.CO_COROUTINE and "RedisCoordinator" in source:
            # Real time: the virtual clock would jump while a Redis answer is on its way (only
            # the fake's HTTP answers are guarded), and a request's timeout would expire.
            asyncio.run(_run_async(code, namespace, environment))
        elif code.co_flags & inspect.CO_COROUTINE:
            run_virtual(_run_async(code, namespace, environment))
        else:
            exec(code, namespace)
            run_virtual(_call_tests(namespace))


def test_every_source_has_examples() -> None:
    """The harness really finds the blocks (a broken pattern would make every test vanish)."""
    assert len(examples()) >= 15
