"""One replica of a hybrid monitoring group, in its own process (tests/system/
test_monitor_hybrid_group_processes.py).

    NF_TOKEN=... python tests/system/_hybrid_replica.py API_URL REDIS_URL PROJECT JOB... [--work S]

A `NorthflankClient` on the (fake) API at ``API_URL`` with the token of ``NF_TOKEN`` (never in
``argv``: ``ps`` shows it), a `RedisCoordinator` on ``REDIS_URL``, a `WebhookReceiver` of the
receiving group ``hooks`` served on a free loopback port, and a hybrid monitor of the group
``bots`` watching the jobs. It prints the receiver's URL (one JSON line), then ``{"ready":
true}`` once every job has its first snapshot, then one JSON line per ``concluded`` event it
handles, flushed before the next event is asked for (which acknowledges it): a replica killed
afterwards has told what it handled. Handling an outcome takes ``--work`` seconds first (a
bot's work, opening a ticket: what a member holds meanwhile is what its death puts at stake).
A line on stdin (or its end) stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import Any, TextIO, cast

from northflank_async import NorthflankClient, RedisCoordinator, WebhookReceiver

SECRET = "whsec-hybrid-replicas-0123456789"
#: Seconds between two reconciling polls of a job (lost notifications are found by those).
RECONCILE = 2.0
#: The poll lease, and the time after which an event a dead member held goes to another.
LEASE = 3.0
#: Seconds after which a notification a dead member took goes to another.
REDELIVER_AFTER = 2.0


#: Seconds after the stop was asked at which a replica still running prints its tasks.
STUCK = 5.0


#: Where the stop is, told with the tasks when it hangs.
stopping = {"at": "not asked"}


def dump_tasks() -> None:
    """Every task's stack and cancellations asked, on stderr and (pytest may hold stderr) in
    a file of the directory ``NF_STUCK_DUMPS`` names, if set."""
    outs: list[TextIO] = [sys.stderr]
    where = os.environ.get("NF_STUCK_DUMPS")
    if where:
        outs.append(open(os.path.join(where, f"replica-{os.getpid()}.txt"), "a"))  # noqa: SIM115
    for out in outs:
        print(f"replica {os.getpid()}: still stopping after {STUCK} s", file=out)
        print(f"at: {stopping['at']}; its tasks:", file=out)
        for task in asyncio.all_tasks():
            print(f"{task!r} cancelling={task.cancelling()}", file=out)
            for step in awaiting(task):
                print(f"    {step}", file=out)
        out.flush()
    if len(outs) > 1:
        outs[1].close()


def awaiting(task: asyncio.Task[Any]) -> list[str]:
    """Where ``task`` waits, outermost first: the chain of the coroutines it awaits (a task's
    own stack stops at its first coroutine)."""
    found, awaited = [], cast(Any, task.get_coro())
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            found.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return found


def say(record: dict[str, object]) -> None:
    print(json.dumps(record), flush=True)


async def run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_task(asyncio.to_thread(sys.stdin.readline))
    async with (
        RedisCoordinator.from_url(args.redis, namespace="replicas", recheck=0.5) as coordinator,
        NorthflankClient(os.environ["NF_TOKEN"], base_url=args.api, coordinator=coordinator) as nf,
    ):
        receiver = WebhookReceiver(
            SECRET, coordinator=coordinator, group="hooks", redeliver_after=REDELIVER_AFTER
        )
        async with receiver.serve() as server:
            say({"url": server.url})
            monitor = nf.monitor(
                36_000, floor=1.0, group="bots", lease=LEASE, webhooks=receiver,
                reconcile=RECONCILE,
            )  # fmt: skip
            async with monitor:
                for job in args.jobs:
                    monitor.watch_job(args.project, job)
                await monitor.ready()
                say({"ready": True})

                async def handle() -> None:
                    async for event in monitor:
                        if event.kind == "concluded":
                            await asyncio.sleep(args.work)
                            build = event.build
                            say({"build": build.id, "outcome": str(build.status)})

                handling = loop.create_task(handle())
                await asyncio.wait([stop, handling], return_when=asyncio.FIRST_COMPLETED)
                loop.call_later(STUCK, dump_tasks)  # a stop that hangs says where
                handling.cancel()
                stopping["at"] = "cancelling the handling task"
                await asyncio.gather(handling, return_exceptions=True)
                stopping["at"] = "closing the monitor"
            stopping["at"] = "closing the receiver's server"
        stopping["at"] = "closing the receiver"
        await receiver.aclose()
        stopping["at"] = "closing the client and the coordinator"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("api")
    parser.add_argument("redis")
    parser.add_argument("project")
    parser.add_argument("jobs", nargs="+")
    parser.add_argument("--work", type=float, default=0.0)
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
