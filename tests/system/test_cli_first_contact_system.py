"""Issue 21, first contact: the console script as a separate process.

``northflank-async fake`` serving several commands, what ``--help`` imports, and the message
when the cli extra is missing. Each process runs what the console script runs
(``from northflank_async.cli import main; sys.exit(main())``) with this checkout importable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import northflank_async

pytestmark = pytest.mark.system

# Where `northflank_async` was imported from, so each process imports the same copy.
ROOT = str(Path(northflank_async.__file__).resolve().parent.parent)
SCRIPT = "import sys; from northflank_async.cli import main; sys.exit(main())"


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "120", **extra}
    for name in ("NORTHFLANK_API_TOKEN", "NF_API_TOKEN", "NORTHFLANK_API_BASE_URL"):
        if name not in extra:
            env.pop(name, None)
    return env


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=120,
    )


def test_the_fake_command_keeps_state_between_commands() -> None:
    """`fake` prints the two lines to export first; builds started are there for `get`."""
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "fake", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as fake:
        try:
            assert fake.stdout is not None and fake.stderr is not None
            first, second = fake.stdout.readline(), fake.stdout.readline()
            assert first.startswith("NORTHFLANK_API_BASE_URL=http://127.0.0.1:")
            assert second == "NORTHFLANK_API_TOKEN=nf-fake-token\n"
            env = _env(**dict(line.strip().split("=", 1) for line in (first, second)))
            job = ("--project", "demo-project", "--job", "nightly", "-o", "json")
            started = []
            for _ in range(2):
                done = _cli("builds", "start", *job, env=env)
                assert done.returncode == 0, done.stderr
                assert "fake API that lives for this command" not in done.stderr
                started.append(json.loads(done.stdout)["id"])
            assert started[0] != started[1]
            got = _cli("builds", "get", *job, "--build", started[0], env=env)
            assert got.returncode == 0, got.stderr
            assert json.loads(got.stdout)["id"] == started[0]
            listed = _cli("builds", "list", *job, "-n", "2", env=env)
            assert [b["id"] for b in json.loads(listed.stdout)] == started[::-1]
            fake.send_signal(signal.SIGTERM)
            _, err = fake.communicate(timeout=30)
        finally:
            if fake.poll() is None:
                fake.kill()
                fake.communicate()
    assert fake.returncode == 0
    assert "Traceback" not in err


def test_the_fake_command_refuses_a_host_beyond_this_machine() -> None:
    done = _cli("fake", "--host", "0.0.0.0")
    assert done.returncode == 2 and "loopback" in done.stderr


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["completion", "bash"], ["builds", "list", "--help"]]
)
def test_help_version_and_completion_import_neither_aiohttp_nor_the_client(
    argv: list[str],
) -> None:
    code = (
        "import sys, contextlib, io\n"
        "from northflank_async.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    status = main({argv!r})\n"
        "heavy = ('aiohttp', 'cattrs', 'northflank_async._api', 'northflank_async._engine',\n"
        "         'northflank_async._transport', 'northflank_async.testing')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)), status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] 0"


def test_without_the_cli_extra_the_script_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['rich'] = None  # as if not installed\n"
        "from northflank_async.cli import main\n"
        "sys.exit(main(['builds', 'list', '--fake']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.rstrip().endswith("pip install 'northflank-async[cli]'")
