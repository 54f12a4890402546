"""``nf.monitor``'s keywords are `MonitorOptions`' (and ``runs``): nothing else passes through."""

from __future__ import annotations

from typing import Any

import pytest

from northflank_async import NorthflankClient


@pytest.mark.parametrize("keyword", ["bogus", "recheck", "group_name", "max_rate_limit_wait"])
async def test_a_keyword_it_does_not_list_is_refused(keyword: str) -> None:
    """Monitor's own internal keywords are not reachable through the client's `**options`."""
    options: dict[str, Any] = {keyword: 1.0}
    async with NorthflankClient(token="x") as nf:
        with pytest.raises(TypeError, match=keyword):
            nf.monitor(**options)


async def test_the_listed_keywords_reach_the_monitor() -> None:
    async with NorthflankClient(token="x") as nf:
        with pytest.raises(ValueError, match="per_page"):
            nf.monitor(per_page=0)
        nf.monitor(500, floor=2.0, idle_cap=10.0, per_page=5, reconcile=60.0, verify=True)
