"""Rate-limit headers and the probe, in the pure state: absurd values are ignored, and a window
not known yet is probed by one request before the others go.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from northflank_async import RateLimitError
from northflank_async._core.ratelimit import (
    MAX_BUDGET,
    MAX_RESET_SECONDS,
    RateLimitState,
    reset_seconds,
)
from northflank_async._core.wire import api_error

WALL = datetime(2026, 1, 1, tzinfo=UTC)

ABSURD = [
    "1e12",
    "1e400",
    "-1",
    "-0.5",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1_000",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: float() reads it; we do not
    "0x10",
    "",
    " ",
    "ten",
    "9" * 400,
    str(MAX_BUDGET + 1),
]


header_values = st.one_of(
    st.sampled_from(ABSURD),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=30),
    st.integers(min_value=0, max_value=200).map(str),
)


header_sets = st.dictionaries(
    st.sampled_from(
        ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "Retry-After"]
    ),
    header_values,
)


class TestAbsurdHeaders:
    @pytest.mark.parametrize("value", ABSURD)
    def test_absurd_reset_is_ignored(self, value: str) -> None:
        """An unbelievable x-ratelimit-reset tells nothing: no OverflowError, no state."""
        headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0"}
        headers["x-ratelimit-reset"] = value
        state = RateLimitState()
        state.start()
        assert not state.observe(headers, now=0.0, wall=WALL)
        state.finish()
        assert state.in_flight == 0 and state.snapshot() is None
        assert reset_seconds(headers) is None
        error = api_error(429, headers, b"", method="GET", path="/x", now=WALL)
        assert isinstance(error, RateLimitError)
        assert (error.retry_after, error.reset_at) == (None, None)

    def test_bounds(self) -> None:
        """A day of reset and a billion requests are believed; a hair more is not."""
        assert reset_seconds({"x-ratelimit-reset": str(int(MAX_RESET_SECONDS))}) == 86_400
        assert reset_seconds({"x-ratelimit-reset": "86400.5"}) is None
        assert reset_seconds({"x-ratelimit-reset": " 1.5 "}) == 1.5
        state = RateLimitState()
        state.start()
        told = {"x-ratelimit-limit": str(MAX_BUDGET), "x-ratelimit-reset": "1"}
        assert state.observe(told | {"x-ratelimit-remaining": str(MAX_BUDGET)}, 0.0, WALL)
        assert not state.observe(told | {"x-ratelimit-remaining": str(MAX_BUDGET + 1)}, 0.0, WALL)

    def test_remaining_above_limit_counts_as_limit_and_limit_zero_waits(self) -> None:
        """remaining > limit is clipped to limit; a limit of 0 means wait for the reset."""
        state = RateLimitState()
        state.start()
        headers = {
            "x-ratelimit-limit": "5",
            "x-ratelimit-remaining": "900",
            "x-ratelimit-reset": "9",
        }
        assert state.observe(headers, now=0.0, wall=WALL)
        state.finish()
        assert state.remaining == 5
        state.start()
        zero = {"x-ratelimit-limit": "0", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9"}
        assert state.observe(zero, now=1.0, wall=WALL)
        state.finish()
        assert state.delay(1.0) == pytest.approx(9.0)  # the later of the two ends
        assert state.delay(10.0) == 0.0  # the reset passed: a probe goes

    @settings(max_examples=300, deadline=None)
    @given(answers=st.lists(header_sets, max_size=6), now=st.floats(0, 1e6))
    def test_any_headers_give_a_typed_answer_and_a_sane_state(
        self, answers: list[dict[str, str]], now: float
    ) -> None:
        """Whatever the headers: no exception, finite waits within a day, in-flight back to 0."""
        state = RateLimitState()
        for headers in answers:
            error = api_error(429, headers, b"", method="GET", path="/x", now=WALL)
            assert isinstance(error, RateLimitError)
            assert error.retry_after is None or (
                math.isfinite(error.retry_after) and error.retry_after >= 0
            )
            assert error.reset_at is None or error.reset_at >= WALL
            delay = state.delay(now)
            if delay is None:
                assert state.probing
                continue
            assert math.isfinite(delay) and 0 <= delay <= MAX_RESET_SECONDS
            probe = state.start()
            state.observe(headers, now, WALL)
            state.finish(probe=probe)
            assert state.in_flight == 0 and not state.probing
            if state.remaining is not None:
                assert state.limit is not None and 0 <= state.remaining <= state.limit
            snapshot = state.snapshot()
            assert snapshot is None or snapshot.reset_at >= WALL


def told(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }


class TestProbeState:
    def test_first_request_goes_alone_and_its_answer_opens_the_window(self) -> None:
        """Before any answer one request goes; the others wait until it tells the budget."""
        state = RateLimitState()
        assert state.delay(0.0) == 0.0
        assert state.start()  # the probe
        assert state.delay(0.0) is None  # everyone else waits for it
        assert state.observe(told(100, 99, 60), now=0.5, wall=WALL)
        state.finish(probe=True)
        for _ in range(99):
            assert state.delay(0.5) == 0.0
            assert not state.start()
        assert state.delay(0.5) == pytest.approx(60.0)  # 100 spent: wait for the reset

    def test_after_a_spent_window_resets_one_request_probes_again(self) -> None:
        """The announced reset of a spent window passed: the new window is probed first."""
        state = RateLimitState()
        state.start()
        state.observe(told(2, 0, 10), now=0.0, wall=WALL)
        state.finish(probe=True)
        assert state.delay(5.0) == pytest.approx(5.0)
        assert state.delay(10.0) == 0.0
        assert state.start()
        assert state.delay(10.0) is None
        state.observe(told(2, 1, 10), now=10.1, wall=WALL)
        state.finish(probe=True)
        assert state.delay(10.1) == 0.0

    def test_leftover_budget_at_a_reset_does_not_serialise(self) -> None:
        """reset 0 with budget left (an unlimited server's answer): requests keep flowing."""
        state = RateLimitState()
        state.start()
        state.observe(told(1_000_000, 999_999, 0), now=0.0, wall=WALL)
        state.finish(probe=True)
        for _ in range(50):
            assert state.delay(1.0) == 0.0
            assert not state.start()  # no probe: the budget left is still ours
        assert state.remaining == 999_949

    @pytest.mark.parametrize("outcome", ["no headers", "failure"])
    def test_probe_that_tells_nothing_opens_the_gate(self, outcome: str) -> None:
        """A headerless answer or a failure: nobody is held back until an answer tells."""
        state = RateLimitState()
        assert state.start()
        if outcome == "no headers":
            assert not state.observe({}, now=0.0, wall=WALL)
        state.finish(probe=True)
        assert state.blind
        for _ in range(10):
            assert state.delay(0.0) == 0.0
            assert not state.start()
        assert state.observe(told(100, 50, 60), now=0.0, wall=WALL)
        assert not state.blind and state.remaining is not None

    def test_cancelled_probe_hands_over_to_the_next_request(self) -> None:
        """A cancelled probe tells nothing of the server: the next request probes instead."""
        state = RateLimitState()
        assert state.start()
        state.finish(probe=True, cancelled=True)
        assert not state.blind and state.delay(0.0) == 0.0
        assert state.start()

    def test_late_answer_never_raises_the_count_within_a_window(self) -> None:
        """An older answer arriving after a newer one cannot make us spend more.

        (Issue 18: "older" is by send order; the answers are tied to their attempts.)
        """
        state = RateLimitState()
        probe = state.send()
        state.observe(told(100, 90, 60), now=0.0, wall=WALL, attempt=probe)
        state.finish(attempt=probe)
        older, newer = state.send(), state.send()
        state.observe(told(100, 10, 60), now=1.0, wall=WALL, attempt=newer)  # others spent it
        state.finish(attempt=newer)
        state.observe(told(100, 80, 59), now=1.1, wall=WALL, attempt=older)  # a stale answer
        state.finish(attempt=older)
        assert state.remaining is not None and state.remaining <= 9
