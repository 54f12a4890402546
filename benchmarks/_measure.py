"""The measurements themselves; ``run.py`` decides sizes, repetitions and reporting.

Each async function here is run in a fresh event loop by ``run.py`` and returns plain
numbers. Listings always run the whole client lifecycle inside the timed region (create,
connect, list every page, close), the same for our client and for the raw aiohttp loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from _static_pages import reshape

from northflank_async import JobBuild, NorthflankClient
from northflank_async._core.converter import decode_list

__all__ = [
    "Target",
    "count_connections",
    "decode_payload",
    "list_ours",
    "list_ours_prefetch",
    "list_raw",
    "prefetch_available",
    "time_decode",
    "time_prefetch",
]


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a fake API listens and what it holds (the fields of its banner line)."""

    base_url: str
    token: str
    project: str
    job: str


async def list_ours(target: Target, per_page: int, prefetch: int = 0) -> tuple[float, int]:
    """Seconds to list every build as ``JobBuild``s with ``async for``, and how many."""
    started = time.perf_counter()
    async with NorthflankClient(target.token, base_url=target.base_url) as client:
        builds = [
            build
            async for build in client.jobs.builds.list(
                project_id=target.project, job_id=target.job, per_page=per_page, prefetch=prefetch
            )
        ]
    return time.perf_counter() - started, len(builds)


async def list_ours_prefetch(target: Target, per_page: int) -> tuple[float, int]:
    """The same with ``prefetch=1``: the next request travels while a page decodes."""
    return await list_ours(target, per_page, prefetch=1)


async def list_raw(target: Target, per_page: int) -> tuple[float, int]:
    """The same listing by hand: one aiohttp session, dicts, follow the cursor.

    The tightest raw loop: the body's bytes parsed with ``json.loads`` (not
    ``response.json()``, which decodes the text first and checks the content type)."""
    started = time.perf_counter()
    url = f"{target.base_url}/v1/projects/{target.project}/jobs/{target.job}/build"
    headers = {"Authorization": f"Bearer {target.token}", "Accept": "application/json"}
    builds: list[dict[str, Any]] = []
    params = {"per_page": str(per_page)}
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            async with session.get(url, params=params) as response:
                response.raise_for_status()
                payload = json.loads(await response.read())
            builds.extend(payload["data"]["builds"])
            pagination = payload["pagination"]
            if not pagination.get("hasNextPage"):
                break
            params = {"per_page": str(per_page), "cursor": pagination["cursor"]}
    return time.perf_counter() - started, len(builds)


async def count_connections(target: Target, per_page: int) -> dict[str, int]:
    """TCP connections and requests our client makes for one full listing.

    The client borrows a session whose ``TraceConfig`` counts every connection created
    (``on_connection_create_end``) and every request sent.
    """
    counts = {"connections": 0, "requests": 0, "builds": 0}

    async def on_connection(*_: Any) -> None:
        counts["connections"] += 1

    async def on_request(*_: Any) -> None:
        counts["requests"] += 1

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_connection)
    trace.on_request_start.append(on_request)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        NorthflankClient(target.token, base_url=target.base_url, session=session) as client,
    ):
        async for _ in client.jobs.builds.list(
            project_id=target.project, job_id=target.job, per_page=per_page
        ):
            counts["builds"] += 1
    return counts


async def prefetch_available(target: Target) -> bool:
    """Whether ``list()`` accepts ``prefetch=``: the iterator is made, then closed unused."""
    async with NorthflankClient(target.token, base_url=target.base_url) as client:
        try:
            builds = client.jobs.builds.list(
                project_id=target.project,
                job_id=target.job,
                prefetch=1,  # type: ignore[call-arg, unused-ignore]
            )
        except TypeError:
            return False
        await builds.aclose()
    return True


async def time_prefetch(
    target: Target, per_page: int, work: float, prefetch: int | None
) -> tuple[float, int]:
    """Seconds to walk a listing doing ``work`` seconds of awaited work after each page.

    ``prefetch=None`` calls ``list()`` without the argument (the sequential baseline).
    """
    extra: dict[str, Any] = {} if prefetch is None else {"prefetch": prefetch}
    started = time.perf_counter()
    count = 0
    async with NorthflankClient(target.token, base_url=target.base_url) as client:
        builds = client.jobs.builds.list(
            project_id=target.project, job_id=target.job, per_page=per_page, **extra
        )
        async for _ in builds:
            count += 1
            if count % per_page == 0:  # the last item of a page: the consumer works
                await asyncio.sleep(work)
    return time.perf_counter() - started, count


def decode_payload(builds: int) -> bytes:
    """The raw body of one list answer holding ``builds`` realistic builds (the fake's)."""
    from northflank_async.testing import FakeNorthflank

    generated = FakeNorthflank(seed=0).add_job("bench", "decode", builds=builds)
    envelope = {
        "data": {"builds": generated},
        "pagination": {"hasNextPage": False, "count": len(generated)},
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def reference_payload(builds: int) -> bytes:
    """The same builds shaped like the API reference's own example: on concluded builds
    ``buildConcludedAt`` as an integer (``1606237973``), and every other build with a
    ``registry`` (``{"uri": ...}``), the two forms the fake's data leaves out."""
    envelope = json.loads(decode_payload(builds))
    reshape(envelope["data"]["builds"])
    return json.dumps(envelope, separators=(",", ":")).encode()


def _median_seconds(action: Callable[[], object], repeats: int) -> list[float]:
    action()  # warm-up
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def time_decode(raw: bytes, repeats: int) -> dict[str, list[float] | str]:
    """Seconds per repetition for decoding, ``json.loads`` and (if present) ``orjson.loads``."""
    builds = json.loads(raw)["data"]["builds"]
    decoded = decode_list(builds, JobBuild, root="data.builds")
    if len(decoded) != len(builds) or not isinstance(decoded[0], JobBuild):
        raise RuntimeError("decode_list did not return one JobBuild per build")
    results: dict[str, list[float] | str] = {
        "decode_list": _median_seconds(
            lambda: decode_list(builds, JobBuild, root="data.builds"), repeats
        ),
        "json_loads": _median_seconds(lambda: json.loads(raw), repeats),
    }
    try:
        import orjson
    except ImportError:
        results["orjson_loads"] = (
            "orjson not installed (pip install -r benchmarks/requirements.txt)"
        )
    else:
        results["orjson_loads"] = _median_seconds(lambda: orjson.loads(raw), repeats)
    return results
