"""Issue 20, point 7: ``monitor --webhooks-port``, the hybrid monitor from the command line,
through its entry function (``main``), the demo fake's deliveries on the virtual clock."""

from __future__ import annotations

import json
import socket

import pytest

from northflank_async.cli import main
from northflank_async.cli.webhooks import SECRET_VARIABLE

from ._cli_webhooks import SECRET, guarded  # noqa: F401  (a fixture)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ monitor --webhooks-port


def _requests_sent(err: str) -> int:
    line = next(line for line in err.splitlines() if line.startswith("monitor: "))
    return int(line.split()[1])


@pytest.mark.usefixtures("guarded")
def test_hybrid_monitor_fake_tells_each_outcome_once_for_fewer_requests(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo fake sends to the monitor's receiver: the same events, each once, created
    before concluded, for fewer polls than the pull monitor spends on as many events."""
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    argv = ["monitor", "--fake", "--format", "jsonl", "--max-events", "16"]
    code, out, err = _run(capsys, *argv, "--webhooks-port", "0", "--reconcile", "600")
    assert code == 0, err
    assert "register http://127.0.0.1:" in err and SECRET not in out + err
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 16
    seen: dict[str, list[str]] = {}
    for event in events:
        seen.setdefault(event["build_id"], []).append(event["kind"])
    assert any("concluded" in kinds for kinds in seen.values())
    for kinds in seen.values():
        assert kinds[0] == "created" and kinds.count("created") == 1
        assert kinds.count("concluded") <= 1 and kinds[-1] in ("created", "status", "concluded")
        if "concluded" in kinds:
            assert kinds[-1] == "concluded"
    hybrid = _requests_sent(err)
    code, _, err = _run(capsys, *argv)  # the pull monitor, for as many events
    assert code == 0
    assert hybrid < _requests_sent(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["--reconcile", "60"],  # needs --webhooks-port
        ["--webhooks-host", "0.0.0.0"],  # needs --webhooks-port
        ["--webhooks-port", "0", "--reconcile", "0.5"],  # below the 1 s floor
        ["--webhooks-port", "0", "--redis", "redis://127.0.0.1:9", "--group", "g"],
        ["--webhooks-port", "70000"],
    ],
)
def test_hybrid_monitor_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NORTHFLANK_API_TOKEN", "t")
    monkeypatch.setenv("NORTHFLANK_API_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    code, out, err = _run(capsys, "monitor", "--project", "p", "--job", "j", *argv)
    assert code == 2 and out == "" and SECRET not in err


def test_hybrid_monitor_needs_the_secret_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NORTHFLANK_API_TOKEN", "t")
    monkeypatch.setenv("NORTHFLANK_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    argv = ["monitor", "--project", "p", "--job", "j", "--webhooks-port", "0"]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and SECRET_VARIABLE in err


def test_hybrid_monitor_port_taken_is_exit_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, _, err = _run(capsys, "monitor", "--fake", "--webhooks-port", port)
    assert code == 4 and "cannot listen on 127.0.0.1:" in err and "Traceback" not in err
