"""Observability: the events a request attempt reports, and the hooks that receive them. Pure.

``_http`` builds a `RequestStart` just before an attempt is sent and a
`RequestEnd` once it has its answer or its failure, and hands them to the callables given
as ``NorthflankClient(on_request_start=..., on_request_end=...)``. Neither event holds the
token, a header or the query string: a metric or a span built from them cannot leak a secret.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import attrs

from .errors import ConfigurationError

__all__ = ["Hook", "RequestEnd", "RequestStart"]

logger = logging.getLogger("northflank_async")

E = TypeVar("E")


@attrs.frozen
class RequestStart:
    """An attempt of a request is about to be sent (it has passed the rate-limit gate).

    Attributes:
        method: The HTTP method, upper case.
        path: The URL path, without the base URL and without the query string.
        attempt: 1 for the first attempt, 2 for the first retry, and so on.
        rate_limit_remaining: Requests left in the rate-limit window by the client's own
            count, this one included; ``None`` while the window is unknown.
    """

    method: str
    path: str
    attempt: int
    rate_limit_remaining: int | None


@attrs.frozen
class RequestEnd:
    """An attempt of a request ended: with an HTTP answer (``status``) or without (``error``).

    Attributes:
        method: The HTTP method, upper case.
        path: The URL path, without the base URL and without the query string.
        attempt: 1 for the first attempt, 2 for the first retry, and so on.
        status: The HTTP status of the answer; ``None`` when none came.
        error: When no answer came, the class name of what ended the attempt:
            ``"RequestTimeoutError"``, ``"TransportError"``, ``"ResponseTooLargeError"``, or
            ``"CancelledError"`` when the caller's task was cancelled; ``None`` otherwise.
        latency: Seconds from sending to the end of the attempt (body read included), on the
            event loop's clock.
        rate_limit_remaining: Requests left in the window by the client's own count, once
            this answer's ``x-ratelimit-*`` headers are taken into account; ``None`` while
            the window is unknown.
    """

    method: str
    path: str
    attempt: int
    status: int | None
    error: str | None
    latency: float
    rate_limit_remaining: int | None


class Hook(Generic[E]):
    """A user's callable, called so that it can never break a request.

    An exception the callable raises is swallowed: the first one is logged at ERROR with its
    traceback, later ones at DEBUG, so that a broken metrics exporter neither fails the
    requests nor floods the log. A ``BaseException`` that is not an ``Exception`` (such as
    ``KeyboardInterrupt``) propagates.
    """

    __slots__ = ("_failed", "_function", "_name")

    def __init__(self, function: Callable[[E], object], name: str) -> None:
        if not callable(function):
            raise ConfigurationError(f"{name} must be callable, got {type(function).__name__}")
        if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004  (an object with async __call__)
        ):
            raise ConfigurationError(
                f"{name} must be a plain function: it is called synchronously, in the request's "
                "own task; an async hook can schedule its work with asyncio.create_task"
            )
        self._function = function
        self._name = name
        self._failed = False

    def __call__(self, event: E) -> None:
        try:
            self._function(event)
        except Exception:
            if self._failed:
                logger.debug("%s raised again; ignored", self._name, exc_info=True)
            else:
                self._failed = True
                logger.error(
                    "%s raised; ignored (the request goes on; later failures are logged at DEBUG)",
                    self._name,
                    exc_info=True,
                )
