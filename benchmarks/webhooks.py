"""The webhook receiver: notifications a second through the real handler, and dedupe memory.

::

    python benchmarks/webhooks.py            # 20,000 notifications, 50 concurrent senders
    python benchmarks/webhooks.py --quick    # 2,000 of them (seconds)
    python benchmarks/webhooks.py --json out.json

The receiver serves on loopback (``serve()``, the standalone aiohttp server) in this process,
with a consumer taking each event as it is queued; the senders run in a child process (an
aiohttp client, 50 requests in flight over keep-alive connections), so that sending does not
share this process's core with receiving. Each notification is the reference's documented
build payload under its own event id, with the token checked, the body parsed and decoded,
the id deduplicated and the event queued: everything a real delivery costs. A tenth of them
are resent (same event id) to exercise the duplicate path. The figure is notifications
answered a second, from the first send to the last answer; beside it, the notifications per
CPU second of the receiving process (what the receiver can take on one free core, whatever
else the machine runs). Targets: at least 2,000 a second;
the dedupe window of 100,000 event ids (UUIDs) at most 20 MB (tracemalloc). Nothing is
asserted: the tests check the behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from northflank_async import WebhookReceiver  # noqa: E402
from northflank_async._core.dedupe import DedupeWindow  # noqa: E402

SECRET = "benchmark-secret-0123456789abcdef"
SENDERS = 50
PAYLOAD = {
    "event": "build:success",
    "data": {
        "build": {
            "id": "social-hour-1312",
            "branch": "master",
            "pullRequestId": None,
            "status": "SUCCESS",
            "sha": "ca62a3f1a8d0d6c5b3ee6e0e0d3c1e0b9a2f7d11",
            "concluded": True,
            "createdAt": "2022-01-19T09:04:40.916Z",
        },
        "job": {"id": "nightly", "name": "Nightly"},
        "project": {"id": "personal-blog", "name": "Personal Blog"},
        "user": {"id": "thomas"},
    },
}


async def send(url: str, count: int) -> dict[str, float]:
    """The child's part: ``count`` notifications (a tenth of them resent), 50 at a time."""
    import aiohttp

    body = json.dumps(PAYLOAD).encode()
    ids = [f"evt-{i:08d}" for i in range(count)]
    ids += ids[::10]  # the resends: answered 2xx, not queued again
    statuses: dict[int, int] = {}
    queue = iter(ids)
    connector = aiohttp.TCPConnector(limit=SENDERS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            for event_id in queue:
                headers = {
                    "Content-Type": "application/json",
                    "X-Northflank-Notification-Token": SECRET,
                    "X-Northflank-Notification-Event-Id": event_id,
                    "X-Northflank-Notification-Event-Type": "build:success",
                    "X-Northflank-Notification-Integration-Id": "benchmark",
                }
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        elapsed = time.perf_counter() - started
    return {"sent": len(ids), "seconds": elapsed, "statuses": statuses}  # type: ignore[dict-item]


async def throughput(count: int) -> dict[str, object]:
    receiver = WebhookReceiver(SECRET, queue_size=count)
    received = 0

    async def consume() -> None:
        nonlocal received
        async for _ in receiver:
            received += 1

    cpu = time.process_time()  # this process: the server, the handler, the consumer
    async with receiver.serve() as server:
        consumer = asyncio.create_task(consume())
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--send", server.url, str(count),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await child.communicate()
        receiver.close()
        await consumer
    cpu = time.process_time() - cpu
    figures = json.loads(out)
    return {
        "notifications": figures["sent"],
        "queued": received,
        "statuses": figures["statuses"],
        "seconds": round(figures["seconds"], 3),
        "per_second": round(figures["sent"] / figures["seconds"]),
        "receiver_cpu_seconds": round(cpu, 3),
        "per_cpu_second": round(figures["sent"] / cpu),
        "load_average": os.getloadavg()[0],
    }


def dedupe_memory(count: int = 100_000) -> dict[str, float]:
    ids = [str(uuid.uuid4()) for _ in range(count)]  # made before tracing: not counted
    tracemalloc.start()
    window = DedupeWindow(size=count, ttl=86_400.0)
    for event_id in ids:
        window.add(event_id, 0.0)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(window) == count
    return {"ids": count, "mb": round(current / 1e6, 2), "peak_mb": round(peak / 1e6, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 notifications")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--send", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        print(json.dumps(asyncio.run(send(args.send[0], int(args.send[1])))))
        return 0
    results = {
        "throughput": asyncio.run(throughput(2_000 if args.quick else 20_000)),
        "dedupe": dedupe_memory(),
    }
    rate, memory = results["throughput"], results["dedupe"]
    print(f"receiver: {rate['per_second']:,} notifications/s over loopback "
          f"({rate['notifications']:,} sent by {SENDERS} concurrent senders in "
          f"{rate['seconds']} s, {rate['queued']:,} queued, answers {rate['statuses']}); "
          "target >= 2,000/s")  # fmt: skip
    print(f"receiver's own cost: {rate['per_cpu_second']:,} notifications per CPU second "
          f"(its process used {rate['receiver_cpu_seconds']} s of CPU; load average "
          f"{rate['load_average']:.1f} on {os.cpu_count()} cores)")  # fmt: skip
    print(f"dedupe window: {memory['mb']} MB for {memory['ids']:,} event ids "
          f"(peak {memory['peak_mb']} MB); target <= 20 MB")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
