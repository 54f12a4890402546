"""Time the official ``northflank`` SDK (2.x) listing every build of a job with ``.all()``.

Run by ``run.py`` in a child process, so that the SDK's large import and its garbage never
weigh on the other measurements, and so that it can use another interpreter
(``--sdk-python``). It needs only the SDK, not northflank-async. It prints one JSON object:
``{"skipped": reason}`` when the SDK is missing or cannot be driven, otherwise the SDK's
version and, for each variant, the seconds of every timed repetition.

Variants:

* ``default``: ``AsyncApiClient(token, base_url=...)`` as its README shows; every request
  then opens (and closes) an ``httpx.AsyncClient`` of its own, so a new TCP connection.
* ``shared_httpx``: the same with ``async_http_client=`` one shared ``httpx.AsyncClient``,
  its fastest configuration, for reference.
* ``sync``: its synchronous ``ApiClient(token, base_url=...)``, as its README also shows (a
  blocking call: no event loop, no other work meanwhile).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import sys
import time
from typing import Any


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("--expected", type=int, required=True, help="builds the job holds")
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


async def _list_all(args: argparse.Namespace, http_client: Any = None) -> float:
    from northflank import AsyncApiClient

    client = AsyncApiClient(args.token, base_url=args.base_url, async_http_client=http_client)
    started = time.perf_counter()
    response = await client.get.job.builds.all(
        project_id=args.project, job_id=args.job, per_page=args.per_page
    )
    elapsed = time.perf_counter() - started
    builds = response.data["builds"]
    if len(builds) != args.expected:
        raise RuntimeError(f"the SDK listed {len(builds)} builds, expected {args.expected}")
    return elapsed


async def _variant(args: argparse.Namespace, shared: bool) -> list[float]:
    times: list[float] = []
    if shared:
        import httpx

        async with httpx.AsyncClient(timeout=30.0) as http:
            await _list_all(args, http)  # warm-up
            for _ in range(args.repeats):
                gc.collect()
                times.append(await _list_all(args, http))
    else:
        await _list_all(args)  # warm-up
        for _ in range(args.repeats):
            gc.collect()
            times.append(await _list_all(args))
    return times


def _list_all_sync(args: argparse.Namespace) -> float:
    from northflank import ApiClient

    client = ApiClient(args.token, base_url=args.base_url)
    started = time.perf_counter()
    response = client.get.job.builds.all(
        project_id=args.project, job_id=args.job, per_page=args.per_page
    )
    elapsed = time.perf_counter() - started
    builds = response.data["builds"]
    if len(builds) != args.expected:
        raise RuntimeError(f"the SDK listed {len(builds)} builds, expected {args.expected}")
    return elapsed


def _sync_variant(args: argparse.Namespace) -> list[float]:
    _list_all_sync(args)  # warm-up
    times: list[float] = []
    for _ in range(args.repeats):
        gc.collect()
        times.append(_list_all_sync(args))
    return times


def main() -> int:
    args = _parse_args()
    try:
        version = importlib.metadata.version("northflank")
        import northflank  # noqa: F401
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        reason = f"official SDK not installed ({exc}); pip install -r benchmarks/requirements.txt"
        print(json.dumps({"skipped": reason}))
        return 0
    if not version.startswith("2."):
        print(json.dumps({"skipped": f"northflank {version} installed; this benchmark drives 2.x"}))
        return 0
    try:
        result: dict[str, Any] = {"version": version}
        for name, shared in (("default", False), ("shared_httpx", True)):
            result[name] = asyncio.run(_variant(args, shared))
        result["sync"] = _sync_variant(args)
    except Exception as exc:
        print(json.dumps({"skipped": f"the SDK could not be driven: {type(exc).__name__}: {exc}"}))
        return 0
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
