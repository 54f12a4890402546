"""The fake's rate limit: a fixed window, and the ``x-ratelimit-*`` headers describing it."""

from __future__ import annotations

import math
from typing import Final

__all__ = ["UNLIMITED", "RateWindow"]

#: What the rate-limit headers show when enforcement is disabled (``rate_limit=None``).
UNLIMITED: Final = 1_000_000


class RateWindow:
    """A fixed window opening at the first counted request and lasting `window` seconds."""

    def __init__(self, limit: int | None, window: float) -> None:
        if limit is not None and limit < 0:
            raise ValueError("rate limit must be >= 0")
        if not window > 0 or math.isinf(window):
            raise ValueError("rate-limit window must be a finite number of seconds > 0")
        self.limit = limit
        self.window = window
        self._opened: float | None = None
        self._used = 0

    def _roll(self, now: float) -> None:
        if self._opened is not None and now >= self._opened + self.window:
            self._opened, self._used = None, 0

    def take(self, now: float) -> bool:
        """Count one request; False (and nothing counted) when the budget is spent."""
        if self.limit is None:
            return True
        self._roll(now)
        if self._opened is None:
            self._opened = now
        if self._used >= self.limit:
            return False
        self._used += 1
        return True

    def reset_in(self, now: float) -> int:
        """Whole seconds (rounded up) until the current window resets."""
        if self.limit is None:
            return 0
        self._roll(now)
        if self._opened is None:
            return math.ceil(self.window)
        return max(0, math.ceil(self._opened + self.window - now))

    def headers(self, now: float) -> dict[str, str]:
        """Return the ``x-ratelimit-*`` headers describing the window at `now`."""
        if self.limit is None:
            limit = remaining = UNLIMITED
        else:
            self._roll(now)
            limit, remaining = self.limit, self.limit - self._used
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(self.reset_in(now)),
        }
