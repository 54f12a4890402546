"""Property-based tests: whatever the API (or a proxy) sends, only NorthflankError escapes.

The example counts keep each test well under a second (a unit test's budget): generating
nested JSON costs some 5-30 ms an example. Each run draws afresh, and hypothesis's example
database replays a failure once found.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from northflank_async import (
    APIError,
    Branch,
    BranchCommit,
    DecodeError,
    Job,
    JobBuild,
    JobRun,
    NorthflankError,
    RunStarted,
)
from northflank_async._core.converter import decode
from northflank_async._core.wire import decipher_response, parse_data, parse_list_page

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)

FIELDS = ["id", "branch", "pullRequestId", "status", "sha", "registry", "concluded",
          "createdAt", "success", "message", "buildConcludedAt"]  # fmt: skip

build_like = st.fixed_dictionaries(
    {}, optional={name: json_values | st.text(max_size=30) for name in FIELDS}
)

envelopes = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "data": st.one_of(json_values, st.fixed_dictionaries({"builds": st.lists(build_like)})),
            "pagination": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {"hasNextPage": json_values | st.booleans()},
                    optional={"cursor": json_values, "count": json_values},
                ),
            ),
        }
    ),
)


@settings(max_examples=15, deadline=None)
@given(envelopes)
def test_list_envelopes_decode_or_raise_decode_error(envelope: Any) -> None:
    """Any JSON at all either decodes to a page or raises DecodeError."""
    try:
        page = parse_list_page(envelope, "builds", JobBuild)
    except DecodeError as error:
        assert error.field
    else:
        assert all(isinstance(b, JobBuild) for b in page.items)
        assert page.cursor is None or page.has_next_page


@settings(max_examples=50, deadline=None)
@given(build_like)
def test_builds_decode_or_name_the_field(payload: dict[str, Any]) -> None:
    """A build-shaped object decodes or names a wire field in data.*."""
    try:
        build = decode(payload, JobBuild)
    except DecodeError as error:
        assert error.field.startswith("data")
    else:
        assert build.id == payload["id"]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=100, max_value=599),
    st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
)
def test_any_answer_is_data_or_a_typed_error(status: int, body: bytes) -> None:
    """Any status and body give parsed data or a NorthflankError, never anything else."""
    try:
        data = decipher_response(
            status, {"Content-Type": "text/html"}, body, method="GET", path="/p"
        )
        parse_data(data)
    except APIError as error:
        assert error.status == status
        assert not 200 <= status < 300
    except NorthflankError:
        pass


@pytest.fixture(params=["json", "orjson"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each JSON parser the client may use."""
    import orjson

    from northflank_async._core import wire as _wire

    monkeypatch.setattr(_wire, "loads", {"json": json.loads, "orjson": orjson.loads}[request.param])
    return str(request.param)


def test_absurd_nesting_is_a_decode_error(parser: str) -> None:
    """A body nested deeper than the parser recurses is still a DecodeError."""
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(DecodeError, match="not JSON"):
        decipher_response(200, {}, body, method="GET", path="/p")


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"<html>", b'{"a": NaN'])
def test_both_parsers_turn_bad_json_into_decode_error(parser: str, body: bytes) -> None:
    """Broken, non-UTF-8 or non-JSON bodies: a DecodeError with either parser."""
    with pytest.raises(DecodeError, match="not JSON"):
        decipher_response(200, {}, body, method="GET", path="/p")


def test_both_parsers_read_the_same_page(parser: str) -> None:
    """Either parser gives the same decoded page."""
    body = json.dumps({"data": {"builds": [{"id": "a", "createdAt": "2021-07-28T15:55:38.296Z"}]},
                       "pagination": {"hasNextPage": False, "count": 1}}).encode()  # fmt: skip
    page = parse_list_page(
        decipher_response(200, {}, body, method="GET", path="/p"), "builds", JobBuild
    )
    assert [b.id for b in page.items] == ["a"]


def _model_like(fields: list[str], values: Any) -> Any:
    """Objects with any of ``fields``, with or without the required id, holding ``values``."""
    objects = st.fixed_dictionaries({}, optional=dict.fromkeys(fields, values))
    return objects.map(lambda b: {"id": "x", **b}) | objects


# Each model's wire fields, with values that hit every branch of the inline checks: JSON of any
# shape, and the shapes each field really takes (known and unknown enum values, datetimes in
# both forms, integral floats, nested objects, string lists).
_wire_like = (
    json_values
    | st.text(max_size=30)
    | st.sampled_from(["SUCCESS", "RUNNING", "FAILED", "cron", "manual", "2021-07-28T15:55:38Z"])
    | st.floats(min_value=0, max_value=2e12)
    | st.integers(min_value=0, max_value=2)
    | st.lists(st.text(max_size=5), max_size=3)
    | st.fixed_dictionaries({}, optional={"sha": json_values, "uri": json_values})
)
MODEL_FIELDS: dict[type, list[str]] = {
    JobBuild: FIELDS,
    JobRun: ["id", "runName", "status", "concluded", "active", "succeeded", "failed",
             "backoffLimit", "completions", "startedAt", "concludedAt"],
    RunStarted: ["id", "runName"],
    Job: ["id", "appId", "name", "description", "tags", "projectId", "jobType", "createdAt",
          "disabledCI", "disabledCD", "suspended"],
    Branch: ["id", "name", "commit"],
    BranchCommit: ["sha"],
}  # fmt: skip


@pytest.mark.parametrize("model", list(MODEL_FIELDS), ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fast_and_detailed_decoders_agree(model: type, data: st.DataObject) -> None:
    """The generated fast hook accepts exactly what cattrs' detailed hook accepts, equally."""
    from northflank_async._core.converter import _detailed, _fast

    payload = data.draw(_model_like(MODEL_FIELDS[model], _wire_like))
    outcomes: list[object] = []
    for converter in (_fast, _detailed):
        try:
            outcomes.append(converter.structure(payload, model))
        except Exception:
            outcomes.append("failed")
    assert outcomes[0] == outcomes[1]
    assert type(outcomes[0]) is type(outcomes[1])  # the model itself, never its twin


@pytest.mark.parametrize("model", list(MODEL_FIELDS), ids=lambda m: m.__name__)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_models_decode_or_name_the_field(model: type, data: st.DataObject) -> None:
    """Any object decodes into each model or raises a DecodeError naming a path in data.*."""
    payload = data.draw(_model_like(MODEL_FIELDS[model], _wire_like))
    try:
        decoded: object = decode(payload, model)
    except DecodeError as error:
        assert error.field.startswith("data")
    else:
        assert isinstance(decoded, model)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z"))
    | st.floats(min_value=0, max_value=2e11)  # epoch seconds, up to the year 8307
    | st.floats(min_value=1.000001e12, max_value=4e12)  # epoch milliseconds
)
def test_datetime_fast_paths_agree_with_the_hook(value: Any) -> None:
    """The inline ISO and epoch paths give the same datetime as the general hook."""
    from northflank_async._core.fieldhooks import _opt_datetime

    build = decode({"id": "x", "createdAt": value}, JobBuild)
    assert build.created_at == _opt_datetime(value)
    assert build.created_at is not None and build.created_at.tzinfo is UTC
