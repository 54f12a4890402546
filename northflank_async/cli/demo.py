"""Where every command's client comes from: the API, or with ``--fake`` the demo.

`open_client()` is the one place the command line makes a `NorthflankClient` (the commands
and ``monitor`` alike): with ``--redis`` it draws on a fleet's budget through a
`RedisCoordinator`; with ``--fake`` it talks to an embedded `FakeNorthflank` that `serve()`
seeds from a `Demo` (the project and jobs the options name, or the demo's own) and keeps
moving on its own, so the tool can be tried with no token and no network.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs

from .._api.client import NorthflankClient
from .._core.checks import MIN_POLL_INTERVAL
from .._transport.redis_store import RedisCoordinator

if TYPE_CHECKING:  # the server side is imported lazily: it is demo-only here
    from ..testing import FakeNorthflank

__all__ = [
    "COMMANDS_DEMO",
    "DEMO_BUILDS",
    "DEMO_JOB",
    "DEMO_PROJECT",
    "DEMO_RUNS",
    "MONITOR_DEMO",
    "Demo",
    "open_client",
    "serve",
]

DEMO_PROJECT = "demo-project"
DEMO_JOB = "nightly"
DEMO_SERVICE = "website"
DEMO_BUILDS = 250
DEMO_RUNS = 40


@attrs.frozen
class Demo:
    """What ``--fake`` serves: each job's history, and how the demo moves on its own.

    ``build_step``/``run_step``: seconds per stage of a build or run started by a command
    (``None``: the fake's default). ``new_build_every``, ``step`` and ``seed`` go to
    `FakeNorthflank.simulate`: new builds appear, running ones conclude.
    """

    jobs: tuple[str, ...]
    builds: int
    new_build_every: float
    step: float
    runs: int = 0
    job_fields: Mapping[str, Any] = attrs.field(factory=dict)
    build_step: float | None = None
    run_step: float | None = None
    seed: int = 0


# The commands' demo: one job with a long history; a demo build takes about 1.4 s.
COMMANDS_DEMO = Demo(
    jobs=(DEMO_JOB,),
    builds=DEMO_BUILDS,
    runs=DEMO_RUNS,
    job_fields={"name": "Nightly"},
    build_step=0.2,
    run_step=0.3,
    new_build_every=2.0,
    step=0.2,
)
# The monitor's demo: two jobs that gain builds often, for events to show.
MONITOR_DEMO = Demo(jobs=(DEMO_JOB, "tests"), builds=20, new_build_every=1.0, step=0.3, seed=7)


@asynccontextmanager
async def serve(
    demo: Demo, project: str, jobs: Sequence[str], services: Sequence[str] = ()
) -> AsyncIterator[FakeNorthflank]:
    """A running fake API with ``jobs`` (and ``services``) of ``project`` seeded as ``demo``
    says."""
    from ..testing import FakeNorthflank

    async with FakeNorthflank() as fake:
        for job in jobs:
            fake.add_job(project, job, builds=demo.builds, runs=demo.runs, **demo.job_fields)
        for service in services:
            fake.add_service(project, service, builds=demo.builds)
        if demo.build_step is not None:
            fake.configure_builds(step=demo.build_step)
        if demo.run_step is not None:
            fake.configure_runs(step=demo.run_step)
        fake.simulate(new_build_every=demo.new_build_every, step=demo.step, seed=demo.seed)
        yield fake


@asynccontextmanager
async def _coordinator(args: argparse.Namespace) -> AsyncIterator[RedisCoordinator | None]:
    """The coordinator ``--redis`` asks for (closed on exit), or ``None`` without it."""
    redis_url = getattr(args, "redis", None)
    if redis_url is None:
        yield None
        return
    budget_key = getattr(args, "budget_key", None)
    async with RedisCoordinator.from_url(redis_url, budget_key=budget_key) as coordinator:
        yield coordinator


def _demo_ids(args: argparse.Namespace, demo: Demo) -> list[str]:
    """Fill ``--project`` and ``--job`` (one id, or a list of them) with the demo's where the
    caller named none; the jobs to seed: those named, or the demo's. With ``--service`` the
    command is the service's: no job is filled in (`_demo_services` seeds the service)."""
    args.project = args.project or DEMO_PROJECT
    if getattr(args, "service", None) is not None:
        return list(demo.jobs)
    if not hasattr(args, "job"):  # a project's command: the demo's jobs
        return list(demo.jobs)
    if isinstance(args.job, list):  # monitor: --job repeated
        args.job = args.job or list(demo.jobs)
        return list(args.job)
    args.job = args.job or demo.jobs[0]
    return [args.job]


@asynccontextmanager
async def open_client(
    args: argparse.Namespace, demo: Demo, *, team_id: str | None = None
) -> AsyncIterator[NorthflankClient]:
    """The client of a command: the API's, or with ``--fake`` a running demo's.

    With ``--fake``, ``--project`` and ``--job`` default to the demo's (filled in ``args``),
    and a poll interval is brought down to the floor, so the demo moves at its own pace.
    """
    async with _coordinator(args) as coordinator:
        if not args.fake:
            async with NorthflankClient(team_id=team_id, coordinator=coordinator) as client:
                yield client
            return
        jobs = _demo_ids(args, demo)
        services = [args.service] if getattr(args, "service", None) is not None else []
        async with serve(demo, args.project, jobs, services) as fake:
            nf = NorthflankClient(fake.token, base_url=fake.base_url, coordinator=coordinator)
            async with nf as client:
                if getattr(args, "poll_interval", None) is not None:
                    args.poll_interval = min(args.poll_interval, MIN_POLL_INTERVAL)
                yield client
