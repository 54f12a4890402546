"""The command line, run in-process against the embedded fake (--fake)."""

from __future__ import annotations

import json

import pytest

from northflank_async._cli import main


def test_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    """A header and one aligned row per build."""
    assert main(["builds", "list", "--fake", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "BRANCH", "SHA", "CREATED"]
    assert len(lines) == 4
    status_column = lines[0].index("STATUS")
    assert all(line[status_column - 2 : status_column] == "  " for line in lines[1:])


def test_list_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """One JSON object per line, with ISO datetimes, for jq."""
    assert main(["builds", "list", "--fake", "--limit", "120", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 120
    assert len({row["id"] for row in rows}) == 120
    assert rows[0]["created_at"].endswith("Z")


def test_get(capsys: pytest.CaptureFixture[str]) -> None:
    """get prints the one build asked for."""
    assert main(["builds", "list", "--fake", "--limit", "1", "--format", "json"]) == 0
    build_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["builds", "get", "--fake", "--build", build_id, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == build_id


def test_api_error_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """A 404 prints one clear line and exits 1, no traceback."""
    assert main(["builds", "get", "--fake", "--build", "missing"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        "northflank-async: error: 404 GET /v1/projects/demo-project/jobs/nightly/build/missing: "
        + captured.err.split(": ", 3)[-1].strip()
    ]
    assert "Traceback" not in captured.err


def test_missing_token(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a token the user is told how to set one."""
    monkeypatch.delenv("NORTHFLANK_API_TOKEN", raising=False)
    monkeypatch.delenv("NF_API_TOKEN", raising=False)
    assert main(["builds", "list", "--project", "p", "--job", "j"]) == 1
    assert "NORTHFLANK_API_TOKEN" in capsys.readouterr().err


def test_missing_ids_without_fake(capsys: pytest.CaptureFixture[str]) -> None:
    """--project and --job are required against the real API."""
    assert main(["builds", "list"]) == 2
    assert "--project and --job are required" in capsys.readouterr().err


def test_bad_per_page(capsys: pytest.CaptureFixture[str]) -> None:
    """Local validation errors are reported the same way."""
    assert main(["builds", "list", "--fake", "--per-page", "500"]) == 1
    assert "per_page must be an integer from 1 to 100" in capsys.readouterr().err
