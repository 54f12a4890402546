"""builds stats: the pure computation checked by hand, the command, and the library helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from northflank_async import BuildStatus, JobBuild, Registry, to_json
from northflank_async._core.stats import build_stats, histogram, percentile
from northflank_async.cli import main

from .._support import ThreadedFake

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def build(n: int, status: str, seconds: float | None, day: int = 0) -> JobBuild:
    created = T0 + timedelta(days=day, minutes=n)
    return JobBuild(
        id=f"b{n}",
        status=BuildStatus(status),
        concluded=status not in ("BUILDING",),
        created_at=created,
        build_concluded_at=None if seconds is None else created + timedelta(seconds=seconds),
    )


class TestPure:
    def test_percentile_by_hand(self) -> None:
        """Linear interpolation between closest ranks: 10..100 -> p50 55, p90 91, p99 99.1."""
        values = [float(v) for v in range(10, 101, 10)]
        assert percentile(values, 50) == pytest.approx(55.0)
        assert percentile(values, 90) == pytest.approx(91.0)
        assert percentile(values, 99) == pytest.approx(99.1)
        assert percentile(values, 0) == 10.0 and percentile(values, 100) == 100.0
        assert percentile([], 50) is None
        with pytest.raises(ValueError, match=r"0\.\.100"):
            percentile(values, 101)

    def test_build_stats_by_hand(self) -> None:
        """6 successes, 2 failures, 1 abort, 1 running over two days."""
        builds = [
            build(1, "SUCCESS", 60),
            build(2, "SUCCESS", 120),
            build(3, "FAILURE", 30),
            build(4, "SUCCESS", 180),
            build(5, "ABORTED", 10),
            build(6, "BUILDING", None, day=1),
            build(7, "SUCCESS", 240, day=1),
            build(8, "CRASHED", 300, day=1),
            build(9, "SUCCESS", 360, day=1),
            build(10, "SUCCESS", 420, day=1),
        ]
        stats = build_stats(builds)
        assert (stats.builds, stats.successes, stats.failures, stats.aborted, stats.running) == (
            10, 6, 2, 1, 1,
        )  # fmt: skip
        assert stats.success_rate == pytest.approx(6 / 8)
        # Durations of the 9 concluded builds, sorted: 10 30 60 120 180 240 300 360 420.
        assert stats.durations == (10, 30, 60, 120, 180, 240, 300, 360, 420)
        assert stats.p50 == pytest.approx(180)  # rank 4 exactly
        assert stats.p90 == pytest.approx(360 + 0.2 * 60)  # rank 7.2
        assert stats.p99 == pytest.approx(360 + 0.92 * 60)  # rank 7.92
        assert [(d.day, d.builds, d.failures) for d in stats.by_day] == [
            (date(2024, 3, 1), 5, 1),
            (date(2024, 3, 2), 5, 1),
        ]
        data = stats.as_json()
        assert data["duration_seconds"]["p50"] == pytest.approx(180)
        assert json.loads(json.dumps(data)) == data

    def test_no_builds(self) -> None:
        """Nothing to count: no rate, no percentiles, no error."""
        stats = build_stats([])
        assert stats.success_rate is None and stats.p50 is None and stats.by_day == ()

    def test_histogram(self) -> None:
        """Equal ranges from min to max; the max falls in the last bin."""
        assert histogram([0, 1, 2, 3, 4], bins=2) == [(0, 2, 2), (2, 4, 3)]
        assert histogram([5, 5], bins=4) == [(5, 5, 2)]
        assert histogram([]) == []


class TestLibrary:
    def test_duration(self) -> None:
        """build_concluded_at - created_at, None while either is unknown."""
        assert build(1, "SUCCESS", 90).duration == timedelta(seconds=90)
        assert build(1, "BUILDING", None).duration is None
        assert JobBuild(id="x", build_concluded_at=T0).duration is None

    def test_to_json_snake_case_by_default(self) -> None:
        """json.dumps(to_json(build)) works; datetimes ISO with Z; statuses plain strings."""
        b = JobBuild(id="b", status=BuildStatus.SUCCESS, created_at=T0, registry=Registry("r"))
        data = to_json(b)
        assert data["created_at"] == "2024-03-01T10:00:00Z"
        assert data["status"] == "SUCCESS" and type(data["status"]) is str
        assert data["registry"] == {"uri": "r"} and data["build_concluded_at"] is None
        assert json.loads(json.dumps([b], default=to_json)) == [data]

    def test_to_json_wire_names(self) -> None:
        """wire_names=True: the API's camelCase names."""
        data = to_json(JobBuild(id="b", created_at=T0, pull_request_id=3), wire_names=True)
        assert data["createdAt"] == "2024-03-01T10:00:00Z" and data["pullRequestId"] == 3
        assert "created_at" not in data

    def test_to_json_refuses_what_json_cannot_hold(self) -> None:
        """A clear ValueError, naming the type."""
        with pytest.raises(ValueError, match="set"):
            to_json({1, 2})


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    def wire(n: int, status: str, seconds: float | None) -> dict[str, Any]:
        b = build(n, status, seconds)
        return to_json(b, wire_names=True)  # type: ignore[no-any-return]

    with ThreadedFake() as threaded:
        monkeypatch.setenv("NORTHFLANK_API_TOKEN", threaded.fake.token)
        monkeypatch.setenv("NORTHFLANK_API_BASE_URL", threaded.fake.base_url)
        history = [
            wire(4, "SUCCESS", 400),
            wire(3, "FAILURE", 100),
            wire(2, "SUCCESS", 200),
            wire(1, "SUCCESS", 300),
        ]
        threaded.call(lambda: threaded.fake.add_job("p", "j", builds=history))
        yield threaded


def test_stats_command_json(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the API: 3 of 4 succeeded; durations 100 200 300 400 -> p50 250, p90 370."""
    argv = ["builds", "stats", "--project", "p", "--job", "j", "--format", "json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["builds"] == 4 and data["success_rate"] == pytest.approx(0.75)
    assert data["duration_seconds"]["p50"] == pytest.approx(250)
    assert data["duration_seconds"]["p90"] == pytest.approx(370)
    assert data["by_day"] == [{"day": "2024-03-01", "builds": 4, "failures": 1}]


def test_stats_command_last(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    """--last 2 reads only the newest two builds (one page, stopped early)."""
    argv = ["builds", "stats", "--project", "p", "--job", "j", "--last", "2", "--format", "json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["builds"] == 2 and data["failures"] == 1


def test_stats_command_table(served: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    """The table: the rate, the percentiles, the days and a chart."""
    assert main(["builds", "stats", "--project", "p", "--job", "j"]) == 0
    out = capsys.readouterr().out
    assert "success rate 75.0%" in out
    assert "p50 4m 10s" in out and "2024-03-01" in out and "█" in out
