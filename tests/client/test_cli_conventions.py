"""Command-line conventions: exit statuses, --version, help, formats, width, colour, progress."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from northflank_async import __version__
from northflank_async.cli import main

from .._support import ThreadedFake

COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-7]|9[0-7]|38;)")
ANSI = re.compile(r"\x1b\[")
J = ["--project", "p", "--job", "j"]


class _Tty(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    with ThreadedFake() as threaded:
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", threaded.fake.token)
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", threaded.fake.base_url)
        threaded.call(lambda: threaded.fake.add_job("p", "j", builds=12, runs=3))
        yield threaded


def requests(served: ThreadedFake) -> int:
    return served.call(lambda: served.fake.request_count)


class TestUsage:
    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the version and exits 0 (it used to demand a command: exit 2)."""
        assert main(["--version"]) == 0
        assert capsys.readouterr().out.strip() == f"northflank-async {__version__}"

    def test_help_lists_environment_and_exit_statuses(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--help names every variable read, and never prints a None default."""
        assert main(["--help"]) == 0
        top = capsys.readouterr().out
        assert main(["builds", "list", "--help"]) == 0
        sub = capsys.readouterr().out
        for text in (top,):  # issue 21: the block is shown once, at the top
            for variable in ("NORTHFLANK_API_TOKEN", "NF_API_TOKEN", "NORTHFLANK_API_BASE_URL"):
                assert variable in text
            assert "NO_COLOR" in text and "130" in text
        assert "northflank-async --help" in sub
        assert "None" not in sub
        assert "one JSON document" in " ".join(sub.split())  # --format has help

    def test_missing_token_hint_is_for_the_cli(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No Python-only hint (NorthflankClient(token=...)) for a shell user."""
        monkeypatch.delenv("NORTHFLANK_API_TOKEN", raising=False)
        monkeypatch.delenv("NF_API_TOKEN", raising=False)
        assert main(["runs", "list", "--project", "p", "--job", "j"]) == 2
        err = capsys.readouterr().err
        assert "NORTHFLANK_API_TOKEN" in err and "--fake" in err
        assert "NorthflankClient" not in err

    @pytest.mark.parametrize(
        "args",
        [
            ["builds", "list", *J, "--limit", "-1"],
            ["builds", "list", *J, "--per-page", "500"],
            ["builds", "list", *J, "--limit", "x"],
            ["builds", "list", *J, "--format", "yaml"],
            ["builds", "list", "--project", "p"],
            ["builds", "watch", *J, "--build", "b", "--timeout", "-1"],
            ["builds", "start", *J, "--sha", "ab" * 20, "--branch", "main"],
            ["builds", "start", *J, "--branch", ""],
            ["builds", "follow", *J, "--since", ".."],
            ["builds", "follow", *J, "--since", "2024-01-01T00:00:00"],
            ["builds", "follow", *J, "--limit", "-2"],
            ["builds", "stats", *J, "--last", "0"],
            ["builds", "stats", *J, "--format", "csv"],
            ["runs", "get", *J, "--run", ".."],
            ["runs", "start", *J, "--build", "b", "--sha", "ab" * 20],
            ["runs", "start", *J, "--sha", "nope"],
            ["runs", "watch", *J, "--run", "r", "--poll-interval", "nan"],
            ["runs", "list", *J, "--per-page", "0"],
            ["jobs", "list", "--project", "p", "--limit", "-5"],
            ["jobs", "list"],
            ["jobs", "get", "--project", "p", "--job", ".."],
            ["builds", "frobnicate", *J],
            [],
        ],
    )
    def test_every_usage_error_exits_2_and_sends_nothing(
        self, served: ThreadedFake, args: list[str]
    ) -> None:
        """2 is for every usage error, found before any request (4 is for the API)."""
        assert main(args) == 2
        assert requests(served) == 0

    def test_insecure_base_url_exits_2(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A plain-http base URL is a setting to fix, not an API failure."""
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", "t")
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", "http://api.example.com")
        assert main(["jobs", "list", "--project", "p"]) == 2
        assert "plain http" in capsys.readouterr().err


class TestFormats:
    def test_single_item_json_is_one_object(self, capsys: pytest.CaptureFixture[str]) -> None:
        """get --format json: one object, parsed whole."""
        assert main(["jobs", "get", "--fake", "--format", "json"]) == 0
        job = json.loads(capsys.readouterr().out)
        assert job["id"] == "nightly" and job["job_type"] == "manual"

    def test_csv_has_header_and_rows(self, capsys: pytest.CaptureFixture[str]) -> None:
        """csv: a header naming every field (nested ones dotted), one row per build."""
        assert main(["builds", "list", "--fake", "--limit", "7", "--format", "csv"]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert len(rows) == 7
        assert {"id", "status", "created_at", "registry.uri"} <= set(rows[0])
        assert all(row["created_at"].endswith("Z") for row in rows)

    def test_table_fits_60_columns(
        self,
        served: ThreadedFake,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """At 60 columns no row is longer than 60, a long branch is cut with an ellipsis, and
        the STATUS column starts at the same place on every row."""
        long_branch = "feature/" + "x" * 80
        served.call(
            lambda: served.fake.add_build("p", "j", branch=long_branch, status="SUCCESS",
                                          concluded=True)
        )  # fmt: skip
        monkeypatch.setenv("COLUMNS", "60")
        assert main(["builds", "list", "--project", "p", "--job", "j"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 14  # header + 13 builds: none wrapped
        assert max(len(line) for line in lines) <= 60
        assert "…" in lines[1] and long_branch not in lines[1]
        start = lines[0].index("STATUS")
        assert all(line[start - 2 : start] == "  " and line[start] != " " for line in lines)

    @pytest.mark.usefixtures("virtual_cli")  # polls at least 1 s apart, in no real time
    def test_streamed_table_fits_60_columns(
        self,
        served: ThreadedFake,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """watch prints rows as they come, in planned widths that fit too."""
        monkeypatch.setenv("COLUMNS", "60")
        sha = "cd" * 20
        assert main(["builds", "start", "--project", "p", "--job", "j", "--sha", sha, "--wait",
                     "--poll-interval", "1"]) == 0  # fmt: skip
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 8  # header + QUEUED..UPLOADING + SUCCESS
        assert max(len(line) for line in lines) <= 60


class TestColour:
    def run_on_tty(self, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
        out = _Tty()
        monkeypatch.setattr(sys, "stdout", out)
        assert main(["builds", "list", "--fake", "--limit", "30", *args]) == 0
        return out.getvalue()

    def test_statuses_coloured_on_a_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """On a terminal the statuses are coloured (the control for the two tests below)."""
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setenv("TERM", "xterm-256color")
        assert COLOUR.search(self.run_on_tty(monkeypatch))

    def test_no_color_respected(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """NO_COLOR=1: no colour, even on a terminal."""
        monkeypatch.setenv("NO_COLOR", "1")
        monkeypatch.setenv("TERM", "xterm-256color")
        assert not COLOUR.search(self.run_on_tty(monkeypatch))

    def test_no_escape_codes_when_piped(self, capsys: pytest.CaptureFixture[str]) -> None:
        """stdout not a terminal: plain text, not one escape code."""
        assert main(["builds", "list", "--fake", "--limit", "30"]) == 0
        assert not ANSI.search(capsys.readouterr().out)


class TestProgress:
    def test_progress_on_a_terminal_stderr(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A long listing shows a progress line on stderr when stderr is a terminal."""
        err = _Tty()
        monkeypatch.setattr(sys, "stderr", err)
        assert main(["builds", "list", "--fake", "--format", "jsonl"]) == 0
        assert "fetching builds" in err.getvalue()

    def test_never_when_stderr_is_not_a_terminal(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Piped or captured stderr: not a byte of progress."""
        assert main(["builds", "list", "--fake", "--format", "jsonl"]) == 0
        assert "fetching" not in capsys.readouterr().err  # issue 21: notes, but no progress


class TestCompletion:
    @pytest.mark.parametrize("shell", ["bash", "zsh"])
    def test_completion_script(self, shell: str, capsys: pytest.CaptureFixture[str]) -> None:
        """The script knows the commands and their options."""
        assert main(["completion", shell]) == 0
        script = capsys.readouterr().out
        for word in ("builds", "runs", "jobs", "stats", "follow", "--per-page", "--format"):
            assert word in script


class TestNewCommandsAgainstTheFake:
    @pytest.mark.parametrize(
        "args",
        [
            ["runs", "list", "--limit", "3"],
            ["jobs", "list"],
            ["jobs", "get"],
            ["builds", "stats", "--last", "40"],
        ],
    )
    def test_fake_mode(self, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        """Every new command works with --fake, json output included."""
        assert main([*args, "--fake", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)

    @pytest.mark.usefixtures("virtual_cli")  # polls at least 1 s apart, in no real time
    def test_runs_through_the_api(
        self, served: ThreadedFake, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """runs list/get/start/abort/watch against a served fake."""
        where = ["--project", "p", "--job", "j", "--format", "json"]
        assert main(["runs", "list", *where]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert len(listed) == 3
        assert main(["runs", "get", "--run", listed[0]["id"], *where]) == 0
        assert json.loads(capsys.readouterr().out)["id"] == listed[0]["id"]

        build_id = served.call(lambda: served.fake.builds("p", "j")[0]["id"])
        assert main(["runs", "start", "--build", build_id, *where]) == 0
        started = json.loads(capsys.readouterr().out)["id"]
        deployment = served.call(lambda: served.fake.run_deployment("p", "j", started))
        assert deployment == {"internal": {"buildId": build_id}}
        assert main(["runs", "abort", "--run", started, *where]) == 0
        assert capsys.readouterr().err == f"northflank-async: aborted {started}\n"

        served.call(lambda: served.fake.configure_runs(outcome="FAILED"))
        code = main(["runs", "start", "--wait", "--poll-interval", "1", *where[:-1], "jsonl"])
        assert code == 1  # a failed run exits 1
        statuses = [json.loads(x)["status"] for x in capsys.readouterr().out.splitlines()]
        assert statuses[-1] == "FAILED"

    @pytest.mark.usefixtures("virtual_cli")  # polls at least 1 s apart, in no real time
    def test_runs_watch_success(self, served: ThreadedFake) -> None:
        """watch exits 0 when the run succeeds."""
        run: dict[str, Any] = served.call(lambda: served.fake.add_run("p", "j"))
        assert main(["runs", "watch", "--run", run["id"], "--project", "p", "--job", "j",
                     "--poll-interval", "1"]) == 0  # fmt: skip

    def test_jobs_through_the_api(
        self, served: ThreadedFake, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """jobs list needs only --project; jobs get one job."""
        assert main(["jobs", "list", "--project", "p", "--format", "jsonl"]) == 0
        assert [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()] == ["j"]
        assert main(["jobs", "get", "--project", "p", "--job", "j", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["project_id"] == "p"

    def test_start_branch_builds_its_head(
        self, served: ThreadedFake, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """builds start --branch NAME builds that branch's head commit."""
        head = served.call(lambda: served.fake.branch_head("p", "j", "develop"))
        assert main(["builds", "start", "--branch", "develop", "--project", "p", "--job", "j",
                     "--format", "json"]) == 0  # fmt: skip
        assert json.loads(capsys.readouterr().out)["sha"] == head

    def test_start_unknown_branch_exits_2(
        self, served: ThreadedFake, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unknown branch is the caller's mistake, and no build is started."""
        before = len(served.call(lambda: served.fake.builds("p", "j")))
        assert main(["builds", "start", "--branch", "nope", "--project", "p", "--job", "j"]) == 2
        assert "no branch named 'nope'" in capsys.readouterr().err
        assert len(served.call(lambda: served.fake.builds("p", "j"))) == before

    @pytest.mark.usefixtures("virtual_cli")  # polls at least 1 s apart, in no real time
    def test_follow_prints_new_builds_oldest_first(
        self, served: ThreadedFake, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """follow --since ID prints the builds after it, oldest first; --limit ends it (0)."""
        builds = served.call(lambda: served.fake.builds("p", "j"))
        since = builds[3]["id"]
        assert main(["builds", "follow", "--since", since, "--limit", "3", "--poll-interval",
                     "1", "--project", "p", "--job", "j", "--format", "jsonl"]) == 0  # fmt: skip
        ids = [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()]
        assert ids == [builds[2]["id"], builds[1]["id"], builds[0]["id"]]
