"""Issue 20, point 7: ``webhooks serve`` and ``notifications list|get|create|delete`` from
the command line, through its entry function (``main``).

The demo fake's deliveries run on the virtual clock (``guarded``, in `_cli_webhooks`). The
hybrid monitor's command is in test_cli_webhooks_monitor.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from northflank_async import WebhookReceiver
from northflank_async.cli import demo, main
from northflank_async.cli.webhooks import SECRET_VARIABLE, event_line, webhook_secrets

from .._support import ThreadedFake
from ._cli_webhooks import OLD_SECRET, SECRET, guarded  # noqa: F401  (a fixture)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ webhooks serve


@pytest.mark.usefixtures("guarded")
def test_serve_fake_prints_each_build_start_and_end_unpolled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's builds are told by notifications alone (nothing polls the fake): each
    build's end arrives too, after its start. Before the demo's clock followed the loop's,
    the fake's pump never ran and no end left unless something polled."""
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    code, out, err = _run(
        capsys, "webhooks", "serve", "--fake", "-o", "jsonl", "--max-events", "24"
    )
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 24
    kinds: dict[str, list[str]] = {}
    for event in events:
        assert event["project_id"] == "demo-project" and event["job_id"] in demo.DEMO_JOBS
        assert event["integration_id"] == "fake-hook-1"
        kinds.setdefault(event["build_id"], []).append(event["kind"])
    ends = [k for k in kinds.values() if k[-1] in ("build:success", "build:failure")]
    assert ends, kinds
    for told in kinds.values():
        assert told[0] == "build:start" and len(told) == len(set(told))
    assert "register http://127.0.0.1:" in err
    assert SECRET not in out + err


@pytest.mark.usefixtures("guarded")
def test_serve_table_has_a_header_and_one_line_per_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No secret set, with --fake: a random one is made for the demo (never shown)."""
    code, out, err = _run(capsys, "webhooks", "serve", "--fake", "--max-events", "3")
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split() == ["TIME", "EVENT", "PROJECT", "JOB/SERVICE", "ID", "STATUS"]
    assert len(lines) == 3
    assert all(line.split()[1] == "build:start" for line in lines)
    assert "register" in err


def test_serve_without_a_secret_is_a_usage_error_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    code, out, err = _run(capsys, "webhooks", "serve", "--port", "0")
    assert code == 2 and out == ""
    assert SECRET_VARIABLE in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--path", "hooks"],  # no leading /
        ["--path", "/a?b"],
        ["--port", "70000"],
        ["--port", "x"],
        ["--format", "csv"],
        ["--secret", SECRET],  # there is no such option: never a secret in `ps`
    ],
)
def test_serve_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    code, out, err = _run(capsys, "webhooks", "serve", *argv)
    assert code == 2 and out == ""
    assert SECRET not in err or argv == ["--secret", SECRET]  # argparse echoes what it refused


def test_a_port_taken_is_one_line_and_exit_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, out, err = _run(capsys, "webhooks", "serve", "--port", port)
    assert code == 4 and out == ""
    assert (
        err.startswith("northflank-async: cannot listen on 127.0.0.1:") and "Traceback" not in err
    )
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (SECRET, [SECRET]),
        (f" {SECRET} , {OLD_SECRET} ,, ", [SECRET, OLD_SECRET]),  # rotation: new, old
        (" , ", []),
    ],
)
def test_secrets_are_comma_separated_blanks_ignored(
    value: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, value)
    assert webhook_secrets(required=False) == expected


def _event(body: dict[str, Any], kind: str = "build:success") -> Any:
    receiver = WebhookReceiver(SECRET)
    headers = {
        "x-northflank-notification-token": SECRET,
        "x-northflank-notification-event-id": "e-1",
        "x-northflank-notification-event-type": kind,
    }
    return receiver.parse(headers, json.dumps({"event": kind, "data": body}).encode())


def test_a_line_shows_what_the_sender_wrote_never_obeys_it() -> None:
    """Ids and statuses are the sender's: control characters are shown as escapes."""
    evil = "\x1b]0;pwned\x07\r\u202e"
    event = _event(
        {
            "build": {"id": "b" + evil, "status": "SUCCESS" + evil, "concluded": True},
            "job": {"id": "job" + evil},
            "project": {"id": "p" + evil},
        }
    )
    line = event_line(event, "table")
    assert not any(ord(c) < 32 or c == "\u202e" for c in line)
    record = json.loads(event_line(event, "jsonl"))
    assert record["build_id"] == "b" + evil and record["job_id"] == "job" + evil


def test_an_event_of_a_kind_unknown_has_a_line_too() -> None:
    event = _event({"backup": {"id": "x"}}, kind="backup:success")
    assert event_line(event, "table").split()[1:] == ["backup:success", "-", "-", "-", "-"]
    assert json.loads(event_line(event, "jsonl"))["status"] is None


@pytest.mark.usefixtures("guarded")
def test_the_secret_is_in_no_output_and_no_log_record(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, f"{SECRET},{OLD_SECRET}")
    with caplog.at_level(logging.DEBUG):
        for fmt in ("table", "jsonl"):
            code, out, err = _run(
                capsys, "webhooks", "serve", "--fake", "-o", fmt, "--max-events", "4"
            )
            assert code == 0
            assert SECRET not in out + err and OLD_SECRET not in out + err
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert SECRET not in logged and OLD_SECRET not in logged


# ------------------------------------------------------------------ notifications


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    """A fake on its own thread, which the CLI reaches through the environment."""
    with ThreadedFake() as threaded:
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", threaded.fake.token)
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", threaded.fake.base_url)
        monkeypatch.delenv(SECRET_VARIABLE, raising=False)
        yield threaded


def test_notifications_list_and_get_fake(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo account has an integration: listed, and shown with its events."""
    code, out, _ = _run(capsys, "notifications", "list", "--fake")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "TYPE", "STATUS"]
    assert row.split()[:5] == ["team-chat", "Team", "chat", "DISCORD", "active"]
    code, out, _ = _run(
        capsys, "notifications", "get", "--fake", "--integration", "team-chat", "-o", "json"
    )
    assert code == 0
    shown = json.loads(out)
    assert shown["events"] == ["build:failure", "job-run:failure"] and shown["type"] == "DISCORD"


def test_notifications_list_is_bounded(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(5):
        served.call(partial(served.fake.add_notification_integration, f"https://h.example/{n}"))
    code, out, err = _run(capsys, "notifications", "list", "-n", "3", "-o", "jsonl")
    assert code == 0 and len(out.splitlines()) == 3
    assert "there are more" in err
    code, out, _ = _run(capsys, "notifications", "list", "--all", "--per-page", "2", "-o", "csv")
    assert code == 0 and len(out.splitlines()) == 6  # a header and 5 rows, over 3 pages


def _create_bodies(served: ThreadedFake) -> list[Any]:
    requests = served.call(lambda: served.fake.requests)
    return [r.body for r in requests if r.method == "POST" and r.path.endswith("/notifications")]


def test_notifications_create_sends_the_first_secret_and_prints_none(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new secret (the first while rotating) goes to the API, and nowhere else."""
    monkeypatch.setenv(SECRET_VARIABLE, f"{SECRET},{OLD_SECRET}")
    for fmt in ("table", "json", "jsonl", "csv"):
        argv = ["notifications", "create", f"Hook {fmt}", "--webhook", "https://h.example.com/nf"]
        argv += ["--event", "build:failure", "--event", "trigger:build:success"]
        code, out, err = _run(capsys, *argv, "--project", "p", "-o", fmt)
        assert code == 0, err
        assert f"hook-{fmt}" in out
        assert SECRET not in out + err and OLD_SECRET not in out + err
    bodies = _create_bodies(served)
    assert [body["secret"] for body in bodies] == [SECRET] * 4
    record = served.call(lambda: served.fake.notification_integration("hook-csv"))
    assert record["projects"] == ["p"] and record["restricted"] is True
    assert {k for k, v in record["events"].items() if v} == {
        "trigger:build:failure",
        "trigger:build:success",
    }


def test_notifications_create_without_a_secret_says_so(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys, "notifications", "create", "No secret", "--webhook", "https://h.example/x"
    )
    assert code == 0 and "no-secret" in out
    assert f"{SECRET_VARIABLE} is unset" in err
    assert "secret" not in _create_bodies(served)[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["1 bad name", "--webhook", "https://h.example/x"],
        ["Good name", "--webhook", "not a url"],
        ["Good name", "--webhook", "https://h.example/x", "--event", "nonsense"],
        ["Good name", "--webhook", "https://h.example/x", "--project", ".."],
        ["Good name"],  # no --webhook
    ],
)
def test_notifications_create_refuses_bad_input_before_a_request(
    argv: list[str], served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    before = served.call(lambda: served.fake.request_count)
    code, out, _ = _run(capsys, "notifications", "create", *argv)
    assert code == 2 and out == ""
    assert served.call(lambda: served.fake.request_count) == before


def test_notifications_delete_and_a_missing_one(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    served.call(
        lambda: served.fake.add_notification_integration("https://h.example/x", name="Gone soon")
    )
    code, _, err = _run(capsys, "notifications", "delete", "--integration", "gone-soon")
    assert code == 0 and "deleted gone-soon" in err
    code, _, err = _run(capsys, "notifications", "get", "--integration", "gone-soon")
    assert code == 6 and "404" in err


def test_notifications_need_a_token_not_a_project(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NORTHFLANK_API_TOKEN", "NF_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = _run(capsys, "notifications", "list")
    assert code == 2 and "no API token" in err and "--project" not in err
    code, _, err = _run(capsys, "notifications", "get")
    assert code == 2  # --integration is required
