"""The ```` ```py ```` fragments of README.md and docs/ run too, each with what its page assumes.

`test_docs_examples.py` runs every ```` ```python ```` block as written. The fragments marked
```` ```py ```` cannot run alone: they loop over a monitor or a receiver forever, need a Redis
server, a public port or a receiver's URL, or call a ``notify`` the reader writes. Here each
one runs against a real `FakeNorthflank` (and a real redis-server where it says
``RedisCoordinator``), with the names its page leaves to the reader (``nf``, ``url``,
``secret``, ``notify``, ``receiver_url``) and three edits, no others:

* a placeholder statement ``...`` becomes ``_seen(event)``, which records the event;
* ``port=8080`` becomes a free loopback port (a test never takes a fixed port);
* a loop that runs forever is stopped by ``_seen`` or ``notify`` raising `Enough` once the
  fragment has done what its page says (a failed run reported, an outcome handled once).

Fragments without Redis run on the virtual clock (`tests/_virtual.py`); those with Redis on
real time, builds then lasting a fraction of a second, each bounded by a guard.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import northflank_async
from northflank_async import BuildEvent, RunEvent, RunStatus, WebhookEvent
from northflank_async.testing import FakeNorthflank

from .._virtual import GuardedClient, in_flight_guard, run_virtual, virtual_client
from ._redis import RedisServer

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FRAGMENT = re.compile(r"^```py\n(.*?)^```", re.DOTALL | re.MULTILINE)
PLACEHOLDER = re.compile(r"^(\s*)\.\.\.(\s*#.*)?$", re.MULTILINE)
SECRET = "whsec-docs-fragments-0123456789"
GUARD = 60.0  # seconds: a hang fails the test instead of blocking the run (never a measure)


class Enough(Exception):
    """Raised from inside a fragment's endless loop once it has shown what it is for."""


def fragments() -> dict[str, str]:
    """Every ```` ```py ```` fragment, by ``file:line``."""
    found = {}
    for path in SOURCES:
        text = path.read_text()
        for match in FRAGMENT.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found[f"{path.relative_to(ROOT)}:{line}"] = match.group(1)
    return found


def fragment(marker: str) -> str:
    """The one fragment that contains ``marker``."""
    matching = [source for source in fragments().values() if marker in source]
    assert len(matching) == 1, (marker, len(matching))
    return matching[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run(source: str, names: dict[str, Any], port: int | None = None) -> dict[str, Any]:
    """Run a fragment with the public names, ``names`` and the edits the module doc lists."""
    source = PLACEHOLDER.sub(r"\1_seen(event)", source)
    if port is not None:
        assert "port=8080" in source
        source = source.replace("port=8080", f"port={port}")
    code = compile(source, "<docs>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace = {name: getattr(northflank_async, name) for name in northflank_async.__all__}
    namespace |= {"asyncio": asyncio} | names
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result
    return namespace


def seen_until(done: Callable[[Any], bool]) -> tuple[list[Any], Callable[[Any], None]]:
    events: list[Any] = []

    def seen(event: Any) -> None:
        events.append(event)
        if done(event):
            raise Enough

    return events, seen


def notify_once() -> tuple[list[Any], Callable[[Any], Awaitable[None]]]:
    handled: list[Any] = []

    async def notify(event: Any) -> None:
        handled.append(event)
        raise Enough  # the page's loop runs forever: one handled event shows it works

    return handled, notify


# ------------------------------------------------------------------ on the virtual clock


def test_every_fragment_is_run_here() -> None:
    """A new ```` ```py ```` fragment needs a test here (or becomes a ```` ```python ```` block)."""
    markers = [
        'watch_job("my-project", "nightly-cron", runs=True)',
        'nf.monitor(group="build-bot")',
        'group="build-bot")\n    async with receiver.serve(',
        "nf.monitor(webhooks=receiver, reconcile=600)",
        "nf.notifications.ensure_webhook(",
        "fake.add_notification_integration(receiver_url",
    ]
    every = fragments()
    assert sorted(every) and all(any(m in s for m in markers) for s in every.values()), every
    assert len(every) == len(markers)


def test_a_failed_run_reaches_the_ticket_line() -> None:
    """docs/bots.md: the run monitor reaches "open a ticket" for a run that failed."""

    async def main() -> list[Any]:
        events, seen = seen_until(lambda e: True)  # the line is reached for failed runs only
        async with FakeNorthflank() as fake, virtual_client(fake) as nf:
            fake.add_job("my-project", "nightly-cron", builds=1)
            fake.configure_runs(step=20.0, outcome="FAILED")
            block = asyncio.create_task(run(fragment("nightly-cron"), {"nf": nf, "_seen": seen}))
            await asyncio.sleep(5)  # the monitor watches from its first poll on
            fake.add_run("my-project", "nightly-cron")
            with pytest.raises(Enough):
                async with asyncio.timeout(3600):
                    await block
        return events

    events = run_virtual(main())
    assert len(events) == 1
    assert isinstance(events[0], RunEvent) and events[0].kind == "concluded"
    assert events[0].run.status == RunStatus.FAILED


def test_the_hybrid_monitor_reports_an_outcome_told_by_a_notification() -> None:
    """docs/webhooks.md: the hybrid monitor's fragment, its receiver on a free port."""
    port = free_port()

    async def main() -> tuple[list[Any], int]:
        events, seen = seen_until(lambda e: e.kind == "concluded")
        async with FakeNorthflank(rate_limit=None) as fake, virtual_client(fake) as nf:
            fake.add_job("my-project", "nightly", builds=1)
            fake.add_service("my-project", "website", builds=1)
            fake.add_notification_integration(f"http://127.0.0.1:{port}/northflank", secret=SECRET)
            fake.configure_notifications(trace_configs=[in_flight_guard()])
            fake.configure_builds(step=10.0)
            names = {"nf": nf, "secret": SECRET, "_seen": seen}
            block = asyncio.create_task(run(fragment("reconcile=600"), names, port=port))
            await asyncio.sleep(5)
            fake.add_build("my-project", "nightly")
            with pytest.raises(Enough):
                async with asyncio.timeout(300):  # far below one reconcile (600 s)
                    await block
            delivered = sum(d.outcome == "delivered" for d in fake.notifications)
        return events, delivered

    events, delivered = run_virtual(main())
    assert [e.kind for e in events] == ["created", "concluded"]
    assert all(isinstance(e, BuildEvent) and e.job_id == "nightly" for e in events)
    assert delivered >= 2  # the start and the end came by notification


def test_ensure_webhook_makes_the_integration_and_the_receiver() -> None:
    """docs/webhooks.md: ``ensure_webhook`` against the fake, from the environment's client."""

    async def main() -> tuple[dict[str, Any], list[str | None]]:
        async with FakeNorthflank() as fake:
            env = {"NORTHFLANK_API_TOKEN": fake.token, "NORTHFLANK_API_BASE_URL": fake.base_url}
            with pytest.MonkeyPatch.context() as patch:
                for name, value in env.items():
                    patch.setenv(name, value)
                names = {"NorthflankClient": GuardedClient}
                namespace = await run(fragment("ensure_webhook("), names)
            async with virtual_client(fake) as nf:
                listed = [i.name async for i in nf.notifications.list()]
        return namespace, listed

    namespace, listed = run_virtual(main())
    assert listed == ["Build receiver"]
    assert isinstance(namespace["receiver"], northflank_async.WebhookReceiver)
    assert len(namespace["secret"]) >= 32


def test_the_fake_sends_its_builds_events_to_a_receiver() -> None:
    """docs/webhooks.md: the fake's notification setup, sending to a real receiver."""

    async def main() -> list[WebhookEvent]:
        receiver = northflank_async.WebhookReceiver("s3cret")
        async with receiver.serve() as server:
            namespace = await run(
                fragment("add_notification_integration(receiver_url"),
                {"FakeNorthflank": FakeNorthflank, "receiver_url": server.url},
            )
            assert isinstance(namespace["fake"], FakeNorthflank)
            return receiver.take_pending()

    # The fragment ends as soon as its activity is set up: its fake closes with nothing sent.
    assert run_virtual(main()) == []


# ------------------------------------------------------------------ on real time, with Redis


async def _real_fake() -> FakeNorthflank:
    fake = FakeNorthflank(rate_limit=None)
    await fake.start()
    fake.add_job("my-project", "nightly", builds=1)
    fake.configure_builds(step=0.05)  # a build concludes 0.3 s after it starts
    return fake


async def build_until_enough(
    fake: FakeNorthflank, block: asyncio.Task[Any], ready: Callable[[], Awaitable[bool]]
) -> None:
    """Once ``ready()`` (the fragment is running), push a build and see the fragment stop
    (`Enough`) once it has handled it; within the guard."""
    async with asyncio.timeout(GUARD):
        while not await ready():
            assert not block.done(), block
            await asyncio.sleep(0.05)
        fake.add_build("my-project", "nightly")
        with pytest.raises(Enough):
            await block


def test_a_group_monitor_hands_an_outcome_to_notify(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/fleet.md: a replica of a monitoring group, its client from the environment."""
    handled, notify = notify_once()

    async def main() -> None:
        fake = await _real_fake()
        try:
            monkeypatch.setenv("NORTHFLANK_API_TOKEN", fake.token)
            monkeypatch.setenv("NORTHFLANK_API_BASE_URL", fake.base_url)
            names = {"url": redis_server.url, "notify": notify}
            block = asyncio.create_task(run(fragment('nf.monitor(group="build-bot")'), names))

            async def polled() -> bool:  # the monitor's first poll has set its start
                return bool(fake.requests)

            await build_until_enough(fake, block, polled)
        finally:
            await fake.close()

    asyncio.run(main())
    assert len(handled) == 1
    assert isinstance(handled[0], BuildEvent) and handled[0].kind == "concluded"


def test_a_receiving_group_member_hands_a_notification_to_notify(
    redis_server: RedisServer,
) -> None:
    """docs/fleet.md: a member of a receiving group, on a free port instead of 8080."""
    handled, notify = notify_once()
    port = free_port()

    async def main() -> None:
        fake = await _real_fake()
        try:
            fake.add_notification_integration(f"http://127.0.0.1:{port}/northflank", secret=SECRET)
            names = {"url": redis_server.url, "notify": notify, "secret": SECRET}
            source = fragment("async with receiver.serve(")
            block = asyncio.create_task(run(source, names, port=port))
            await build_until_enough(fake, block, lambda: _listening(port))
        finally:
            await fake.close()

    asyncio.run(main())
    assert len(handled) == 1
    assert isinstance(handled[0], WebhookEvent) and handled[0].job_id == "nightly"


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True
