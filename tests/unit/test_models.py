"""Decoding builds: every field, lenient about evolution, strict about types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs
import pytest

from northflank_async import (
    Branch,
    BranchCommit,
    BuildStatus,
    DecodeError,
    Job,
    JobBuild,
    JobRun,
    JobType,
    Registry,
    RunStarted,
    RunStatus,
)
from northflank_async._core.converter import decode, decode_list

from ..conftest import wire_build

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

    @pytest.mark.parametrize(
        ("wire", "expected"), [("42", "42"), ("feature/x", "feature/x"), (42, 42), (42.0, 42)]
    )
    def test_pull_request_id_string_or_number(self, wire: Any, expected: int | str) -> None:
        """pullRequestId is a string or a number in the official types: both decode as sent."""
        payload = [wire_build(i) for i in range(3)]
        payload[1]["pullRequestId"] = wire
        builds = decode_list(payload, JobBuild, root="data.builds")
        assert builds[1].pull_request_id == expected
        assert type(builds[1].pull_request_id) is type(expected)

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
            ("pullRequestId", {"id": 1}, "an integer or a string"),
            ("pullRequestId", [42], "an integer or a string"),
            ("status", 3, "status"),
            ("registry", "reg/img", "expected an object"),
            ("registry", ["reg/img"], "expected an object"),
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
        assert info.value.field == f"data.builds[3].{field}"
        assert message in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__

    def test_missing_id(self) -> None:
        """The one required field."""
        with pytest.raises(DecodeError) as info:
            decode_list([{"status": "SUCCESS"}], JobBuild, root="data.builds")
        assert info.value.field == "data.builds[0].id"
        assert "required field missing" in str(info.value)

    @pytest.mark.parametrize("item", [3, "x", None, []])
    def test_item_not_an_object(self, item: Any) -> None:
        """A list item that is not an object."""
        with pytest.raises(DecodeError) as info:
            decode_list([wire_build(0), item], JobBuild, root="data.builds")
        assert info.value.field == "data.builds[1]"


class TestModelsStayHonest:
    """The generated fast hook never builds a model behind its own rules' back."""

    @staticmethod
    def both_hooks(cls: type) -> list[Any]:
        from northflank_async._core.fieldhooks import _FIELD_HOOKS
        from northflank_async._core.structure import _fast_hook, _object_hook
        from northflank_async._core.structure import _renamed_hook as renamed

        fields = attrs.fields(attrs.resolve_types(cls))
        hooks = {f.name: _FIELD_HOOKS[f.type] for f in fields}
        converter = cattrs.Converter(detailed_validation=True)
        return [_fast_hook(cls, hooks), _object_hook(renamed(converter, cls, hooks))]

    def test_plain_models_store_into_slots(self) -> None:
        """The shipped models have no rules of their own: the fast hook may skip __init__."""
        from northflank_async._core.converter import _MODELS
        from northflank_async._core.structure import _slot_setters

        for cls in _MODELS:
            assert _slot_setters(cls) is not None, cls

    def test_models_fill_a_twin_then_are_themselves(self) -> None:
        """The fast hook's objects are the models themselves: frozen, weakly referable, equal
        and hashable as built ones, picklable (the twin they were filled in never shows)."""
        import pickle
        import weakref

        from northflank_async._core.converter import _MODELS
        from northflank_async._core.structure import _twin

        assert all(_twin(cls) is not None for cls in _MODELS)
        wire = wire_build(1, registry={"uri": "reg/img:1"}, buildConcludedAt=1606237973)
        build = decode_list([wire], JobBuild, root="data.builds")[0]
        built = attrs.evolve(build)  # through JobBuild.__init__
        assert type(build) is JobBuild and type(build.registry) is Registry
        assert build == built and hash(build) == hash(built) and repr(build) == repr(built)
        assert weakref.ref(build)() is build
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            build.sha = "other"  # type: ignore[misc]
        assert pickle.loads(pickle.dumps(build)) == build

    def test_a_bad_field_of_a_nested_model_is_named(self) -> None:
        """The registry is built inline, and its own bad field is named below it."""
        with pytest.raises(DecodeError) as info:
            decode_list([wire_build(0, registry={"uri": 3})], JobBuild, root="data.builds")
        assert info.value.field == "data.builds[0].registry.uri"
        assert "expected a string" in str(info.value)

    def test_a_model_no_twin_can_match_is_still_filled(self) -> None:
        """A frozen class keeping ``__weakref__`` among its own slots (no ``_Model`` base):
        CPython refuses the twin's class change, and the slots' setters fill it instead."""
        from northflank_async._core.structure import _twin

        @attrs.frozen(kw_only=True)
        class Plain:
            id: str
            sha: str | None = None

        assert _twin(Plain) is None
        for hook in self.both_hooks(Plain):
            decoded = hook({"id": "a", "sha": "b"})
            assert type(decoded) is Plain and decoded == Plain(id="a", sha="b")

    def test_a_validator_runs(self) -> None:
        """A model with a validator: its validator runs, in both decoders."""

        @attrs.frozen(kw_only=True)
        class Checked:
            id: str = attrs.field(validator=attrs.validators.matches_re(r"b-\d+"))
            run_name: str | None = None

        fast, detailed = self.both_hooks(Checked)
        for hook in (fast, detailed):
            assert hook({"id": "b-1", "runName": "r"}) == Checked(id="b-1", run_name="r")
        with pytest.raises(ValueError, match="must match regex"):
            fast({"id": "nope"})
        with pytest.raises(cattrs.ClassValidationError) as info:  # cattrs groups it
            detailed({"id": "nope"})
        assert "must match regex" in str(info.value.exceptions[0])

    def test_a_converter_and_a_post_init_run(self) -> None:
        """Converters and __attrs_post_init__ run too."""
        seen: list[str] = []

        def upper(value: str) -> str:
            return value.upper()

        @attrs.frozen(kw_only=True)
        class Converted:
            id: str = attrs.field(converter=upper)

            def __attrs_post_init__(self) -> None:
                seen.append(self.id)

        for hook in self.both_hooks(Converted):
            assert hook({"id": "abc"}).id == "ABC"
        assert seen == ["ABC", "ABC"]

    def test_a_hand_written_init_runs(self) -> None:
        """A class whose __init__ attrs did not write is built through that __init__."""

        @attrs.frozen(kw_only=True, init=False)
        class Custom:
            id: str
            sha: str | None = None

            def __init__(self, *, id: str, sha: str | None = None) -> None:
                self.__attrs_init__(id=id, sha=sha or "none")

        for hook in self.both_hooks(Custom):
            assert hook({"id": "a"}) == Custom(id="a", sha="none")

    def test_a_validator_failure_is_a_decode_error(self) -> None:
        """Through decode_list, a refusing validator is a DecodeError naming the item."""
        from northflank_async._core import converter as _converter

        @attrs.frozen(kw_only=True)
        class Checked:
            id: str = attrs.field(validator=attrs.validators.min_len(2))

        fast, detailed = self.both_hooks(Checked)
        fast_converter, detailed_converter = cattrs.Converter(), cattrs.Converter()
        fast_converter.register_structure_hook(Checked, fast)
        detailed_converter.register_structure_hook(Checked, detailed)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_converter, "_fast", fast_converter)
            patch.setattr(_converter, "_detailed", cattrs.Converter(detailed_validation=True))
            _converter._detailed.register_structure_hook(Checked, detailed)
            assert decode_list([{"id": "ab"}], Checked, root="data.x") == [Checked(id="ab")]
            with pytest.raises(DecodeError) as info:
                decode_list([{"id": "ab"}, {"id": "a"}], Checked, root="data.x")
        assert info.value.field == "data.x[1]"
        assert "id" in str(info.value)

    @pytest.mark.parametrize(
        "field",
        [
            attrs.field(default=None, init=False),
            attrs.field(default=attrs.Factory(lambda self: None, takes_self=True)),
        ],
    )
    def test_fields_no_decoder_can_honour_are_refused(self, field: Any) -> None:
        """init=False and takes_self defaults are refused when the hook is made, not later."""
        from northflank_async._core.fieldhooks import ModelError
        from northflank_async._core.structure import _fast_hook

        cls = attrs.make_class("Odd", {"id": attrs.field(), "extra": field}, frozen=True)
        with pytest.raises(ModelError, match=r"Odd\.extra"):
            _fast_hook(cls, {"id": None, "extra": None})

    def test_defaults_other_than_none(self) -> None:
        """A missing key takes the field's own default, a fresh one from a factory."""

        @attrs.frozen(kw_only=True)
        class Defaults:
            id: str
            tags: tuple[str, ...] = ()
            disabled_ci: bool | None = attrs.field(factory=lambda: False)

        for hook in self.both_hooks(Defaults):
            assert hook({"id": "a"}) == Defaults(id="a", tags=(), disabled_ci=False)
            assert hook({"id": "a", "tags": ["x"], "disabledCI": True}) == Defaults(
                id="a", tags=("x",), disabled_ci=True
            )


RUN_EXAMPLE = {
    "id": "run-7f2c",
    "runName": "nightly-1715760000",
    "status": "SUCCESS",
    "concluded": True,
    "active": 0,
    "succeeded": 1,
    "failed": 0,
    "backoffLimit": 0,
    "completions": 1,
    "startedAt": "2024-05-15T08:00:00.000Z",
    "concludedAt": "2024-05-15T08:01:30.500Z",
}
JOB_EXAMPLE = {
    "id": "nightly",
    "appId": "/example-user/default-project/nightly",
    "name": "nightly",
    "description": "Runs every night",
    "tags": ["batch", "prod"],
    "projectId": "default-project",
    "jobType": "cron",
    "createdAt": "2021-07-28T15:55:38.296Z",
    "disabledCI": False,
    "disabledCD": True,
    "suspended": False,
}
BRANCH_EXAMPLE = {"id": "main", "name": "main", "commit": {"sha": "a" * 40, "message": "x"}}


class TestJobRun:
    def test_example(self) -> None:
        """A run in the documented shape decodes field by field."""
        assert decode(RUN_EXAMPLE, JobRun) == JobRun(
            id="run-7f2c",
            run_name="nightly-1715760000",
            status=RunStatus.SUCCESS,
            concluded=True,
            active=0,
            succeeded=1,
            failed=0,
            backoff_limit=0,
            completions=1,
            started_at=datetime(2024, 5, 15, 8, 0, tzinfo=UTC),
            concluded_at=datetime(2024, 5, 15, 8, 1, 30, 500000, tzinfo=UTC),
        )

    def test_running_run_without_times(self) -> None:
        """Missing optional fields are None; a running run is not concluded."""
        run = decode({"id": "r", "status": "RUNNING"}, JobRun)
        assert run == JobRun(id="r", status=RunStatus.RUNNING)
        assert run.started_at is None and run.concluded_at is None and run.active is None
        assert run.is_concluded is False

    def test_unknown_status_is_kept_raw(self) -> None:
        """A new run status decodes as the raw string."""
        run = decode({"id": "r", "status": "PAUSED"}, JobRun)
        assert run.status == "PAUSED"
        assert not isinstance(run.status, RunStatus)
        assert run.is_concluded is False

    @pytest.mark.parametrize(
        ("status", "terminal"), [("SUCCESS", True), ("FAILED", True), ("RUNNING", False)]
    )
    def test_status_terminal(self, status: str, terminal: bool) -> None:
        """SUCCESS and FAILED are terminal; concluded wins when sent."""
        assert RunStatus(status).is_terminal is terminal
        assert JobRun(id="r", status=RunStatus(status)).is_concluded is terminal
        assert JobRun(id="r", status=RunStatus(status), concluded=False).is_concluded is False

    @pytest.mark.parametrize(
        ("field", "value"),
        [("startedAt", "soon"), ("succeeded", True), ("active", 0.5), ("runName", 3),
         ("status", ["SUCCESS"]), ("concluded", "yes"), ("concludedAt", {})],
    )  # fmt: skip
    def test_wrong_type_names_the_wire_path(self, field: str, value: Any) -> None:
        """A wrong type is a DecodeError naming data.runs[i].<wireName>."""
        runs: list[dict[str, Any]] = [dict(RUN_EXAMPLE) for _ in range(4)]
        runs[2][field] = value
        with pytest.raises(DecodeError) as info:
            decode_list(runs, JobRun, root="data.runs")
        assert info.value.field == f"data.runs[2].{field}"

    def test_run_started(self) -> None:
        """The start-run answer: id and runName."""
        assert decode({"id": "r", "runName": "n"}, RunStarted) == RunStarted(id="r", run_name="n")
        assert decode({"id": "r"}, RunStarted) == RunStarted(id="r")
        with pytest.raises(DecodeError) as info:
            decode({"runName": "n"}, RunStarted)
        assert info.value.field == "data.id"


class TestJob:
    def test_example(self) -> None:
        """The get-job answer decodes field by field, the capitalised CI/CD names included."""
        assert decode(JOB_EXAMPLE, Job) == Job(
            id="nightly",
            app_id="/example-user/default-project/nightly",
            name="nightly",
            description="Runs every night",
            tags=("batch", "prod"),
            project_id="default-project",
            job_type=JobType.CRON,
            created_at=datetime(2021, 7, 28, 15, 55, 38, 296000, tzinfo=UTC),
            disabled_ci=False,
            disabled_cd=True,
            suspended=False,
        )

    def test_list_form_omits_fields(self) -> None:
        """The list endpoint sends no projectId or createdAt: they are None; tags default empty."""
        listed = {k: v for k, v in JOB_EXAMPLE.items() if k not in ("projectId", "createdAt")}
        job = decode(listed, Job)
        assert job.project_id is None and job.created_at is None
        assert job.job_type is JobType.CRON
        bare = decode({"id": "j"}, Job)
        assert bare == Job(id="j")
        assert bare.tags == ()
        assert decode({"id": "j", "tags": None}, Job).tags == ()

    def test_unknown_job_type_is_kept_raw(self) -> None:
        """A new job type decodes as the raw string."""
        job = decode({"id": "j", "jobType": "event"}, Job)
        assert job.job_type == "event"
        assert not isinstance(job.job_type, JobType)
        assert decode({"id": "j", "jobType": "manual"}, Job).job_type is JobType.MANUAL

    @pytest.mark.parametrize(
        ("field", "value"),
        [("tags", "prod"), ("tags", ["a", 1]), ("disabledCI", "false"), ("jobType", 1),
         ("createdAt", "never"), ("appId", 5)],
    )  # fmt: skip
    def test_wrong_type_names_the_wire_path(self, field: str, value: Any) -> None:
        """A wrong type is a DecodeError naming data.jobs[i].<wireName>."""
        jobs: list[dict[str, Any]] = [dict(JOB_EXAMPLE) for _ in range(3)]
        jobs[1][field] = value
        with pytest.raises(DecodeError) as info:
            decode_list(jobs, Job, root="data.jobs")
        assert info.value.field == f"data.jobs[1].{field}"


class TestBranch:
    def test_example(self) -> None:
        """A branch and its head commit; unknown keys are ignored."""
        branch = decode(BRANCH_EXAMPLE | {"new": 1}, Branch)
        assert branch == Branch(id="main", name="main", commit=BranchCommit(sha="a" * 40))

    def test_missing_fields(self) -> None:
        """Only id is required."""
        assert decode({"id": "b"}, Branch) == Branch(id="b")
        assert decode({"id": "b", "commit": {}}, Branch).commit == BranchCommit()
        assert decode({"id": "b", "commit": None}, Branch).commit is None

    @pytest.mark.parametrize(
        ("change", "path"),
        [({"commit": "abc"}, "commit"), ({"commit": {"sha": 1}}, "commit.sha"),
         ({"name": ["main"]}, "name"), ({"id": None}, "id")],
    )  # fmt: skip
    def test_wrong_type_names_the_wire_path(self, change: dict[str, Any], path: str) -> None:
        """A wrong type is a DecodeError naming data.branches[i].<path>."""
        branches = [BRANCH_EXAMPLE, BRANCH_EXAMPLE | change]
        with pytest.raises(DecodeError) as info:
            decode_list(branches, Branch, root="data.branches")
        assert info.value.field == f"data.branches[1].{path}"

    def test_frozen(self) -> None:
        """Every new model is immutable and slotted."""
        for obj in (
            Branch(id="b"),
            BranchCommit(),
            Job(id="j"),
            JobRun(id="r"),
            RunStarted(id="r"),
        ):
            with pytest.raises(AttributeError):
                obj.id = "x"  # type: ignore[misc, union-attr]
            assert not hasattr(obj, "__dict__")
