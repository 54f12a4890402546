"""`northflank-async monitor`: events of several jobs as they happen, and its usage errors."""

from __future__ import annotations

import json

import pytest

from northflank_async.cli import main


def test_monitor_reports_each_outcome_once(capsys: pytest.CaptureFixture[str]) -> None:
    """Two demo jobs whose builds conclude on their own: created before concluded, each once."""
    # --max-events (hidden) ends the run; the --fake demo polls at a demo pace.
    assert main(["monitor", "--fake", "--format", "jsonl", "--max-events", "12"]) == 0
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 12
    seen: dict[str, list[str]] = {}
    for event in events:
        assert event["job_id"] in ("nightly", "tests")
        seen.setdefault(event["build_id"], []).append(event["kind"])
    for kinds in seen.values():
        assert kinds[0] == "created"
        assert kinds.count("created") == 1 and kinds.count("concluded") <= 1
        if "concluded" in kinds:
            assert kinds[-1] == "concluded"
    assert "requests sent" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["monitor", "--project", "p"],  # no job
        ["monitor", "--project", "p", "--job", ".."],
        ["monitor", "--project", "p", "--job", "j", "--budget", "0"],
        ["monitor", "--project", "p", "--job", "j", "--group", "g"],  # --group needs --redis
    ],
)
def test_monitor_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad arguments are refused before anything is sent."""
    monkeypatch.setenv("NORTHFLANK_API_TOKEN", "t")
    monkeypatch.setenv("NORTHFLANK_API_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("northflank-async: ") and len(err.splitlines()) == 1
