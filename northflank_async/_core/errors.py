"""The exceptions this package raises, one tree rooted at `NorthflankError`.

::

    NorthflankError
    ├── ConfigurationError          bad or missing settings (no token, insecure base URL, ...)
    ├── ClientClosedError           the client was used after close()
    ├── TransportError              the request did not get an HTTP answer
    │   ├── RequestTimeoutError     ... because an attempt timed out (also a TimeoutError)
    │   └── ResponseTooLargeError   ... because the body exceeded max_response_bytes
    ├── DecodeError                 the answer could not be decoded into our models (.field)
    ├── PaginationError             the API's pagination contradicts itself, or never ends
    ├── WaitTimeoutError            wait()/watch() ran out of time (also a TimeoutError)
    ├── LogStreamError              a live log tail sent an error frame
    ├── RateLimitError              the rate limit stands in the way, for either reason:
    │   ├── RateLimitGateError      ... our gate refused to wait that long (nothing sent)
    │   └── TooManyRequestsError    ... the API answered 429 (also an APIError, below)
    ├── APIError                    the API answered with an HTTP error status
    │   ├── BadRequestError         400
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── ConflictError           409
    │   ├── TooManyRequestsError    429 (also a RateLimitError, above)
    │   ├── ServerError             5xx
    │   └── UnexpectedRedirectError 3xx (redirects are never followed)
    └── WebhookError                a notification sent to a WebhookReceiver was refused (.status)
        ├── WebhookAuthError        401: its token is missing or wrong
        ├── WebhookPayloadError     400: its body or headers are malformed
        ├── WebhookPayloadTooLargeError  413: its body is over the receiver's max_body
        └── WebhookUnavailableError 503: the receiver's queue is full, or it is closed

``method`` and ``path`` (the URL path) name the request on every error that has one.

An error raised while a listing walks its pages leaves the resume point on the iterator
(``iterator.resume_cursor``, ``iterator.items_yielded``) and says it in a note on the error.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict, CIMultiDictProxy

from .escape import bounded

if TYPE_CHECKING:
    from .models import JobBuild, JobRun

# No `__all__`: every class here is public, and the one list of public names is the
# package's `__all__` (northflank_async/__init__.py).


class NorthflankError(Exception):
    """Base class of every error raised by northflank-async."""

    _resume: tuple[str | None, int] | None = None

    def _set_resume_point(self, cursor: str | None, items_yielded: int) -> None:
        # Kept only for the deprecated attributes below; the iterator is the source of truth.
        self._resume = (cursor, items_yielded)

    @property
    def resume_cursor(self) -> str | None:
        """Deprecated since 0.2.0: read ``resume_cursor`` on the listing's iterator instead."""
        _deprecated("resume_cursor")
        return self._resume[0] if self._resume else None

    @property
    def items_yielded(self) -> int | None:
        """Deprecated since 0.2.0: read ``items_yielded`` on the listing's iterator instead."""
        _deprecated("items_yielded")
        return self._resume[1] if self._resume else None


def _deprecated(name: str) -> None:
    warnings.warn(
        f"NorthflankError.{name} is deprecated and will be removed in 0.3.0: read it on the "
        "listing's AsyncCursorIterator instead (it.resume_cursor, it.items_yielded)",
        DeprecationWarning,
        stacklevel=3,
    )


class ConfigurationError(NorthflankError):
    """The client was configured in a way that cannot work (no token, insecure URL, ...)."""


class ClientClosedError(NorthflankError):
    """A request was made through a client that has already been closed."""


class TransportError(NorthflankError):
    """The request did not get an HTTP answer: connection refused, reset, dropped or timed out.

    ``method`` and ``path`` name the request; the message names the underlying exception's class
    and reason. That exception is not chained (no ``__cause__``): aiohttp's carry the request
    headers, token included.
    """

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path


class RequestTimeoutError(TransportError, TimeoutError):
    """Every attempt of a request timed out. Also a `TimeoutError`."""


class ResponseTooLargeError(TransportError):
    """The response body was larger than the client's ``max_response_bytes``; never retried."""


class DecodeError(NorthflankError):
    """A response body could not be decoded into the expected model.

    ``field`` names the offending field as it appears on the wire, for example
    ``data.builds[3].createdAt`` (empty when the body was not JSON at all). ``method`` and
    ``path`` name the request whose answer it was (``path`` is the URL path, as on every error;
    both are empty when the value was decoded outside a request).
    """

    def __init__(self, message: str, *, field: str = "", method: str = "", path: str = "") -> None:
        self.message = message
        self.field = field
        self.method = method
        self.path = path
        where = f"{method} {path}: " if path else ""
        super().__init__(f"{where}{field}: {message}" if field else f"{where}{message}")

    def at(self, method: str, path: str) -> DecodeError:
        """The same error, naming the request whose answer failed to decode."""
        return DecodeError(self.message, field=self.field, method=method, path=path)


class PaginationError(NorthflankError):
    """The API's pagination contradicts itself or never ends.

    A next page without a cursor, a cursor seen before (a loop), or several empty pages in a
    row that each claim a next page.
    """


class WaitTimeoutError(NorthflankError, TimeoutError):
    """``wait()`` or ``watch()`` gave up before the build (or run) concluded.

    Also a `TimeoutError`. ``last`` is the last state seen (a `JobBuild` or a
    `JobRun`; ``None`` if it was never read); ``build`` is the same for a build's wait.
    """

    def __init__(self, message: str, *, last: JobBuild | JobRun | None = None) -> None:
        super().__init__(message)
        self.last = last

    @property
    def build(self) -> JobBuild | None:
        """The last state of the build waited for (``None`` for a run, or if never read)."""
        from .models import JobBuild

        return self.last if isinstance(self.last, JobBuild) else None


class LogStreamError(NorthflankError):
    """A live log tail (``tail_logs``) received an ``error`` frame from the API.

    ``message`` is the server's message, with the token hidden if it was echoed, cut to its
    first 500 characters (`MAX_SHOWN_MESSAGE`; the rest is counted) and with its control,
    format and bidi characters written as escapes (``\\x1b``): it is safe to print or log.
    """

    def __init__(self, message: str) -> None:
        shown = bounded(message)
        super().__init__(f"log stream error: {shown}")
        self.message = shown


class APIError(NorthflankError):
    """The API answered with an HTTP error status.

    Attributes mirror the API's error envelope ``{"error": {"status", "message", "id",
    "details"}}``; ``headers`` are the response headers (they never hold our token).
    """

    def __init__(
        self,
        *,
        status: int,
        message: str,
        method: str,
        path: str,
        error_id: str | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.error_id = error_id
        self.details = details
        # Case-insensitive, as HTTP headers are: error.headers["retry-after"] always works.
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(headers or {}))
        # Not super(): TooManyRequestsError is also a RateLimitError, whose __init__ must not run.
        Exception.__init__(self, self._one_line())

    def _one_line(self) -> str:
        line = f"{self.status} {self.method} {self.path}: {self.message}"
        return f"{line} (error id {self.error_id})" if self.error_id else line

    def __str__(self) -> str:
        return self._one_line()


class BadRequestError(APIError):
    """400: the API rejected the request's parameters or body."""


class AuthenticationError(APIError):
    """401: the token is missing, wrong or expired."""


class PermissionDeniedError(APIError):
    """403: the token's API role does not allow this action."""


class NotFoundError(APIError):
    """404: the project, job or build does not exist (or the token cannot see it)."""


class ConflictError(APIError):
    """409: the request conflicts with the resource's state (e.g. aborting a finished build)."""


class RateLimitError(NorthflankError):
    """The rate limit stands in the way: catch this for both of its causes.

    Either the API answered 429 (`TooManyRequestsError`, an `APIError` with its
    status and headers) or the client's own gate refused to send, because the window is spent
    and resets later than ``max_rate_limit_wait`` allows (`RateLimitGateError`, no request
    sent). ``retry_after`` is the number of seconds to wait before trying again and ``reset_at``
    the aware UTC datetime at which the window resets (``None`` when unknown); ``method`` and
    ``path`` name the request.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        reset_at: datetime | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.reset_at = reset_at
        self.method = method
        self.path = path


class RateLimitGateError(RateLimitError):
    """The client's own gate refused to send: the window is spent for longer than allowed.

    Nothing was sent (so there is no status): the window the API announced resets in
    ``retry_after`` seconds, more than the client's ``max_rate_limit_wait``.
    """


class TooManyRequestsError(APIError, RateLimitError):
    """429: the API refused the request for the rate limit (also a `RateLimitError`)."""

    def __init__(
        self,
        *,
        retry_after: float | None = None,
        reset_at: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        APIError.__init__(self, **kwargs)
        self.retry_after = retry_after
        self.reset_at = reset_at


class ServerError(APIError):
    """5xx: the API (or a proxy in front of it) failed."""


class UnexpectedRedirectError(APIError):
    """3xx: redirects are never followed, so the token is never sent to another host."""


class WebhookError(NorthflankError):
    """A notification delivered to a `WebhookReceiver` was refused.

    ``status`` is the HTTP status the receiver answers with (a 4xx, or 503), and ``message``
    says why; it never holds the token or the secret, and the sender's text in it is cut and
    escaped (safe to log). Northflank resends what is refused "a limited number of times".
    """

    status = 400

    def __init__(self, message: str) -> None:
        shown = bounded(message)
        super().__init__(f"{self.status}: {shown}")
        self.message = shown


class WebhookAuthError(WebhookError):
    """401: the token header is missing, or matches none of the receiver's secrets."""

    status = 401


class WebhookPayloadError(WebhookError):
    """400: the body is not JSON, too deep, of the wrong shape, or a header is malformed."""

    status = 400


class WebhookPayloadTooLargeError(WebhookError):
    """413: the body is larger than the receiver's ``max_body`` (it is not read further)."""

    status = 413


class WebhookUnavailableError(WebhookError):
    """503: the receiver's queue is full (nothing dropped: the sender retries), or it is closed."""

    status = 503


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: TooManyRequestsError,
}


def error_class_for(status: int) -> type[APIError]:
    """Return the `APIError` subclass for an HTTP status."""
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    if 300 <= status < 400:
        return UnexpectedRedirectError
    return APIError
