"""A pytest plugin: ``northflank_fake`` and ``northflank_client`` fixtures for your own tests.

Installed with the package (entry point ``pytest11``) and active when pytest-asyncio is
installed. Use the fixtures in any async test::

    async def test_my_bot(northflank_fake, northflank_client):
        northflank_fake.add_job("proj", "nightly", builds=3)
        builds = await northflank_client.jobs.builds.list(
            project_id="proj", job_id="nightly"
        ).collect()
        assert len(builds) == 3

``northflank_fake`` is a started :class:`~northflank_async.testing.FakeNorthflank` (its real
rate limit of 1000 requests an hour included); ``northflank_client`` is a
:class:`~northflank_async.NorthflankClient` pointed at it with backoff waits switched off, so
tests of retries stay fast. Both are closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._client import NorthflankClient
from ._fake import FakeNorthflank

__all__ = ["northflank_client", "northflank_fake"]

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - without pytest-asyncio the plugin offers nothing
    pass
else:

    @pytest_asyncio.fixture
    async def northflank_fake() -> AsyncIterator[FakeNorthflank]:
        """A started FakeNorthflank on 127.0.0.1, stopped after the test."""
        async with FakeNorthflank() as fake:
            yield fake

    @pytest_asyncio.fixture
    async def northflank_client(northflank_fake: FakeNorthflank) -> AsyncIterator[NorthflankClient]:
        """A NorthflankClient for ``northflank_fake``, with backoff waits switched off."""
        async with NorthflankClient(
            northflank_fake.token, base_url=northflank_fake.base_url, backoff_base=0
        ) as client:
            yield client
