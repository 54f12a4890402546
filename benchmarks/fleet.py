"""A fleet on one Redis: 8 processes x 25 concurrent listings share one token's budget.

::

    python benchmarks/fleet.py            # the full run (about two minutes)
    python benchmarks/fleet.py --quick    # 4 x 10 on 40 requests a second (seconds)
    python benchmarks/fleet.py --json out.json

The fake API runs in its own process with a window of 300 requests per 10 s; each listing
walks 6 pages (1,200 requests in all, four windows' worth). The same fleet runs twice: with
a ``RedisCoordinator`` (every request reserves its slot in Redis first) and without one
(each process has its own gate), and the fake's record gives the answers of 429 and the
counted requests of each window. Needs ``redis-server`` (Debian's package) and the
``redis`` extra. Nothing is asserted: the tests assert the reduced run (tests/system/test_fleet.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.system._fleet_run import run_fleet  # noqa: E402  (the tests' own fleet machinery)
from tests.system._redis import RedisServer  # noqa: E402

FULL = {"processes": 8, "listings": 25, "pages": 6, "limit": 300, "window": 10.0}
QUICK = {"processes": 4, "listings": 10, "pages": 3, "limit": 40, "window": 1.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced run of the tests")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed (apt-get install redis-server)", file=sys.stderr)
        return 2
    size = QUICK if args.quick else FULL
    server = RedisServer(binary)
    server.start()
    results = {}
    try:
        for name, url in (("with RedisCoordinator", server.url), ("without coordinator", None)):
            run = run_fleet(redis_url=url, **size)
            results[name] = run
            windows = run["windows"]
            print(
                f"{name:24} requests={sum(windows):5}  429s={run['statuses'].get(429, 0):4}  "
                f"windows={len(windows)} (most counted in one: {max(windows)} of "
                f"{size['limit']})  builds={run['builds']}/{run['expected_builds']}  "
                f"errors={run['errors']}  {run['seconds']:.1f}s"
            )
    finally:
        server.close()
    if args.json:
        payload = {"size": size, "results": results}
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
