"""Which answer the rate-limit gate believes, in the pure state.

The freshest answer wins (freshness is send order); a 429's ``Retry-After`` (else its reset)
is authoritative; a 200 that says ``remaining=0`` holds new attempts only until its reset or
until a fresher answer shows budget. Unit cases, and property tests over sequences of answers
in and out of order.
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from northflank_async._core.ratelimit import Attempt, RateLimitState

WALL = datetime(2026, 1, 1, tzinfo=UTC)


def told(
    limit: int, remaining: int, reset: float, retry_after: float | None = None
) -> dict[str, str]:
    headers = {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return headers


def answered(
    state: RateLimitState, attempt: Attempt, headers: dict[str, str], now: float, status: int = 200
) -> bool:
    believed = state.observe(headers, now, WALL, attempt, status=status)
    state.finish(attempt=attempt)
    return believed


class TestFreshestAnswerWins:
    def test_the_issues_429_after_a_long_window_lets_the_next_request_go(self) -> None:
        """200 (999 left, reset 3600), then 429 (0 left, reset 1, Retry-After 0): go again."""
        state = RateLimitState()
        answered(state, state.send(), told(1000, 999, 3600), now=0.0)
        assert answered(state, state.send(), told(1000, 0, 1, retry_after=0), 0.5, status=429)
        assert state.delay(0.5) == 0.0  # the 429 asked for no wait: one request probes
        assert state.send().probe

    def test_a_429_without_retry_after_waits_for_its_own_reset(self) -> None:
        state = RateLimitState()
        answered(state, state.send(), told(1000, 999, 3600), now=0.0)
        answered(state, state.send(), told(1000, 0, 1), now=0.0, status=429)
        assert state.delay(0.0) == pytest.approx(1.0)

    def test_a_429s_retry_after_wins_over_its_reset(self) -> None:
        state = RateLimitState()
        answered(state, state.send(), told(1000, 0, 3600, retry_after=30), 0.0, status=429)
        assert state.delay(0.0) == pytest.approx(30.0)

    def test_a_reset_of_a_day_is_replaced_by_a_later_answer(self) -> None:
        """One answer announcing reset=86000 blocks no longer than the next one says."""
        state = RateLimitState()
        answered(state, state.send(), told(1000, 999, 86_000), now=0.0)
        answered(state, state.send(), told(1000, 0, 5), now=1.0)
        assert state.delay(1.0) == pytest.approx(5.0)

    def test_a_fresher_answer_with_budget_releases_a_spent_200(self) -> None:
        """remaining=0 on a 200 holds only until a later-sent attempt's answer shows budget."""
        state = RateLimitState()
        answered(state, state.send(), told(10, 5, 60), now=0.0)
        first, second = state.send(), state.send()
        assert answered(state, first, told(10, 0, 3600), now=1.0)
        assert state.delay(1.0) == pytest.approx(3600.0)
        assert answered(state, second, told(1000, 900, 3500), now=2.0)  # sent later: fresher
        assert state.delay(2.0) == 0.0

    def test_an_older_answer_arriving_late_changes_nothing(self) -> None:
        state = RateLimitState()
        first, second = state.send(), state.send()
        assert answered(state, second, told(10, 0, 60), now=1.0)
        assert not answered(state, first, told(10, 9, 1), now=2.0)  # stale
        assert state.delay(2.0) == pytest.approx(59.0)

    def test_attempts_the_server_may_not_have_counted_are_subtracted(self) -> None:
        """Sent before the believed one and still out, or sent after it: not in its figure."""
        state = RateLimitState()
        early, believed, late = state.send(), state.send(), state.send()
        answered(state, believed, told(10, 5, 60), now=0.0)
        assert state.remaining == 3  # 5, less "early" (still out) and "late"
        answered(state, early, told(10, 9, 60), now=0.0)  # stale
        answered(state, late, told(10, 4, 60), now=0.0)  # "early" is back: only 4 is told
        assert state.remaining == 4


@attrs.define
class Believed:
    """The model's freshest answer: what it asked and allowed, and what followed it."""

    seq: int
    at: float
    remaining: int
    seconds: float
    sent_before_answer: int  # attempts sent after it, before its answer arrived
    open_older: int  # attempts sent before it, still out when its answer arrived
    sent_since: int = 0  # attempts sent after its answer arrived

    @property
    def end(self) -> float:
        return self.at + self.seconds


RESETS = st.sampled_from([0, 1, 5, 60, 3600, 86_000])


Send = st.just(("send",))


Advance = st.tuples(st.just("advance"), st.sampled_from([0.0, 0.5, 1.0, 10.0, 100.0, 4000.0]))


Answer = st.tuples(
    st.just("answer"),
    st.integers(0, 1000),  # which outstanding attempt (any order)
    st.sampled_from([200, 200, 429, 0]),  # 0: a failure, no headers
    st.integers(0, 50),  # limit
    st.integers(0, 60),  # remaining
    RESETS,
    st.sampled_from([None, 0, 1, 30, 86_000]),  # a 429's Retry-After
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(Send, Send, Answer, Advance), max_size=80))
def test_the_gate_never_waits_longer_nor_spends_more_than_the_freshest_answer(
    steps: list[tuple[object, ...]],
) -> None:
    """After each step: the wait is at most what the freshest answer asked; the attempts
    let through since it arrived fit its budget; a budget left lets the next one go."""
    state = RateLimitState()
    now = 0.0
    out: list[Attempt] = []
    freshest: Believed | None = None
    for step in steps:
        if step[0] == "advance":
            now += float(step[1])  # type: ignore[arg-type]
        elif step[0] == "send":
            if state.delay(now) == 0:
                out.append(state.send())
                if freshest is not None:
                    freshest.sent_since += 1
        elif out:
            _, pick, status, limit, remaining, reset, retry_after = step
            attempt = out.pop(int(pick) % len(out))  # type: ignore[call-overload]
            if status == 0:
                state.finish(attempt=attempt)
                continue
            headers = told(limit, remaining, reset, retry_after if status == 429 else None)  # type: ignore[arg-type]
            fresh = freshest is None or attempt.seq >= freshest.seq
            assert answered(state, attempt, headers, now, int(status)) == fresh  # type: ignore[call-overload]
            if fresh:
                asked = retry_after if status == 429 and retry_after is not None else reset
                freshest = Believed(
                    seq=attempt.seq,
                    at=now,
                    remaining=0 if status == 429 else min(int(remaining), int(limit)),  # type: ignore[call-overload]
                    seconds=float(asked),  # type: ignore[arg-type]
                    sent_before_answer=state.sent - attempt.seq,
                    open_older=sum(1 for other in out if other.seq < attempt.seq),
                )
        delay = state.delay(now)
        if freshest is None:
            assert delay in (0.0, None)
            continue
        if delay is not None:  # never longer than the freshest answer asked
            assert delay <= max(0.0, freshest.end - now) + 1e-9
        if now < freshest.end:
            budget = freshest.remaining - freshest.sent_before_answer
            # never more than the freshest answer's budget allows ...
            assert freshest.sent_since <= max(0, budget)
            # ... and while it allows more, nothing waits
            if budget - freshest.open_older - freshest.sent_since > 0:
                assert delay == 0.0
