"""The pure core: routes, envelopes, error mapping, cursors, retries and rate-limit state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from northflank_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    JobBuild,
    NotFoundError,
    Page,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TooManyRequestsError,
    UnexpectedRedirectError,
)
from northflank_async._core.ratelimit import RateLimitState, retry_after_seconds
from northflank_async._core.retry import RetryPolicy
from northflank_async._core.wire import decipher_response, job_path, parse_list_page
from northflank_async._engine.pagination import CursorTracker

from ..conftest import list_page


class TestJobPath:
    def test_project_form(self) -> None:
        """The team-scoped token form is /v1/projects/..."""
        assert (
            job_path(project_id="p", job_id="j", tail=("build",)) == "/v1/projects/p/jobs/j/build"
        )

    def test_team_form(self) -> None:
        """team_id switches to /v1/teams/{teamId}/projects/..."""
        path = job_path(project_id="p", job_id="j", team_id="t", tail=("build", "b"))
        assert path == "/v1/teams/t/projects/p/jobs/j/build/b"

    @pytest.mark.parametrize(
        ("raw", "encoded"),
        [
            ("../x", "..%2Fx"),
            ("a/b", "a%2Fb"),
            ("q?x=1", "q%3Fx%3D1"),
            ("sp ace", "sp%20ace"),
            ("#frag", "%23frag"),
            ("é", "%C3%A9"),
        ],
    )
    def test_every_segment_is_encoded(self, raw: str, encoded: str) -> None:
        """User data can never change the route."""
        path = job_path(project_id=raw, job_id=raw, team_id=raw, tail=("build", raw))
        assert path == f"/v1/teams/{encoded}/projects/{encoded}/jobs/{encoded}/build/{encoded}"

    @pytest.mark.parametrize("bad", ["", None, 3])
    def test_empty_or_non_string_ids_are_refused(self, bad: object) -> None:
        """An empty id would silently address the collection instead of one item."""
        with pytest.raises(ValueError, match="project_id"):
            job_path(project_id=bad, job_id="j")  # type: ignore[arg-type]


class TestDecipher:
    def test_success_returns_parsed_json(self) -> None:
        """A 2xx answer is its parsed JSON."""
        assert decipher_response(200, {}, b'{"data": {}}', method="GET", path="/x") == {"data": {}}

    def test_success_that_is_not_json_is_a_decode_error(self) -> None:
        """A 200 with HTML is not silently accepted."""
        with pytest.raises(DecodeError, match="not JSON"):
            decipher_response(200, {}, b"<html>", method="GET", path="/x")

    @pytest.mark.parametrize(
        ("status", "cls"),
        [
            (400, BadRequestError),
            (401, AuthenticationError),
            (403, PermissionDeniedError),
            (404, NotFoundError),
            (409, ConflictError),
            (429, TooManyRequestsError),
            (500, ServerError),
            (502, ServerError),
            (503, ServerError),
            (504, ServerError),
            (418, APIError),
            (302, UnexpectedRedirectError),
        ],
    )
    def test_status_maps_to_class(self, status: int, cls: type[APIError]) -> None:
        """Each status has its class, carrying the envelope's fields."""
        body = (
            b'{"error": {"status": %d, "message": "it broke", "id": "e-1", "details": [1]}}'
            % status
        )
        with pytest.raises(cls) as info:
            decipher_response(status, {"X-A": "b"}, body, method="GET", path="/v1/p")
        err = info.value
        assert type(err) is cls
        assert (err.status, err.message, err.error_id, err.details) == (
            status,
            "it broke",
            "e-1",
            [1],
        )
        assert (err.method, err.path, dict(err.headers)) == ("GET", "/v1/p", {"X-A": "b"})
        assert str(err) == f"{status} GET /v1/p: it broke (error id e-1)"

    def test_html_502_from_a_proxy(self) -> None:
        """A proxy's HTML page still gives a typed error with a readable message."""
        with pytest.raises(ServerError) as info:
            decipher_response(
                502,
                {"Content-Type": "text/html; charset=utf-8"},
                b"<html>502</html>",
                method="GET",
                path="/v1/x",
            )
        assert str(info.value) == "502 GET /v1/x: Bad Gateway (non-JSON text/html body)"

    def test_empty_error_body(self) -> None:
        """No body at all still names the status."""
        with pytest.raises(ServerError, match=r"^503 GET /x: Service Unavailable$"):
            decipher_response(503, {}, b"", method="GET", path="/x")

    def test_flat_legacy_error_form(self) -> None:
        """The older generated SDK's {code, message, status, data} form is understood."""
        body = b'{"code": 7, "status": 400, "message": "bad sha", "data": {"field": "sha"}}'
        with pytest.raises(BadRequestError) as info:
            decipher_response(400, {}, body, method="POST", path="/x")
        assert (info.value.message, info.value.details) == ("bad sha", {"field": "sha"})

    def test_rate_limit_error_carries_retry_after_and_reset(self) -> None:
        """A 429 says when to come back."""
        headers = {"Retry-After": "7", "x-ratelimit-reset": "30"}
        with pytest.raises(RateLimitError) as info:
            decipher_response(429, headers, b"", method="GET", path="/x")
        assert info.value.retry_after == 7
        assert info.value.reset_at is not None
        expected = datetime.now(UTC) + timedelta(seconds=30)
        assert abs((info.value.reset_at - expected).total_seconds()) < 5

    def test_rate_limit_error_falls_back_to_reset_header(self) -> None:
        """Without Retry-After, x-ratelimit-reset says how long to wait."""
        with pytest.raises(RateLimitError) as info:
            decipher_response(429, {"x-ratelimit-reset": "12"}, b"", method="GET", path="/x")
        assert info.value.retry_after == 12

    def test_redirect_names_its_target(self) -> None:
        """A redirect is reported, never followed."""
        with pytest.raises(
            UnexpectedRedirectError, match=r"redirect to https://evil\.test/ not followed"
        ):
            decipher_response(302, {"Location": "https://evil.test/"}, b"", method="GET", path="/x")


class TestParseListPage:
    def test_page_fields(self) -> None:
        """Items, has_next_page, count and the next cursor come from the envelope."""
        page = parse_list_page(list_page(range(3), cursor="c2"), "builds", JobBuild)
        assert [b.id for b in page.items] == ["build-0000", "build-0001", "build-0002"]
        assert (page.has_next_page, page.count, page.cursor) == (True, 3, "c2")

    def test_last_page_has_no_cursor_even_if_sent(self) -> None:
        """The cursor of a last page leads nowhere: it is None."""
        page = parse_list_page(list_page(range(1), cursor="x", has_next=False), "builds", JobBuild)
        assert page.cursor is None

    @pytest.mark.parametrize(
        ("envelope", "path"),
        [
            ([], "$"),
            ({}, "$.data"),
            ({"data": {}}, "$.pagination"),
            ({"data": {"builds": []}, "pagination": {}}, "pagination.hasNextPage"),
            (
                {"data": {"builds": []}, "pagination": {"hasNextPage": "no"}},
                "pagination.hasNextPage",
            ),
            ({"data": {}, "pagination": {"hasNextPage": False}}, "data.builds"),
            ({"data": {"builds": {}}, "pagination": {"hasNextPage": False}}, "data.builds"),
            (
                {"data": {"builds": []}, "pagination": {"hasNextPage": True, "cursor": 5}},
                "pagination.cursor",
            ),
        ],
    )
    def test_malformed_envelopes(self, envelope: object, path: str) -> None:
        """A broken envelope names the broken field."""
        with pytest.raises(DecodeError) as info:
            parse_list_page(envelope, "builds", JobBuild)
        assert info.value.field == path


class TestCursorTracker:
    def test_last_page_ends(self) -> None:
        """No next page: None."""
        assert (
            CursorTracker().follow(Page(items=[], has_next_page=False, count=0, cursor=None))
            is None
        )

    def test_next_page_without_cursor(self) -> None:
        """hasNextPage without a cursor cannot be followed."""
        with pytest.raises(PaginationError, match="no cursor"):
            CursorTracker().follow(Page(items=[], has_next_page=True, count=0, cursor=None))

    def test_repeated_cursor(self) -> None:
        """A cursor seen before would loop forever."""
        tracker = CursorTracker()
        page: Page[object] = Page(items=[], has_next_page=True, count=0, cursor="a")
        assert tracker.follow(page) == "a"
        with pytest.raises(PaginationError, match="repeated"):
            tracker.follow(page)


class TestRetryPolicy:
    @pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
    def test_get_and_delete_retry_transient_statuses(self, status: int) -> None:
        """Idempotent requests retry the transient statuses."""
        policy = RetryPolicy()
        assert policy.retry_status("GET", status)
        assert policy.retry_status("DELETE", status)

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
    def test_never_retried(self, status: int) -> None:
        """Client errors are final."""
        assert not RetryPolicy().retry_status("GET", status)

    def test_post_only_retries_429(self) -> None:
        """A POST that may have run is never repeated after a 5xx."""
        policy = RetryPolicy()
        assert policy.retry_status("POST", 429)
        assert not any(policy.retry_status("POST", s) for s in (408, 500, 502, 503, 504))

    def test_post_retries_only_what_never_reached_the_server(self) -> None:
        """Connection refused: retry; dropped response: never."""
        policy = RetryPolicy()
        assert policy.retry_exception("POST", reached_server=False)
        assert not policy.retry_exception("POST", reached_server=True)
        assert policy.retry_exception("GET", reached_server=True)

    def test_backoff_is_exponential_jittered_and_capped(self) -> None:
        """Attempt n waits within [c/2, c] with c = min(cap, base * 2**(n-1))."""
        policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
        rng = random.Random(1)
        for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (30, 4.0)]:
            delays = [policy.backoff(attempt, rng) for _ in range(200)]
            assert ceiling / 2 <= min(delays)
            assert max(delays) <= ceiling
            assert max(delays) - min(delays) > ceiling / 4  # it is really jittered


class TestRetryAfter:
    NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    def test_seconds(self) -> None:
        """Delta-seconds form."""
        assert retry_after_seconds({"Retry-After": "3"}, self.NOW) == 3.0

    def test_http_date(self) -> None:
        """HTTP-date form, relative to now."""
        headers = {"Retry-After": "Thu, 01 Jan 2026 12:00:09 GMT"}
        assert retry_after_seconds(headers, self.NOW) == 9.0

    @pytest.mark.parametrize("raw", ["soon", "", "nan", "inf"])
    def test_garbage_is_ignored(self, raw: str) -> None:
        """An unusable header does not break the retry loop."""
        assert retry_after_seconds({"Retry-After": raw}, self.NOW) is None

    def test_past_date_is_zero(self) -> None:
        """A date in the past means now."""
        headers = {"Retry-After": "Thu, 01 Jan 2026 11:00:00 GMT"}
        assert retry_after_seconds(headers, self.NOW) == 0.0


WALL = datetime(2026, 1, 1, tzinfo=UTC)


def headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }


class TestRateLimitState:
    def test_unknown_state_lets_requests_go(self) -> None:
        """Before any answer nothing is known: no wait."""
        assert RateLimitState().delay(0.0) == 0.0

    def test_spent_window_waits_for_the_announced_reset(self) -> None:
        """remaining 0 means wait until the reset the API announced."""
        state = RateLimitState()
        state.start()
        assert state.observe(headers(4, 0, 2), now=10.0, wall=WALL)
        state.finish()
        assert state.delay(10.5) == pytest.approx(1.5)
        assert state.delay(12.0) == 0.0  # the window has reset: one request goes first
        assert state.remaining is None and state.start()  # ... as the probe of the new window
        assert state.delay(12.0) is None  # the others wait for its answer

    def test_concurrent_requests_cannot_overspend(self) -> None:
        """Requests sent since the last answer count against what it announced."""
        state = RateLimitState()
        for _ in range(3):
            state.start()
        state.observe(headers(10, 2, 5), now=0.0, wall=WALL)  # two more are still in flight
        state.finish()
        assert state.remaining == 0
        assert state.delay(1.0) == pytest.approx(4.0)

    def test_spent_with_unknown_reset_waits_for_an_answer(self) -> None:
        """After a reset, spending the fresh window before any answer means waiting for one."""
        state = RateLimitState()
        state.start()
        state.observe(headers(1, 0, 1), now=0.0, wall=WALL)
        state.finish()
        assert state.delay(1.0) == 0.0
        state.start()
        assert state.delay(1.0) is None  # one in flight will tell us the new window
        state.finish()
        assert state.delay(1.0) == 0.0  # none in flight: nobody would tell, so one goes

    def test_missing_or_garbage_headers_change_nothing(self) -> None:
        """A proxy's answer without the headers is ignored."""
        state = RateLimitState()
        assert not state.observe({}, now=0.0, wall=WALL)
        assert not state.observe(headers(1, 0, 1) | {"x-ratelimit-reset": "x"}, now=0, wall=WALL)
        assert state.snapshot() is None

    def test_snapshot(self) -> None:
        """The public view holds the latest figures and an aware reset time."""
        state = RateLimitState()
        state.start()
        state.observe(headers(1000, 998, 60), now=0.0, wall=WALL)
        snap = state.snapshot()
        assert snap is not None
        assert (snap.limit, snap.remaining, snap.reset_at) == (
            1000,
            998,
            WALL + timedelta(seconds=60),
        )
