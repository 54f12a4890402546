"""The pytest plugin under each async test runner, in a fresh pytest process (pytester).

Each run writes a tiny test file that uses ``northflank_fake`` and ``northflank_client`` and
runs it under anyio's plugin (with and without pytest-asyncio installed alongside) or under
pytest-asyncio's default strict mode, as a user's project would.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

pytest.importorskip("anyio")

LIST_TWO_BUILDS = """
    northflank_fake.add_job("proj", "nightly", builds=2)
    builds = await northflank_client.jobs.builds.list(
        project_id="proj", job_id="nightly"
    ).collect()
    assert len(builds) == 2
"""

ANYIO_TESTS = f"""
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_lists_builds(northflank_fake, northflank_client):
    {LIST_TWO_BUILDS}


@pytest.mark.anyio
@pytest.mark.northflank_fake(rate_limit=(3, 3600.0))
async def test_the_marker_applies(northflank_fake, northflank_client):
    assert northflank_client.base_url == northflank_fake.base_url
    {LIST_TWO_BUILDS}
    assert northflank_client.rate_limit.remaining == 2
"""

STRICT_ASYNCIO_TESTS = f"""
import pytest


@pytest.mark.asyncio
async def test_lists_builds(northflank_fake, northflank_client):
    {LIST_TWO_BUILDS}
"""


def _run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    # looptime (the test extra) registers a pytest plugin that fails without pytest-asyncio:
    # a user's project would not have it, so it is left out here.
    no_looptime = ("-p", "no:looptime_plugin")
    return pytester.runpytest_subprocess("-p", "anyio", "-W", "error", *no_looptime, *args)


def _without_pytest_asyncio(pytester: pytest.Pytester) -> tuple[str, str]:
    """As if pytest-asyncio were not installed: its import fails, its plugin is not loaded."""
    pytester.makepyfile(pytest_asyncio="raise ImportError('pytest-asyncio is not installed')")
    return ("-p", "no:asyncio")


def test_anyio_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """Under anyio's plugin alone (pytest-asyncio not installed) both fixtures work."""
    result = _run(pytester, ANYIO_TESTS, *_without_pytest_asyncio(pytester))
    result.assert_outcomes(passed=2)


def test_anyio_next_to_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """With pytest-asyncio installed too (strict mode), anyio tests get anyio's fixtures."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = _run(pytester, ANYIO_TESTS)
    result.assert_outcomes(passed=2)


def test_pytest_asyncio_strict_mode(pytester: pytest.Pytester) -> None:
    """pytest-asyncio's default (strict) mode: a test marked ``asyncio`` gets the fixtures."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = _run(pytester, STRICT_ASYNCIO_TESTS)
    result.assert_outcomes(passed=1)


def test_trio_backend_is_refused_clearly(pytester: pytest.Pytester) -> None:
    """The fake runs on aiohttp: anyio's trio backend fails with a message, not a hang."""
    source = ANYIO_TESTS.replace('return "asyncio"', 'return "trio"')
    result = _run(pytester, source, *_without_pytest_asyncio(pytester))
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*runs on asyncio (aiohttp), not on anyio's 'trio' backend*"])


def test_no_async_runner_is_a_clear_error(pytester: pytest.Pytester) -> None:
    """Without pytest-asyncio, a test anyio does not run is told what to install or mark."""
    source = "def test_sync(northflank_fake):\n    pass\n"
    result = _run(pytester, source, *_without_pytest_asyncio(pytester))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs an async test run by pytest-asyncio or by anyio*"])


def test_marker_arguments_are_checked(pytester: pytest.Pytester) -> None:
    """A misspelt marker argument names FakeNorthflank's real ones."""
    source = ANYIO_TESTS.replace("rate_limit=(3, 3600.0)", "ratelimit=3")
    result = _run(pytester, source, "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*FakeNorthflank has no argument ratelimit (it takes *"])
