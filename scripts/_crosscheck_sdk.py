"""Child of ``crosscheck_official_clients.py``: list with the official ``northflank`` SDK (2.x).

It needs only the SDK (not northflank-async), so it can run in a venv of its own. It reads
one JSON spec on stdin (base URL, token, ids, and the listings and gets to do) and prints
one JSON object: ``{"client", "version", "results": {name: items or item}}``, where each
item is the SDK's ``response.data`` as it came (the raw wire JSON). Any failure is a
message on stderr and exit status 1.

With a ``logs`` member in the spec, one build's log is read with the SDK's WebSocket tail
(``client.logs.atail_job_logs(..., is_build=True)``) as ``results["logs tail"]``.

Listings use the SDK's own pagination helpers: ``.all()`` (``walk: "all"``), or a walk
through ``response.pagination.aget_next_page()`` (``walk: "pages"``).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
from typing import Any

MAX_PAGES = 100  # a walk that goes on longer has lost its way


_KEYS = {"notifications": "notificationIntegrations"}  # a list's key, when not its resource


def _ids(spec: dict[str, Any], team: bool, *, project: bool = True) -> dict[str, str]:
    ids = {"project_id": spec["project"]} if project else {}
    if team:
        ids["team_id"] = spec["team"]
    return ids


def _paged(client: Any, resource: str) -> Any:
    """The SDK's paginated call for one resource (attribute names read from its client.py)."""
    if resource == "jobs":
        return client.list.jobs
    if resource == "runs":
        return client.get.job.runs
    if resource == "builds":
        return client.get.job.builds
    if resource == "notifications":
        return client.list.notifications
    raise ValueError(f"unknown resource {resource!r}")


def _unwrap(data: Any, key: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise RuntimeError(f"expected data.{key} to be a list, got {json.dumps(data)[:200]}")
    return list(data[key])


async def _listing(client: Any, spec: dict[str, Any], listing: dict[str, Any]) -> list[Any]:
    resource = listing["resource"]
    kwargs: dict[str, Any] = _ids(spec, listing["team"], project=resource != "notifications")
    if resource not in ("jobs", "notifications"):
        kwargs["job_id"] = spec["job"]
    key = _KEYS.get(resource, resource)
    if listing["per_page"] is not None:
        kwargs["per_page"] = listing["per_page"]
    call = _paged(client, resource)
    if listing["walk"] == "all":
        response = await call.all(**kwargs)
        return _unwrap(response.data, key)
    items: list[Any] = []
    response = await call(**kwargs)
    items.extend(_unwrap(response.data, key))
    pages = 1
    while response.pagination is not None and response.pagination.has_next_page:
        pages += 1
        if pages > MAX_PAGES:
            raise RuntimeError(f"{listing['name']}: still a next page after {MAX_PAGES} pages")
        response = await response.pagination.aget_next_page()
        items.extend(_unwrap(response.data, key))
    return items


async def _get(client: Any, spec: dict[str, Any], get: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {**_ids(spec, get["team"]), "job_id": spec["job"]}
    resource = get["resource"]
    if resource == "notification":
        ids = _ids(spec, get["team"], project=False)
        response = await client.get.notification(**ids, notification_id=get["id"])
    elif resource == "job":
        response = await client.get.job(**kwargs)
    elif resource == "run":
        response = await client.get.job.run(**kwargs, run_id=get["id"])
    elif resource == "build":
        response = await client.get.job.build(**kwargs, build_id=get["id"])
    else:
        raise ValueError(f"unknown resource {resource!r}")
    return response.data


async def _logs(client: Any, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A build's log read with the SDK's tail (it has no range call for a job's builds; its
    tail takes no start time, so it gets the last ``line_limit`` lines of the last 30 min)."""
    logs = spec["logs"]
    tail = await client.logs.atail_job_logs(
        project_id=logs["project"],
        job_id=spec["job"],
        build_id=logs["build_id"],
        is_build=True,
        line_limit=logs["line_limit"],
        recv_timeout=10.0,
    )
    lines: list[dict[str, Any]] = []
    async with tail:
        async for line in tail:
            lines.append({"containerId": line.container_id, "log": line.log, "ts": line.ts})
            if len(lines) >= logs["lines"]:
                break
    return lines


async def _run(spec: dict[str, Any]) -> dict[str, Any]:
    from northflank import AsyncApiClient

    client = AsyncApiClient(spec["token"], base_url=spec["base_url"])
    results: dict[str, Any] = {}
    for listing in spec["listings"]:
        results[listing["name"]] = await _listing(client, spec, listing)
    for get in spec["gets"]:
        results[get["name"]] = await _get(client, spec, get)
    if "logs" in spec:
        results["logs tail"] = await _logs(client, spec)
    return results


def main() -> int:
    spec = json.load(sys.stdin)
    try:
        version = importlib.metadata.version("northflank")
    except importlib.metadata.PackageNotFoundError:
        print("the official SDK is not installed (pip install 'northflank>=2,<3')", file=sys.stderr)
        return 1
    try:
        results = asyncio.run(_run(spec))
    except Exception as exc:  # report any failure of the SDK as one line
        print(f"the official SDK failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump({"client": "python-sdk", "version": version, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
