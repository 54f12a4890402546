"""`northflank-async monitor`: events of several jobs as they happen, and its usage errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

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


def test_monitor_ctrl_c_exits_130_without_traceback() -> None:
    """SIGINT ends `monitor --fake` with status 130, no traceback, its spend reported."""
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from northflank_async.cli import main\n"
        "raise SystemExit(main(['monitor', '--fake', '--format', 'jsonl']))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            first = json.loads(process.stdout.readline())  # the monitor is up and reporting
            assert first["kind"] in ("created", "status", "concluded")
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130
    assert "Traceback" not in err
