"""Decoding builds: every field, lenient about evolution, strict about types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from northflank_async import BuildStatus, DecodeError, JobBuild, Registry
from northflank_async._converter import decode, decode_list

from .conftest import wire_build

DOC_EXAMPLE = {
    "id": "joyous-view-6290",
    "branch": "main",
    "status": "SUCCESS",
    "sha": "12c15e7ee25fd78f567ebf87f9178b8ad70025b3",
    "concluded": True,
    "createdAt": "2021-07-28T15:55:38.296Z",
    "success": True,
    "message": "Image successfully built",
    "buildConcludedAt": 1606237973,
}


class TestJobBuild:
    def test_reference_example(self) -> None:
        """The reference page's example decodes field by field."""
        build = decode(DOC_EXAMPLE, JobBuild)
        assert build == JobBuild(
            id="joyous-view-6290",
            branch="main",
            pull_request_id=None,
            status=BuildStatus.SUCCESS,
            sha="12c15e7ee25fd78f567ebf87f9178b8ad70025b3",
            registry=None,
            concluded=True,
            created_at=datetime(2021, 7, 28, 15, 55, 38, 296000, tzinfo=UTC),
            success=True,
            message="Image successfully built",
            build_concluded_at=datetime(2020, 11, 24, 17, 12, 53, tzinfo=UTC),
        )

    def test_all_optionals_missing(self) -> None:
        """Only id is required; everything else is None."""
        build = decode({"id": "x"}, JobBuild)
        assert build == JobBuild(id="x")
        assert all(
            getattr(build, f) is None for f in ("branch", "status", "registry", "created_at")
        )

    def test_nulls(self) -> None:
        """null on the wire is None."""
        nulls = {k: None for k in DOC_EXAMPLE if k != "id"} | {
            "pullRequestId": None,
            "registry": None,
        }
        assert decode({"id": "x", **nulls}, JobBuild) == JobBuild(id="x")

    def test_pull_request_and_registry(self) -> None:
        """pullRequestId is documented as a float: an integral float is an int."""
        build = decode(wire_build(1, pullRequestId=42.0, registry={"uri": "reg/img:1"}), JobBuild)
        assert build.pull_request_id == 42
        assert isinstance(build.pull_request_id, int)
        assert build.registry == Registry(uri="reg/img:1")
        assert decode(wire_build(1, registry={}), JobBuild).registry == Registry(uri=None)

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [
            (1606237973, datetime(2020, 11, 24, 17, 12, 53, tzinfo=UTC)),
            (1606237973.5, datetime(2020, 11, 24, 17, 12, 53, 500000, tzinfo=UTC)),
            (1606237973250, datetime(2020, 11, 24, 17, 12, 53, 250000, tzinfo=UTC)),
            ("2020-11-24T17:12:53Z", datetime(2020, 11, 24, 17, 12, 53, tzinfo=UTC)),
            ("2020-11-24T18:12:53+01:00", datetime(2020, 11, 24, 17, 12, 53, tzinfo=UTC)),
            ("2020-11-24T17:12:53", datetime(2020, 11, 24, 17, 12, 53, tzinfo=UTC)),
        ],
    )
    def test_concluded_at_units(self, wire: Any, expected: datetime) -> None:
        """Seconds, milliseconds above 1e12, and ISO strings: always aware UTC."""
        value = decode(wire_build(1, buildConcludedAt=wire), JobBuild).build_concluded_at
        assert value == expected
        assert value is not None
        assert value.utcoffset() is not None

    def test_unknown_status_is_kept_raw(self) -> None:
        """A new status decodes and compares equal to the wire string."""
        build = decode(wire_build(1, status="NEW_VALUE"), JobBuild)
        assert build.status == "NEW_VALUE"
        assert not isinstance(build.status, BuildStatus)
        assert build.is_concluded is True  # concluded on the wire wins

    def test_known_status_is_the_enum_and_equals_its_string(self) -> None:
        """Known statuses are BuildStatus members, equal to their wire value."""
        build = decode(wire_build(1, status="FAILURE"), JobBuild)
        assert build.status is BuildStatus.FAILURE
        assert build.status == "FAILURE"

    def test_unknown_fields_ignored(self) -> None:
        """Extra fields from a newer API do not break decoding."""
        assert decode(wire_build(1, newField={"a": 1}), JobBuild).id == "build-0001"

    def test_frozen(self) -> None:
        """Builds are immutable."""
        build = decode(DOC_EXAMPLE, JobBuild)
        with pytest.raises(AttributeError):
            build.status = "x"  # type: ignore[misc]


class TestStatus:
    def test_thirteen_documented_values(self) -> None:
        """The enum holds exactly the documented values."""
        assert len(BuildStatus) == 13

    @pytest.mark.parametrize(
        "status", ["SUCCESS", "FAILURE", "ABORTED", "CRASHED", "SUBMISSION_FAILURE"]
    )
    def test_terminal(self, status: str) -> None:
        """The final statuses are terminal."""
        assert BuildStatus(status).is_terminal

    @pytest.mark.parametrize(
        "status", ["QUEUED", "PENDING", "BUILDING", "IN_PROGRESS", "UNSCHEDULABLE"]
    )
    def test_not_terminal(self, status: str) -> None:
        """Running statuses are not."""
        assert not BuildStatus(status).is_terminal

    def test_is_concluded_prefers_the_flag(self) -> None:
        """concluded wins; the status decides only when the flag is absent."""
        assert JobBuild(id="a", status=BuildStatus.SUCCESS, concluded=False).is_concluded is False
        assert JobBuild(id="a", status=BuildStatus.SUCCESS).is_concluded is True
        assert JobBuild(id="a", status="SOMETHING_NEW").is_concluded is False


class TestMalformed:
    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("createdAt", "yesterday", "isoformat"),
            ("createdAt", [1], "expected an ISO-8601 string"),
            ("concluded", "false", "expected a boolean"),
            ("success", 1, "expected a boolean"),
            ("pullRequestId", 1.5, "integer"),
            ("pullRequestId", True, "integer"),
            ("status", 3, "status"),
            ("registry", "reg/img", "expected an object"),
            ("sha", 123, "expected a string"),
            ("buildConcludedAt", float("inf"), ""),
        ],
    )
    def test_bad_field_names_its_path(self, field: str, value: Any, message: str) -> None:
        """A bad field raises DecodeError with the wire path, never a bare cattrs error."""
        payload = [wire_build(i) for i in range(5)]
        payload[3][field] = value
        with pytest.raises(DecodeError) as info:
            decode_list(payload, JobBuild, root="data.builds")
        assert info.value.path == f"data.builds[3].{field}"
        assert message in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__

    def test_missing_id(self) -> None:
        """The one required field."""
        with pytest.raises(DecodeError) as info:
            decode_list([{"status": "SUCCESS"}], JobBuild, root="data.builds")
        assert info.value.path == "data.builds[0].id"
        assert "required field missing" in str(info.value)

    @pytest.mark.parametrize("item", [3, "x", None, []])
    def test_item_not_an_object(self, item: Any) -> None:
        """A list item that is not an object."""
        with pytest.raises(DecodeError) as info:
            decode_list([wire_build(0), item], JobBuild, root="data.builds")
        assert info.value.path == "data.builds[1]"
