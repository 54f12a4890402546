"""What a monitor yields: `BuildEvent` by default (typed so, as in 0.2.0), `BuildEvent |
RunEvent` once made with ``nf.monitor(runs=True)``; watching runs needs that form."""

from __future__ import annotations

import pytest

from northflank_async import WebhookReceiver
from northflank_async.testing import FakeNorthflank

from .._virtual import on_virtual_clock, virtual_client


@on_virtual_clock
async def test_watching_runs_needs_a_monitor_made_with_runs_true_refused_before_a_request() -> None:
    async with FakeNorthflank() as fake, virtual_client(fake) as nf:
        fake.add_job("proj", "cron", runs=1)
        async with nf.monitor(3600) as monitor:
            with pytest.raises(ValueError, match=r"nf\.monitor\(\.\.\., runs=True\)"):
                monitor.watch_job("proj", "cron", runs=True)
            with pytest.raises(ValueError, match="runs=True"):
                monitor.watch(nf.job("proj", "cron"), runs=True)
            assert monitor.jobs == []
        assert fake.request_count == 0
        async with nf.monitor(3600, runs=True) as monitor:
            monitor.watch_job("proj", "cron", runs=True)
            await monitor.ready()
            assert monitor.jobs == [("proj", "cron")]


def test_a_group_monitor_takes_webhooks_now() -> None:
    from northflank_async import NorthflankClient, RedisCoordinator

    coordinator = RedisCoordinator.from_url("redis://127.0.0.1:1/0")
    nf = NorthflankClient("t0ken", coordinator=coordinator)
    receiver = WebhookReceiver("hybrid-secret-0123456789abcdef")
    monitor = nf.monitor(group="g", webhooks=receiver)  # no request, no connection yet
    assert monitor.jobs == []
