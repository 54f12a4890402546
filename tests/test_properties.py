"""Property-based tests: whatever the API (or a proxy) sends, only NorthflankError escapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from northflank_async import APIError, DecodeError, JobBuild, NorthflankError
from northflank_async._converter import decode
from northflank_async._core import decipher_response, parse_data, parse_list_page

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


@settings(max_examples=200, deadline=None)
@given(envelopes)
def test_list_envelopes_decode_or_raise_decode_error(envelope: Any) -> None:
    """Any JSON at all either decodes to a page or raises DecodeError."""
    try:
        page = parse_list_page(envelope, "builds", JobBuild)
    except DecodeError as error:
        assert error.path
    else:
        assert all(isinstance(b, JobBuild) for b in page.items)
        assert page.cursor is None or page.has_next_page


@settings(max_examples=200, deadline=None)
@given(build_like)
def test_builds_decode_or_name_the_field(payload: dict[str, Any]) -> None:
    """A build-shaped object decodes or names a wire field in data.*."""
    try:
        build = decode(payload, JobBuild)
    except DecodeError as error:
        assert error.path.startswith("data")
    else:
        assert build.id == payload["id"]


@settings(max_examples=300, deadline=None)
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


def test_absurd_nesting_is_a_decode_error() -> None:
    """A body nested deeper than the parser recurses is still a DecodeError."""
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(DecodeError, match="RecursionError"):
        decipher_response(200, {}, body, method="GET", path="/p")
