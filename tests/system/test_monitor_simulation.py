"""The monitor's simulated days (tests/_virtual.py's workload): hours of polling through faults.

On the virtual clock (no real wait), but heavy in CPU: each run simulates thousands of polls.
"""

from __future__ import annotations

from .._virtual import on_virtual_clock, run_monitor
from ..client.test_monitor import _assert_each_once


class TestMonitor:
    @on_virtual_clock
    async def test_same_events_through_ten_percent_faults(self) -> None:
        clean = await run_monitor(jobs=20, hours=3, builds=200, budget=500, seed=5)
        faulty = await run_monitor(jobs=20, hours=3, builds=200, budget=500, seed=5, fault_rate=0.1)
        assert sum(n for s, n in faulty.statuses.items() if s != 200) > 10  # faults happened
        expected = {b for b, at in clean.pushed.items() if at}
        assert {b for b, at in faulty.pushed.items() if at} == expected
        _assert_each_once([e for _, e in faulty.events], expected)
        outcome = {e.build.id: e.build.status for _, e in clean.events if e.kind == "concluded"}
        assert {
            e.build.id: e.build.status for _, e in faulty.events if e.kind == "concluded"
        } == outcome
        assert faulty.most_per_hour <= 500

    @on_virtual_clock
    async def test_events_exactly_once_within_budget(self) -> None:
        """3 simulated hours, 20 jobs, 500 an hour, 200 builds: each concluded once, no 429."""
        result = await run_monitor(jobs=20, hours=3, builds=200, budget=500, seed=3)
        concluded = {b for b, at in result.pushed.items() if at}
        assert len(concluded) >= 190
        _assert_each_once([e for _, e in result.events], concluded)
        assert result.statuses.get(429, 0) == 0
        assert None not in result.statuses  # no answer was lost: time never jumped mid-flight
        assert result.most_per_hour <= 500
