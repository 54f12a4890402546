"""Memory a decompression bomb may cost: measured in a fresh interpreter (its peak RSS)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..client.test_response_limits import MiB

ROOT = Path(__file__).resolve().parent.parent.parent


class TestDecompressionBombs:
    @pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
    def test_peak_memory_stays_near_the_bound(self, with_length: bool) -> None:
        """1 GiB inflated against an 8 MiB bound: the process's peak grows by < bound + 64 MiB.

        Run in a fresh interpreter so that ru_maxrss (the peak) belongs to this request alone.
        """
        script = f"""
import asyncio, resource, sys
from aiohttp import web
from northflank_async import NorthflankClient, ResponseTooLargeError
from tests.client.test_response_limits import bomb, bomb_handler

async def main():
    body = bomb("gzip", 1024 * {MiB})
    app = web.Application()
    app.router.add_route("*", "/{{tail:.*}}", bomb_handler(body, "gzip", with_length={with_length}))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = "http://127.0.0.1:%d" % runner.addresses[0][1]
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = "no error"
    async with NorthflankClient(
        "t0k3n", base_url=base, max_response_bytes=8 * {MiB}, max_retries=0
    ) as nf:
        try:
            await nf.jobs.builds.get(project_id="p", job_id="j", build_id="b")
        except ResponseTooLargeError:
            outcome = "ResponseTooLargeError"
        except Exception as exc:
            outcome = type(exc).__name__
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await runner.cleanup()
    print(outcome, baseline, peak)

asyncio.run(main())
"""
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outcome, baseline, peak = result.stdout.split()
        grown_mib = (int(peak) - int(baseline)) / 1024  # ru_maxrss is in KiB on Linux
        assert outcome == "ResponseTooLargeError"
        assert grown_mib < 8 + 64, f"peak RSS grew by {grown_mib:.0f} MiB"
