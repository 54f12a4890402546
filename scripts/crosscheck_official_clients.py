"""Check that the official Python SDK and JS client read the fake API as our client does.

Starts a `FakeNorthflank` in this process (60 jobs; one job with 121 runs and 131 builds,
one of each still in progress; 60 notification integrations), then lists the jobs, runs,
builds and notification integrations, and gets one of each, with three clients:

* ours (`NorthflankClient`), in this process;
* the official Python SDK (``northflank`` 2.x), in a child Python process
  (``scripts/_crosscheck_sdk.py``), so that it can live in a venv of its own;
* the official JS client (``@northflank/js-client``), in a Node child
  (``scripts/crosscheck_js.mjs``).

Each listing is done three ways: the server's default page size (no ``per_page``; ours sends
50), ``per_page=100`` walked page by page with the client's next-page helper, and
``per_page=100`` on the team route form (``/v1/teams/{teamId}/projects/...``). The ids and a
few fields (status, concluded, createdAt/startedAt, concludedAt; a job's name, type and
flags) are compared in order with the fake's own store. The requests each client sent are
checked too: every one answered 200, in the expected route form, with one request per page.
Then one build's log (a build of a project of its own, run to its end just before, so that its
lines lie in the last 30 minutes, the tail's default window) is read by range (ours, and the
JS client's ``get.job.buildLogs``; the SDK has no range call for a job's builds) and by the
WebSocket tail (ours, the JS client's ``get.job.buildLogTail`` and the SDK's
``logs.atail_job_logs(..., is_build=True)``), and compared line by line with the fake's
``build_logs``. A summary table is printed; the exit status is 1 on any difference, 2 when a
client is missing. Notes on fields the official clients' typings declare but the fake leaves out are
printed as well; they are not failures.

Run it from the checkout, with the project's venv::

    python scripts/crosscheck_official_clients.py --install

``--install`` creates a venv with the SDK and installs the JS client with npm, both in
``--workdir`` (default ``.crosscheck/``, git-ignored), reusing what is already there. Without
it, point at existing installs with ``--sdk-python`` and ``--js-dir``. Needs Node 18+ and
npm for the JS client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from northflank_async import NorthflankClient, __version__
from northflank_async.testing import FakeNorthflank

ROOT = Path(__file__).resolve().parent.parent
SDK_REQUIREMENT = "northflank>=2.1,<3"
JS_PACKAGE = "@northflank/js-client@^0.9.5"
PROJECT = "crosscheck"
TEAM = "crosscheck-team"
JOB = "nightly"
JOBS = 60
RUNS = 120  # historical runs; one running run is added on top
BUILDS = 130  # historical builds; one build in progress is added on top
SERVER_PER_PAGE = 50  # the API's default page size
CLIENTS = ("ours", "python-sdk", "js-client")
CHILD_TIMEOUT = 60.0  # seconds for one client to read everything
LOG_PROJECT = "crosscheck-logs"  # the logs' build lives apart, out of the listings' way
LOG_LINE_LIMIT = 1000
LOG_START = "2020-01-01T00:00:00.000Z"  # before any line: a range of the whole log
LOG_CHECKS = ("logs range", "logs tail")

# The fields compared, as (wire name, attribute of our model).
_JOB_FIELDS = (
    ("id", "id"),
    ("name", "name"),
    ("jobType", "job_type"),
    ("tags", "tags"),
    ("description", "description"),
    ("disabledCI", "disabled_ci"),
    ("disabledCD", "disabled_cd"),
    ("suspended", "suspended"),
)
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "jobs": _JOB_FIELDS,
    "job": (*_JOB_FIELDS, ("projectId", "project_id"), ("createdAt", "created_at")),
    "runs": (
        ("id", "id"),
        ("status", "status"),
        ("concluded", "concluded"),
        ("startedAt", "started_at"),
        ("concludedAt", "concluded_at"),
    ),
    "builds": (
        ("id", "id"),
        ("status", "status"),
        ("concluded", "concluded"),
        ("createdAt", "created_at"),
        ("buildConcludedAt", "build_concluded_at"),
    ),
}
FIELDS["notifications"] = (
    ("id", "id"),
    ("name", "name"),
    ("type", "type"),
    ("webhook", "webhook"),
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
)
FIELDS["notification"] = (*FIELDS["notifications"], ("events", "events"), ("projects", "projects"))
FIELDS["run"] = FIELDS["runs"]
FIELDS["build"] = FIELDS["builds"]
NOTIFICATIONS = 60  # integrations: two pages at the server's default page size

_ISO_FIELDS = frozenset({"createdAt", "startedAt", "concludedAt", "updatedAt"})

# Fields that both official clients' typings declare required on list items (JS:
# api-client.d.ts `ListJobsResult`, `GetJobRunsResult`; SDK: _types.py `ListJobsResponseJob`,
# `GetJobRunResponse`). Missing ones are reported as notes, not failures: typings generated
# from an OpenAPI document can be stricter than the API.
TYPED_REQUIRED: dict[str, tuple[str, ...]] = {
    "jobs": ("id", "projectId", "appId", "name", "tags", "jobType", "disabledCI", "disabledCD"),
    "runs": (
        "id",
        "active",
        "backoffLimit",
        "completions",
        "concluded",
        "failed",
        "runName",
        "status",
        "succeeded",
        "startedAt",
        "concludedAt",
    ),
    "builds": ("id",),
    "notifications": ("id", "name", "type", "webhook", "createdAt", "updatedAt"),
}


def _listings() -> list[dict[str, Any]]:
    listings: list[dict[str, Any]] = []
    for resource in ("jobs", "runs", "builds", "notifications"):
        listings += [
            {"resource": resource, "team": False, "per_page": None, "walk": "all"},
            {"resource": resource, "team": False, "per_page": 100, "walk": "pages"},
            {"resource": resource, "team": True, "per_page": 100, "walk": "all"},
        ]
    for listing in listings:
        form = "team" if listing["team"] else "plain"
        size = listing["per_page"] or "default"
        listing["name"] = f"list {listing['resource']} {form} per_page={size} {listing['walk']}"
    return listings


def _gets(run_id: str, build_id: str) -> list[dict[str, Any]]:
    gets = []
    for team in (False, True):
        form = "team" if team else "plain"
        gets += [
            {"name": f"get job {form}", "resource": "job", "id": JOB, "team": team},
            {"name": f"get run {form}", "resource": "run", "id": run_id, "team": team},
            {"name": f"get build {form}", "resource": "build", "id": build_id, "team": team},
            {
                "name": f"get notification {form}",
                "resource": "notification",
                "id": "crosscheck-hook-7",
                "team": team,
            },
        ]
    return gets


# ---------------------------------------------------------------------- the fake's data


def _seed(fake: FakeNorthflank) -> None:
    fake.add_job(
        PROJECT, JOB, builds=BUILDS, runs=RUNS, name="Nightly", description="The nightly job"
    )
    fake.add_run(PROJECT, JOB)  # RUNNING; it only moves when it is fetched on its own
    fake.add_build(PROJECT, JOB, status="BUILDING")  # likewise
    for number in range(1, JOBS):
        fields: dict[str, Any] = {"name": f"Job {number}", "tags": [f"t{number % 3}"]}
        if number % 3 == 0:
            fields.update(jobType="cron", suspended=number % 2 == 0)
        if number % 4 == 0:
            fields["description"] = f"job number {number}"
        fake.add_job(PROJECT, f"job-{number:02d}", **fields)
    # Restricted to projects where nothing happens, and pointing at a closed local port: the
    # fake sends the events of its builds and runs, and none must leave for the network.
    for number in range(1, NOTIFICATIONS + 1):
        fake.add_notification_integration(
            f"http://127.0.0.1:9/hook/{number}",
            name=f"Crosscheck hook {number}",
            secret=f"secret-{number}",
            events=["build:success", "job-run:failure"][: 1 + number % 2],
            projects=["quiet-a"] if number % 3 else ["quiet-a", "quiet-b"],
        )


def _store(fake: FakeNorthflank, gets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the fake holds, in the order it serves it, per listing and get."""
    jobs = [fake.job(PROJECT, JOB)] + [fake.job(PROJECT, f"job-{n:02d}") for n in range(1, JOBS)]
    by_resource = {
        "jobs": jobs,
        "runs": fake.runs(PROJECT, JOB),
        "builds": fake.builds(PROJECT, JOB),
        "notifications": [
            fake.notification_integration(f"crosscheck-hook-{n}")
            for n in range(1, NOTIFICATIONS + 1)
        ],
    }
    expected: dict[str, Any] = {}
    for listing in _listings():
        expected[listing["name"]] = by_resource[listing["resource"]]
    for get in gets:
        pool = {
            "job": jobs,
            "run": by_resource["runs"],
            "build": by_resource["builds"],
            "notification": by_resource["notifications"],
        }
        expected[get["name"]] = next(i for i in pool[get["resource"]] if i["id"] == get["id"])
    return expected


# ---------------------------------------------------------------------- normalising


def _ms(value: Any) -> Any:
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    return value


def _wire_value(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in _ISO_FIELDS and isinstance(value, str):
        return _ms(datetime.fromisoformat(value))
    if field == "buildConcludedAt" and isinstance(value, int | float):
        return round(value * 1000)
    if field == "events" and isinstance(value, dict):  # our model keeps the short names set
        return tuple(sorted(key.removeprefix("trigger:") for key, on in value.items() if on))
    if isinstance(value, list):
        return tuple(value)
    return value


def _model_value(value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # an enum member (StrEnum) becomes its wire value
    if isinstance(value, list | tuple):
        return tuple(value)
    return _ms(value)


def _from_wire(resource: str, item: Any) -> tuple[Any, ...]:
    if not isinstance(item, dict):
        return ("<not an object>", repr(item)[:80])
    return tuple(_wire_value(wire, item.get(wire)) for wire, _ in FIELDS[resource])


def _from_model(resource: str, item: Any) -> tuple[Any, ...]:
    return tuple(_model_value(getattr(item, attr)) for _, attr in FIELDS[resource])


# ---------------------------------------------------------------------- the clients


async def _ours(fake: FakeNorthflank, spec: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
        for listing in spec["listings"]:
            team = TEAM if listing["team"] else None
            per_page = listing["per_page"] or SERVER_PER_PAGE
            if listing["resource"] == "jobs":
                iterator: Any = nf.jobs.list(PROJECT, team_id=team, per_page=per_page)
            elif listing["resource"] == "notifications":
                iterator = nf.notifications.list(team_id=team, per_page=per_page)
            else:
                resource = getattr(nf.job(PROJECT, JOB, team_id=team), listing["resource"])
                iterator = resource.list(per_page=per_page)
            if listing["walk"] == "all":
                items = await iterator.collect()
            else:
                items = [item async for page in iterator.pages() for item in page.items]
            results[listing["name"]] = [_from_model(listing["resource"], i) for i in items]
        for get in spec["gets"]:
            job = nf.job(PROJECT, JOB, team_id=TEAM if get["team"] else None)
            if get["resource"] == "job":
                got: Any = await job.get()
            elif get["resource"] == "notification":
                got = await nf.notifications.get(get["id"], team_id=TEAM if get["team"] else None)
            elif get["resource"] == "run":
                got = await job.runs.get(get["id"])
            else:
                got = await job.builds.get(get["id"])
            results[get["name"]] = _from_model(get["resource"], got)
        logs = spec["logs"]
        builds = nf.job(logs["project"], JOB).builds
        start = datetime.fromisoformat(logs["start"])
        ranged = builds.logs(logs["build_id"], start=start, line_limit=logs["line_limit"])
        results["logs range"] = [_line_from_model(line) async for line in ranged]
        tailed: list[dict[str, Any]] = []
        async with builds.tail_logs(
            logs["build_id"], line_limit=logs["line_limit"], until_concluded=False
        ) as tail:
            async for line in tail:
                tailed.append(_line_from_model(line))
                if len(tailed) >= logs["lines"]:
                    break
        results["logs tail"] = tailed
    return results


def _line_from_model(line: Any) -> dict[str, Any]:
    ts = line.ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "containerId": line.container_id,
        "log": line.text if line.raw is None else line.raw,
        "ts": ts,
    }


def _line_key(line: Any, *, stringify: bool = False) -> tuple[Any, ...]:
    """A log line to compare: container, log, ts in ms. ``stringify``: the official SDK turns
    every ``log`` into ``str(log)`` (a structured line becomes its Python repr)."""
    if not isinstance(line, dict):
        return ("<not an object>", repr(line)[:80])
    log = line.get("log")
    if stringify and not isinstance(log, str):
        log = str(log)
    ts = line.get("ts")
    return (line.get("containerId"), log, _wire_value("createdAt", ts))


async def _child(argv: Sequence[str], spec: dict[str, Any], label: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        async with asyncio.timeout(CHILD_TIMEOUT):
            stdout, stderr = await process.communicate(json.dumps(spec).encode())
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{label}: no answer within {CHILD_TIMEOUT:g} s") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip()[-2000:]
        raise RuntimeError(f"{label}: exit {process.returncode}: {message}")
    answer: dict[str, Any] = json.loads(stdout)
    return answer


def _normalise_child(answer: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for listing in spec["listings"]:
        raw = answer["results"][listing["name"]]
        results[listing["name"]] = [_from_wire(listing["resource"], item) for item in raw]
    for get in spec["gets"]:
        results[get["name"]] = _from_wire(get["resource"], answer["results"][get["name"]])
    for name in LOG_CHECKS:
        if name in answer["results"]:
            results[name] = answer["results"][name]
    return results


# ---------------------------------------------------------------------- requests


def _expected_requests(spec: dict[str, Any], store: dict[str, Any]) -> list[tuple[str, bool, int]]:
    """(what, team form, page number) of each request a client should send, in order."""
    expected = []
    for listing in spec["listings"]:
        per_page = listing["per_page"] or SERVER_PER_PAGE
        pages = max(1, math.ceil(len(store[listing["name"]]) / per_page))
        expected += [(listing["name"], listing["team"], n) for n in range(1, pages + 1)]
    for get in spec["gets"]:
        expected.append((get["name"], get["team"], 1))
    return expected


def _check_requests(
    client: str, recorded: Sequence[Any], expected: Sequence[tuple[str, bool, int]]
) -> list[str]:
    problems = [
        f"{client}: {r.method} {r.path}: answered {r.status}" for r in recorded if r.status != 200
    ]
    if len(recorded) != len(expected):
        # Requests no longer line up with the pages: the count says enough.
        problems.append(f"{client}: sent {len(recorded)} requests, expected {len(expected)}")
        return problems
    for request, (what, team, page) in zip(recorded, expected, strict=True):
        where = f"{client}: {what} page {page}: {request.method} {request.path}"
        if request.path.startswith("/v1/teams/") != team:
            problems.append(f"{where}: expected the {'team' if team else 'plain'} route form")
        if page > 1 and "cursor" not in request.query:
            problems.append(f"{where}: no cursor on a page after the first")
        if "page" in request.query and "cursor" in request.query:
            problems.append(f"{where}: sent both page and cursor")
    return problems


def _query_keys(recorded: Sequence[Any]) -> str:
    keys = sorted({key for request in recorded for key in request.query})
    return ",".join(keys) or "-"


# ---------------------------------------------------------------------- comparing, printing


def _first_difference(resource: str, expected: Any, got: Any, is_list: bool) -> str | None:
    names = [wire for wire, _ in FIELDS[resource]]
    if not is_list:
        expected, got = [expected], [got]
    if len(expected) != len(got):
        return f"{len(got)} items, expected {len(expected)}"
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        for name, a, b in zip(names, want, have, strict=False):
            if a != b:
                at = f"item {index} " if is_list else ""
                return f"{at}{name}: {b!r}, the fake holds {a!r}"
    return None


def _notes(answers: dict[str, dict[str, Any]], spec: dict[str, Any]) -> list[str]:
    """Fields the official typings require that the fake left out (first client that saw them)."""
    notes = []
    seen: set[tuple[str, str]] = set()
    for answer in answers.values():
        for listing in spec["listings"]:
            resource = listing["resource"]
            for item in answer["results"][listing["name"]]:
                for field in TYPED_REQUIRED[resource]:
                    if field not in item and (resource, field) not in seen:
                        seen.add((resource, field))
                        count = sum(field not in i for i in answer["results"][listing["name"]])
                        notes.append(
                            f"{resource}: {count} listed item(s) without {field!r} "
                            "(required in the official typings)"
                        )
    return notes


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------------- logs


async def _log_build(fake: FakeNorthflank) -> str:
    """A build of a job of its own project, started and read to its end now (the fake moves a
    build one stage per read), so that its whole log lies in the tail's default window."""
    fake.add_job(LOG_PROJECT, JOB, builds=0)
    async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
        build = await nf.jobs.builds.start(project_id=LOG_PROJECT, job_id=JOB)
        # Each read moves it one stage: read it to its end at once (waits poll at >= 1 s).
        while not build.concluded:
            build = await nf.jobs.builds.get(project_id=LOG_PROJECT, job_id=JOB, build_id=build.id)
    return build.id


def _compare_logs(
    rows: list[list[str]],
    clients: dict[str, dict[str, Any]],
    fake_lines: Sequence[dict[str, Any]],
    spec: dict[str, Any],
) -> list[str]:
    failures = []
    build_id = spec["logs"]["build_id"]
    for name in LOG_CHECKS:
        row = [f"{name} ({build_id})", str(len(fake_lines))]
        for client in CLIENTS:
            results = clients[client]["results"]
            if results is None:
                row.append("FAILED")
                continue
            if name not in results:
                row.append("-")  # the SDK has no range call for a job's build logs
                continue
            stringify = client == "python-sdk"
            want = [_line_key(line, stringify=stringify) for line in fake_lines]
            have = [_line_key(line, stringify=stringify) for line in results[name]]
            if want == have:
                row.append(str(len(have)))
                continue
            row.append("DIFF")
            first = next(
                (i for i, (a, b) in enumerate(zip(want, have, strict=False)) if a != b),
                min(len(want), len(have)),
            )
            detail = (
                f"line {first}: {have[first]!r}, the fake holds {want[first]!r}"
                if first < min(len(want), len(have))
                else f"{len(have)} lines, the fake holds {len(want)}"
            )
            failures.append(f"{client}: {name}: {detail}")
        rows.append(row)
    return failures


def _check_log_requests(client: str, run: dict[str, Any], token: str) -> list[str]:
    """The logs' HTTP requests answered 200 (101 for a tail's upgrade); no token in a URL."""
    problems = [
        f"{client}: {r.method} {r.path}?{r.query}: answered {r.status}"
        for r in run["log_requests"]
        if r.status not in (101, 200) and r.query.get("queryType") != "tail"
    ]
    for request in run["log_requests"]:
        if token in request.path or token in json.dumps(request.query):
            problems.append(f"{client}: the token is in the URL of {request.path}")
    for tail in run["tails"]:
        if tail.auth != "successful":
            problems.append(f"{client}: a tail was not authenticated ({tail.auth}, {tail.ended})")
    return problems


# ---------------------------------------------------------------------- installs


def _run(argv: Sequence[str], **kwargs: Any) -> None:
    print("+ " + " ".join(argv), flush=True)
    subprocess.run(argv, check=True, **kwargs)


def _install(workdir: Path) -> tuple[Path, Path]:
    """Install the SDK in a venv and the JS client with npm, in `workdir`; reuse what is there."""
    sdk_venv = workdir / "sdk-venv"
    sdk_python = sdk_venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not sdk_python.exists():
        _run([sys.executable, "-m", "venv", str(sdk_venv)])
    _run(
        [
            str(sdk_python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SDK_REQUIREMENT,
        ]
    )
    js_dir = workdir / "js"
    js_dir.mkdir(parents=True, exist_ok=True)
    if not (js_dir / "package.json").exists():
        (js_dir / "package.json").write_text('{"private": true}\n')
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: install Node 18+ and npm for the JS client")
    _run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", JS_PACKAGE], cwd=js_dir)
    return sdk_python, js_dir


# ---------------------------------------------------------------------- main


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="install both official clients")
    parser.add_argument(
        "--workdir", type=Path, default=ROOT / ".crosscheck", help="where --install puts them"
    )
    parser.add_argument("--sdk-python", help="a Python that has the official SDK")
    parser.add_argument("--js-dir", type=Path, help="a folder with @northflank/js-client")
    parser.add_argument("--node", default="node", help="the Node executable (node)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fake's data (0)")
    return parser.parse_args(argv)


def _snapshot(fake: FakeNorthflank, spec: dict[str, Any]) -> dict[str, Any]:
    """The fake's data per check, normalised (a list of tuples, or one tuple for a get)."""
    held = _store(fake, spec["gets"])
    snapshot: dict[str, Any] = {}
    for listing in spec["listings"]:
        resource = listing["resource"]
        snapshot[listing["name"]] = [_from_wire(resource, item) for item in held[listing["name"]]]
    for get in spec["gets"]:
        snapshot[get["name"]] = _from_wire(get["resource"], held[get["name"]])
    return snapshot


async def _read_all(
    fake: FakeNorthflank, spec: dict[str, Any], args: argparse.Namespace
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Let each client read everything; return per client its results or its error."""
    children = {
        "python-sdk": (
            [args.sdk_python, str(ROOT / "scripts" / "_crosscheck_sdk.py")],
            "the official Python SDK",
        ),
        "js-client": (
            [args.node, str(ROOT / "scripts" / "crosscheck_js.mjs"), str(args.js_dir)],
            "the official JS client",
        ),
    }
    runs: dict[str, dict[str, Any]] = {}
    answers: dict[str, Any] = {}
    for client in CLIENTS:
        fake.reset_stats()
        started = time.perf_counter()
        run: dict[str, Any] = {"version": "?", "results": None, "error": None}
        try:
            if client == "ours":
                run["version"] = __version__
                async with asyncio.timeout(CHILD_TIMEOUT):
                    run["results"] = await _ours(fake, spec)
            else:
                argv, label = children[client]
                answers[client] = answer = await _child(argv, spec, label)
                run["version"] = str(answer.get("version"))
                run["results"] = _normalise_child(answer, spec)
        except Exception as error:  # one client failing must not hide the others' results
            run["error"] = f"{type(error).__name__}: {error}"
        run["seconds"] = time.perf_counter() - started
        logs_path = f"/projects/{LOG_PROJECT}/"
        run["requests"] = [r for r in fake.requests if logs_path not in r.path]
        run["log_requests"] = [r for r in fake.requests if logs_path in r.path]
        run["tails"] = fake.tails
        runs[client] = run
    return runs, answers


async def _check(args: argparse.Namespace) -> int:
    async with FakeNorthflank(rate_limit=None, seed=args.seed) as fake:
        _seed(fake)
        log_build = await _log_build(fake)
        log_lines = fake.build_logs(LOG_PROJECT, JOB, log_build)
        runs, builds = fake.runs(PROJECT, JOB), fake.builds(PROJECT, JOB)
        spec: dict[str, Any] = {
            "base_url": fake.base_url,
            "token": fake.token,
            "project": PROJECT,
            "team": TEAM,
            "job": JOB,
            "listings": _listings(),
            "gets": _gets(runs[5]["id"], builds[7]["id"]),
            "logs": {
                "project": LOG_PROJECT,
                "build_id": log_build,
                "lines": len(log_lines),
                "line_limit": LOG_LINE_LIMIT,
                "start": LOG_START,
            },
        }
        before = _snapshot(fake, spec)
        expected_requests = _expected_requests(spec, before)
        clients, answers = await _read_all(fake, spec, args)
        after = _snapshot(fake, spec)
        if fake.build_logs(LOG_PROJECT, JOB, log_build) != log_lines:
            failures_early = ["the build's log changed while the clients read it"]
        else:
            failures_early = []

    failures: list[str] = list(failures_early)
    if after != before:
        failures.append("the fake's data changed while the clients read it")
    rows = [["check", "fake", *CLIENTS]]
    for name, wanted in before.items():
        resource = next(i["resource"] for i in spec["listings"] + spec["gets"] if i["name"] == name)
        is_list = isinstance(wanted, list)
        row = [name, str(len(wanted)) if is_list else str(wanted[0])[:14]]
        for client in CLIENTS:
            results = clients[client]["results"]
            if results is None:
                row.append("FAILED")
                continue
            difference = _first_difference(resource, wanted, results[name], is_list)
            if difference is None:
                row.append(str(len(results[name])) if is_list else "same")
            else:
                row.append("DIFF")
                failures.append(f"{client}: {name}: {difference}")
        rows.append(row)

    failures += _compare_logs(rows, clients, log_lines, spec)

    request_rows = [["client", "version", "requests", "expected", "query keys", "seconds"]]
    for client in CLIENTS:
        run = clients[client]
        if run["error"] is not None:
            failures.append(f"{client}: failed: {run['error']}")
        else:
            failures += _check_requests(client, run["requests"], expected_requests)
            failures += _check_log_requests(client, run, spec["token"])
        request_rows.append(
            [
                client,
                run["version"],
                str(len(run["requests"])),
                str(len(expected_requests)),
                _query_keys(run["requests"]),
                f"{run['seconds']:.2f}",
            ]
        )

    print(_table(rows))
    print()
    print(_table(request_rows))
    compared = sum(len(v) if isinstance(v, list) else 1 for v in before.values())
    print(
        f"\n{compared} items compared per client in {len(before)} checks, "
        f"{len(expected_requests)} requests expected per client"
    )
    notes = _notes(answers, spec)
    if notes:
        print("\nnotes (not failures):")
        for note in notes:
            print(f"  - {note}")
    if failures:
        print(f"\n{len(failures)} difference(s):")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print(
        "\nall three clients read the same jobs, runs, builds, notification integrations and "
        "build log lines as the fake holds"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.install:
        sdk_python, js_dir = _install(args.workdir.resolve())
        args.sdk_python = args.sdk_python or str(sdk_python)
        args.js_dir = args.js_dir or js_dir
    missing = []
    if not args.sdk_python:
        missing.append("--sdk-python (a Python with the official SDK)")
    if args.js_dir is None:
        missing.append("--js-dir (a folder with @northflank/js-client)")
    if missing:
        print(f"missing: {', '.join(missing)}; or pass --install", file=sys.stderr)
        return 2
    return asyncio.run(_check(args))


if __name__ == "__main__":
    sys.exit(main())
