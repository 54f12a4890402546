"""The fake's own list of the events a fixture's integration subscribes to by default."""

from __future__ import annotations

from northflank_async.testing import FakeNorthflank


async def test_a_fixture_integration_subscribes_to_every_build_and_run_event() -> None:
    """The nine build and job-run event types of the reference, as ``trigger:`` keys."""
    async with FakeNorthflank(rate_limit=None) as fake:
        record = fake.add_notification_integration("http://127.0.0.1:9/hook", name="Default")
    assert list(record["events"]) == [
        "trigger:build:start",
        "trigger:build:success",
        "trigger:build:failure",
        "trigger:build:abort",
        "trigger:job-run:start",
        "trigger:job-run:success",
        "trigger:job-run:failure",
        "trigger:job-run:abort",
        "trigger:job-run:terminate",
    ]
    assert all(record["events"].values())
