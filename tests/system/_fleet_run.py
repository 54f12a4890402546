"""A fleet run: the fake API in one process, N members in N more (tests and benchmarks).

Every member lists the fake's one job ``listings`` times concurrently, with one token, and
with or without one Redis; the fake's record then tells how many answers were 429 and how
many counted requests each rate-limit window received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent


def _line(stream: IO[str] | None, what: str) -> str:
    assert stream is not None
    line = stream.readline()
    if not line:
        raise RuntimeError(f"{what} exited without answering")
    return line.strip()


def run_fleet(
    *,
    processes: int,
    listings: int,
    pages: int,
    limit: int,
    window: float,
    redis_url: str | None,
    per_page: int = 50,
) -> dict[str, Any]:
    """Run one fleet to the end; the fake's record, the members' totals and the seconds taken.

    Each listing walks ``pages`` pages of ``per_page`` builds.
    """
    children: list[subprocess.Popen[str]] = []

    def spawn(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        children.append(child)
        return child

    try:
        fake = spawn(
            [
                str(HERE / "_fleet_fake.py"),
                f"--limit={limit}",
                f"--window={window}",
                f"--builds={pages * per_page}",
            ]
        )
        banner = json.loads(_line(fake.stdout, "the fake API"))
        member_argv = [
            str(HERE / "_fleet_worker.py"),
            banner["base_url"],
            banner["project"],
            banner["job"],
            f"--listings={listings}",
            f"--per-page={per_page}",
            *([f"--redis={redis_url}"] if redis_url else []),
        ]
        members = [
            spawn(member_argv, {"NORTHFLANK_API_TOKEN": banner["token"]}) for _ in range(processes)
        ]
        for member in members:
            assert _line(member.stdout, "a member") == "ready"
        started = time.monotonic()
        for member in members:
            assert member.stdin is not None
            member.stdin.write("go\n")
            member.stdin.flush()
        totals = [json.loads(_line(member.stdout, "a member")) for member in members]
        seconds = time.monotonic() - started
        assert fake.stdin is not None
        fake.stdin.write("report\n")
        fake.stdin.flush()
        report = json.loads(_line(fake.stdout, "the fake API"))
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            child.wait(timeout=30)
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()
    statuses = {int(k) if k != "None" else None: v for k, v in report["statuses"].items()}
    return {
        "statuses": statuses,
        "windows": report["windows"],
        "builds": sum(t["builds"] for t in totals),
        "errors": sum(t["errors"] for t in totals),
        "seconds": seconds,
        "expected_builds": processes * listings * pages * per_page,
    }
