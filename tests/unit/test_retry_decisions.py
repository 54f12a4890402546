"""Retry decisions, without sockets: RetryRun says wait-and-repeat, or stop."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from northflank_async._core.retry import RetryPolicy, RetryRun

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def run(method: str = "GET", *, retries: int = 2, max_wait: float = 60.0) -> RetryRun:
    policy = RetryPolicy(max_retries=retries, backoff_base=1.0, backoff_max=8.0)
    return RetryRun(policy, method, max_wait, random.Random(7))


class TestAfterFailure:
    def test_idempotent_request_is_repeated_until_the_retries_are_spent(self) -> None:
        """A GET that got no answer waits within the backoff bounds, twice, then stops."""
        r = run(retries=2)
        first = r.after_failure(reached=True)
        second = r.after_failure(reached=True)
        assert first is not None and 0.5 <= first <= 1.0
        assert second is not None and 1.0 <= second <= 2.0
        assert r.after_failure(reached=True) is None
        assert r.attempt == 3

    def test_post_is_repeated_only_if_it_never_arrived(self) -> None:
        """A refused connection is safe to repeat for POST; a lost answer is not."""
        assert run("POST").after_failure(reached=False) is not None
        assert run("POST").after_failure(reached=True) is None

    def test_unretryable_failure_stops(self) -> None:
        """A failure the caller marks unretryable (a body too large) stops at once."""
        assert run().after_failure(reached=True, retryable=False) is None


class TestAfterStatus:
    def test_retry_after_wins_over_the_backoff(self) -> None:
        """A 503 announcing Retry-After: 3 waits exactly 3 s."""
        assert run().after_status(503, {"Retry-After": "3"}, NOW) == 3.0

    def test_429_without_retry_after_waits_for_the_announced_reset(self) -> None:
        """The window's reset is the wait when the server gives no Retry-After."""
        assert run("POST").after_status(429, {"x-ratelimit-reset": "12"}, NOW) == 12.0

    def test_an_announced_wait_beyond_max_wait_stops(self) -> None:
        """An hour's wait is the caller's decision, not a silent sleep."""
        assert run(max_wait=60).after_status(429, {"Retry-After": "3600"}, NOW) is None

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
    def test_client_errors_are_not_repeated(self, status: int) -> None:
        """A 4xx other than 408 and 429 would fail the same way again."""
        assert run().after_status(status, {}, NOW) is None

    def test_post_is_repeated_only_after_a_refusal(self) -> None:
        """A POST answered 502 may have started something: never repeated; 429 is."""
        assert run("POST").after_status(502, {}, NOW) is None
        assert run("POST").after_status(429, {}, NOW) is not None


class TestDoneOnRepeat:
    def test_409_after_a_lost_answer_means_done(self) -> None:
        """A DELETE whose answer was lost may have acted: its retry's 409 means done."""
        r = run("DELETE")
        assert not r.done_on_repeat(409, {409})  # a first attempt's 409 is a real conflict
        r.after_failure(reached=True)
        assert r.done_on_repeat(409, {409})

    def test_409_after_a_refusal_is_a_conflict(self) -> None:
        """A 503 refused the first attempt before any work: a later 409 is real."""
        r = run("DELETE")
        r.after_status(503, {}, NOW)
        assert not r.done_on_repeat(409, {409})
        r.after_status(502, {}, NOW)
        assert r.done_on_repeat(409, {409})
