"""Where every command's client comes from: the API, or with ``--fake`` the demo.

`open_client()` is the one place the command line makes a `NorthflankClient` (the commands
and ``monitor`` alike): with ``--redis`` it draws on a fleet's budget through a
`RedisCoordinator`; with ``--fake`` it talks to an embedded `FakeNorthflank` that `serve()`
seeds from a `Demo` (the project and jobs the options name, or the demo's own) and keeps
moving on its own, so the tool can be tried with no token and no network.

``northflank-async fake`` (`add_fake_command()`, `run_fake()`) serves the same demo in the
foreground until Ctrl-C, state kept: builds and runs started by one command are there for the
next, and for the library. It prints, first, the two lines a shell can ``export``
(``NORTHFLANK_API_BASE_URL=...`` and ``NORTHFLANK_API_TOKEN=...``), and binds loopback only:
the fake accepts one fixed token, which it prints (``python -m northflank_async.testing
--allow-remote`` serves beyond this machine).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # imported when a command runs: --help loads neither the client nor aiohttp
    from .._api.client import NorthflankClient
    from .._transport.redis_store import RedisCoordinator
    from ..testing import FakeNorthflank

__all__ = [
    "COMMANDS_DEMO",
    "DEMO_BUILDS",
    "DEMO_HOOK",
    "DEMO_JOB",
    "DEMO_JOBS",
    "DEMO_PROJECT",
    "DEMO_RUNS",
    "DEMO_SERVICE",
    "FAKE_NOTICE",
    "MONITOR_DEMO",
    "SERVED_DEMO",
    "Demo",
    "add_fake_command",
    "check_fake_arguments",
    "open_client",
    "open_demo",
    "port_number",
    "run_fake",
    "serve",
]

# One demo everywhere: ``--fake``, ``monitor --fake`` and ``northflank-async fake`` serve this
# project, these jobs (the first is the default ``--job``) and this service.
DEMO_PROJECT = "demo-project"
DEMO_JOB = "nightly"
DEMO_JOBS = (DEMO_JOB, "tests")
DEMO_SERVICE = "website"
DEMO_BUILDS = 250
DEMO_RUNS = 40
_JOB_FIELDS: Mapping[str, Mapping[str, Any]] = {
    DEMO_JOB: {"name": "Nightly", "description": "the nightly build of the demo app"},
    "tests": {"name": "Tests", "description": "the test suite, on every push"},
}

# The demo account's notification integration: a chat's webhook, which the fake never calls.
DEMO_HOOK: Mapping[str, Any] = {
    "webhook": "https://discord.com/api/webhooks/0000/demo",
    "name": "Team chat",
    "type": "DISCORD",
    "events": ("build:failure", "job-run:failure"),
}

FAKE_NOTICE = (
    "demo data from a fake API that lives for this command only "
    "(`northflank-async fake` keeps one running)"
)


def __getattr__(name: str) -> Any:
    """``NorthflankClient`` and ``FakeNorthflank``, imported on first use: the one class the
    CLI makes clients of, and the one it makes demo fakes of (a test may replace either)."""
    if name == "NorthflankClient":
        from .._api.client import NorthflankClient

        globals()[name] = NorthflankClient
        return NorthflankClient
    if name == "FakeNorthflank":
        from ..testing import FakeNorthflank

        globals()[name] = FakeNorthflank
        return FakeNorthflank
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclasses.dataclass(frozen=True)
class Demo:
    """What a demo fake serves: each job's history, and how the demo moves on its own.

    ``build_step``/``run_step``: seconds per stage of a build or run started by a command
    (``None``: the fake's default). ``new_build_every``, ``step`` and ``seed`` go to
    `FakeNorthflank.simulate`: new builds appear, running ones conclude. ``hooks``: the
    account has a notification integration (`DEMO_HOOK`), for ``notifications`` to show.
    """

    builds: int
    new_build_every: float
    step: float
    jobs: tuple[str, ...] = DEMO_JOBS
    runs: int = 0
    build_step: float | None = None
    run_step: float | None = None
    seed: int = 0
    hooks: bool = False


# The commands' demo: jobs with a long history; a demo build takes about 1.4 s.
COMMANDS_DEMO = Demo(
    builds=DEMO_BUILDS,
    runs=DEMO_RUNS,
    build_step=0.2,
    run_step=0.3,
    new_build_every=2.0,
    step=0.2,
    hooks=True,
)
# The monitor's demo: the same jobs, gaining builds often, for events to show.
MONITOR_DEMO = Demo(builds=20, new_build_every=1.0, step=0.3, seed=7)
# `northflank-async fake`: the commands' demo at a pace that suits a fake left running (a
# build takes about a minute; a new one appears every two minutes or so).
SERVED_DEMO = dataclasses.replace(
    COMMANDS_DEMO, build_step=10.0, run_step=15.0, new_build_every=120.0, step=10.0
)


@asynccontextmanager
async def serve(
    demo: Demo,
    project: str,
    jobs: Sequence[str],
    services: Sequence[str] = (),
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[FakeNorthflank]:
    """A running fake API with ``jobs`` (and ``services``) of ``project`` seeded as ``demo``
    says. Its clock starts now: the history lies just behind the present, and a build still
    running in it concludes within minutes, not hours."""
    from ..testing._clock import LoopClock

    # The loop's clock from now on: the fake's notifications leave on time, unpolled.
    fake_class = getattr(sys.modules[__name__], "FakeNorthflank")  # noqa: B009  (lazy)
    fake = fake_class(host=host, port=port, clock=LoopClock())
    for job in jobs:
        fields = _JOB_FIELDS.get(job, {})
        fake.add_job(project, job, builds=demo.builds, runs=demo.runs, **fields)
    for service in services:
        fake.add_service(project, service, builds=demo.builds)
    if demo.build_step is not None:
        fake.configure_builds(step=demo.build_step)
    if demo.run_step is not None:
        fake.configure_runs(step=demo.run_step)
    if demo.hooks:
        fake.add_notification_integration(**DEMO_HOOK)
    fake.simulate(new_build_every=demo.new_build_every, step=demo.step, seed=demo.seed)
    async with fake:
        yield fake


@asynccontextmanager
async def _coordinator(args: argparse.Namespace) -> AsyncIterator[RedisCoordinator | None]:
    """The coordinator ``--redis`` asks for (closed on exit), or ``None`` without it."""
    redis_url = getattr(args, "redis", None)
    if redis_url is None:
        yield None
        return
    from .._transport.redis_store import RedisCoordinator

    budget_key = getattr(args, "budget_key", None)
    async with RedisCoordinator.from_url(redis_url, budget_key=budget_key) as coordinator:
        yield coordinator


def _demo_ids(args: argparse.Namespace, demo: Demo) -> list[str]:
    """Fill ``--project`` and ``--job`` (one id, or a list of them) with the demo's where the
    caller named none; the jobs to seed: the demo's, and any other the caller named. With
    ``--service`` the command is the service's: no job is filled in (the service is seeded)."""
    if hasattr(args, "project"):  # notifications: the account's, no project
        args.project = args.project or DEMO_PROJECT
    jobs = list(demo.jobs)
    if getattr(args, "service", None) is not None or not hasattr(args, "job"):
        return jobs
    if isinstance(args.job, list):  # monitor: --job repeated
        args.job = args.job or list(demo.jobs)
        return jobs + [job for job in args.job if job not in jobs]
    args.job = args.job or demo.jobs[0]
    return jobs + ([args.job] if args.job not in jobs else [])


@asynccontextmanager
async def open_client(
    args: argparse.Namespace, demo: Demo, *, team_id: str | None = None
) -> AsyncIterator[NorthflankClient]:
    """The client of a command: the API's, or with ``--fake`` a running demo's.

    With ``--fake``, ``--project`` and ``--job`` default to the demo's (filled in ``args``),
    a poll interval is brought down to the floor, so the demo moves at its own pace, and one
    line on stderr says that the data is a demo that lives for this command.
    """
    async with open_demo(args, demo, team_id=team_id) as (client, _):
        yield client


@asynccontextmanager
async def open_demo(
    args: argparse.Namespace, demo: Demo, *, team_id: str | None = None
) -> AsyncIterator[tuple[NorthflankClient, FakeNorthflank | None]]:
    """`open_client`, and with ``--fake`` the demo fake too (``None`` without), for a
    command that works on the fake itself (registering a notification integration)."""
    from .._core.checks import MIN_POLL_INTERVAL

    client_class = getattr(sys.modules[__name__], "NorthflankClient")  # noqa: B009  (lazy)
    async with _coordinator(args) as coordinator:
        if not args.fake:
            async with client_class(team_id=team_id, coordinator=coordinator) as client:
                yield client, None
            return
        print(f"northflank-async: {FAKE_NOTICE}", file=sys.stderr, flush=True)
        jobs = _demo_ids(args, demo)
        project = getattr(args, "project", None) or DEMO_PROJECT
        services = [args.service] if getattr(args, "service", None) is not None else [DEMO_SERVICE]
        async with serve(demo, project, jobs, services) as fake:
            nf = client_class(fake.token, base_url=fake.base_url, coordinator=coordinator)
            async with nf as client:
                if getattr(args, "poll_interval", None) is not None:
                    args.poll_interval = min(args.poll_interval, MIN_POLL_INTERVAL)
                yield client, fake


# ---------------------------------------------------------------------------- fake


def port_number(text: str) -> int:
    """A port option's value (0..65535; 0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0..65535; 0: any free port)")
    return value


def add_fake_command(commands: Any) -> None:
    """Add ``fake`` to the parser's subcommands (``commands``, from add_subparsers)."""
    from .basics import SEE_TOP_HELP

    about = (
        "serve the demo fake API until Ctrl-C, state kept between commands; prints the "
        "NORTHFLANK_API_BASE_URL and NORTHFLANK_API_TOKEN lines to export first"
    )
    sub: argparse.ArgumentParser = commands.add_parser(
        "fake", help="serve the demo fake API until Ctrl-C", description=about, epilog=SEE_TOP_HELP
    )
    sub.add_argument(
        "--port",
        type=port_number,
        default=8080,
        metavar="N",
        help="port to listen on (8080; 0: any)",
    )
    sub.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="loopback address to listen on (127.0.0.1)",
    )


def check_fake_arguments(args: argparse.Namespace) -> None:
    """A host beyond this machine is refused: the fake's token is printed and fixed."""
    from .basics import UsageError

    host = args.host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"--host {args.host!r} is not a loopback address: the fake serves a fixed token "
            "to anyone who can reach it (python -m northflank_async.testing --allow-remote "
            "serves beyond this machine)"
        )


async def _serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C is KeyboardInterrupt
            loop.add_signal_handler(signum, stop.set)
    demo = serve(
        SERVED_DEMO, DEMO_PROJECT, DEMO_JOBS, (DEMO_SERVICE,), host=args.host, port=args.port
    )
    async with demo as fake:
        out.write(f"NORTHFLANK_API_BASE_URL={fake.base_url}\nNORTHFLANK_API_TOKEN={fake.token}\n")
        out.flush()
        err.write(
            f"northflank-async: a fake Northflank API on {fake.base_url}, until Ctrl-C; "
            f"project {DEMO_PROJECT}, jobs {', '.join(DEMO_JOBS)}, service {DEMO_SERVICE}.\n"
            "In another shell, export the two lines above, then for example:\n"
            f"  northflank-async builds start --project {DEMO_PROJECT} --job {DEMO_JOBS[0]}\n"
        )
        err.flush()
        await stop.wait()


def run_fake(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve until SIGINT or SIGTERM (0); a port that cannot be had: one line, `EXIT_ERROR`."""
    import asyncio

    from .exits import EXIT_ERROR, EXIT_OK

    try:
        asyncio.run(_serve(args, out, err))
    except KeyboardInterrupt:  # where signal handlers cannot be set
        pass
    except OSError as exc:  # the port is taken, the address not ours
        err.write(f"northflank-async: cannot listen on {args.host}:{args.port}: {exc.strerror}\n")
        return EXIT_ERROR
    return EXIT_OK
