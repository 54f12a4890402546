"""Retry decisions: whether an attempt is repeated, and after how long. Pure: no I/O.

``_http`` sends an attempt, then asks :class:`RetryRun` what to do with its outcome: repeat it
after a delay, or stop (raise, or for a repeated DELETE that meets 409, report success).
"""

from __future__ import annotations

import random

import attrs

__all__ = ["IDEMPOTENT_METHODS", "REFUSED_STATUSES", "RETRYABLE_STATUSES", "RetryPolicy"]

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
