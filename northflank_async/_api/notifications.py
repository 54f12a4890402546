"""``nf.notifications``: the account's notification integrations (where Northflank POSTs events).

Thin over the resource machinery: the list is an `AsyncCursorIterator` (`listing`), get and
create decode through the converter (`call`), every argument is checked (`integration_body`)
before any request. The routes are ``/v1/integrations/notifications[/{id}]``, or the team form
``/v1/teams/{teamId}/...`` when a call names a team or the client has a default one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from .._core.models import NotificationIntegration
from .._core.notifications import WEBHOOK_EVENTS, integration_body
from .._core.wire import team_path
from .._engine.context import ClientContext
from .._engine.endpoints import MAX_PER_PAGE, call, listing
from .._engine.pagination import AsyncCursorIterator

__all__ = ["Notifications"]

_KEY = "notificationIntegrations"
#: Bytes of randomness in a secret `ensure_webhook` makes (43 URL-safe characters).
SECRET_BYTES = 32


class Notifications:
    """``nf.notifications``: list, get, create, update and delete notification integrations.

    Every method takes ``team_id`` (else the client's ``team_id``) for the organisation route
    form. The secret of an integration is write-only: it is sent on create or update, never
    read back, and never shown in a repr.
    """

    def __init__(self, ctx: ClientContext) -> None:
        self._ctx = ctx
        self._transport = ctx.transport

    def _path(self, team_id: str | None, *tail: str) -> str:
        return team_path(self._ctx.team(team_id), "integrations", "notifications", *tail)

    def list(
        self,
        *,
        team_id: str | None = None,
        per_page: int = MAX_PER_PAGE,
        cursor: str | None = None,
        limit: int | None = None,
        prefetch: int = 0,
    ) -> AsyncCursorIterator[NotificationIntegration]:
        """Every integration of the account, page by page (the list's fields only).

        ``per_page``, ``cursor``, ``limit`` and ``prefetch`` work as for builds (see
        `ScopedBuilds.list()`); nothing is sent until the iterator is consumed.
        """
        return listing(
            self._transport,
            self._path(team_id),
            _KEY,
            NotificationIntegration,
            per_page=per_page,
            cursor=cursor,
            limit=limit,
            prefetch=prefetch,
        )

    async def get(
        self, integration_id: str, *, team_id: str | None = None
    ) -> NotificationIntegration:
        """One integration, with its events, projects and failure status (never its secret)."""
        path = self._path(team_id, integration_id)
        return await call(self._transport, "GET", path, NotificationIntegration)

    async def create(
        self,
        name: str,
        webhook: str,
        *,
        secret: str | None = None,
        events: Iterable[str] = WEBHOOK_EVENTS,
        projects: Sequence[str] | None = None,
        restricted: bool | None = None,
        type: str = "RAW_WEBHOOK",
        team_id: str | None = None,
    ) -> NotificationIntegration:
        """Create an integration that POSTs ``events`` to ``webhook``; the new integration.

        ``name``: 3-39 characters, a letter first, words of letters and digits joined by one
        space or hyphen. ``events`` are short names (``"build:success"``) or the API's keys
        (``"trigger:build:success"``); the default is every build and job-run event.
        ``secret`` (``RAW_WEBHOOK`` only) is sent in each delivery's token header.
        ``projects`` restricts it to those projects. Any bad argument raises ``ValueError``
        before a request is sent.
        """
        body = integration_body(
            name,
            webhook,
            events,
            secret=secret,
            projects=projects,
            restricted=restricted,
            type=type,
        )
        return await call(
            self._transport, "POST", self._path(team_id), NotificationIntegration, json=body
        )

    async def update(
        self,
        integration_id: str,
        *,
        name: str | None = None,
        webhook: str | None = None,
        secret: str | None = None,
        events: Iterable[str] | None = None,
        projects: Sequence[str] | None = None,
        restricted: bool | None = None,
        team_id: str | None = None,
    ) -> None:
        """Change the fields given (``None`` leaves one as it is); the type cannot change.

        The arguments are checked as by `create()`. The API answers nothing: `get()` the
        integration to read it back.
        """
        body = integration_body(
            name, webhook, events, secret=secret, projects=projects, restricted=restricted
        )
        path = self._path(team_id, integration_id)
        await self._transport.request("POST", path, json=body)

    async def delete(self, integration_id: str, *, team_id: str | None = None) -> None:
        """Delete an integration (a repeated attempt that finds it gone counts as done)."""
        path = self._path(team_id, integration_id)
        await self._transport.request("DELETE", path, done_if_repeated=(404,))

    async def ensure_webhook(
        self,
        name: str,
        url: str,
        *,
        events: Iterable[str] = WEBHOOK_EVENTS,
        secret: str | None = None,
        team_id: str | None = None,
    ) -> tuple[NotificationIntegration, str]:
        """Make the integration ``name`` POST ``events`` to ``url`` with a fresh secret.

        The integration of that name is updated (its webhook, events and secret), or created
        when there is none; one that Northflank has disabled is deleted and created again, so
        that it sends. The secret is ``secret``, else a new random one
        (``secrets.token_urlsafe``): hand it to the receiver. Returns the integration, as
        `get()` reads it, and the secret.
        """
        token = secret if secret is not None else secrets.token_urlsafe(SECRET_BYTES)
        if isinstance(events, Iterable) and not isinstance(events, str | bytes):
            events = tuple(events)  # a generator is read once, here
        # Every argument checked before the first request.
        body = integration_body(name, url, events, secret=token, type="RAW_WEBHOOK")
        found = None
        async for integration in self.list(team_id=team_id):
            if integration.name == body["name"]:
                found = integration
                break
        if found is not None and found.disabled:
            await self.delete(found.id, team_id=team_id)
            found = None
        if found is None:
            created = await self.create(name, url, secret=token, events=events, team_id=team_id)
            return created, token
        await self.update(found.id, webhook=url, secret=token, events=events, team_id=team_id)
        return await self.get(found.id, team_id=team_id), token

    def __repr__(self) -> str:
        return "<Notifications>"
