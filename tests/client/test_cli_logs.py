"""``builds logs`` and ``runs logs``: a range, or with --follow a live tail, against the fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from northflank_async._engine import log_streams as _log_streams
from northflank_async.cli import main

from .._support import ThreadedFake


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    # A tail reads the build's state after 5 s of quiet: a few ms here.
    monkeypatch.setattr(_log_streams, "CHECK_FIRST", 0.02)
    monkeypatch.setattr(_log_streams, "CHECK_CAP", 0.1)
    with ThreadedFake() as threaded:
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", threaded.fake.token)
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", threaded.fake.base_url)
        threaded.call(lambda: threaded.fake.add_job("p", "j", builds=12, runs=6))
        yield threaded


def run(*args: str) -> int:
    return main([*args, "--project", "p", "--job", "j"])


def text_line(line: dict[str, Any]) -> str:
    log = line["log"]
    text = log if isinstance(log, str) else json.dumps(log, separators=(",", ":"))
    return f"{line['ts']}  {line['containerId']}  {text}"


def concluded(served: ThreadedFake, status: str = "SUCCESS") -> str:
    builds = served.call(lambda: served.fake.builds("p", "j"))
    return str(next(b["id"] for b in builds if b["status"] == status))


def build_lines(served: ThreadedFake, build_id: str) -> list[dict[str, Any]]:
    return served.call(lambda: served.fake.build_logs("p", "j", build_id))


def test_range_text(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    build_id = concluded(served)
    assert run("builds", "logs", "--build", build_id) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [text_line(line) for line in build_lines(served, build_id)]


def test_range_jsonl_grep_limit(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    build_id = concluded(served)
    assert run("builds", "logs", "--build", build_id, "--format", "jsonl") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == build_lines(served, build_id)
    assert run("builds", "logs", "--build", build_id, "--grep", "Step", "--limit", "4") == 0
    out = capsys.readouterr().out.splitlines()
    steps = [line for line in build_lines(served, build_id) if "Step" in str(line["log"])]
    assert out == [text_line(line) for line in steps[:4]]


def test_since_is_the_apis_last_n_seconds(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    build_id = concluded(served)
    served.call(lambda: served.fake.add_log_lines("p", "j", build_id, ["a fresh line"]))
    assert run("builds", "logs", "--build", build_id, "--since", "10m") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith("a fresh line")
    assert len(out) < len(build_lines(served, build_id))
    query = served.call(lambda: served.fake.requests)[-1].query
    assert query["duration"] == "600" and "startTime" not in query


@pytest.mark.parametrize(("outcome", "status"), [("SUCCESS", 0), ("FAILURE", 1), ("ABORTED", 3)])
def test_follow_prints_live_lines_and_exits_as_watch(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str], outcome: str, status: int
) -> None:
    served.call(lambda: served.fake.configure_builds(step=0.15, outcome=outcome))
    assert run("builds", "start", "--format", "jsonl") == 0
    build_id = json.loads(capsys.readouterr().out)["id"]
    assert run("builds", "logs", "--build", build_id, "--follow") == status
    out = capsys.readouterr().out.splitlines()
    assert out == [text_line(line) for line in build_lines(served, build_id)]
    assert served.call(lambda: served.fake.tail_count) == 1


def test_follow_of_a_concluded_build_reads_it_whole(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    build_id = concluded(served, "FAILURE")
    assert run("builds", "logs", "--build", build_id, "--follow") == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [text_line(line) for line in build_lines(served, build_id)]
    assert served.call(lambda: served.fake.tail_count) == 0


def test_runs_logs(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    runs = served.call(lambda: served.fake.runs("p", "j"))
    run_id = next(r["id"] for r in runs if r["concluded"])
    assert run("runs", "logs", "--run", run_id, "--format", "jsonl") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == served.call(lambda: served.fake.run_logs("p", "j", run_id)) and rows
    served.call(lambda: served.fake.configure_runs(step=0.15))
    assert run("runs", "start", "--format", "jsonl") == 0
    live = json.loads(capsys.readouterr().out)["id"]
    assert run("runs", "logs", "--run", live, "--follow") == 0
    out = capsys.readouterr().out.splitlines()
    expected = served.call(lambda: served.fake.run_logs("p", "j", live))
    assert out == [text_line(line) for line in expected]


def test_token_in_no_output(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    build_id = concluded(served)
    run("builds", "logs", "--build", build_id, "--follow")
    run("builds", "logs", "--build", "no-such-build")
    earlier = capsys.readouterr()
    served.call(lambda: served.fake.script_tail("error_after:0"))
    served.call(lambda: served.fake.configure_builds(step=0.15))
    assert run("builds", "start", "--format", "jsonl") == 0
    live = json.loads(capsys.readouterr().out)["id"]
    assert run("builds", "logs", "--build", live, "--follow") == 4
    captured = capsys.readouterr()
    assert "log stream error" in captured.err
    token = served.fake.token
    for text in (earlier.out, earlier.err, captured.out, captured.err):
        assert token not in text
    assert "Build not found" in earlier.err


@pytest.mark.parametrize(
    "extra", [["--grep", ""], ["--since", "0m"], ["--since", "ten"], ["--limit", "-1"]]
)
def test_usage_errors(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    assert run("builds", "logs", "--build", concluded(served), *extra) == 2
    assert served.call(lambda: served.fake.requests) == [] or extra[0] == "--grep"
    assert capsys.readouterr().out == ""


def test_fake(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["builds", "list", "--fake", "--limit", "1", "--format", "jsonl"]) == 0
    build_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["builds", "logs", "--fake", "--build", build_id, "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) > 10 and all(set(row) == {"ts", "containerId", "log"} for row in rows)
    assert main(["builds", "logs", "--fake", "--build", build_id, "--follow"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(rows)
