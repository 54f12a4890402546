"""A group run: the fake API in one process, the members of one monitoring group in others.

Used by tests/system/test_group.py (short runs) and benchmarks/group.py (the full figures). The
fake concludes ``builds`` new builds over ``jobs`` jobs; each member appends what it handled
to its own file, and the run merges them.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from ._redis import RedisServer

HERE = Path(__file__).resolve().parent


def _line(child: subprocess.Popen[str], what: str, timeout: float = 120.0) -> str:
    stream: IO[str] | None = child.stdout
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], timeout)
    line = stream.readline() if ready else ""
    if not line:
        raise RuntimeError(f"{what} did not answer (exit code {child.poll()})")
    return line.strip()


def _say(child: subprocess.Popen[str], text: str) -> None:
    assert child.stdin is not None
    child.stdin.write(text + "\n")
    child.stdin.flush()


def run_group(
    redis: RedisServer,
    *,
    replicas: int = 3,
    jobs: int = 10,
    builds: int = 40,
    every: float = 0.05,
    step: float = 0.1,
    floor: float = 1.0,  # MIN_POLL_INTERVAL, the least a monitor accepts
    lease: float = 2.0,
    kill: bool = False,
    outage: float = 0.0,
    single: bool = False,
) -> dict[str, Any]:
    """One run to the end (every build concluded and handled); what the members handled.

    ``kill``: the first member stops at its 3rd concluded event without handling it, is
    killed (SIGKILL) and replaced. ``outage``: Redis is stopped that many seconds, once a
    few builds concluded. ``single``: one member only (the figure to compare a group with).
    """
    children: list[subprocess.Popen[str]] = []
    workdir = tempfile.TemporaryDirectory(prefix="nf-group-")

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
                str(HERE / "_group_fake.py"),
                f"--jobs={jobs}",
                f"--builds={builds}",
                f"--every={every}",
                f"--step={step}",
            ]
        )
        banner = json.loads(_line(fake, "the fake API"))

        def member(n: int, hold: bool = False) -> subprocess.Popen[str]:
            argv = [
                str(HERE / "_group_worker.py"),
                banner["base_url"],
                redis.url,
                str(Path(workdir.name, f"member-{n}.txt")),
                banner["project"],
                *banner["jobs"],
                f"--floor={floor}",
                f"--lease={lease}",
                *(["--hold-at=3"] if hold else []),
            ]
            child = spawn(argv, {"NORTHFLANK_API_TOKEN": banner["token"]})
            assert _line(child, "a member") == "ready"
            return child

        # The window starts before the first member: each polls from its start, and under load
        # spawning the others takes seconds in which the first one is already polling.
        started = time.monotonic()
        members = [member(n, hold=kill and n == 0) for n in range(1 if single else replicas)]
        _say(fake, "go")
        _line(fake, "the fake API")

        def concluded() -> int:
            _say(fake, "status")
            return int(json.loads(_line(fake, "the fake API"))["concluded"])

        killed = 0
        if kill:
            assert _line(members[0], "the holding member") == "holding"
            members[0].send_signal(signal.SIGKILL)
            members[0].wait()
            killed = 1
            members[0] = member(replicas)
        if outage:
            while concluded() < builds // 4:
                time.sleep(0.1)
            redis.stop()
            time.sleep(outage)
            redis.start()

        def handled() -> list[str]:
            lines: list[str] = []
            for path in sorted(Path(workdir.name).glob("member-*.txt")):
                lines += path.read_text().split()
            return lines

        deadline = time.monotonic() + 60 + builds * every * 2 + outage
        while concluded() < builds or len(set(handled())) < builds:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # A lease and more: an event wrongly left unacknowledged would be handed out again.
        time.sleep(lease * 1.5)
        totals = []
        for child in members:
            _say(child, "stop")
            totals.append(json.loads(_line(child, "a member")))
        seconds = time.monotonic() - started
        _say(fake, "report")
        report = json.loads(_line(fake, "the fake API"))
        return {
            "handled": handled(),
            "concluded": report["concluded"],
            "statuses": report["statuses"],
            "requests": sum(report["statuses"].values()),
            "member_requests": [t["requests"] for t in totals],
            "redelivered": sum(t["redelivered"] for t in totals),
            "killed": killed,
            "seconds": seconds,
            "jobs": jobs,
            "floor": floor,
        }
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        for child in children:
            child.wait(timeout=30)
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()
        workdir.cleanup()
