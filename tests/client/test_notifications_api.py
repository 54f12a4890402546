"""``nf.notifications``: the integrations API, against the fake, in both route forms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from northflank_async import (
    AsyncCursorIterator,
    BadRequestError,
    ConflictError,
    NorthflankClient,
    NotFoundError,
    NotificationIntegration,
)
from northflank_async._core.converter import decode
from northflank_async.testing import FakeNorthflank

HOOK = "https://hooks.example.com/northflank"


@pytest.fixture
async def fake() -> AsyncIterator[FakeNorthflank]:
    async with FakeNorthflank(rate_limit=None) as server:
        yield server


@pytest.fixture
async def nf(fake: FakeNorthflank) -> AsyncIterator[NorthflankClient]:
    async with NorthflankClient(fake.token, base_url=fake.base_url, max_retries=0) as client:
        yield client


def _paths(fake: FakeNorthflank) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests]


@pytest.mark.parametrize(
    ("team", "prefix"),
    [(None, "/v1/integrations/notifications"),
     ("my-team", "/v1/teams/my-team/integrations/notifications")],
)  # fmt: skip
async def test_create_get_update_delete_in_both_route_forms(
    fake: FakeNorthflank, team: str | None, prefix: str
) -> None:
    """Each call goes to the route form of its team (or the client's default team)."""
    async with NorthflankClient(fake.token, base_url=fake.base_url, team_id=team) as nf:
        created = await nf.notifications.create("Build hook", HOOK, secret="s3cret-value")
        assert isinstance(created, NotificationIntegration)
        assert (created.id, created.name, created.type, created.webhook) == (
            "build-hook", "Build hook", "RAW_WEBHOOK", HOOK
        )  # fmt: skip
        await nf.notifications.update(created.id, webhook=HOOK + "/v2", events=["build:failure"])
        got = await nf.notifications.get(created.id)
        assert got.webhook == HOOK + "/v2"
        assert got.events == ("build:failure",)
        assert got.status is not None and got.status.disabled is False
        assert not got.disabled
        listed = await nf.notifications.list().collect()
        assert [i.id for i in listed] == ["build-hook"]
        await nf.notifications.delete(created.id)
        with pytest.raises(NotFoundError):
            await nf.notifications.get(created.id)
    assert _paths(fake) == [
        ("POST", prefix),
        ("POST", f"{prefix}/build-hook"),
        ("GET", f"{prefix}/build-hook"),
        ("GET", prefix),
        ("DELETE", f"{prefix}/build-hook"),
        ("GET", f"{prefix}/build-hook"),
    ]


async def test_a_call_s_own_team_wins_over_the_default(fake: FakeNorthflank) -> None:
    async with NorthflankClient(fake.token, base_url=fake.base_url, team_id="a") as nf:
        await nf.notifications.list(team_id="b").collect()
    assert _paths(fake) == [("GET", "/v1/teams/b/integrations/notifications")]


async def test_list_walks_every_page(fake: FakeNorthflank, nf: NorthflankClient) -> None:
    """An AsyncCursorIterator over ``notificationIntegrations``, cursor after cursor."""
    for number in range(7):
        fake.add_notification_integration(HOOK, name=f"Hook {number}")
    listing = nf.notifications.list(per_page=3)
    assert isinstance(listing, AsyncCursorIterator)
    names = [integration.name async for integration in listing]
    assert names == [f"Hook {n}" for n in range(7)]
    pages = [r for r in fake.requests if r.method == "GET"]
    assert [r.query.get("per_page") for r in pages] == ["3", "3", "3"]
    assert ["cursor" in r.query for r in pages] == [False, True, True]
    # The list shows the list's fields only: no events, no failure counts.
    assert listing.items_yielded == 7


async def test_create_sends_the_events_object_from_short_or_long_names(
    fake: FakeNorthflank, nf: NorthflankClient
) -> None:
    await nf.notifications.create(
        "Mixed names",
        HOOK,
        events=["build:success", "trigger:build:failure", "job-run:failure"],
        projects=["web"],
    )
    body = fake.requests[-1].body
    assert body == {
        "name": "Mixed names",
        "type": "RAW_WEBHOOK",
        "webhook": HOOK,
        "events": {
            "trigger:build:success": True,
            "trigger:build:failure": True,
            "trigger:job-run:failure": True,
        },
        "projects": ["web"],
        "restricted": True,
    }
    got = await nf.notifications.get("mixed-names")
    assert got.events == ("build:failure", "build:success", "job-run:failure")
    assert got.projects == ("web",)


async def test_create_defaults_to_every_build_and_run_event(
    fake: FakeNorthflank, nf: NorthflankClient
) -> None:
    await nf.notifications.create("All of them", HOOK)
    events = fake.requests[-1].body["events"]
    assert set(events) == {
        f"trigger:{kind}:{what}"
        for kind, whats in (
            ("build", ("start", "success", "failure", "abort")),
            ("job-run", ("start", "success", "failure", "abort", "terminate")),
        )
        for what in whats
    }


@pytest.mark.parametrize(
    "name",
    ["ab", "x" * 40, "1abc", "ab--cd", "ab  cd", "trailing-", "bad_name", "", "émoji"],
)
async def test_a_bad_name_is_refused_before_any_request(
    fake: FakeNorthflank, nf: NorthflankClient, name: str
) -> None:
    with pytest.raises(ValueError, match="integration name"):
        await nf.notifications.create(name, HOOK)
    with pytest.raises(ValueError, match="integration name"):
        await nf.notifications.update("some-id", name=name)
    with pytest.raises(ValueError, match="integration name"):
        await nf.notifications.ensure_webhook(name, HOOK)
    assert fake.request_count == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"webhook": "ftp://example.com"},
        {"webhook": "https://"},
        {"events": "build:success"},
        {"events": []},
        {"events": ["build success"]},
        {"secret": ""},
        {"secret": "line\nbreak"},
        {"type": "SLACKISH"},
        {"type": "DISCORD", "secret": "abc"},
        {"projects": "web"},
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    fake: FakeNorthflank, nf: NorthflankClient, kwargs: dict[str, object]
) -> None:
    arguments: dict[str, object] = {"webhook": HOOK, **kwargs}
    webhook = arguments.pop("webhook")
    with pytest.raises(ValueError, match=r"must|event|only"):
        await nf.notifications.create("Good name", webhook, **arguments)  # type: ignore[arg-type]
    assert fake.request_count == 0


async def test_good_names_pass(fake: FakeNorthflank, nf: NorthflankClient) -> None:
    for name in ("abc", "A b c", "My-Hook 2", "x" * 39):
        await nf.notifications.create(name, HOOK)
    assert fake.request_count == 4


async def test_the_fake_refuses_what_the_api_refuses(
    fake: FakeNorthflank, nf: NorthflankClient
) -> None:
    """The server side checks too: a second integration of the same id, an unknown field."""
    await nf.notifications.create("Same", HOOK)
    with pytest.raises(ConflictError):
        await nf.notifications.create("same", HOOK)
    transport = nf._transport
    with pytest.raises(BadRequestError):
        await transport.request(
            "POST", "/v1/integrations/notifications", json={"name": "No type", "webhook": HOOK}
        )
    with pytest.raises(BadRequestError):
        await transport.request(
            "POST", "/v1/integrations/notifications/same", json={"type": "DISCORD"}
        )


async def test_the_secret_is_write_only(fake: FakeNorthflank, nf: NorthflankClient) -> None:
    """Sent on create; never answered by get or list, never in a repr."""
    secret = "super-secret-token-value"
    created = await nf.notifications.create("Secretive", HOOK, secret=secret)
    got = await nf.notifications.get(created.id)
    listed = await nf.notifications.list().collect()
    assert fake.requests[0].body["secret"] == secret
    for answer in (created, got, *listed):
        assert secret not in repr(answer)
    assert "secret" not in fake.notification_integration(created.id)
    assert secret not in repr(nf.notifications)


async def test_ensure_webhook_creates_then_updates_with_a_fresh_secret(
    fake: FakeNorthflank, nf: NorthflankClient
) -> None:
    first, secret1 = await nf.notifications.ensure_webhook("Receiver", HOOK)
    assert first.id == "receiver" and first.webhook == HOOK
    assert len(secret1) >= 40
    second, secret2 = await nf.notifications.ensure_webhook(
        "Receiver", HOOK + "/new", events=["build:success"]
    )
    assert second.id == first.id and second.webhook == HOOK + "/new"
    assert second.events == ("build:success",)
    assert secret2 != secret1
    assert [body["secret"] for body in (r.body for r in fake.requests) if body] == [
        secret1,
        secret2,
    ]


async def test_ensure_webhook_replaces_a_disabled_integration(
    fake: FakeNorthflank, nf: NorthflankClient
) -> None:
    fake.add_notification_integration(HOOK, name="Receiver")
    fake.notification_integration("receiver")["status"]["disabled"] = True
    integration, _ = await nf.notifications.ensure_webhook("Receiver", HOOK, secret="given")
    assert not integration.disabled
    assert ("DELETE", "/v1/integrations/notifications/receiver") in _paths(fake)


def test_the_model_tolerates_unknown_fields_and_any_reason() -> None:
    """``status.reason`` is typed boolean in the reference: any JSON is kept."""
    wire = {
        "id": "hook",
        "name": "Hook",
        "type": "SLACK",
        "webhook": HOOK,
        "status": {
            "disabled": True,
            "reason": {"code": "too-many-failures"},
            "timeOfFirstFailedRequest": "2025-06-30T12:00:00.000Z",
            "numberOfFailedRequests": 12.0,
            "future": 1,
        },
        "events": {"trigger:build:start": True, "trigger:build:abort": False},
        "restrictions": {"tags": []},
        "brandNew": [1, 2],
    }
    integration = decode(wire, NotificationIntegration)
    assert integration.disabled
    assert integration.status is not None
    assert integration.status.reason == {"code": "too-many-failures"}
    assert integration.status.number_of_failed_requests == 12
    assert integration.status.time_of_first_failed_request == datetime(2025, 6, 30, 12, tzinfo=UTC)
    assert integration.events == ("build:start",)
