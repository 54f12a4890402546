"""Issue 20, point 7: ``northflank-async webhooks serve`` as a user runs it, in its own process,
receiving a real POST on loopback and stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import northflank_async

pytestmark = pytest.mark.system

ROOT = str(Path(northflank_async.__file__).resolve().parent.parent)
SECRET = "a-process-secret-0123456789abcdef"
OLD = "the-old-one-0123456789"
# A shell that starts a job in the background makes it ignore SIGINT: restore Ctrl-C's default.
SCRIPT = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from northflank_async.cli import main\n"
    "sys.exit(main(sys.argv[1:]))"
)
BODY = {
    "event": "build:success",
    "data": {
        "build": {"id": "brave-fox-1234", "status": "SUCCESS", "concluded": True},
        "job": {"id": "nightly", "name": "Nightly"},
        "project": {"id": "demo", "name": "Demo"},
    },
}


def _post(url: str, token: str, event_id: str) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(BODY).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Northflank-Notification-Token": token,
            "X-Northflank-Notification-Event-Id": event_id,
            "X-Northflank-Notification-Event-Type": "build:success",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_serve_receives_one_post_prints_it_and_exits_130_on_ctrl_c() -> None:
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "PYTHONUNBUFFERED": "1",
        "NORTHFLANK_WEBHOOK_SECRET": f"{SECRET},{OLD}",
    }
    argv = ["webhooks", "serve", "--port", "0", "--path", "/northflank", "-o", "jsonl"]
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None and process.stderr is not None
            first = process.stderr.readline()
            assert first.startswith("northflank-async: register http://127.0.0.1:"), first
            url = first.split()[2]
            assert url.endswith("/northflank")
            assert _post(url, "not-the-secret", "e-0") == 401  # refused: nothing printed
            assert _post(url, OLD, "e-1") == 200  # the old secret passes while rotating
            assert _post(url, SECRET, "e-1") == 200  # a resend: answered, printed once
            line = json.loads(process.stdout.readline())
            process.send_signal(signal.SIGINT)
            rest, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130
    assert rest == ""  # the resend was not printed again
    assert line["kind"] == "build:success" and line["event_id"] == "e-1"
    assert line["build_id"] == "brave-fox-1234" and line["status"] == "SUCCESS"
    assert line["job_id"] == "nightly" and line["project_id"] == "demo"
    assert "Traceback" not in err and "Unclosed" not in err
    for secret in (SECRET, OLD):
        assert secret not in first + err + rest + json.dumps(line)


@pytest.mark.parametrize(
    "argv",
    [
        ["webhooks", "serve", "--help"],
        ["notifications", "create", "--help"],
        ["notifications", "list", "--help"],
        ["monitor", "--help"],
    ],
)
def test_the_new_commands_help_imports_neither_aiohttp_nor_the_client(argv: list[str]) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from northflank_async.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    status = main({argv!r})\n"
        "heavy = ('aiohttp', 'cattrs', 'northflank_async._api', 'northflank_async._engine',\n"
        "         'northflank_async._transport', 'northflank_async.testing')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)), status)\n"
    )
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] 0"
