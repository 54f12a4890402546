"""Issue 21, first contact: exit statuses by cause, help and flags, the cli extra.

Run through the CLI's entry function (``main``); each test names the "Why" bullet it guards.
"""

from __future__ import annotations

import re
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from northflank_async.cli import main

from .._support import ThreadedFake
from .._virtual import cli_on_virtual_clock

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------- exit statuses


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    with ThreadedFake() as threaded:
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", threaded.fake.token)
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", threaded.fake.base_url)
        threaded.call(lambda: threaded.fake.add_job("p", "j", builds=3))
        yield threaded


def _get(
    capsys: pytest.CaptureFixture[str], project: str = "p", build: str = "b-1"
) -> tuple[int, str]:
    code, _, err = _run(
        capsys, "builds", "get", "--project", project, "--job", "j", "--build", build
    )
    return code, err


@pytest.mark.usefixtures("served")
def test_a_typo_is_not_found_6(capsys: pytest.CaptureFixture[str]) -> None:
    assert _get(capsys, build="no-such-build")[0] == 6
    assert _get(capsys, project="no-such-project")[0] == 6  # a wrong project too


def test_a_bad_token_is_7_and_names_the_variables(
    served: ThreadedFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NORTHFLANK_API_TOKEN", "not-the-token")
    code, err = _get(capsys)
    assert code == 7
    assert err.count("\n") == 1 and "401" in err
    assert "NORTHFLANK_API_TOKEN" in err and "NF_API_TOKEN" in err and "not-the-token" not in err


def test_forbidden_is_7(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    served.call(lambda: served.fake.script(403))
    assert _get(capsys)[0] == 7


def test_a_rate_limit_is_8(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    served.call(lambda: served.fake.set_rate_limit(1))
    served.call(lambda: served.fake.add_build("p", "j"))
    assert _get(capsys, build="missing")[0] == 6  # spends the hour's one request
    code, err = _get(capsys)
    assert code == 8 and ("429" in err or "rate" in err.lower())


def test_an_unreachable_host_is_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_on_virtual_clock(monkeypatch)  # the retries' backoff takes no real time
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("NORTHFLANK_API_TOKEN", "a-token")
    monkeypatch.setenv("NORTHFLANK_API_BASE_URL", f"http://127.0.0.1:{port}")
    assert _get(capsys)[0] == 4


def test_the_statuses_are_documented_once_at_the_top(capsys: pytest.CaptureFixture[str]) -> None:
    code, top, _ = _run(capsys, "--help")
    assert code == 0
    for status, cause in ((6, "not found"), (7, "authentication"), (8, "rate limit")):
        assert re.search(rf"^  {status} +{cause}", top, re.MULTILINE), status


# ------------------------------------------------------------- help and flags


@pytest.mark.parametrize(
    "argv", [("builds", "list"), ("runs", "watch"), ("monitor",), ("jobs", "get"), ("fake",)]
)
def test_the_environment_block_is_not_repeated(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, text, _ = _run(capsys, *argv, "--help")
    assert code == 0
    assert not re.search("^exit statuses:$", text, re.MULTILINE) and "NO_COLOR" not in text
    assert text.rstrip().endswith(
        "environment variables and exit statuses: northflank-async --help"
    )


def test_monitor_has_a_description_and_format_help(capsys: pytest.CaptureFixture[str]) -> None:
    _, text, _ = _run(capsys, "monitor", "--help")
    description = text.split("\n\n")[1]
    assert description.startswith("print the build events")
    assert "one JSON object per event" in " ".join(text.split())


def test_builds_and_runs_watch_say_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    described = []
    for group in ("builds", "runs"):
        _, text, _ = _run(capsys, group, "watch", "--help")
        about = " ".join(text.split("\n\n")[1].split())
        described.append(about.replace(f"a {group[:-1]}'s", "an item's"))
    assert described[0] == described[1]


def test_short_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "builds", "list", "--fake", "-o", "jsonl", "-n", "3")
    assert code == 0 and len(out.splitlines()) == 3


def test_a_mistyped_command_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "builds", "lst")
    assert code == 2
    assert err.rstrip().endswith("did you mean: northflank-async builds list")
    code, _, err = _run(capsys, "bulids", "list")
    assert code == 2 and "did you mean: northflank-async builds" in err


def test_the_usage_line_shows_what_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    _, text, _ = _run(capsys, "builds", "get", "--help")
    usage = text.split("\n\n")[0]
    assert usage.startswith(
        "usage: northflank-async builds get --project ID (--job ID | --service ID) --build ID"
    )
    assert "northflank-async builds get --fake" in usage


def test_fish_completion(capsys: pytest.CaptureFixture[str]) -> None:
    code, script, _ = _run(capsys, "completion", "fish")
    assert code == 0
    assert "complete -c northflank-async" in script and "builds" in script


# ------------------------------------------------------------- packaging


def test_rich_and_shtab_are_the_cli_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=\[ ]", r, maxsplit=1)[0] for r in project["dependencies"]]
    assert "rich" not in names and "shtab" not in names
    cli = [re.split(r"[<>=\[ ]", r, maxsplit=1)[0] for r in project["optional-dependencies"]["cli"]]
    assert sorted(cli) == ["rich", "shtab"]
    readme = (ROOT / "README.md").read_text()
    assert "pip install -q -e '.[cli]'" in readme.split("```")[1]  # its first command
