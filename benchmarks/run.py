"""Benchmarks of northflank-async against the fake API, served by a separate process.

::

    python benchmarks/run.py                 # the full run (about a minute)
    python benchmarks/run.py --quick         # small sizes for CI: well under a minute
    python benchmarks/run.py --json out.json # also write every figure and sample as JSON

Measured, side by side, with medians of several repetitions (see docs/performance.md):

a. listing 10,000 builds (100 pages of 100): our client vs a raw aiohttp cursor loop vs the
   official ``northflank`` SDK's async ``.all()`` (row skipped when the SDK is missing);
b. decoding alone: µs per build for ``decode_list`` over a 10,000-build payload, with
   ``json.loads`` (and ``orjson.loads`` when installed) for reference;
c. peak RSS streaming 100,000 builds vs 1,000 builds, each in a fresh process;
d. TCP connections our client opens for a 100-page listing;
e. 50 pages at 20 ms server latency with 20 ms of consumer work per page: sequential vs
   ``prefetch=1`` (row skipped while ``list()`` has no ``prefetch=``);
f. import time of ``northflank_async`` vs ``aiohttp`` alone, in fresh interpreters.

Each figure is printed with its target and PASS or MISS. The exit status is 0 unless the
benchmark itself fails; ``--strict`` makes a missed target (full run only) exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from _fakeproc import FakeProcess
from _measure import (
    Target,
    count_connections,
    decode_payload,
    list_ours,
    list_ours_prefetch,
    list_raw,
    prefetch_available,
    reference_payload,
    time_decode,
    time_prefetch,
)

HERE = Path(__file__).resolve().parent
T = TypeVar("T")
MB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one run."""

    name: str
    builds: int  # listed by ours / raw / the official SDK
    per_page: int
    repeats: int
    sdk_repeats: int  # 0: the official SDK row is skipped
    decode_builds: int
    decode_repeats: int
    memory_small: int
    memory_big: int
    memory_repeats: int
    prefetch_pages: int
    prefetch_repeats: int
    latency: float
    work: float
    import_runs: int


FULL = Plan(
    name="full",
    builds=10_000,
    per_page=100,
    repeats=7,
    sdk_repeats=3,
    decode_builds=10_000,
    decode_repeats=15,
    memory_small=1_000,
    memory_big=100_000,
    memory_repeats=3,
    prefetch_pages=50,
    prefetch_repeats=3,
    latency=0.02,
    work=0.02,
    import_runs=9,
)
QUICK = Plan(
    name="quick",
    builds=1_000,
    per_page=100,
    repeats=1,
    sdk_repeats=0,
    decode_builds=1_000,
    decode_repeats=3,
    memory_small=1_000,
    memory_big=10_000,
    memory_repeats=1,
    prefetch_pages=10,
    prefetch_repeats=1,
    latency=0.02,
    work=0.02,
    import_runs=3,
)


@dataclasses.dataclass
class Row:
    """One line of the table (and one entry of the JSON)."""

    key: str
    label: str
    value: float | None = None
    unit: str = ""
    target: str = ""
    passed: bool | None = None  # None: a figure without a target
    skipped: str | None = None
    samples: list[float] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.skipped is not None:
            return "SKIP" if self.target else ""
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "MISS"

    def figure(self) -> str:
        if self.skipped is not None:
            return f"skipped: {self.skipped}"
        if self.value is None:
            return "-"
        formats = {
            "ms": "{:,.1f} ms",
            "s": "{:,.2f} s",
            "µs/build": "{:.2f} µs/build",
            "MB": "{:+.1f} MB" if self.key.endswith("delta") else "{:.1f} MB",
            "x": "{:.3f}",
            "": "{:g}",
        }
        return formats.get(self.unit, "{:g}").format(self.value)


# --------------------------------------------------------------------------- plumbing

LOOP_ERRORS: list[str] = []


def _on_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # "Unclosed client session", "Task was destroyed but it is pending", ... are bugs here.
    LOOP_ERRORS.append(str(context.get("message", context)))
    loop.default_exception_handler(context)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one measurement in a fresh event loop that records anything left unclosed."""

    async def guarded() -> T:
        asyncio.get_running_loop().set_exception_handler(_on_loop_error)
        try:
            return await coro
        finally:
            gc.collect()  # an unclosed session is reported when it is collected

    return asyncio.run(guarded())


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def target_of(fake: FakeProcess) -> Target:
    return Target(base_url=fake.base_url, token=fake.token, project=fake.project, job=fake.job)


def run_child(argv: list[str], timeout: float = 900.0) -> dict[str, Any]:
    """Run a child script that prints one JSON object; raise with its stderr if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{Path(argv[1]).name} failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _check_count(what: str, got: int, expected: int) -> None:
    if got != expected:
        raise RuntimeError(f"{what} listed {got} builds, expected {expected}")


def timing(key: str, label: str, samples: list[float], unit: str = "ms", **extra: Any) -> Row:
    """A figure without a target: the median of ``samples`` (seconds) in ``unit``."""
    scale = {"ms": 1e3, "s": 1.0}[unit]
    return Row(key, label, median(samples) * scale, unit, samples=samples, extra=extra)


def checked(key: str, label: str, value: float, unit: str, target: str, passed: bool) -> Row:
    return Row(key, label, value, unit, target, passed)


def skipped(key: str, label: str, reason: str, target: str = "") -> Row:
    return Row(key, label, target=target, skipped=reason)


# --------------------------------------------------------------------------- a + d


def bench_listing(plan: Plan, sdk_python: str | None) -> list[Row]:
    pages = plan.builds // plan.per_page
    label = f"{plan.builds:,} builds"
    progress(f"a/d: serving {label} as pages serialised once (answers that cost nothing)")
    with FakeProcess.static_pages(builds=plan.builds, per_page=plan.per_page) as fake:
        target = target_of(fake)
        progress(f"a: listing {label}, ours vs raw aiohttp, repetitions: {plan.repeats}")
        listings = (list_ours, list_raw, list_ours_prefetch)
        for listing in listings:  # warm-up: imports, hooks, first connects
            run_async(listing(target, plan.per_page))
        ours: list[float] = []
        raw: list[float] = []
        ahead: list[float] = []
        for index in range(plan.repeats):
            # Rotate who goes first, so that drift of the machine hits all alike.
            order = list(zip(listings, (ours, raw, ahead), strict=True))
            shift = index % len(order)
            for listing, samples in order[shift:] + order[:shift]:
                seconds, count = run_async(listing(target, plan.per_page))
                _check_count(listing.__name__, count, plan.builds)
                samples.append(seconds)
        progress("d: counting TCP connections")
        counts = run_async(count_connections(target, plan.per_page))
        _check_count("count_connections", counts["builds"], plan.builds)
        sdk = bench_official_sdk(plan, target, sdk_python)

    ratio = median(ours) / median(raw)
    shaped_ours, shaped_raw = _listing_reference_shape(plan)
    shaped_ratio = median(shaped_ours) / median(shaped_raw)
    rows = [
        timing("a.ours", f"a. list {label}: ours (JobBuild)", ours),
        timing("a.raw", f"a. list {label}: raw aiohttp (dicts)", raw),
        checked(
            "a.ours_over_raw",
            "a. ours / raw aiohttp",
            ratio,
            "x",
            "≤ 1.30 (aim 1.15)",
            ratio <= 1.3,
        ),
        checked(
            "a.ours_over_raw_reference",
            "a. ours / raw aiohttp, the reference's shape",
            shaped_ratio,
            "x",
            "≤ 1.30 (aim 1.25)",
            shaped_ratio <= 1.3,
        ),
        timing("a.ours_prefetch", f"a.   ours with prefetch=1 ({label})", ahead),
        Row(
            "a.ours_prefetch_over_raw",
            "a.   ours with prefetch=1 / raw aiohttp",
            median(ahead) / median(raw),
            "x",
        ),
    ]
    sdk_label = f"a. list {label}: official SDK .all()"
    if "skipped" in sdk:
        rows.append(skipped("a.sdk", sdk_label, sdk["skipped"]))
        rows.append(skipped("a.ours_over_sdk", "a. ours / official SDK", sdk["skipped"], "≤ 0.05"))
    else:
        default, shared = sdk["default"], sdk["shared_httpx"]
        sdk_ratio = median(ours) / median(default)
        rows += [
            timing("a.sdk", sdk_label, default, sdk_version=sdk["version"]),
            checked(
                "a.ours_over_sdk",
                "a. ours / official SDK",
                sdk_ratio,
                "x",
                "≤ 0.05",
                sdk_ratio <= 0.05,
            ),
            timing("a.sdk_shared", "a.   SDK given one shared httpx client", shared),
            Row(
                "a.ours_over_sdk_shared",
                "a.   ours / SDK with shared client",
                median(ours) / median(shared),
                "x",
            ),
        ]
        if "sync" in sdk:  # its blocking client: no loop to share, one connection pool
            rows += [
                timing("a.sdk_sync", "a.   SDK's sync ApiClient .all()", sdk["sync"]),
                Row(
                    "a.ours_over_sdk_sync",
                    "a.   ours / SDK's sync client",
                    median(ours) / median(sdk["sync"]),
                    "x",
                ),
            ]
    connections = counts["connections"]
    label = f"d. TCP connections, {counts['requests']} requests ({pages} pages)"
    rows.append(checked("d.connections", label, connections, "", "= 1", connections == 1))
    rows[-1].extra = counts
    return rows


def _listing_reference_shape(plan: Plan) -> tuple[list[float], list[float]]:
    """Ours and the raw loop over builds shaped like the reference's example."""
    progress(f"a: listing {plan.builds:,} builds shaped like the reference's example")
    with FakeProcess.static_pages(
        builds=plan.builds, per_page=plan.per_page, shape="reference"
    ) as fake:
        target = target_of(fake)
        for listing in (list_ours, list_raw):  # warm-up
            run_async(listing(target, plan.per_page))
        ours: list[float] = []
        raw: list[float] = []
        for index in range(plan.repeats):
            order = [(list_ours, ours), (list_raw, raw)]
            for listing, samples in order[index % 2 :] + order[: index % 2]:
                seconds, count = run_async(listing(target, plan.per_page))
                _check_count(listing.__name__, count, plan.builds)
                samples.append(seconds)
    return ours, raw


def bench_official_sdk(plan: Plan, target: Target, sdk_python: str | None) -> dict[str, Any]:
    if plan.sdk_repeats == 0:
        return {"skipped": "--quick does not run the official SDK"}
    if sdk_python is None:
        return {
            "skipped": "official SDK not installed (pip install -r benchmarks/requirements.txt)"
        }
    progress(f"a: the official SDK ({sdk_python}), repetitions per variant: {plan.sdk_repeats}")
    argv = [
        sdk_python,
        str(HERE / "_sdk_child.py"),
        *("--base-url", target.base_url, "--token", target.token),
        *("--project", target.project, "--job", target.job),
        *("--expected", str(plan.builds), "--per-page", str(plan.per_page)),
        *("--repeats", str(plan.sdk_repeats)),
    ]
    try:
        return run_child(argv)
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        return {"skipped": f"the SDK run failed: {exc}"[:300]}


def find_sdk_python(explicit: str | None) -> str | None:
    """The interpreter to run the official SDK with: ours if it has the SDK, else .venv's."""
    if explicit:
        return explicit
    if importlib.util.find_spec("northflank") is not None:
        return sys.executable
    candidate = HERE / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


# --------------------------------------------------------------------------- b


def bench_decode(plan: Plan) -> list[Row]:
    n = plan.decode_builds
    progress(f"b: decoding {n:,} builds, repetitions: {plan.decode_repeats}")
    raw = decode_payload(n)
    results = time_decode(raw, plan.decode_repeats)
    rows = []
    labels = {
        "decode_list": (f"b. decode_list → JobBuild ({n:,} builds)", "≤ 3 µs"),
        "json_loads": ("b.   json.loads of the body (reference)", ""),
        "orjson_loads": ("b.   orjson.loads of the body (reference)", ""),
    }
    for key, (label, target) in labels.items():
        samples = results[key]
        if isinstance(samples, str):
            rows.append(skipped(f"b.{key}", label, samples))
            continue
        per_build = median(samples) / n * 1e6
        passed = per_build <= 3.0 if target else None
        rows.append(Row(f"b.{key}", label, per_build, "µs/build", target, passed, samples=samples))
    rows[0].extra["payload_bytes"] = len(raw)
    # The reference's example shape: integer buildConcludedAt, half the builds with a registry.
    shaped = reference_payload(n)
    samples = time_decode(shaped, plan.decode_repeats)["decode_list"]
    assert not isinstance(samples, str)
    per_build = median(samples) / n * 1e6
    rows.insert(
        1,
        Row(
            "b.decode_list_reference",
            f"b. decode_list, the reference's shape ({n:,} builds)",
            per_build,
            "µs/build",
            "≤ 2 µs",
            per_build <= 2.0,
            samples=samples,
        ),
    )
    return rows


# --------------------------------------------------------------------------- c


def bench_memory(plan: Plan) -> list[Row]:
    progress(f"c: starting the fake API with {plan.memory_big:,} builds (takes a few seconds)")
    peaks: dict[int, list[float]] = {plan.memory_small: [], plan.memory_big: []}
    warm: dict[int, list[float]] = {plan.memory_small: [], plan.memory_big: []}
    with FakeProcess(builds=plan.memory_big) as fake:

        def walk(limit: int, *flags: str) -> dict[str, Any]:
            return run_child(
                [
                    sys.executable,
                    str(HERE / "_memory_child.py"),
                    *("--base-url", fake.base_url, "--token", fake.token),
                    *("--project", fake.project, "--job", fake.job),
                    *("--limit", str(limit), "--per-page", str(plan.per_page), *flags),
                ]
            )

        for _ in range(plan.memory_repeats):
            for limit in peaks:
                progress(f"c: streaming {limit:,} builds in a fresh process")
                result = walk(limit)
                peaks[limit].append(result["peak"] / MB)
                warm[limit].append(result["peak_after_warm_up"] / MB)
        progress(f"c: reference: keeping all {plan.memory_big:,} builds in a fresh process")
        kept = walk(plan.memory_big, "--keep")["peak"] / MB
    rows = []
    for limit, samples in peaks.items():
        label = f"c. peak RSS streaming {limit:,} builds"
        rows.append(Row(f"c.peak_{limit}", label, median(samples), "MB", samples=samples))
        rows[-1].extra["peak_after_warm_up_mb"] = median(warm[limit])
    delta = median(peaks[plan.memory_big]) - median(peaks[plan.memory_small])
    label = f"c. RSS {plan.memory_big:,} minus {plan.memory_small:,}"
    rows.append(checked("c.rss_delta", label, delta, "MB", "≤ 10 MB", abs(delta) <= 10))
    label = f"c.   reference: keeping all {plan.memory_big:,} builds"
    rows.append(Row("c.peak_kept", label, kept, "MB"))
    return rows


# --------------------------------------------------------------------------- e


def bench_prefetch(plan: Plan) -> list[Row]:
    pages = plan.prefetch_pages
    builds = pages * plan.per_page
    what = f"{pages} pages, {plan.latency * 1e3:g} ms latency + {plan.work * 1e3:g} ms work/page"
    progress(f"e: starting the fake API with {builds:,} builds and {plan.latency}s latency")
    with FakeProcess(builds=builds, latency=plan.latency) as fake:
        target = target_of(fake)
        available = run_async(prefetch_available(target))
        sequential: list[float] = []
        prefetched: list[float] = []
        for _ in range(plan.prefetch_repeats):
            progress(f"e: {what}: sequential" + (" and prefetch=1" if available else ""))
            for prefetch, samples in ((None, sequential), (1, prefetched)):
                if prefetch is None or available:
                    seconds, count = run_async(
                        time_prefetch(target, plan.per_page, plan.work, prefetch)
                    )
                    _check_count(f"prefetch={prefetch}", count, builds)
                    samples.append(seconds)
    rows = [timing("e.sequential", f"e. {what}: sequential", sequential, "s")]
    if not available:
        reason = "prefetch not available"
        rows.append(skipped("e.prefetch", "e.   the same with prefetch=1", reason))
        rows.append(skipped("e.ratio", "e. prefetch / sequential", reason, "≤ 0.60"))
        return rows
    ratio = median(prefetched) / median(sequential)
    rows.append(timing("e.prefetch", "e.   the same with prefetch=1", prefetched, "s"))
    rows.append(checked("e.ratio", "e. prefetch / sequential", ratio, "x", "≤ 0.60", ratio <= 0.6))
    return rows


# --------------------------------------------------------------------------- f


def import_seconds(module: str, runs: int) -> list[float]:
    """Seconds to import ``module`` in fresh interpreters, timed from inside (first run dropped)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    for index in range(runs + 1):
        argv = [sys.executable, "-c", code]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        if index:  # the first run may compile bytecode
            samples.append(float(done.stdout))
    return samples


def bench_imports(plan: Plan) -> list[Row]:
    progress(f"f: import times, {plan.import_runs} fresh interpreters each")
    ours = import_seconds("northflank_async", plan.import_runs)
    aiohttp = import_seconds("aiohttp", plan.import_runs)
    own_share = (median(ours) - median(aiohttp)) * 1e3
    rows = [
        timing("f.import_ours", "f. import northflank_async (incl. aiohttp)", ours),
        timing("f.import_aiohttp", "f. import aiohttp alone", aiohttp),
        Row("f.import_own_share", "f.   our own share (difference)", own_share, "ms"),
    ]
    if importlib.util.find_spec("northflank") is not None:
        sdk = import_seconds("northflank", plan.import_runs)
        rows.append(timing("f.import_sdk", "f.   import northflank (official SDK)", sdk))
    return rows


# --------------------------------------------------------------------------- report


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = (
        "northflank-async",
        "aiohttp",
        "cattrs",
        "attrs",
        "multidict",
        "yarl",
        "orjson",
        "northflank",
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in packages},
    }


def render(rows: list[Row], plan: Plan, info: dict[str, Any]) -> str:
    header = ("measurement", "figure", "target", "result")
    table = [header, *((r.label, r.figure(), r.target, r.status) for r in rows)]
    # A skipped row's reason may run past the figure column rather than widen it for all.
    aligned = [header, *((r.label, r.figure(), r.target, r.status) for r in rows if not r.skipped)]
    widths = [max(len(line[i]) for line in aligned) for i in range(4)]
    versions = ", ".join(
        f"{name} {version}" for name, version in info["versions"].items() if version
    )
    lines = [
        f"northflank-async benchmarks, {plan.name} run; every figure is a median of "
        f"{plan.repeats} (a), {plan.sdk_repeats} (a, SDK), {plan.decode_repeats} (b), "
        f"{plan.memory_repeats} (c), {plan.prefetch_repeats} (e), {plan.import_runs} (f) runs",
        f"machine: {info['cpu']}, {info['cores']} cores, {info['python']}, {info['platform']}",
        f"packages: {versions}",
        "",
    ]
    for index, line in enumerate(table):
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    missed = [r.label for r in rows if r.status == "MISS"]
    lines.append("")
    lines.append(
        f"targets: {sum(r.status == 'PASS' for r in rows)} PASS, {len(missed)} MISS, "
        f"{sum(r.status == 'SKIP' for r in rows)} SKIP"
    )
    if plan.name == "quick":
        lines.append("quick run: small sizes, one repetition; figures are indicative only")
    lines.append(
        "event-loop errors (unclosed sessions, pending tasks): "
        + (", ".join(LOOP_ERRORS) or "none")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition, no SDK")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the results here")
    parser.add_argument(
        "--sdk-python",
        metavar="PATH",
        help="interpreter that has the official SDK (default: this one, else benchmarks/.venv)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed (full run only)"
    )
    parser.add_argument(
        "--only",
        metavar="LETTERS",
        default="abcdef",
        help="run only these measurements, e.g. --only ab (a and d always run together)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    only = set(args.only.lower())
    sections: list[tuple[str, Callable[[], list[Row]]]] = [
        ("ad", lambda: bench_listing(plan, find_sdk_python(args.sdk_python))),
        ("b", lambda: bench_decode(plan)),
        ("c", lambda: bench_memory(plan)),
        ("e", lambda: bench_prefetch(plan)),
        ("f", lambda: bench_imports(plan)),
    ]
    rows: list[Row] = []
    for letters, section in sections:
        if only & set(letters):
            rows.extend(section())
    rows.sort(key=lambda row: row.key[0])  # a b c d e f, keeping each section's order
    info = machine()
    print(render(rows, plan, info))
    if args.json:
        document = {
            "run": plan.name,
            "plan": dataclasses.asdict(plan),
            "command": [Path(sys.executable).name, *sys.argv],
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - started, 1),
            "machine": info,
            "results": {row.key: dataclasses.asdict(row) | {"status": row.status} for row in rows},
            "loop_errors": LOOP_ERRORS,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        print(f"results written to {args.json}")
    missed = any(row.status == "MISS" for row in rows)
    return 1 if args.strict and missed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
