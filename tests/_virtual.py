"""Client and fake together on a virtual loop clock (looptime), and the monitor's workload.

Under looptime the loop's clock jumps to the next timer whenever nothing is ready. The client
and the fake talk over real loopback sockets, so an answer in flight must not let the clock
jump (a 30 s request timeout would fire in no real time). :func:`in_flight_guard` holds an
executor future open from the start of each request to its answer: looptime never jumps
while an executor future is pending (it waits for real I/O instead), so virtual time stands
still while an answer is on its way and jumps only while every task sleeps.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import statistics
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, TypeVar

import aiohttp
import attrs
import looptime
import pytest

from northflank_async import BuildEvent, NorthflankClient
from northflank_async.testing import FakeNorthflank

T = TypeVar("T")

WALL_EPOCH_S = 1_751_284_800.0  # the fake's wall clock at its clock's 0 (testing/_clock.py)


def on_virtual_clock(
    test: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., None]:
    """Run an async test on a fresh looptime loop (clock from 0), then close the loop."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        loop = looptime.new_event_loop()
        try:
            loop.run_until_complete(test(*args, **kwargs))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    return run


def in_flight_guard() -> aiohttp.TraceConfig:
    """A trace config that keeps an executor future pending while a request is in flight."""
    trace = aiohttp.TraceConfig()

    async def start(_: object, ctx: SimpleNamespace, __: object) -> None:
        ctx.done = threading.Event()
        ctx.hold = asyncio.get_running_loop().run_in_executor(None, ctx.done.wait)

    async def end(_: object, ctx: SimpleNamespace, __: object) -> None:
        ctx.done.set()

    trace.on_request_start.append(start)
    trace.on_request_end.append(end)
    trace.on_request_exception.append(end)
    return trace


class GuardedClient(NorthflankClient):
    """A `NorthflankClient` whose own session carries :func:`in_flight_guard`: stands in for
    the class where code under test makes its clients (the CLI, documentation examples)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("session") is None:
            kwargs["trace_configs"] = [*(kwargs.get("trace_configs") or ()), in_flight_guard()]
        super().__init__(*args, **kwargs)


def run_virtual(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """``asyncio.run(main)``, on a fresh looptime loop (clock from 0)."""
    with asyncio.Runner(debug=debug, loop_factory=looptime.new_event_loop) as runner:
        return runner.run(main)


def cli_on_virtual_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``_cli.main()`` run on the virtual clock: its ``asyncio.run`` is `run_virtual`, its
    clients are `GuardedClient`s. Its polls (at least MIN_POLL_INTERVAL, 1 s, apart) then
    take no real time, whether it serves its own fake (``--fake``) or talks to a
    `ThreadedFake` (whose clock is real: a build there advances one stage per read)."""
    from northflank_async.cli import demo

    monkeypatch.setattr(asyncio, "run", run_virtual)
    monkeypatch.setattr(demo, "NorthflankClient", GuardedClient)  # the CLI's one maker of clients


@asynccontextmanager
async def virtual_client(fake: FakeNorthflank, **options: Any) -> AsyncIterator[NorthflankClient]:
    """A client of ``fake`` whose session carries :func:`in_flight_guard`."""
    session = aiohttp.ClientSession(trace_configs=[in_flight_guard()])
    try:
        async with NorthflankClient(
            fake.token, base_url=fake.base_url, session=session, **options
        ) as client:
            yield client
    finally:
        await session.close()


def most_in_any_window(times: list[float], window: float = 3600.0) -> int:
    """The most of ``times`` that fall in any interval ``[t, t + window)``.

    Counted in whole microseconds, the virtual clock's tick: a request sent exactly one
    window after another (as the ledger allows) is not in its window, whatever the float
    rounding of ``t + window``."""
    ticks = sorted(round(t * 1e6) for t in times)
    span = round(window * 1e6)
    return max((bisect.bisect_left(ticks, t + span) - i for i, t in enumerate(ticks)), default=0)


@attrs.define
class RunResult:
    """What a simulated monitor run produced and what it cost."""

    events: list[tuple[float, BuildEvent]]
    requests: int
    statuses: Counter[int | None]
    most_per_hour: int
    pushed: dict[str, float]  # build id -> the clock reading it concluded at (0 if not)
    delays: list[float]

    @property
    def concluded(self) -> Counter[str]:
        return Counter(e.build.id for _, e in self.events if e.kind == "concluded")

    @property
    def created(self) -> Counter[str]:
        return Counter(e.build.id for _, e in self.events if e.kind == "created")

    def summary(self) -> dict[str, float]:
        delays = sorted(self.delays)
        p95 = delays[max(0, round(0.95 * len(delays)) - 1)] if delays else float("nan")
        return {
            "requests": self.requests,
            "most_in_an_hour": self.most_per_hour,
            "answers_429": self.statuses.get(429, 0),
            "concluded": len(delays),
            "delay_median_s": statistics.median(delays) if delays else float("nan"),
            "delay_p95_s": p95,
        }


async def run_monitor(
    *,
    jobs: int,
    hours: float,
    builds: int,
    budget: int,
    fault_rate: float = 0.0,
    seed: int = 1,
    jitter: float = 0.0,
) -> RunResult:
    """``jobs`` jobs watched for ``hours`` simulated hours while the fake pushes ``builds``
    (each taking 360 s, or with ``jitter`` 360 s +- that fraction)."""
    loop = asyncio.get_running_loop()
    duration = hours * 3600.0
    # With faults, the fake enforces no hourly window of its own: its injected 429s announce
    # a window reset in Retry-After seconds, which a real window of 1000 an hour contradicts
    # (the client's gate then believes the later reset, and would hold every request until
    # the hour ends). The budget is checked on the record either way.
    limit = None if fault_rate else (1000, 3600.0)
    async with FakeNorthflank(seed=seed, rate_limit=limit) as fake:
        keys = [("proj", f"job-{i:02d}") for i in range(jobs)]
        for project, job in keys:
            fake.add_job(project, job, builds=5)
        async with virtual_client(fake) as nf, nf.monitor(budget) as monitor:
            for project, job in keys:
                monitor.watch_job(project, job)
            await monitor.ready()
            # Builds start over the first 80% of the run (a build takes 6 x 60 s), so that
            # each concludes before the end; failures: 10% of answers, if asked.
            fake.simulate(
                new_build_every=0.8 * duration / builds,
                step=60.0,
                max_builds=builds,
                seed=seed,
                failure_rate=0.3,
                jitter=jitter,
            )
            if fault_rate:
                fake.retry_after = 30
                fake.faults(fault_rate, seed=seed, kinds=(429, 500, 502, 503, 504, "drop"))
            started = loop.time()
            events: list[tuple[float, BuildEvent]] = []

            async def consume() -> None:
                async for event in monitor:
                    assert isinstance(event, BuildEvent)
                    events.append((loop.time(), event))

            consumer = loop.create_task(consume())
            await asyncio.sleep(duration)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            fake.faults(0)
        records = fake.requests
        pushed: dict[str, float] = {}
        for project, job in keys:
            for build in fake.builds(project, job):
                created = build["createdAt"]
                if created and _clock_of_iso(created) >= started:
                    at = build.get("buildConcludedAt")
                    pushed[build["id"]] = (at - WALL_EPOCH_S) if at else 0.0
    seen = {e.build.id: t for t, e in events if e.kind == "concluded"}
    delays = [seen[b] - at for b, at in pushed.items() if b in seen and at]
    return RunResult(
        events=events,
        requests=len(records),
        statuses=Counter(r.status for r in records),
        most_per_hour=most_in_any_window([r.at for r in records if r.at is not None]),
        pushed=pushed,
        delays=delays,
    )


def _clock_of_iso(text: str) -> float:
    from datetime import datetime

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.timestamp() - WALL_EPOCH_S
