"""The fake's notifications, as `FakeNorthflank` shows them: integrations, delivery, faults.

`NotifyFace` is the part of the face that registers notification integrations without a
request (`add_notification_integration`), chooses how deliveries are retried
(`configure_notifications`) and which faults they meet (`notification_faults`), and shows
what was sent (`notifications`, `notifications_settled`). The delivery room is `._notify`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Final

import aiohttp

from ._integrations import trigger_keys
from ._notify import NotificationDelivery, Notifier, NotifyFaults, Settings
from ._requests import ApiError
from ._rooms import Rooms, check_seconds

__all__ = ["WEBHOOK_EVENTS", "NotifyFace"]

#: The build and job-run events of the reference, as a server holds them: each kind of item
#: and the moments it announces (``build:start``, ..., ``job-run:terminate``).
_ANNOUNCED: Final = {
    "build": ("start", "success", "failure", "abort"),
    "job-run": ("start", "success", "failure", "abort", "terminate"),
}
#: The events a fixture's integration sends by default: every build and job-run event.
WEBHOOK_EVENTS: Final = tuple(f"{kind}:{at}" for kind, ats in _ANNOUNCED.items() for at in ats)

#: The delivery policy a fake starts with (`Settings`' defaults, stated there once), and what
#: `configure_notifications` falls back to for each argument left out.
_POLICY: Final = Settings()


def _probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")
    return float(value)


class NotifyFace(Rooms):
    """`FakeNorthflank`'s notification methods: integrations, retries, faults, the record."""

    _notifier: Notifier

    def add_notification_integration(
        self,
        webhook: str,
        *,
        secret: str | None = None,
        events: Sequence[str] = WEBHOOK_EVENTS,
        name: str | None = None,
        projects: Sequence[str] | None = None,
        type: str = "RAW_WEBHOOK",
    ) -> dict[str, Any]:
        """Register a ``RAW_WEBHOOK`` integration that POSTs `events` to `webhook`.

        As if created through the API (the same checks; ``ValueError`` saying what is wrong):
        `events` are short names (``"build:success"``) or ``trigger:`` keys, `name` defaults
        to ``"Fake hook N"`` (its id: ``fake-hook-n``), `projects` restricts it. Each
        delivery carries `secret` in ``X-Northflank-Notification-Token`` (no header without
        one). Another `type` (``"DISCORD"``, ...) is kept and listed but sends nothing (a
        chat's webhook is not the fake's to call). Returns the integration's record (the live
        object ``get`` answers, which never holds the secret).
        """
        body: dict[str, Any] = {
            "name": name or f"Fake hook {len(self._store.integrations.by_id) + 1}",
            "type": type,
            "webhook": webhook,
            "events": trigger_keys(events),
        }
        if secret is not None:
            body["secret"] = secret
        if projects is not None:
            body.update(projects=list(projects), restricted=True)
        try:
            integration = self._store.integrations.create(body)
        except ApiError as error:
            raise ValueError(f"{error.message}: {error.details}") from None
        return integration.record

    def notification_integration(self, integration_id: str) -> dict[str, Any]:
        """The record of an integration (its ``status`` included; never the secret)."""
        found = self._store.integrations.by_id.get(integration_id)
        if found is None:
            raise KeyError(f"unknown notification integration {integration_id!r}")
        return found.record

    def configure_notifications(
        self,
        *,
        retries: int = _POLICY.retries,
        backoff: float = _POLICY.backoff,
        max_backoff: float = _POLICY.max_backoff,
        timeout: float = _POLICY.timeout,
        disable_after: int | None = _POLICY.disable_after,
        trace_configs: Sequence[aiohttp.TraceConfig] = _POLICY.trace_configs,
    ) -> None:
        """Choose how deliveries are retried, and when an integration is disabled.

        A delivery answered with a non-2xx status (or a connection error, or no answer
        within `timeout` seconds) is a failed request: it is retried `retries` times, after
        `backoff` seconds, doubling up to `max_backoff`, on the event loop's clock. Each
        failed request counts on the integration (``status.numberOfFailedRequests``, and
        ``timeOfFirstFailedRequest``); a 2xx resets both. At `disable_after` failed requests
        in a row it is disabled (``status.disabled``) and sends nothing more (``None``:
        never). `trace_configs` go to the session that delivers (a test on a virtual clock
        hands it the guard that holds time while a request is in flight).
        """
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError("retries must be an int >= 0")
        if disable_after is not None and (
            isinstance(disable_after, bool) or not isinstance(disable_after, int)
            or disable_after < 1
        ):  # fmt: skip
            raise ValueError("disable_after must be an int >= 1 (or None)")
        check_seconds("backoff", backoff)
        check_seconds("max_backoff", max_backoff)
        if not (check_seconds("timeout", timeout) > 0):
            raise ValueError("timeout must be > 0")
        self._notifier.settings = Settings(
            retries, float(backoff), float(max_backoff), float(timeout), disable_after,
            tuple(trace_configs),
        )  # fmt: skip

    def notification_faults(
        self,
        *,
        lose: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.0,
        reorder: float = 0.0,
        seed: int = 0,
    ) -> None:
        """Make deliveries unreliable as Northflank's may be, reproducibly from `seed`.

        Each (event, integration) delivery is drawn once: with probability `lose` it is
        never sent; `duplicate`, it is sent a second time (same event id) once delivered;
        a start, with probability `reorder`, is held back until its build's (run's) end has
        been sent; every delivery waits a uniform 0..`delay` seconds first. ``notification_
        faults()`` turns them off.
        """
        self._notifier.faults = NotifyFaults(
            _probability("lose", lose),
            _probability("duplicate", duplicate),
            check_seconds("delay", delay),
            _probability("reorder", reorder),
            random.Random(seed),
        )

    @property
    def notifications(self) -> list[NotificationDelivery]:
        """Every delivery attempt so far, in order (a fresh list of frozen records)."""
        return list(self._notifier.record)

    async def notifications_settled(self) -> None:
        """Wait until no delivery is in flight or waiting to retry.

        Starts held back by the ``reorder`` fault wait for their end and are not waited for.
        """
        await self._notifier.settled()
