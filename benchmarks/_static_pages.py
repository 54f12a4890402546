"""A server whose answers cost nothing: a job's build pages, serialised once, served as bytes.

``python benchmarks/_static_pages.py --builds 10000 --per-page 100 [--shape reference]``
prints the fake's banner line (``base_url=... token=... project=... job=... builds=...``) once
it listens, then serves ``GET /v1/projects/{project}/jobs/{job}/build`` from pages built at
start-up: no store, no JSON encoding, no rate-limit bookkeeping per request. It is the
tightest honest server for the listing benchmark: what is left is the client's own work.

``--shape fake`` serves the fake's builds as it generates them; ``--shape reference`` reshapes
them like the API reference's own example (``buildConcludedAt`` an integer, every other build
with a ``registry``). Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from aiohttp import web

from northflank_async.testing import FakeNorthflank

PROJECT, JOB, TOKEN = "bench", "static", "static-pages-token"


def reshape(builds: list[dict[str, Any]]) -> None:
    """The reference's shape, in place: integer epochs, a registry on every other build (and
    only on those: the fake gives about two builds in three one of its own)."""
    for index, build in enumerate(builds):
        if isinstance(build.get("buildConcludedAt"), float):
            build["buildConcludedAt"] = int(build["buildConcludedAt"])
        if index % 2 == 0:
            build["registry"] = {"uri": f"registry.northflank.com/{PROJECT}/{JOB}:{build['id']}"}
        else:
            build.pop("registry", None)


def pages(builds: list[dict[str, Any]], per_page: int) -> dict[str | None, bytes]:
    """Every page's body by the cursor that asks for it (``None``: the first page)."""
    bodies: dict[str | None, bytes] = {}
    for start in range(0, max(len(builds), 1), per_page):
        chunk = builds[start : start + per_page]
        more = start + per_page < len(builds)
        pagination: dict[str, Any] = {"hasNextPage": more, "count": len(chunk)}
        if more:
            pagination["cursor"] = f"c{start + per_page}"
        envelope = {"data": {"builds": chunk}, "pagination": pagination}
        bodies[None if start == 0 else f"c{start}"] = json.dumps(
            envelope, separators=(",", ":")
        ).encode()
    return bodies


async def serve(builds: int, per_page: int, shape: str) -> None:
    generated = [dict(b) for b in FakeNorthflank(seed=0).add_job(PROJECT, JOB, builds=builds)]
    if shape == "reference":
        reshape(generated)
    bodies = pages(generated, per_page)
    path = f"/v1/projects/{PROJECT}/jobs/{JOB}/build"

    async def page(request: web.Request) -> web.Response:
        if request.query.get("per_page", str(per_page)) != str(per_page):
            return web.json_response({"error": {"status": 400, "message": "per_page"}}, status=400)
        body = bodies.get(request.query.get("cursor"))
        if body is None:
            return web.json_response({"error": {"status": 400, "message": "cursor"}}, status=400)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get(path, page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(
        f"base_url=http://127.0.0.1:{port} token={TOKEN} project={PROJECT} job={JOB} "
        f"builds={builds}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", type=int, required=True)
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--shape", choices=("fake", "reference"), default="fake")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.builds, args.per_page, args.shape))
    return 0


if __name__ == "__main__":
    sys.exit(main())
