"""The derived methods (`_api/derive.py`): the declared signature is the one a call is bound to.

The logs definitions take ``**keywords`` (`log_query` checks the window and the filter), so the
declaration, not the definition, decides which keywords a call may pass and their defaults.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from northflank_async import NorthflankClient, ScopedBuilds, ScopedRuns
from northflank_async._api.derive import item_method
from northflank_async.testing import FakeNorthflank

P, J = "proj", "nightly"


def test_a_call_is_bound_to_the_declaration(
    northflank_fake: FakeNorthflank, northflank_client: NorthflankClient
) -> None:
    """A keyword the declaration lacks is a TypeError, even one the definition would take."""
    builds = northflank_client.job(P, J).builds
    with pytest.raises(TypeError, match="'end'"):
        builds.tail_logs("b", end=None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'direction'"):
        northflank_client.jobs.runs.tail_logs(
            project_id=P,
            job_id=J,
            run_id="r",
            direction="backward",  # type: ignore[call-arg]
        )
    with pytest.raises(TypeError, match="build_id"):
        builds.logs()  # type: ignore[call-arg]
    assert northflank_fake.request_count == 0


def test_the_declared_defaults_reach_the_definition() -> None:
    seen: dict[str, Any] = {}

    class Toy:
        def _impl(self, item_id: str, *, flag: bool = True, **keywords: Any) -> None:
            seen.update(keywords, item_id=item_id, flag=flag)

        @item_method(_impl)
        def run(self, toy_id: str, *, flag: bool = True, depth: int = 3) -> None:
            """Declared: ``depth`` goes to the definition's ``**keywords`` with its default."""

    Toy().run(toy_id="t")
    assert seen == {"item_id": "t", "flag": True, "depth": 3}


def test_a_definition_naming_an_undeclared_keyword_is_refused() -> None:
    def impl(self: object, item_id: str, *, flag: bool = False, **keywords: Any) -> None:
        """Takes ``flag``, which the declaration below does not have."""

    with pytest.raises(TypeError, match="differ"):

        @item_method(impl)
        def run(self: object, toy_id: str, *, depth: int = 3) -> None:
            """No ``flag``."""


@pytest.mark.parametrize("resource", [ScopedBuilds, ScopedRuns])
def test_the_logs_signatures_stay_explicit(resource: type[Any]) -> None:
    """help() and inspect show every keyword, the filter keywords and ``filter=`` included."""
    names = list(inspect.signature(resource.logs).parameters)
    assert names[2:] == [
        "start", "end", "duration", "line_limit", "direction", "container", "text_includes",
        "text_not_includes", "regex_includes", "regex_not_includes", "filter",
    ]  # fmt: skip
