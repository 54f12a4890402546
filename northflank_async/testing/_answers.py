"""How the fake answers: the API's error envelope, JSON bodies, and the answers it withholds.

Every answer the fake gives, its own and aiohttp's (413 for a body over `MAX_BODY_BYTES`,
an unexpected 500: `envelope_errors`), uses the API's error envelope ``{"error": {"status",
"message", "id", "details"?}}`` (`error_response`) of an `._requests.ApiError` raised
anywhere; every answer is signed ``Server: SERVER_HEADER`` (`label`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web

from .._version import __version__
from ._requests import ApiError

__all__ = [
    "MAX_BODY_BYTES",
    "SERVER_HEADER",
    "drop",
    "envelope_errors",
    "error_response",
    "is_upgrade",
    "json_response",
    "label",
    "phrase",
]

#: The ``Server`` header of every answer of the fake, WebSocket handshakes included: no one
#: reaching it takes it for a service.
SERVER_HEADER: Final = f"northflank-async-fake/{__version__}"
#: The largest request body accepted (aiohttp's default); a larger one is answered 413.
MAX_BODY_BYTES: Final = 1024**2


def phrase(status: int) -> str:
    """The reason phrase of an HTTP status ("Error" for one HTTP does not know)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(error: ApiError, headers: Mapping[str, str]) -> web.Response:
    """The error envelope of `error`, with a fresh error id."""
    envelope: dict[str, Any] = {
        "status": error.status,
        "message": error.message,
        "id": secrets.token_hex(6),
    }
    if error.details is not None:
        envelope["details"] = error.details
    return json_response(error.status, {"error": envelope}, headers)


def json_response(status: int, payload: Any, headers: Mapping[str, str]) -> web.Response:
    """`payload` as a compact JSON answer."""
    return web.Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def envelope_errors(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    """Render aiohttp's own error answers and unexpected failures as the error envelope."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        api_error = ApiError(error.status, error.reason or phrase(error.status))
        return error_response(api_error, {})
    except Exception as error:  # any bug answers an enveloped 500
        return error_response(ApiError(500, f"Internal error: {type(error).__name__}"), {})
    return response


async def label(request: web.Request, response: web.StreamResponse) -> None:
    """Sign every answer (a WebSocket's 101 too) as the fake's: ``Server: SERVER_HEADER``."""
    response.headers["Server"] = SERVER_HEADER


def is_upgrade(request: web.Request) -> bool:
    """Whether the request asks for a WebSocket."""
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"


def drop(request: web.Request) -> tuple[web.StreamResponse, bool]:
    """Close the connection without an answer.

    The response returned to aiohttp is never written: the transport is closing, so
    aiohttp treats it as a client that went away, quietly.
    """
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500), False
