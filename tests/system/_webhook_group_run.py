"""A receiving group's run: replicas in their own processes behind a round-robin sender.

Used by tests/test_webhooks_group.py. The sender (this process) posts ``events``
notifications round-robin over the replicas, as a load balancer would, with Northflank's
faults: a share sent twice (to the next replica), a share whose answer is lost (the sender
resends to the next replica), and a replica that refuses (killed) skipped to the next. With
``kill``, the first replica stops at its 2nd event without handling it and is SIGKILLed.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from ._redis import RedisServer

HERE = Path(__file__).resolve().parent
SECRET = "whsec-group-test-0123456789"


def _line(child: subprocess.Popen[str], what: str, timeout: float = 120.0) -> str:
    stream: IO[str] | None = child.stdout
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], timeout)
    line = stream.readline() if ready else ""
    if not line:
        raise RuntimeError(f"{what} did not answer (exit code {child.poll()})")
    return line.strip()


def _said(child: subprocess.Popen[str]) -> str | None:
    """A line the child printed, if one waits (without waiting)."""
    stream = child.stdout
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], 0)
    return stream.readline().strip() if ready else None


def _post(url: str, event_id: str) -> bool:
    payload = {
        "event": "build:success",
        "data": {
            "build": {"id": f"b-{event_id}", "status": "SUCCESS", "concluded": True},
            "job": {"id": "nightly"},
            "project": {"id": "p"},
        },
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Northflank-Notification-Token": SECRET,
            "X-Northflank-Notification-Event-Id": event_id,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status: int = answer.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError):
        return False  # refused (a killed replica) or 5xx: the sender tries the next one


def run_receivers(
    redis: RedisServer,
    *,
    replicas: int = 3,
    events: int = 60,
    duplicated: float = 0.3,
    lost: float = 0.1,
    kill: bool = False,
    redeliver_after: float = 1.0,
    seed: int = 20,
) -> dict[str, Any]:
    """One run to the end (every event accepted by some replica handled)."""
    rng = random.Random(seed)
    children: list[subprocess.Popen[str]] = []
    workdir = tempfile.TemporaryDirectory(prefix="nf-hooks-")
    try:
        urls = []
        for n in range(replicas):
            argv = [
                str(HERE / "_webhook_group_worker.py"),
                redis.url,
                str(Path(workdir.name, f"replica-{n}.txt")),
                f"--redeliver-after={redeliver_after}",
                *(["--hold-at=2"] if kill and n == 0 else []),
            ]
            child = subprocess.Popen(
                [sys.executable, *argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=dict(os.environ),
            )
            children.append(child)
            urls.append(json.loads(_line(child, "a replica"))["url"])
        accepted: list[str] = []
        posts = 0
        killed_at = None
        turn = 0
        for n in range(events):
            event_id = f"evt-{n:03d}"
            copies = 2 if rng.random() < duplicated else 1
            answer_lost = rng.random() < lost
            done = False
            while not done or copies > 0:
                url = urls[turn % replicas]
                turn += 1
                posts += 1
                ok = _post(url, event_id)
                if ok and answer_lost:  # queued, but the sender never heard: it resends
                    answer_lost = False
                    continue
                if ok:
                    done = True
                    copies -= 1
            accepted.append(event_id)
            if kill and killed_at is None and _said(children[0]) == "holding":
                children[0].send_signal(signal.SIGKILL)
                children[0].wait()
                killed_at = n

        def handled() -> list[str]:
            lines: list[str] = []
            for path in sorted(Path(workdir.name).glob("replica-*.txt")):
                lines += path.read_text().split()
            return lines

        deadline = time.monotonic() + 60 + redeliver_after * 4
        while set(handled()) < set(accepted) and time.monotonic() < deadline:
            time.sleep(0.1)
        # Past the redelivery time: an event wrongly left unacknowledged would come again.
        time.sleep(redeliver_after * 2)
        totals = []
        for child in children:
            if child.poll() is None:
                assert child.stdin is not None
                child.stdin.write("stop\n")
                child.stdin.flush()
                totals.append(json.loads(_line(child, "a replica")))
        return {
            "accepted": accepted,
            "handled": handled(),
            "posts": posts,
            "killed_at": killed_at,
            "redelivered": sum(t["redelivered"] for t in totals),
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
