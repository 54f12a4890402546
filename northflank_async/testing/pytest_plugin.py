"""A pytest plugin: `northflank_fake` and `northflank_client` fixtures for your own tests.

Installed with the package (entry point `pytest11`). The fixtures work in async tests run
by pytest-asyncio (`@pytest.mark.asyncio`, or any test in its auto mode) and in tests run by
anyio's pytest plugin (`@pytest.mark.anyio`, asyncio backend):

```python
@pytest.mark.asyncio
async def test_my_bot(northflank_fake, northflank_client):
    northflank_fake.add_job("proj", "nightly", builds=3)
    builds = await northflank_client.job("proj", "nightly").builds.list().collect()
    assert len(builds) == 3
```

`northflank_fake` is a started `FakeNorthflank` with its rate limit switched off, so that a
test may poll as often as it likes; `northflank_client` is a `NorthflankClient` pointed at
it with backoff waits switched off, so tests of retries stay fast. Both are closed after the
test. An async test that no plugin would run (pytest-asyncio's strict mode, no marker) fails
with a message saying which marker it needs, rather than pytest's generic one.

pytest loads this module in every run of any project that installs the package: it imports
neither aiohttp nor the client until a test asks for one of its fixtures.

The `northflank_fake` marker passes keyword arguments to `FakeNorthflank`, for one test, a
class or a module (`pytestmark`); the real API's window is one marker away:

```python
@pytest.mark.northflank_fake(rate_limit=(1000, 3600.0))
async def test_stays_within_the_hourly_budget(northflank_fake, northflank_client): ...
```
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when a fixture is used: loading the plugin stays cheap
    from .. import NorthflankClient
    from ._fake import FakeNorthflank

__all__ = ["northflank_client", "northflank_fake"]

#: What the plugin's fake differs in from a plain ``FakeNorthflank()``: no rate limit.
_DEFAULTS: dict[str, Any] = {"rate_limit": None}
_MARKER = "northflank_fake"
_ASYNC_RUNNER_MISSING = (
    "the {name} fixture needs an async test run by pytest-asyncio or by anyio's plugin "
    "(@pytest.mark.anyio); install pytest-asyncio or mark the test"
)
_NOT_RUN = (
    "{test} is an async test that no plugin runs, so the {name} fixture would be wasted: "
    "mark it @pytest.mark.asyncio (pytest-asyncio is in strict mode), or set "
    'asyncio_mode = "auto" in your pytest configuration'
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the `northflank_fake` marker (for `--strict-markers`)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): keyword arguments for the northflank_fake fixture's "
        "FakeNorthflank, e.g. rate_limit=(1000, 3600.0) for the real API's window",
    )


def _fake_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The plugin's defaults, updated by the closest `northflank_fake` marker."""
    options = dict(_DEFAULTS)
    marker = request.node.get_closest_marker(_MARKER)
    if marker is None:
        return options
    if marker.args:
        pytest.fail(
            f"@pytest.mark.{_MARKER} takes keyword arguments only, got {marker.args!r}",
            pytrace=False,
        )
    from ._fake import FakeNorthflank

    accepted = set(inspect.signature(FakeNorthflank).parameters)
    unknown = sorted(set(marker.kwargs) - accepted)
    if unknown:
        pytest.fail(
            f"@pytest.mark.{_MARKER}: FakeNorthflank has no argument {', '.join(unknown)} "
            f"(it takes {', '.join(sorted(accepted))})",
            pytrace=False,
        )
    options.update(marker.kwargs)
    return options


def _runner(request: pytest.FixtureRequest, name: str) -> str:
    """Which async plugin runs the requesting test: `"anyio"` or `"asyncio"`.

    anyio's plugin runs async fixtures only for tests that use its `anyio_backend`
    fixture, and pytest-asyncio only fixtures declared with its own decorator, so each
    fixture below exists once per runner and the public fixture picks the right one.
    """
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend")
        backend_name = backend if isinstance(backend, str) else backend[0]
        if backend_name != "asyncio":
            pytest.fail(
                f"the {name} fixture runs on asyncio (aiohttp), not on anyio's "
                f"{backend_name!r} backend: use anyio_backend 'asyncio' for this test",
                pytrace=False,
            )
        return "anyio"
    if not _HAS_PYTEST_ASYNCIO:
        pytest.fail(_ASYNC_RUNNER_MISSING.format(name=name), pytrace=False)
    if _left_unrun(request):
        pytest.fail(_NOT_RUN.format(test=request.node.name, name=name), pytrace=False)
    return "asyncio"


def _left_unrun(request: pytest.FixtureRequest) -> bool:
    """An async test function that pytest-asyncio, in strict mode and with no marker, skips."""
    function = getattr(request.node, "function", None)
    if not inspect.iscoroutinefunction(function):
        return False
    if request.node.get_closest_marker("asyncio") is not None:
        return False
    config = request.config
    try:  # as pytest-asyncio reads it: the command line, else the configuration file
        mode = config.getoption("asyncio_mode") or config.getini("asyncio_mode")
    except ValueError:  # pytest-asyncio is installed but not loaded (-p no:asyncio)
        return False
    return str(mode) == "strict"


def _serve(request: pytest.FixtureRequest) -> FakeNorthflank:
    from ._fake import FakeNorthflank

    return FakeNorthflank(**_fake_options(request))


def _connect(fake: FakeNorthflank) -> NorthflankClient:
    from .. import NorthflankClient  # the public face only

    return NorthflankClient(fake.token, base_url=fake.base_url, backoff_base=0)


@pytest.fixture
def northflank_fake(request: pytest.FixtureRequest) -> FakeNorthflank:
    """A started FakeNorthflank on 127.0.0.1 (rate limit off), stopped after the test."""
    fake: FakeNorthflank = request.getfixturevalue(
        f"_northflank_fake_{_runner(request, 'northflank_fake')}"
    )
    return fake


@pytest.fixture
def northflank_client(request: pytest.FixtureRequest) -> NorthflankClient:
    """A NorthflankClient for `northflank_fake`, with backoff waits switched off."""
    client: NorthflankClient = request.getfixturevalue(
        f"_northflank_client_{_runner(request, 'northflank_client')}"
    )
    return client


@pytest.fixture
async def _northflank_fake_anyio(request: pytest.FixtureRequest) -> AsyncIterator[FakeNorthflank]:
    async with _serve(request) as fake:
        yield fake


@pytest.fixture
async def _northflank_client_anyio(
    northflank_fake: FakeNorthflank,
) -> AsyncIterator[NorthflankClient]:
    async with _connect(northflank_fake) as client:
        yield client


try:
    import pytest_asyncio
except ImportError:
    _HAS_PYTEST_ASYNCIO = False
else:
    _HAS_PYTEST_ASYNCIO = True

    @pytest_asyncio.fixture
    async def _northflank_fake_asyncio(
        request: pytest.FixtureRequest,
    ) -> AsyncIterator[FakeNorthflank]:
        async with _serve(request) as fake:
            yield fake

    @pytest_asyncio.fixture
    async def _northflank_client_asyncio(
        northflank_fake: FakeNorthflank,
    ) -> AsyncIterator[NorthflankClient]:
        async with _connect(northflank_fake) as client:
            yield client
