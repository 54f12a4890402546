"""The rate-limit gates a transport waits at: the process's own, or the fleet's (Redis).

The decisions are the pure core's (`RateLimitState`, and the store's scripts for a fleet);
a gate only waits. The client makes one (`make_gate`) and hands it to its transport.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .._core.errors import ConfigurationError, RateLimitGateError
from .._core.fleet import (
    BudgetView,
    Coordinator,
    CoordinatorUnavailable,
    SharedBudget,
    Told,
    derive_budget_key,
)
from .._core.models import RateLimit
from .._core.ratelimit import Attempt, RateLimitState, told_window
from .._core.secret import Secret

__all__ = ["FleetGate", "Gate", "RateLimitGate", "make_gate"]

logger = logging.getLogger("northflank_async")


class RateLimitGate:
    """One per client: every request of every task waits here while the window is spent.

    The decisions are `RateLimitState`'s; the gate only waits. Time is the event
    loop's, so that the gate runs on a virtual clock in tests. A request that waits for the
    probe is woken by the probe's release, whatever ended it (answer, failure, cancellation).
    """

    def __init__(self, max_wait: float) -> None:
        self.state = RateLimitState()
        self.max_wait = max_wait
        self._changed = asyncio.Event()
        self._waiting = 0  # tasks waiting on _changed: with none, there is no one to wake
        self._attempts: dict[asyncio.Task[Any], Attempt] = {}

    async def acquire(self, method: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self.state.delay(loop.time())
            if delay == 0:
                task = asyncio.current_task()
                assert task is not None
                self._attempts[task] = self.state.send()
                return
            if delay is not None and delay > self.max_wait:
                raise RateLimitGateError(
                    (
                        f"{method} {path}: not sent, the rate limit is spent; the window "
                        f"resets in {delay:.0f}s, longer than "
                        f"max_rate_limit_wait={self.max_wait:g}s"
                    ),
                    method=method,
                    path=path,
                    retry_after=delay,
                    reset_at=self.state.reset_at,
                )
            if delay is not None:
                logger.info(
                    "rate limit spent: %s %s waits up to %.2fs for the reset", method, path, delay
                )
            # Woken when the probe finishes or an answer tells the budget (a fresher answer
            # may give it back before the reset); else, for a spent window, at its reset.
            self._waiting += 1
            try:
                async with asyncio.timeout(delay) as scope:
                    await self._changed.wait()
            except TimeoutError:
                if not scope.expired():
                    raise
            finally:
                self._waiting -= 1

    def release(self, headers: Mapping[str, str] | None, status: int = 200) -> None:
        """The request that passed `acquire()` in this task is done; never raises."""
        task = asyncio.current_task()
        attempt = self._attempts.pop(task, None) if task is not None else None
        probe = attempt is not None and attempt.probe
        told = False
        try:
            if headers is not None:
                now = asyncio.get_running_loop().time()
                told = self.state.observe(headers, now, datetime.now(UTC), attempt, status=status)
        finally:
            cancelled = task is not None and task.cancelling() > 0
            self.state.finish(attempt=attempt, cancelled=cancelled)
            # Every answer tells the budget: the event is only swapped when someone waits on it.
            if (probe or told) and self._waiting:
                self._changed.set()
                self._changed = asyncio.Event()

    def snapshot(self) -> RateLimit | None:
        return self.state.snapshot()

    @property
    def remaining(self) -> int | None:
        """Requests left in the window by our own count (``None`` while unknown)."""
        return self.state.remaining

    async def close(self) -> None:
        """Nothing to release: the gate holds no connection."""


# A reservation outlives its attempt's timeout by this much before Redis forgets it.
_RESERVATION_SLACK = 10.0
_LOCAL = "local"  # the ticket of an attempt that went through the process's own gate


class FleetGate:
    """The gate of a client with a coordinator: one budget for every process of the fleet.

    Each attempt reserves its slot in the shared budget before it is sent, and settles it
    with the answer's headers; the store's scripts take every decision. While a probe of the
    fleet is out, waiters ask again with a short backoff. When the store cannot be reached,
    attempts go through the process's own `RateLimitGate` (one warning per outage)
    and the store is tried again every ``recheck_interval`` seconds. The own gate also
    observes every answer, so that it knows the window when it is needed.
    """

    def __init__(
        self, coordinator: Coordinator, budget: SharedBudget, max_wait: float, hold: float
    ) -> None:
        self.local = RateLimitGate(max_wait)
        self.max_wait = max_wait
        self._budget = budget
        self._hold = hold + _RESERVATION_SLACK
        self._recheck = coordinator.recheck_interval
        self._tickets: dict[asyncio.Task[Any], str] = {}
        self._down = False
        self._retry_at = 0.0  # loop time at which an unreachable store is tried again
        self._settling: set[asyncio.Task[None]] = set()
        self._view: RateLimit | None = None

    async def acquire(self, method: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        give_up = loop.time() + self.max_wait
        backoff = 0.005
        while True:
            if self._down and loop.time() < self._retry_at:
                await self.local.acquire(method, path)
                self._tickets[task] = _LOCAL
                return
            self._retry_at = loop.time() + self._recheck  # one task checks a store that was down
            ticket = uuid.uuid4().hex
            try:
                grant = await self._budget.reserve(ticket, self._hold)
            except CoordinatorUnavailable as exc:
                self._unavailable(exc.reason)
                continue
            except ConfigurationError:  # Redis refused the credentials: nothing was reserved
                raise
            except BaseException:
                # Cancelled while the script may have run: give the slot back, in the
                # background (the reservation would expire anyway).
                self._settle(ticket, None, cancelled=True)
                raise
            self._available(grant.view)
            if grant.go:
                self._tickets[task] = ticket
                return
            if grant.wait is not None:  # the fleet spent the window
                if grant.wait > self.max_wait:
                    raise RateLimitGateError(
                        (
                            f"{method} {path}: not sent, the fleet's rate limit is spent; the "
                            f"window resets in {grant.wait:.0f}s, longer than "
                            f"max_rate_limit_wait={self.max_wait:g}s"
                        ),
                        method=method,
                        path=path,
                        retry_after=grant.wait,
                        reset_at=self._view.reset_at if self._view else None,
                    )
                logger.info(
                    "fleet rate limit spent: %s %s waits %.2fs for the reset",
                    method,
                    path,
                    grant.wait,
                )
                await asyncio.sleep(grant.wait)
                continue
            # Another member's probe is out: ask again shortly.
            if loop.time() + backoff > give_up:
                raise RateLimitGateError(
                    (
                        f"{method} {path}: not sent, the fleet's first request has not told "
                        f"the rate limit within max_rate_limit_wait={self.max_wait:g}s"
                    ),
                    method=method,
                    path=path,
                )
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 0.1)

    def release(self, headers: Mapping[str, str] | None, status: int = 200) -> None:
        """The attempt that passed `acquire()` in this task is done; never raises."""
        task = asyncio.current_task()
        ticket = self._tickets.pop(task, None) if task is not None else None
        if ticket == _LOCAL:
            self.local.release(headers, status)
            return
        told = None
        if headers is not None:
            loop = asyncio.get_running_loop()
            wall = datetime.now(UTC)
            self.local.state.observe(headers, loop.time(), wall, status=status)
            # A 429 tells the store its Retry-After (else its reset) as the spent window's end.
            window = told_window(status, headers, wall)
            if window is not None:
                limit, remaining, seconds = window
                if limit is None:  # a 429 that does not restate the limit
                    limit = self.local.state.limit
                if limit is not None and seconds is not None:
                    told = Told(limit, remaining, seconds)
        if ticket is not None:
            cancelled = task is not None and task.cancelling() > 0
            self._settle(ticket, told, cancelled=cancelled)

    def _settle(self, ticket: str, told: Told | None, *, cancelled: bool) -> None:
        settling = asyncio.get_running_loop().create_task(
            self._settle_now(ticket, told, cancelled=cancelled)
        )
        self._settling.add(settling)
        settling.add_done_callback(self._settling.discard)

    async def _settle_now(self, ticket: str, told: Told | None, *, cancelled: bool) -> None:
        try:
            view = await self._budget.settle(ticket, told, cancelled=cancelled)
        except CoordinatorUnavailable as exc:
            self._unavailable(exc.reason)  # the reservation expires by itself
            return
        except ConfigurationError:  # credentials refused since: the next reservation says it
            return
        self._available(view)

    def _unavailable(self, reason: str) -> None:
        self._retry_at = asyncio.get_running_loop().time() + self._recheck
        if not self._down:
            self._down = True
            logger.warning(
                "the fleet's coordinator is unreachable (%s): requests use this process's own "
                "rate-limit gate until it answers (tried again every %gs)",
                reason,
                self._recheck,
            )

    def _available(self, view: BudgetView | None) -> None:
        if self._down:
            self._down = False
            logger.warning("the fleet's coordinator answers again: requests share its budget")
        if view is not None and view.limit is not None and view.reset_in is not None:
            remaining = view.remaining if view.remaining is not None else view.limit
            reset_at = datetime.now(UTC) + timedelta(seconds=view.reset_in)
            self._view = RateLimit(limit=view.limit, remaining=remaining, reset_at=reset_at)

    @property
    def remaining(self) -> int | None:
        """Requests left in the window as this process last heard (``None`` while unknown)."""
        return self.local.remaining

    def snapshot(self) -> RateLimit | None:
        """The fleet's budget as the store last showed it (the own gate's while it is down)."""
        if self._down or self._view is None:
            return self._view or self.local.snapshot()
        return self._view

    async def close(self) -> None:
        """Wait (briefly) for the settlements still on their way to the store."""
        if self._settling:
            _, late = await asyncio.wait(set(self._settling), timeout=2.0)
            for task in late:
                task.cancel()


Gate = RateLimitGate | FleetGate


def make_gate(
    max_wait: float, *, coordinator: Coordinator | None, token: Secret, hold: float
) -> Gate:
    """The gate of one client: its own, or with a coordinator the fleet's shared budget.

    Only a keyed hash of the token leaves the process (see `derive_budget_key`); ``hold`` is
    how long an attempt may take (the client's ``timeout``), for the fleet's reservations.
    """
    if coordinator is None:
        return RateLimitGate(max_wait)
    budget = coordinator.shared_budget(derive_budget_key(token))
    return FleetGate(coordinator, budget, max_wait, hold)
