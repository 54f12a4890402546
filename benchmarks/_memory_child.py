"""Peak RSS of one streaming walk with ``async for``, measured in a fresh process.

Run by ``run.py`` once per size. Every run does the same imports and the same warm-up (one
page through the same client) before the walk, so that two runs differ only by how many
builds they stream. The consumer keeps no build: a listing that streams must then stay
flat however long it is. Prints one JSON object with the peak RSS in bytes after the
warm-up and after the walk.

``ru_maxrss`` survives ``exec``: a process spawned by a large parent (``run.py`` after its
other measurements) starts with the parent's high-water mark. So this script forks first,
while it is still a bare interpreter, and the walk runs and is measured in that fresh child,
whose own high-water mark starts from the bare interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
from typing import Any


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("--limit", type=int, required=True, help="builds to stream")
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument(
        "--keep", action="store_true", help="keep every build (a reference that cannot be flat)"
    )
    return parser.parse_args()


async def _walk(args: argparse.Namespace) -> dict[str, int]:
    import aiohttp  # noqa: F401  (the same imports in every run, before the first figure)

    from northflank_async import NorthflankClient

    async with NorthflankClient(args.token, base_url=args.base_url) as client:
        warm = client.jobs.builds.list(
            project_id=args.project, job_id=args.job, per_page=args.per_page, limit=args.per_page
        )
        async for _ in warm:
            pass
        gc.collect()
        after_warm_up = _peak_rss_bytes()
        count = 0
        kept: list[object] = []
        builds = client.jobs.builds.list(
            project_id=args.project, job_id=args.job, per_page=args.per_page, limit=args.limit
        )
        async for build in builds:
            count += 1
            if args.keep:
                kept.append(build)
    if count != args.limit:
        raise RuntimeError(f"streamed {count} builds, expected {args.limit}")
    return {"builds": count, "peak_after_warm_up": after_warm_up, "peak": _peak_rss_bytes()}


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    try:
        return dict(asyncio.run(_walk(args)))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    args = _parse_args()
    if not hasattr(os, "fork"):
        result = _measure(args)  # no fork (Windows): the figure may include the parent's
    else:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the fresh child: measure, report through the pipe, leave at once
            os.close(read_end)
            with os.fdopen(write_end, "w") as pipe:
                pipe.write(json.dumps(_measure(args)))
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            result = json.loads(pipe.read() or '{"error": "the measuring child died"}')
        os.waitpid(pid, 0)
    print(json.dumps(result))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
