"""Where the time of our listing goes, compared with the raw aiohttp loop.

::

    python benchmarks/profile_listing.py [--builds 10000] [--top 20]

Against a fake API in a separate process (as ``run.py``), it prints:

1. the end-to-end gap: our listing vs the raw loop (medians), in all and per build;
2. a cProfile of our listing, its own time grouped by layer (cProfile inflates small
   functions, so read it for the shape, and the micro-benchmarks below for the figures);
3. micro-benchmarks of each layer, each in µs per operation: decoding (``decode_list`` with
   the generated fast hook, cattrs' ``_detailed`` converter that names bad fields, the list
   envelope's checks, ``JobBuild.__init__``, the field hooks and the datetime paths), JSON
   parsing, the per-request work of ``Transport.request`` (rate-limit gate, per-attempt
   timeout, the whole request against a raw GET) and ``AsyncCursorIterator.__anext__``;
4. listing modes end to end: the client with and without ``prefetch=1``, and a loop over our
   transport with the request for the next page sent before the current page is decoded (a
   hand-rolled read-ahead, what ``prefetch=1`` should match).

It reads private parts of the package (``_converter``, ``_wire``, ``_http``) to time them; it
changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import aiohttp
import attrs
from _fakeproc import FakeProcess
from _measure import Target, decode_payload, list_ours, list_ours_prefetch, list_raw
from multidict import CIMultiDict, CIMultiDictProxy

from northflank_async import JobBuild, NorthflankClient
from northflank_async._core import converter as conv
from northflank_async._core import fieldhooks as hooks
from northflank_async._core.models import Page
from northflank_async._core.wire import decode_frame, loads, parse_list_page, read_list_frame
from northflank_async._engine.pagination import AsyncCursorIterator

T = TypeVar("T")


def median_of(action: Callable[[], object], number: int, repeats: int = 7) -> float:
    """Median seconds for one call of ``action`` (``number`` calls per repetition)."""
    action()
    samples = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        for _ in range(number):
            action()
        samples.append((time.perf_counter() - started) / number)
    return statistics.median(samples)


def arun(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --------------------------------------------------------------------------- decoding


_FIELDS = tuple(field.name for field in attrs.fields(JobBuild))


def _envelope(builds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"builds": builds}, "pagination": {"hasNextPage": False, "count": len(builds)}}


def bench_decoding(builds: list[dict[str, Any]], raw: bytes) -> list[tuple[str, float]]:
    n = len(builds)
    reference = conv.decode_list(builds, JobBuild, root="data.builds")
    hook = conv._fast.get_structure_hook(JobBuild)
    envelope, page = _envelope(builds), _envelope(builds[:100])
    for name, decoded in (
        ("the fast JobBuild hook", [hook(build, JobBuild) for build in builds]),
        ("the _detailed converter", conv._detailed.structure(builds, list[JobBuild])),
        ("parse_list_page", parse_list_page(envelope, "builds", JobBuild).items),
    ):
        if decoded != reference:
            raise AssertionError(f"{name} decodes differently from decode_list")
    sample_iso = next(b["createdAt"] for b in builds if b.get("createdAt"))
    sample_epoch = next(b["buildConcludedAt"] for b in builds if b.get("buildConcludedAt"))
    aware = hooks._opt_datetime(sample_iso)
    assert aware is not None
    sample_offset = aware.astimezone(timezone(timedelta(hours=2))).isoformat()
    kwargs = {name: getattr(reference[0], name) for name in _FIELDS}
    optional_str: Any = str | None
    package_json = "orjson" if loads.__module__ == "orjson" else "json"

    def each(action: Callable[[], object]) -> float:
        return median_of(action, 20_000) * 1e6

    def per_build(action: Callable[[], object]) -> float:
        return median_of(action, 1) / n * 1e6

    result = [
        (
            "decode_list today (_fast: the generated hook)",
            per_build(lambda: conv.decode_list(builds, JobBuild, root="data.builds")),
        ),
        (
            "the generated JobBuild hook alone, in a loop",
            per_build(lambda: [hook(build, JobBuild) for build in builds]),
        ),
        (
            "parse_list_page: envelope checks + decode_frame",
            per_build(lambda: parse_list_page(envelope, "builds", JobBuild)),
        ),
        (
            "cattrs' _detailed converter (error path, reference)",
            per_build(lambda: conv._detailed.structure(builds, list[JobBuild])),
        ),
        (
            "  read_list_frame alone, one page (its items are not read)",
            each(lambda: read_list_frame(page, "builds")),
        ),
        (
            "  JobBuild(**11 fields): attrs __init__ (the hook skips it)",
            each(lambda: JobBuild(**kwargs)),
        ),
        (
            "  one `str | None` field via cattrs dispatch (reference)",
            each(lambda: conv._fast.structure("main", optional_str)),
        ),
        ("  _opt_str('main'), the hook directly", each(lambda: hooks._opt_str("main"))),
        ("  _status('SUCCESS')", each(lambda: hooks._status("SUCCESS"))),
        ("  _opt_datetime(ISO 'Z' string)", each(lambda: hooks._opt_datetime(sample_iso))),
        ("  _opt_datetime(ISO '+02:00' string)", each(lambda: hooks._opt_datetime(sample_offset))),
        ("  _opt_datetime(epoch float)", each(lambda: hooks._opt_datetime(sample_epoch))),
        (
            "  datetime.fromisoformat('...Z') (the hook's inline path)",
            each(lambda: datetime.fromisoformat(sample_iso)),
        ),
        (
            "  datetime.fromtimestamp(epoch, UTC) (the hook's inline path)",
            each(lambda: datetime.fromtimestamp(sample_epoch, UTC)),
        ),
        ("json.loads of the body (reference)", per_build(lambda: json.loads(raw))),
    ]
    try:
        import orjson
    except ImportError:
        pass
    else:
        result.append(
            ("orjson.loads of the body (reference)", per_build(lambda: orjson.loads(raw)))
        )
    result.append(
        (f"_wire.loads of the body (the package's: {package_json})", per_build(lambda: loads(raw)))
    )
    return result


# --------------------------------------------------------------------------- per request


def _headers() -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(
        CIMultiDict(
            {
                "Content-Type": "application/json; charset=utf-8",
                "Content-Length": "40000",
                "x-ratelimit-limit": "1000000",
                "x-ratelimit-remaining": "1000000",
                "x-ratelimit-reset": "0",
                "Date": "Mon, 30 Jun 2025 12:00:00 GMT",
                "Server": "Python/3.11 aiohttp/3.14",
            }
        )
    )


async def _timeout_cost(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        async with asyncio.timeout(30.0):  # noqa: ASYNC100  (its enter + exit is the cost)
            pass
    return (time.perf_counter() - started) / n


async def _gate_cost(n: int) -> float:
    from northflank_async._transport.gates import RateLimitGate

    gate = RateLimitGate(60.0)
    headers = _headers()
    started = time.perf_counter()
    for _ in range(n):
        await gate.acquire("GET", "/v1/x")
        gate.release(headers)
    return (time.perf_counter() - started) / n


async def _requests_ours(target: Target, n: int) -> float:
    path = f"/v1/projects/{target.project}/jobs/{target.job}/build"
    async with NorthflankClient(target.token, base_url=target.base_url) as client:
        transport = client.jobs.builds._transport
        await transport.request("GET", path, params={"per_page": "1"})
        started = time.perf_counter()
        for _ in range(n):
            await transport.request("GET", path, params={"per_page": "1"})
        return (time.perf_counter() - started) / n


async def _requests_raw(target: Target, n: int) -> float:
    url = f"{target.base_url}/v1/projects/{target.project}/jobs/{target.job}/build"
    headers = {"Authorization": f"Bearer {target.token}", "Accept": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()
        for index in range(n + 1):
            if index == 1:
                started = time.perf_counter()
            async with session.get(url, params={"per_page": "1"}) as response:
                json.loads(await response.read())
        return (time.perf_counter() - started) / n


def bench_requests(target: Target) -> list[tuple[str, float]]:
    ours: list[float] = []
    raw: list[float] = []
    for index in range(10):  # alternate who goes first
        pair = (_requests_ours, ours), (_requests_raw, raw)
        for measure, samples in pair if index % 2 == 0 else pair[::-1]:
            samples.append(arun(measure(target, 300)))
    gap = statistics.median(ours) - statistics.median(raw)
    return [
        ("one GET (1 build): Transport.request", statistics.median(ours) * 1e6),
        ("one GET (1 build): raw session.get + json.loads", statistics.median(raw) * 1e6),
        ("  difference: our per-request overhead", gap * 1e6),
        ("  of which rate-limit gate acquire + release", arun(_gate_cost(50_000)) * 1e6),
        ("  of which `async with asyncio.timeout()`", arun(_timeout_cost(50_000)) * 1e6),
    ]


# --------------------------------------------------------------------------- per item


async def _iterate_ours(pages: list[Page[int]], prefetch: int = 0) -> float:
    source = iter(pages)

    async def fetch(cursor: str | None) -> Page[int]:
        return next(source)  # the items are already ints: time the iterator, not the decoding

    started = time.perf_counter()
    count = 0
    async for _ in AsyncCursorIterator(fetch, prefetch=prefetch):
        count += 1
    return (time.perf_counter() - started) / count


async def _iterate_plain(pages: list[Page[int]]) -> float:
    async def items() -> Any:
        for page in pages:
            await asyncio.sleep(0)
            for item in page.items:
                yield item

    started = time.perf_counter()
    count = 0
    async for _ in items():
        count += 1
    return (time.perf_counter() - started) / count


def bench_iteration(n_pages: int = 1000) -> list[tuple[str, float]]:
    def pages() -> list[Page[int]]:
        return [
            Page(
                items=list(range(100)),
                has_next_page=i < n_pages - 1,
                count=100,
                cursor=f"c{i}" if i < n_pages - 1 else None,
            )
            for i in range(n_pages)
        ]

    ours = statistics.median(arun(_iterate_ours(pages())) for _ in range(5))
    prefetched = statistics.median(arun(_iterate_ours(pages(), prefetch=1)) for _ in range(5))
    plain = statistics.median(arun(_iterate_plain(pages())) for _ in range(5))
    return [
        ("AsyncCursorIterator.__anext__ per item (pages in memory)", ours * 1e6),
        ("  the same with prefetch=1 (a background task and a queue)", prefetched * 1e6),
        ("an async generator over the same pages (reference)", plain * 1e6),
    ]


# --------------------------------------------------------------------------- listing modes


async def transport_listing(target: Target, pipelined: bool) -> float:
    """Our transport, ``read_list_frame`` and ``decode_frame`` in a plain loop (no iterator).

    ``pipelined`` sends the request for page N+1 (its cursor is known once page N's envelope
    is read) before decoding page N, so that the server works on the next page while we
    decode. The task must run once (``sleep(0)``) before the decoding starts, or the request
    would only leave after it. This is what ``prefetch=1`` does; the loop shows its cost.
    """
    path = f"/v1/projects/{target.project}/jobs/{target.job}/build"
    started = time.perf_counter()
    builds: list[JobBuild] = []
    async with NorthflankClient(target.token, base_url=target.base_url) as client:
        transport = client.jobs.builds._transport

        async def get(cursor: str | None) -> Page[Any]:
            params = (
                {"per_page": "100"} if cursor is None else {"per_page": "100", "cursor": cursor}
            )
            return read_list_frame(await transport.request("GET", path, params=params), "builds")

        pending: asyncio.Task[Page[Any]] | None = asyncio.create_task(get(None))
        while pending is not None:
            frame = await pending
            cursor = frame.cursor
            pending = None
            if pipelined and cursor is not None:
                pending = asyncio.create_task(get(cursor))
                await asyncio.sleep(0)  # let the task write its request before we decode
            builds.extend(decode_frame(frame, "builds", JobBuild).items)
            if not pipelined and cursor is not None:
                pending = asyncio.create_task(get(cursor))
    return time.perf_counter() - started


def bench_listing_modes(target: Target) -> list[tuple[str, float]]:
    async def ours() -> float:
        return (await list_ours(target, 100))[0]

    async def ours_prefetch() -> float:
        return (await list_ours_prefetch(target, 100))[0]

    async def raw() -> float:
        return (await list_raw(target, 100))[0]

    variants: list[tuple[str, Callable[[], Coroutine[Any, Any, float]]]] = [
        ("our client", ours),
        ("our client, prefetch=1", ours_prefetch),
        ("raw aiohttp loop", raw),
        ("transport loop, sequential", lambda: transport_listing(target, False)),
        (
            "transport loop, next page in flight while decoding",
            lambda: transport_listing(target, True),
        ),
    ]
    samples: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _, make in variants:
        arun(make())  # warm-up
    for _ in range(7):
        for label, make in variants:
            samples[label].append(arun(make()))
    raw_median = statistics.median(samples["raw aiohttp loop"])
    rows = []
    for label, values in samples.items():
        rows.append((f"{label} (ms)", statistics.median(values) * 1e3))
        rows.append(("  / raw", statistics.median(values) / raw_median))
    return rows


# --------------------------------------------------------------------------- cProfile


# Marks matched against "filename function" of each cProfile entry, first layer wins. The fast
# hook is generated with exec(), so its code shows as "<string>"; it calls dict.get and
# object.__new__ itself (the slots' setters are not profiled: C descriptors).
_LAYERS = (
    ("decode: datetime parsing", ("fromisoformat", "astimezone", "fromtimestamp")),
    (
        "decode: generated hook (dict.get, __new__)",
        ("<string>", "method 'get' of 'dict'", "method __new__ of type"),
    ),
    ("decode: field hooks + cattrs list", ("cattrs/", "northflank_async/_converter.py")),
    ("JSON parsing (json or orjson)", ("json/", "raw_decode", "orjson")),
    (
        "transport, envelope (_http, _wire, _endpoints, _resources)",
        (
            "northflank_async/_http.py",
            "northflank_async/_wire.py",
            "northflank_async/_endpoints.py",
            "northflank_async/_resources.py",
            "attr/_make.py",
            "<attrs generated",  # the Page it makes
        ),
    ),
    ("iterator (_pagination)", ("northflank_async/_pagination.py",)),
    ("consumer (the benchmark's `async for`)", ("benchmarks/_measure.py",)),
    ("aiohttp / yarl / multidict", ("aiohttp/", "yarl/", "multidict/")),
    (
        "asyncio event loop",
        ("asyncio/", "selectors.py", "method 'poll'", "socket", "_contextvars.Context"),
    ),
)


def profile_listing(target: Target, top: int) -> tuple[list[tuple[str, float]], str]:
    async def three_listings() -> None:
        for _ in range(3):
            await list_ours(target, 100)

    arun(list_ours(target, 100))  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    arun(three_listings())
    profiler.disable()
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    all_time = 0.0
    for (filename, _, name), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename} {name}"
        all_time += tottime
        layer = next(
            (label for label, marks in _LAYERS if any(mark in where for mark in marks)), "other"
        )
        totals[layer] = totals.get(layer, 0.0) + tottime
    shares = sorted(
        ((layer, t / all_time * 100) for layer, t in totals.items()), key=lambda x: -x[1]
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return shares, out.getvalue()


# --------------------------------------------------------------------------- main


def _print(title: str, rows: list[tuple[str, float]], unit: str) -> None:
    print(f"\n{title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value:8.2f} {unit}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Profile our listing against the raw loop.")
    parser.add_argument("--builds", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=20, help="cProfile lines to print")
    args = parser.parse_args()

    with FakeProcess(builds=args.builds) as fake:
        target = Target(fake.base_url, fake.token, fake.project, fake.job)
        for listing in (list_ours, list_raw):
            arun(listing(target, 100))
        ours, raw = [], []
        for _ in range(7):
            ours.append(arun(list_ours(target, 100))[0])
            raw.append(arun(list_raw(target, 100))[0])
        gap = statistics.median(ours) - statistics.median(raw)
        pages = args.builds // 100
        _print(
            f"1. end to end, {args.builds:,} builds in {pages} pages (medians of 7), ms",
            [
                ("ours", statistics.median(ours) * 1e3),
                ("raw aiohttp loop", statistics.median(raw) * 1e3),
                ("gap", gap * 1e3),
                ("gap per build, in µs", gap / args.builds * 1e6),
            ],
            "",
        )
        shares, report = profile_listing(target, args.top)
        _print("2. cProfile of our listing: own time by layer", shares, "%")
        print(report)
        request_rows = bench_requests(target)
        mode_rows = bench_listing_modes(target)

    raw_body = decode_payload(args.builds)
    builds = json.loads(raw_body)["data"]["builds"]
    _print(
        f"3a. decoding ({args.builds:,} builds): µs per build, indented rows µs per call",
        bench_decoding(builds, raw_body),
        "µs",
    )
    _print("3b. per request", request_rows, "µs")
    _print("3c. per item", bench_iteration(), "µs")
    _print(f"4. listing modes: {args.builds:,} builds end to end (medians of 7)", mode_rows, "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
