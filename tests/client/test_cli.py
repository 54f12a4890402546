"""The command line, run in-process against the embedded fake (--fake)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from northflank_async.cli import main

from .._support import ThreadedFake


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    with ThreadedFake() as threaded:
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", threaded.fake.token)
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", threaded.fake.base_url)
        threaded.call(
            lambda: threaded.fake.add_job(
                "p",
                "j",
                builds=[
                    {"id": f"b-{status.lower()}", "status": status, "concluded": True}
                    for status in ("SUCCESS", "FAILURE", "ABORTED", "CRASHED", "SUBMISSION_FAILURE")
                ],
            )
        )
        yield threaded


def run(*args: str) -> int:
    return main(["builds", *args, "--project", "p", "--job", "j"])


def test_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    """A header and one aligned row per build."""
    assert main(["builds", "list", "--fake", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "BRANCH", "SHA", "CREATED", "DURATION"]
    assert len(lines) == 4
    status_column = lines[0].index("STATUS")
    assert all(line[status_column - 2 : status_column] == "  " for line in lines[1:])


def test_list_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """--format jsonl: one JSON object per line, with ISO datetimes, for jq."""
    assert main(["builds", "list", "--fake", "--limit", "120", "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 120
    assert len({row["id"] for row in rows}) == 120
    assert rows[0]["created_at"].endswith("Z")


def test_list_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    """--format json: one JSON list that json.loads (and python -m json.tool) reads whole."""
    assert main(["builds", "list", "--fake", "--limit", "120", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == 120
    assert len({row["id"] for row in rows}) == 120


def test_empty_listing_json_is_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    """No items is still one document."""
    assert main(["builds", "list", "--fake", "--limit", "0", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_get(capsys: pytest.CaptureFixture[str]) -> None:
    """get prints the one build asked for."""
    assert main(["builds", "list", "--fake", "--limit", "1", "--format", "json"]) == 0
    build_id = json.loads(capsys.readouterr().out)[0]["id"]
    assert main(["builds", "get", "--fake", "--build", build_id, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == build_id


def test_api_error_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """A 404 prints one clear line (after --fake's notice) and exits 6, no traceback."""
    assert main(["builds", "get", "--fake", "--build", "missing"]) == 6
    captured = capsys.readouterr()
    assert captured.out == ""
    notice, error = captured.err.strip().splitlines()
    assert "fake API that lives for this command" in notice
    assert error == (
        "northflank-async: error: 404 GET /v1/projects/demo-project/jobs/nightly/build/missing: "
        + error.split(": ", 3)[-1].strip()
    )
    assert "Traceback" not in captured.err


def test_missing_token(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a token the user is told how to set one: a usage error (2), not an API one."""
    monkeypatch.delenv("NORTHFLANK_API_TOKEN", raising=False)
    monkeypatch.delenv("NF_API_TOKEN", raising=False)
    assert main(["builds", "list", "--project", "p", "--job", "j"]) == 2
    assert "NORTHFLANK_API_TOKEN" in capsys.readouterr().err


def test_missing_ids_without_fake(capsys: pytest.CaptureFixture[str]) -> None:
    """--project and --job (for builds: or --service) are required against the real API."""
    assert main(["builds", "list"]) == 2
    assert "--project and --job or --service are required" in capsys.readouterr().err
    assert main(["runs", "list"]) == 2
    assert "--project and --job are required" in capsys.readouterr().err


def test_bad_per_page(capsys: pytest.CaptureFixture[str]) -> None:
    """Local validation errors are usage errors: one line, exit 2."""
    assert main(["builds", "list", "--fake", "--per-page", "500"]) == 2
    assert capsys.readouterr().err == "northflank-async: --per-page must be at most 100, got 500\n"


class TestUsageErrorsSendNothing:
    """Every caller-input error found before a request exits 2 with one line; 4 is for the API."""

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["abort", "--build", ".."], "--build '..' is not a valid id"),
            (["abort", "--build", "."], "--build '.' is not a valid id"),
            (["get", "--build", ".."], "--build '..' is not a valid id"),
            (["watch", "--build", "b-success", "--team", ".."], "--team '..' is not a valid id"),
            (["list", "--limit", "-1"], "--limit must be at least 0, got -1"),
            (["list", "--per-page", "0"], "--per-page must be at least 1, got 0"),
            (["watch", "--build", "b-success", "--timeout", "-1"], "--timeout must be at least 0"),
            (["watch", "--build", "b-success", "--timeout", "nan"], "--timeout must be a number"),
            (
                ["watch", "--build", "b-success", "--poll-interval", "inf"],
                "--poll-interval must be",
            ),
            (  # issue 18: no loop polls faster than MIN_POLL_INTERVAL
                ["watch", "--build", "b-success", "--poll-interval", "0.5"],
                "--poll-interval must be at least 1, got 0.5",
            ),
            (["start", "--wait", "--timeout", "-1"], "--timeout must be at least 0"),
            (["start", "--sha", "xyz"], "sha must be a 40-character hex commit id"),
        ],
    )
    def test_exit_2_and_no_request(
        self,
        served: ThreadedFake,
        capsys: pytest.CaptureFixture[str],
        args: list[str],
        message: str,
    ) -> None:
        """`builds abort --build ..` used to print "aborted .." and exit 0."""
        assert run(*args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"northflank-async: {message}")
        assert len(err.strip().splitlines()) == 1
        assert served.call(lambda: served.fake.request_count) == 0

    @pytest.mark.parametrize(
        ("variable", "value", "message"),
        [
            ("NORTHFLANK_API_BASE_URL", "http://api.example.com", "plain http"),
            ("NORTHFLANK_API_BASE_URL", "http://[::1", "cannot be parsed"),
            ("NORTHFLANK_API_TOKEN", "tok\nen", "control character"),
        ],
    )
    def test_bad_settings_exit_2(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        variable: str,
        value: str,
        message: str,
    ) -> None:
        """A ConfigurationError is the caller's to fix: exit 2, one line."""
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", "token")
        monkeypatch.setenv(variable, value)
        assert run("list") == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("virtual_cli")  # polls at least 1 s apart (MIN_POLL_INTERVAL)
class TestWatchExitCodes:
    @pytest.mark.parametrize(
        ("build", "code"),
        [("b-success", 0), ("b-failure", 1), ("b-crashed", 1), ("b-submission_failure", 1),
         ("b-aborted", 3)],
    )  # fmt: skip
    def test_concluded_builds(self, served: ThreadedFake, build: str, code: int) -> None:
        """A script can gate on the outcome."""
        assert run("watch", "--build", build, "--poll-interval", "1") == code

    def test_watch_started_build_that_fails(
        self, served: ThreadedFake, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each transition is printed as it happens; a failure exits 1."""
        started: dict[str, Any] = served.call(lambda: served.fake.add_build("p", "j"))
        served.call(lambda: served.fake.set_outcome(started["id"], "FAILURE"))
        assert (
            run("watch", "--build", started["id"], "--poll-interval", "1", "--format", "jsonl") == 1
        )
        statuses = [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()]
        assert statuses == ["PENDING", "STARTING", "CLONING", "BUILDING", "UPLOADING", "FAILURE"]

    def test_start_wait_success(
        self, served: ThreadedFake, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """start --wait starts, watches, and exits 0 on success."""
        sha = "ab" * 20
        assert (
            run("start", "--sha", sha, "--wait", "--poll-interval", "1", "--format", "jsonl") == 0
        )
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["status"] for r in rows] == [
            "QUEUED", "PENDING", "STARTING", "CLONING", "BUILDING", "UPLOADING", "SUCCESS"
        ]  # fmt: skip
        assert {r["sha"] for r in rows} == {sha}

    def test_abort_then_watch(self, served: ThreadedFake) -> None:
        """abort exits 0; watching the aborted build exits 3."""
        started: dict[str, Any] = served.call(lambda: served.fake.add_build("p", "j"))
        assert run("abort", "--build", started["id"]) == 0
        assert run("watch", "--build", started["id"], "--poll-interval", "1") == 3

    def test_timeout_exits_5(self, served: ThreadedFake) -> None:
        """A build that does not conclude in time exits 5."""
        served.call(lambda: served.fake.configure_builds(step=60.0))
        started: dict[str, Any] = served.call(lambda: served.fake.add_build("p", "j"))
        assert run("watch", "--build", started["id"], "--poll-interval", "1", "--timeout", "6") == 5

    def test_unknown_build_exits_6(self, served: ThreadedFake) -> None:
        """An API error is not a build outcome; not found has its own status."""
        assert run("watch", "--build", "nope", "--poll-interval", "1") == 6

    def test_bad_sha_exits_2_without_request(self, served: ThreadedFake) -> None:
        """Local validation happens before any request, and is a usage error."""
        assert run("start", "--sha", "xyz") == 2
        assert served.call(lambda: served.fake.request_count) == 0


class TestServices:
    """``--service`` where ``--job`` is accepted for builds: the same commands, a service's."""

    def test_list_and_start_a_services_builds(
        self, served: ThreadedFake, capsys: pytest.CaptureFixture[str]
    ) -> None:
        served.call(lambda: served.fake.add_service("p", "web", builds=3))
        assert (
            main(["builds", "list", "--project", "p", "--service", "web", "--format", "json"]) == 0
        )
        listed = json.loads(capsys.readouterr().out)
        assert [b["id"] for b in listed] == [
            b["id"] for b in served.fake.service_builds("p", "web")
        ]
        code = main(["builds", "start", "--project", "p", "--service", "web", "--branch", "dev"])
        assert code == 0
        started = served.fake.service_builds("p", "web")[0]
        assert started["branch"] == "dev"
        assert started["id"] in capsys.readouterr().out

    def test_a_job_and_a_service_together_are_refused(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["builds", "list", "--fake", "--job", "j", "--service", "s"]) == 2
        assert "not allowed with" in capsys.readouterr().err

    def test_the_fake_serves_a_demo_service(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["builds", "list", "--fake", "--service", "website", "--limit", "2"]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 3
