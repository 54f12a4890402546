"""The command line as a user runs it: its own process, piped to a tool, stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from northflank_async.cli import main


def test_follow_ctrl_c_exits_130_without_traceback() -> None:
    """SIGINT (Ctrl-C) ends `builds follow` with status 130 and no traceback."""
    # A shell that starts a job in the background makes it ignore SIGINT, and Python then
    # installs no KeyboardInterrupt handler: the child restores the terminal's default, so the
    # test sees what a user's Ctrl-C does however the suite itself was started.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from northflank_async.cli import main\n"
        "raise SystemExit(main(['builds', 'follow', '--fake', '--poll-interval', '1']))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:  # fmt: skip
        try:
            assert process.stderr is not None
            # The follower says it is following once its client is up; then it is interrupted.
            process.stderr.readline()  # --fake's notice comes first
            first = process.stderr.readline()
            assert "following builds of demo-project/nightly" in first
            time.sleep(0.3)  # a few polls in: not needed for correctness, only realism
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130
    assert "Traceback" not in err
    assert "Unclosed" not in err


class TestFormats:
    def test_json_tool_parses_listing(self) -> None:
        """The acceptance check as a user runs it: `... --format json | python -m json.tool`."""
        listing = subprocess.run(
            [sys.executable, "-c", "from northflank_async.cli import main; raise SystemExit("
             "main(['runs', 'list', '--fake', '--limit', '5', '--format', 'json']))"],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        tool = subprocess.run(
            [sys.executable, "-m", "json.tool"],
            input=listing.stdout, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert tool.returncode == 0, tool.stderr
        assert len(json.loads(tool.stdout)) == 5


class TestCompletion:
    def test_bash_script_is_valid_bash(self, capsys: pytest.CaptureFixture[str]) -> None:
        """bash -n accepts it."""
        assert main(["completion", "bash"]) == 0
        checked = subprocess.run(
            ["bash", "-n"], input=capsys.readouterr().out, text=True, capture_output=True,
            timeout=30,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr


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
