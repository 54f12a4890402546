"""Shared helpers: wire payloads in the API's own shape, and a client for mocked tests."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aioresponses.core as aioresponses_core
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses

from northflank_async import NorthflankClient

BASE = "https://api.northflank.test"
TOKEN = "nf-secret-token-0123456789"
LIST_URL = f"{BASE}/v1/projects/proj/jobs/job/build"


def wire_build(i: int, **overrides: Any) -> dict[str, Any]:
    """A build as the API sends it (camelCase, the documented example's shape)."""
    build: dict[str, Any] = {
        "id": f"build-{i:04d}",
        "branch": "main",
        "status": "SUCCESS",
        "sha": f"{i:040x}",
        "concluded": True,
        "createdAt": "2021-07-28T15:55:38.296Z",
        "success": True,
        "message": "Image successfully built",
        "buildConcludedAt": 1627487738,
    }
    build.update(overrides)
    return build


def list_page(
    ids: range, *, cursor: str | None = None, has_next: bool | None = None
) -> dict[str, Any]:
    """A list envelope holding builds ``ids``."""
    pagination: dict[str, Any] = {
        "hasNextPage": cursor is not None if has_next is None else has_next,
        "count": len(ids),
    }
    if cursor is not None:
        pagination["cursor"] = cursor
    return {"data": {"builds": [wire_build(i) for i in ids]}, "pagination": pagination}


class _CompatResponse(ClientResponse):
    """aiohttp 3.14 made ``stream_writer`` required; aioresponses 0.7.9 does not pass it.

    Known upstream (pnuckowski/aioresponses#289, open). We keep aiohttp's security release and
    supply the one missing argument here, in tests only, instead of pinning aiohttp back. Older
    aiohttp (the lowest version we support) has no such parameter: nothing is added there.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[NorthflankClient]:
    async with NorthflankClient(TOKEN, base_url=BASE, max_retries=0) as nf:
        yield nf


def sent(mocked: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """The requests aioresponses saw, as (method, url, kwargs), in order."""
    calls = [
        (key[0], str(key[1]), call) for key, calls in mocked.requests.items() for call in calls
    ]
    return [(m, u, c.kwargs) for m, u, c in calls]


@pytest.fixture
def virtual_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_cli.main()`` runs on the virtual clock (tests/_virtual.py): polls take no real time."""
    from ._virtual import cli_on_virtual_clock

    cli_on_virtual_clock(monkeypatch)
