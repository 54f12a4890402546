"""Issue 21, first contact: the demo, listings, widths and output, as a newcomer meets them.

Run through the CLI's entry function with a real terminal width (``COLUMNS``); each test
names the "Why" bullet of the issue it guards.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from datetime import datetime

import pytest

from northflank_async import NorthflankClient
from northflank_async.cli import main
from northflank_async.testing import FakeNorthflank

from .._virtual import cli_on_virtual_clock


class _Tty(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> _Cli:
    return _Cli(monkeypatch, capsys)


class _Cli:
    """``main(argv)`` at a terminal width: the exit status, stdout and stderr."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, *argv: str, columns: int | None = 120) -> tuple[int, str, str]:
        if columns is None:
            self.monkeypatch.delenv("COLUMNS", raising=False)
        else:
            self.monkeypatch.setenv("COLUMNS", str(columns))
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err


def _json_ids(cli: _Cli, *argv: str) -> list[str]:
    code, out, _ = cli(*argv, "--format", "json")
    assert code == 0
    return [item["id"] for item in json.loads(out)]


# ------------------------------------------------------------- the fake forgets


def test_fake_says_once_that_it_lives_for_this_command(cli: _Cli) -> None:
    code, _, err = cli("builds", "list", "--fake", "--limit", "1")
    assert code == 0
    assert err.count("fake API that lives for this command") == 1
    assert "northflank-async fake" in err  # and how to keep one


def test_started_ids_differ_between_fakes_of_one_seed() -> None:
    """Every start used to give the same id, in any process: ids are drawn at random now."""
    first, second = FakeNorthflank(seed=0), FakeNorthflank(seed=0)
    for fake in (first, second):
        fake.add_job("p", "j", builds=3)
    started = [fake.add_build("p", "j")["id"] for fake in (first, second)]
    assert started[0] != started[1]
    runs = [fake.add_run("p", "j")["id"] for fake in (first, second)]
    assert runs[0] != runs[1]
    assert first.add_build("p", "j")["id"] not in started  # and unique within one fake


def test_one_demo_everywhere(cli: _Cli) -> None:
    """One project and job set: `jobs list --fake` lists the jobs `monitor --fake` reports,
    and the standalone fake serves the same project."""
    from northflank_async.cli.demo import COMMANDS_DEMO, MONITOR_DEMO
    from northflank_async.testing.__main__ import _parse_args

    assert _json_ids(cli, "jobs", "list", "--fake") == ["nightly", "tests"]
    assert MONITOR_DEMO.jobs == COMMANDS_DEMO.jobs == ("nightly", "tests")
    assert _parse_args([]).project == "demo-project"


async def test_the_demos_running_builds_began_minutes_ago() -> None:
    """No build sits CLONING for 16 hours, to finish in a second with a duration of 16 h."""
    from northflank_async.cli.demo import COMMANDS_DEMO, DEMO_JOB, DEMO_PROJECT, serve

    async with serve(COMMANDS_DEMO, DEMO_PROJECT, [DEMO_JOB]) as fake:
        now = _ms(fake.add_build(DEMO_PROJECT, DEMO_JOB)["createdAt"])
        history = fake.builds(DEMO_PROJECT, DEMO_JOB)[1:]
    pipeline = {"QUEUED", "PENDING", "STARTING", "CLONING", "BUILDING", "UPLOADING"}
    running = [b for b in history if b["status"] in pipeline]
    assert all(now - _ms(b["createdAt"]) <= 31 * 60_000 for b in running), running
    assert all(now > _ms(b["createdAt"]) for b in history)


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


# ------------------------------------------------------------- listings


@pytest.mark.parametrize("group", ["builds", "runs"])
def test_listings_show_20_and_say_there_is_more(cli: _Cli, group: str) -> None:
    code, out, err = cli(group, "list", "--fake", "--format", "jsonl")
    assert code == 0
    assert len(out.splitlines()) == 20
    assert "there are more: --limit N or --all" in err


def test_all_and_n_and_a_short_listing(cli: _Cli) -> None:
    assert len(_json_ids(cli, "builds", "list", "--fake", "--all")) == 250
    assert len(_json_ids(cli, "builds", "list", "--fake", "--limit", "5")) == 5
    code, out, err = cli("jobs", "list", "--fake", "--format", "json")
    assert code == 0 and len(json.loads(out)) == 2 and "more" not in err  # all shown
    code, out, err = cli("jobs", "list", "--fake", "--limit", "1", "--format", "json")
    assert len(json.loads(out)) == 1 and "there are more" in err


# ------------------------------------------------------------- widths


def test_ids_are_whole_at_60_columns(cli: _Cli) -> None:
    ids = _json_ids(cli, "builds", "list", "--fake")  # the same seeded history each time
    code, out, _ = cli("builds", "list", "--fake", columns=60)
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert [line.split()[0] for line in lines[1:]] == ids


def test_too_narrow_for_a_table_shows_one_field_a_line(cli: _Cli) -> None:
    ids = _json_ids(cli, "runs", "list", "--fake", "--limit", "3")
    code, out, _ = cli("runs", "list", "--fake", "--limit", "3", columns=30)
    assert code == 0
    assert re.findall(r"^ID: +(\S+)$", out, re.MULTILINE) == ids
    assert "…" not in out


def test_stats_stay_readable_at_60_columns(cli: _Cli) -> None:
    code, out, _ = cli("builds", "stats", "--fake", columns=60)
    assert code == 0
    assert all(len(line) <= 60 for line in out.splitlines())
    duration = r"(\d+h \d\dm|\d+m \d\ds|\d+s)"
    assert re.search(rf"^ +p50 {duration} +p90 {duration} +p99 {duration}$", out, re.MULTILINE)


@pytest.mark.parametrize(
    "argv",
    [
        ("builds", "list", "--fake", "--limit", "60"),
        ("runs", "list", "--fake"),
        ("jobs", "list", "--fake"),
        ("builds", "stats", "--fake"),
    ],
)
def test_piped_output_has_no_trailing_spaces(cli: _Cli, argv: tuple[str, ...]) -> None:
    code, out, _ = cli(*argv, columns=None)
    assert code == 0 and out
    assert [line for line in out.splitlines() if line.endswith(" ")] == []


def test_piped_output_uses_columns(cli: _Cli) -> None:
    code, out, _ = cli("builds", "list", "--fake", "--limit", "60", columns=70)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 70


# ------------------------------------------------------------- output


def test_csv_writes_true_false_and_iso_times(cli: _Cli) -> None:
    code, out, _ = cli("builds", "list", "--fake", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["concluded"] for row in rows} <= {"true", "false"}
    assert {row["success"] for row in rows} <= {"true", "false", ""}
    for row in rows:
        assert datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")).tzinfo


def test_json_is_one_document_indented_alike(cli: _Cli) -> None:
    code, listing, _ = cli("builds", "list", "--fake", "--limit", "3", "--format", "json")
    assert code == 0
    items = json.loads(listing)
    assert listing == json.dumps(items, indent=2) + "\n"
    code, one, _ = cli("builds", "get", "--fake", "--build", items[0]["id"], "--format", "json")
    assert code == 0 and one == json.dumps(items[0], indent=2) + "\n"


def test_watch_updates_one_line_on_a_terminal(cli: _Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_on_virtual_clock(monkeypatch)
    terminal = _Tty()
    monkeypatch.setattr("sys.stdout", terminal)
    assert cli("builds", "start", "--fake", "--wait")[0] == 0
    shown = terminal.getvalue()
    assert shown.count("\n") == 1 and shown.endswith("\n")  # one line, rewritten
    assert shown.count("\r") >= 2 and "elapsed" in shown
    assert re.sub(r"\x1b\[[0-9;]*[mK]", "", shown.rsplit("\r", 1)[1]).split()[1] == "SUCCESS"


def test_watch_piped_prints_one_line_per_change(cli: _Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_on_virtual_clock(monkeypatch)
    code, out, _ = cli("builds", "start", "--fake", "--wait")
    assert code == 0
    statuses = [line.split()[1] for line in out.splitlines()[1:]]
    assert statuses[-1] == "SUCCESS" and "\r" not in out
    assert all(a != b for a, b in itertools.pairwise(statuses))


def test_monitor_events_carry_their_time(cli: _Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_on_virtual_clock(monkeypatch)
    code, out, _ = cli("monitor", "--fake", "--max-events", "2", "--format", "jsonl")
    assert code == 0
    for record in map(json.loads, out.splitlines()):
        assert datetime.fromisoformat(record["time"].replace("Z", "+00:00")).tzinfo
    code, out, _ = cli("monitor", "--fake", "--max-events", "1")
    header, line = out.splitlines()
    assert header.split()[0] == "TIME" and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line)


def test_handles_have_readable_reprs() -> None:
    nf = NorthflankClient("a-token")
    job = nf.job("p", "j", "t")
    shown = [repr(x) for x in (job.builds, job.runs, job.branches, nf.service("p", "s").builds)]
    assert shown == [
        "<ScopedBuilds project_id='p' job_id='j' team_id='t'>",
        "<ScopedRuns project_id='p' job_id='j' team_id='t'>",
        "<ScopedBranches project_id='p' job_id='j' team_id='t'>",
        "<ServiceBuilds project_id='p' service_id='s'>",
    ]
    assert "object at 0x" not in repr(nf.jobs.builds) and "a-token" not in "".join(shown)
