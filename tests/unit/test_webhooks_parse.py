"""The webhook receiver's pure side: verification, bounds, decoding, the dedupe window.

No sockets here: `WebhookParser`, `DedupeWindow` and `WebhookReceiver.parse` / `.receive`
are called directly (tests/client/test_webhooks_receiver.py sends the same over HTTP).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from northflank_async import (
    BuildStatus,
    JobBuild,
    NorthflankError,
    RunStatus,
    WebhookAuthError,
    WebhookError,
    WebhookEvent,
    WebhookPayloadError,
    WebhookPayloadTooLargeError,
    WebhookReceiver,
    WebhookUnavailableError,
)
from northflank_async._core.dedupe import DedupeWindow
from northflank_async._core.webhooks import MAX_DEPTH, WebhookParser

SECRET = "whsec-0123456789abcdef-SECRET"

#: The one payload the reference documents: a service build starting.
DOCUMENTED = {
    "event": "build:start",
    "data": {
        "build": {
            "id": "social-hour-1312",
            "branch": "master",
            "pullRequestId": None,
            "status": "STARTING",
            "sha": "ca62a3f1a8d0d6c5b3ee6e0e0d3c1e0b9a2f7d11",
            "concluded": False,
            "createdAt": "2022-01-19T09:04:40.916Z",
        },
        "service": {"id": "website", "name": "Website"},
        "project": {"id": "personal-blog", "name": "Personal Blog"},
        "user": {"id": "thomas"},
    },
}


def headers(
    token: str | None = SECRET, event_id: str | None = "evt-1", **more: str
) -> dict[str, str]:
    found = {"X-Northflank-Notification-Integration-Id": "hooks", **more}
    if token is not None:
        found["X-Northflank-Notification-Token"] = token
    if event_id is not None:
        found["X-Northflank-Notification-Event-Id"] = event_id
    return found


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def build_event(kind: str = "build:success", **build: Any) -> dict[str, Any]:
    return {
        "event": kind,
        "data": {"build": {"id": "b-1", **build}, "job": {"id": "nightly"}, "project": {"id": "p"}},
    }


PARSER = WebhookParser(SECRET)


def test_the_documented_payload_parses() -> None:
    event = PARSER.parse(headers(), body(DOCUMENTED))
    assert event == WebhookEvent(
        event_id="evt-1",
        kind="build:start",
        integration_id="hooks",
        project_id="personal-blog",
        service_id="website",
        build=JobBuild(
            id="social-hour-1312",
            branch="master",
            status=BuildStatus.STARTING,
            sha="ca62a3f1a8d0d6c5b3ee6e0e0d3c1e0b9a2f7d11",
            concluded=False,
            created_at=event.build.created_at if event.build else None,
        ),
        raw=DOCUMENTED,
    )
    assert event.build is not None and event.build.created_at is not None
    assert event.build.created_at.isoformat() == "2022-01-19T09:04:40.916000+00:00"
    assert event.job_id is None and event.run is None


def test_headers_are_case_insensitive() -> None:
    lower = {k.lower(): v for k, v in headers().items()}
    upper = {k.upper(): v for k, v in headers().items()}
    assert PARSER.parse(lower, body(DOCUMENTED)) == PARSER.parse(upper, body(DOCUMENTED))


def test_a_job_build_end_with_a_subset_of_fields() -> None:
    event = PARSER.parse(headers(), body(build_event(status="FAILURE", concluded=True)))
    assert (event.kind, event.job_id, event.project_id) == ("build:success", "nightly", "p")
    assert event.build == JobBuild(id="b-1", status=BuildStatus.FAILURE, concluded=True)


def test_a_job_run_event_carries_its_run_when_it_names_one() -> None:
    payload = {"event": "job-run:failure", "data": {"run": {"id": "r-1", "status": "FAILED"},
                                                     "job": "nightly"}}  # fmt: skip
    event = PARSER.parse(headers(), body(payload))
    assert event.run is not None and event.run.status is RunStatus.FAILED
    assert (event.job_id, event.build) == ("nightly", None)
    bare = PARSER.parse(headers(), body({"event": "job-run:start", "data": {"job": {"id": "j"}}}))
    assert (bare.run, bare.job_id) == (None, "j")


def test_an_unknown_event_type_is_kept_raw() -> None:
    payload = {"event": "backup:success", "data": {"backup": {"id": 7, "deep": [[1]]}}}
    event = PARSER.parse(headers(), body(payload))
    assert (event.kind, event.build, event.run) == ("backup:success", None, None)
    assert event.raw == payload


def test_the_event_type_header_is_used_when_the_body_has_none() -> None:
    payload = {"data": {"build": {"id": "b"}}}
    extra = {"X-Northflank-Notification-Event-Type": "build:abort"}
    assert PARSER.parse(headers(**extra), body(payload)).kind == "build:abort"
    with pytest.raises(WebhookPayloadError, match="not the header"):
        PARSER.parse(headers(**extra), body({"event": "build:start", **payload}))


def test_a_missing_event_id_is_the_hash_of_the_body() -> None:
    first = PARSER.parse(headers(event_id=None), body(DOCUMENTED))
    again = PARSER.parse(headers(event_id=None), body(DOCUMENTED))
    other = PARSER.parse(headers(event_id=None), body(build_event()))
    assert first.event_id.startswith("sha256:") and first.event_id == again.event_id
    assert other.event_id != first.event_id


@pytest.mark.parametrize("secrets", [[SECRET, "old-secret-1234"], ("old-secret-1234", SECRET)])
def test_rotation_any_secret_passes(secrets: list[str]) -> None:
    parser = WebhookParser(secrets)
    assert parser.parse(headers(), body(DOCUMENTED)).service_id == "website"
    assert parser.parse(headers(token="old-secret-1234"), body(DOCUMENTED)).kind == "build:start"
    with pytest.raises(WebhookAuthError):
        parser.parse(headers(token="neither-of-them"), body(DOCUMENTED))


@pytest.mark.parametrize(
    "token", [None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper(), "é" + SECRET, "\udc80"]
)
def test_a_missing_or_wrong_token_is_401(token: str | None) -> None:
    with pytest.raises(WebhookAuthError) as caught:
        PARSER.parse(headers(token=token), body(DOCUMENTED))
    assert caught.value.status == 401
    assert SECRET not in str(caught.value) and (not token or token not in str(caught.value))


def test_a_token_sent_twice_differently_is_refused() -> None:
    class Twice(dict[str, str]):
        def items(self) -> Any:
            return [*super().items(), ("x-northflank-notification-token", "other")]

    with pytest.raises(WebhookAuthError, match="several"):
        PARSER.parse(Twice(headers()), body(DOCUMENTED))


def test_a_body_over_the_bound_is_413_before_it_is_parsed() -> None:
    parser = WebhookParser(SECRET, max_body=100)
    with pytest.raises(WebhookPayloadTooLargeError) as caught:
        parser.parse(headers(), b"[" * 101)
    assert caught.value.status == 413


def test_json_nested_5000_deep_is_a_400_not_a_recursion_error() -> None:
    for deep in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"[" * 5000):
        with pytest.raises(WebhookPayloadError, match="deeper") as caught:
            PARSER.parse(headers(), deep)
        assert caught.value.status == 400


def test_depth_counts_brackets_outside_strings_only() -> None:
    inside = {"event": "x:y", "data": {"text": "[" * 5000 + '\\"{' * 100}}
    assert PARSER.parse(headers(), body(inside)).raw == inside
    nested: Any = 1
    for _ in range(MAX_DEPTH - 2):  # inside the body's object and its data: MAX_DEPTH in all
        nested = [nested]
    assert PARSER.parse(headers(), body({"event": "x:y", "data": {"n": nested}})).kind == "x:y"
    nested = [nested]
    with pytest.raises(WebhookPayloadError, match="deeper"):
        PARSER.parse(headers(), body({"event": "x:y", "data": {"n": nested}}))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"event": "build:start", "data": {"build": {"id": "b"}}', "not JSON"),
        (b"[]", "JSON object"),
        (b'"build:start"', "JSON object"),
        (b"{}", "no event type"),
        (b'{"event": 5}', "event must be"),
        (b'{"event": "build:start", "data": []}', "data must be an object"),
        (b'{"event": "build:start", "data": {}}', "string id"),
        (b'{"event": "build:start", "data": {"build": {"status": "SUCCESS"}}}', "string id"),
        (b'{"event": "build:start", "data": {"build": {"id": 12}}}', "string id"),
        (b'{"event": "build:start", "data": {"build": "b-1"}}', "string id"),
        (b'{"event": "build:success", "data": {"build": {"id": "b", "concluded": "yes"}}}',
         "data.build.concluded"),
        (b'{"event": "build:success", "data": {"build": {"id": "b", "createdAt": "soon"}}}',
         "data.build.createdAt"),
        (b'{"event": "job-run:start", "data": {"run": {"id": "r", "active": "1"}}}',
         "data.run.active"),
        (b'{"event": "build:start", "data": {"build": {"id": "b"}, "job": {"id": 3}}}',
         "data.job.id"),
        (b'{"event": "build:start", "data": {"build": {"id": "b"}, "project": [1]}}',
         "data.project"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_400(payload: bytes, reason: str) -> None:
    with pytest.raises(WebhookPayloadError, match=reason) as caught:
        PARSER.parse(headers(), payload)
    assert caught.value.status == 400 and isinstance(caught.value, NorthflankError)


def test_header_values_are_bounded() -> None:
    with pytest.raises(WebhookPayloadError, match="event-id"):
        PARSER.parse(headers(event_id="e" * 257), body(DOCUMENTED))
    with pytest.raises(WebhookPayloadError, match="event-id"):
        PARSER.parse(headers(event_id=""), body(DOCUMENTED))


def test_the_secret_is_never_shown() -> None:
    parser = WebhookParser([SECRET, "second-secret-value"])
    assert SECRET not in repr(parser) and "second-secret" not in repr(parser)
    receiver = WebhookReceiver(SECRET)
    assert SECRET not in repr(receiver) and SECRET not in repr(vars(receiver))
    # A body that echoes the secret in a bad field: the message hides it.
    echo = body(build_event(concluded=SECRET))
    with pytest.raises(WebhookPayloadError) as caught:
        parser.parse(headers(), echo)
    assert SECRET[:8] not in str(caught.value) and "<token hidden>" in str(caught.value)


@pytest.mark.parametrize("secret", ["", [], [""], [SECRET, 5], "\udc80"])
def test_bad_secrets_are_refused(secret: Any) -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookReceiver(secret)


@pytest.mark.parametrize(
    "options", [{"max_body": 0}, {"dedupe_size": 0}, {"dedupe_ttl": 0}, {"queue_size": 0},
                {"max_body": True}, {"dedupe_ttl": float("nan")}]
)  # fmt: skip
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        WebhookReceiver(SECRET, **options)


def test_the_errors_are_one_family_with_their_statuses() -> None:
    statuses = {
        cls: cls.status
        for cls in (WebhookAuthError, WebhookPayloadError, WebhookPayloadTooLargeError,
                    WebhookUnavailableError)
    }  # fmt: skip
    assert statuses == {
        WebhookAuthError: 401,
        WebhookPayloadError: 400,
        WebhookPayloadTooLargeError: 413,
        WebhookUnavailableError: 503,
    }
    assert all(issubclass(cls, WebhookError) for cls in statuses)
    assert issubclass(WebhookError, NorthflankError)


# --------------------------------------------------------------------------- the dedupe window


def test_the_window_forgets_by_age() -> None:
    window = DedupeWindow(size=10, ttl=60)
    assert window.add("a", 0.0) and not window.add("a", 59.0)
    assert window.seen("a", 59.9) and not window.seen("a", 60.0)
    assert window.add("a", 60.0) and len(window) == 1


def test_the_window_forgets_the_oldest_by_count() -> None:
    window = DedupeWindow(size=3, ttl=float("inf"))
    for name in "abcd":
        assert window.add(name, 0.0)
    assert len(window) == 3 and "a" not in window and all(n in window for n in "bcd")


def test_a_duplicate_does_not_renew_its_id() -> None:
    window = DedupeWindow(size=10, ttl=10)
    window.add("a", 0.0)
    assert not window.add("a", 9.0)
    assert window.add("a", 10.0)


def test_ids_of_any_length_cost_the_same() -> None:
    window = DedupeWindow(size=2, ttl=10)
    assert window.add("x" * 10_000, 0.0) and window.add("\udc80", 0.0)
    assert not window.add("x" * 10_000, 1.0)


# --------------------------------------------------------------------------- receive, no I/O


def test_receive_queues_each_event_id_once_in_arrival_order() -> None:
    receiver = WebhookReceiver(SECRET)
    assert receiver.receive(headers(event_id="1"), body(build_event())) is not None
    assert receiver.receive(headers(event_id="2"), body(DOCUMENTED)) is not None
    assert receiver.receive(headers(event_id="1"), body(build_event())) is None
    assert [e.event_id for e in receiver.take_pending()] == ["1", "2"]
    assert receiver.take_pending() == [] and receiver.pending == 0


def test_a_full_queue_refuses_with_503_and_forgets_nothing() -> None:
    receiver = WebhookReceiver(SECRET, queue_size=1)
    receiver.receive(headers(event_id="1"), body(DOCUMENTED))
    with pytest.raises(WebhookUnavailableError) as caught:
        receiver.receive(headers(event_id="2"), body(DOCUMENTED))
    assert caught.value.status == 503
    assert receiver.receive(headers(event_id="1"), body(DOCUMENTED)) is None  # still a repeat
    receiver.take_pending()
    assert receiver.receive(headers(event_id="2"), body(DOCUMENTED)) is not None  # the resend


def test_a_closed_receiver_refuses_new_events() -> None:
    receiver = WebhookReceiver(SECRET)
    receiver.close()
    with pytest.raises(WebhookUnavailableError, match="closed"):
        receiver.receive(headers(), body(DOCUMENTED))
    assert receiver.closed
