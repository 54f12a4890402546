"""Group monitoring, measured: 3 replicas in one group against one monitor alone.

    python benchmarks/group.py [--builds 300] [--outage 30]

Real processes (tests/system/_group_run.py): the fake API concludes ``--builds`` new builds over 10
jobs; the replicas write what they handle to files, merged at the end. Four runs: one
monitor alone, three replicas, three with one killed (SIGKILL) mid-run and replaced, three
with Redis stopped ``--outage`` seconds mid-run. Needs redis-server and the redis extra.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.system._group_run import run_group
from tests.system._redis import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--builds", type=int, default=300)
    parser.add_argument("--outage", type=float, default=30.0)
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed")
    runs = {
        "1 monitor alone": {"single": True},
        "3 replicas": {},
        "3 replicas, one killed": {"kill": True},
        f"3 replicas, Redis stopped {args.outage:g} s": {"outage": args.outage},
    }
    print(f"{args.builds} builds over 10 jobs, polls every 0.5 s, lease 2 s\n")
    print(
        "| run | concluded | handled | duplicates | missed | 429 | requests | seconds "
        "| requests per job-second | redelivered |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, options in runs.items():
        server = RedisServer(binary, persistent=True)
        server.start()
        try:
            run = run_group(server, builds=args.builds, **options)  # type: ignore[arg-type]
        finally:
            server.close()
        counts = Counter(run["handled"])
        duplicates = sum(n - 1 for n in counts.values())
        missed = len(set(run["concluded"]) - set(counts))
        rate = run["requests"] / (run["jobs"] * run["seconds"])
        print(
            f"| {name} | {len(run['concluded'])} | {len(counts)} | {duplicates} | {missed} "
            f"| {run['statuses'].get('429', 0)} | {run['requests']} | {run['seconds']:.1f} "
            f"| {rate:.2f} | {run['redelivered']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
