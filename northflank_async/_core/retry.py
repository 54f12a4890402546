"""Retry decisions: whether an attempt is repeated, and after how long. Pure: no I/O.

``_http`` sends an attempt, then asks `RetryRun` what to do with its outcome: repeat it
after a delay, or stop (raise, or for a repeated DELETE that meets 409, report success).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from datetime import datetime

import attrs

from .ratelimit import reset_seconds, retry_after_seconds

__all__ = [
    "IDEMPOTENT_METHODS",
    "REFUSED_STATUSES",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "RetryRun",
]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
#: Answers that refuse a request before any work is done: an attempt that met one of them
#: cannot have taken effect (unlike a 500, 502 or 504, or an answer lost on the way back).
REFUSED_STATUSES = frozenset({408, 429, 503})


@attrs.frozen
class RetryPolicy:
    """When to retry and how long to wait: exponential backoff with equal jitter.

    Attempt ``n`` (1-based) waits between half and all of ``min(cap, base * 2 ** (n - 1))``, so
    retries spread out under load but never fire at once.
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0

    def retry_status(self, method: str, status: int) -> bool:
        """Whether an HTTP status is worth another attempt for this method."""
        if status == 429:
            return True  # a 429 was refused before any work was done: safe for POST too
        return method in IDEMPOTENT_METHODS and status in RETRYABLE_STATUSES

    def retry_exception(self, method: str, *, reached_server: bool) -> bool:
        """Whether a transport failure is worth another attempt.

        A request that may have reached the server (a reset, a dropped response, a read
        timeout) is only repeated when repeating it is harmless.
        """
        return method in IDEMPOTENT_METHODS or not reached_server

    def may_have_acted(self, status: int) -> bool:
        """Whether an attempt answered with error ``status`` may have done its work anyway."""
        return status not in REFUSED_STATUSES

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        # The exponent is capped so that a huge max_retries cannot overflow a float.
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt - 1, 64))
        jitter: float = (rng or random).uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


@attrs.define
class RetryRun:
    """The retries of one request: which attempt it is on, and what to do after each outcome.

    Each ``after_*`` method returns the seconds to wait before the next attempt, or ``None``
    to stop there (the caller raises what it got). ``max_wait`` bounds a wait the server
    announces (``Retry-After``, or a 429's window reset): a longer one stops the retries, so the
    caller decides instead of sleeping for an hour.
    """

    policy: RetryPolicy
    method: str
    max_wait: float
    rng: random.Random | None = None
    attempt: int = 1
    #: Whether an earlier attempt may have reached the server and done its work.
    may_have_acted: bool = False

    @property
    def last(self) -> bool:
        """Whether this attempt is the last one the policy allows."""
        return self.attempt > self.policy.max_retries

    def after_failure(self, *, reached: bool, retryable: bool = True) -> float | None:
        """After an attempt that got no answer (``reached``: it may have arrived)."""
        self.may_have_acted = self.may_have_acted or reached
        if (
            self.last
            or not retryable
            or not self.policy.retry_exception(self.method, reached_server=reached)
        ):
            return None
        return self._next(self.policy.backoff(self.attempt, self.rng))

    def done_on_repeat(self, status: int, done_if_repeated: Collection[int]) -> bool:
        """Whether error ``status`` means success because an earlier attempt may have acted."""
        return self.may_have_acted and status in done_if_repeated

    def after_status(self, status: int, headers: Mapping[str, str], now: datetime) -> float | None:
        """After an error answer: the server's announced wait if any, else the backoff."""
        if self.last or not self.policy.retry_status(self.method, status):
            return None
        announced = retry_after_seconds(headers, now)
        if announced is None and status == 429:
            announced = reset_seconds(headers)
        if announced is not None and announced > self.max_wait:
            return None
        self.may_have_acted = self.may_have_acted or self.policy.may_have_acted(status)
        delay = self.policy.backoff(self.attempt, self.rng) if announced is None else announced
        return self._next(delay)

    def _next(self, delay: float) -> float:
        self.attempt += 1
        return delay
