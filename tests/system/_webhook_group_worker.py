"""One replica of a receiving group, in its own process (tests/_webhook_group_run.py).

    python tests/_webhook_group_worker.py REDIS_URL OUT [--hold-at K] [--redeliver-after S]

serves a `WebhookReceiver` in group ``hooks`` on a free loopback port and prints its URL (one
JSON line), then reads the group's events and appends each event id to ``OUT`` (one line,
flushed before the event is acknowledged). With ``--hold-at K`` it prints ``holding`` at its
K-th event and stops there without handling it (to be killed). A line on stdin stops it; it
then prints one JSON line: the events redelivered to it, and those it handled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from northflank_async import RedisCoordinator, WebhookReceiver

SECRET = "whsec-group-test-0123456789"


async def run(args: argparse.Namespace) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    handled = 0
    async with RedisCoordinator.from_url(args.redis, namespace="hooks", recheck=0.5) as coord:
        receiver = WebhookReceiver(
            SECRET, coordinator=coord, group="hooks", redeliver_after=args.redeliver_after
        )
        async with receiver.serve() as server:
            print(json.dumps({"url": server.url}), flush=True)

            async def consume() -> None:
                nonlocal handled
                seen = 0
                with open(args.out, "a") as out:  # noqa: ASYNC230  (a local file, line by line)
                    async for event in receiver:
                        seen += 1
                        if seen == args.hold_at:
                            print("holding", flush=True)
                            await asyncio.Event().wait()  # dies here, unacknowledged
                        out.write(event.event_id + "\n")
                        out.flush()
                        handled += 1

            consumer = asyncio.create_task(consume())
            await loop.run_in_executor(None, sys.stdin.readline)
            await receiver.aclose()  # acknowledges the last event handed out
            await consumer
    return {"redelivered": receiver.redelivered, "handled": handled}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("redis")
    parser.add_argument("out")
    parser.add_argument("--hold-at", type=int, default=0)
    parser.add_argument("--redeliver-after", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
