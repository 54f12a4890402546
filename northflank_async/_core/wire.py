"""The wire: routes, and answers deciphered into data or typed errors. Pure: no I/O.

Paths are built here, every user-supplied segment checked and percent-encoded; answers are
read here, a success into its JSON, a list envelope into a `Page`, an error status into
the right `APIError`. ``_http`` calls these and nothing else to understand an answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from .converter import decode_list
from .errors import APIError, DecodeError, TooManyRequestsError, error_class_for
from .models import Page
from .ratelimit import _later, reset_seconds, retry_after_seconds
from .urls import has_control

__all__ = [
    "api_error",
    "check_id",
    "decipher_response",
    "job_path",
    "owner_path",
    "parse_data",
    "parse_list_page",
    "project_path",
    "team_path",
]

T = TypeVar("T")

# --------------------------------------------------------------------------- routes

# The URL layer (yarl) resolves these as dot segments, even percent-encoded: as ids they would
# silently address another route ("build/.." is the job itself), so they are refused instead.
_DOT_SEGMENTS = frozenset({".", ".."})


def _segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if value in _DOT_SEGMENTS:
        raise ValueError(f"{name} {value!r} is not a valid id: the URL would resolve it away")
    # No id holds these: they come from how an id was copied or read (a trailing newline), and
    # refusing them names the mistake where a request would only answer 404.
    if has_control(value):
        raise ValueError(f"{name} contains a control character (a newline?): {value!r}")
    if value != value.strip():
        raise ValueError(f"{name} starts or ends with whitespace: {value!r}")
    try:
        # safe="" so that "/" and "?" in user data are encoded and can never change the route.
        return quote(value, safe="")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid text (a lone surrogate?): {value!r}") from None


def check_id(value: str, name: str) -> None:
    """Refuse an id that cannot be a path segment, with the ``ValueError`` a request would raise."""
    _segment(value, name)


def team_path(team_id: str | None, *tail: str) -> str:
    """The path of an account endpoint (``integrations/...``) in the team or plain route form.

    ``tail`` holds literal segments and user-supplied ids, all checked and percent-encoded.
    """
    parts = ["v1"]
    if team_id is not None:
        parts += ["teams", _segment(team_id, "team_id")]
    parts += [_segment(piece, "path parameter") for piece in tail]
    return "/" + "/".join(parts)


def project_path(project_id: str, team_id: str | None, *tail: str) -> str:
    """The path of a project endpoint in the team (``team_id``) or project route form.

    ``tail`` holds literal segments and user-supplied ids, all checked and percent-encoded.
    """
    parts = ["v1"]
    if team_id is not None:
        parts += ["teams", _segment(team_id, "team_id")]
    parts += ["projects", _segment(project_id, "project_id")]
    parts += [_segment(piece, "path parameter") for piece in tail]
    return "/" + "/".join(parts)


def owner_path(
    segment: str,
    id_name: str,
    *,
    project_id: str,
    owner_id: str,
    team_id: str | None = None,
    tail: tuple[str, ...] = (),
) -> str:
    """The path of an endpoint of a project's job or service (``segment``: ``jobs``, ...).

    ``id_name`` names the owner's id in errors (``job_id``, ``service_id``): a bad owner id is
    checked first, so that it is named as such.
    """
    _segment(owner_id, id_name)
    return project_path(project_id, team_id, segment, owner_id, *tail)


def job_path(
    *, project_id: str, job_id: str, team_id: str | None = None, tail: tuple[str, ...] = ()
) -> str:
    """The path of a job endpoint in the team (``team_id``) or project route form."""
    return owner_path(
        "jobs", "job_id", project_id=project_id, owner_id=job_id, team_id=team_id, tail=tail
    )


# --------------------------------------------------------------------------- answers


def _json_loads() -> Any:
    # orjson parses a page about 25% faster (benchmarks/, docs/performance.md): used when the
    # `speedups` extra installed it, never required. Its errors are ValueErrors too.
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


loads = _json_loads()


def _parse_json(body: bytes, method: str, path: str) -> Any:
    try:
        return loads(body)
    # JSONDecodeError and UnicodeDecodeError derive from ValueError; absurd nesting recurses.
    except (ValueError, RecursionError) as exc:
        reason = f"response is not JSON ({type(exc).__name__}: {exc})"
    raise DecodeError(reason, method=method, path=path)


def _error_fields(body: bytes) -> tuple[str | None, str | None, Any]:
    """Message, error id and details from an error body, read defensively.

    Accepts the documented ``{"error": {...}}`` envelope, the older generated SDK's flat
    ``{code, message, status, data}`` form, and anything else (HTML from a proxy, empty).
    """
    try:
        parsed = loads(body) if body else None
    except (ValueError, RecursionError):
        return None, None, None
    if not isinstance(parsed, dict):
        return None, None, None
    inner = parsed.get("error")
    source = inner if isinstance(inner, dict) else parsed
    message = source.get("message")
    error_id = source.get("id")
    details = source.get("details", source.get("data"))
    return (
        message if isinstance(message, str) else None,
        error_id if isinstance(error_id, str) else None,
        details,
    )


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def api_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    path: str,
    now: datetime | None = None,
) -> APIError:
    """Build the typed error for an HTTP error answer (it is returned, not raised)."""
    message, error_id, details = _error_fields(body)
    if message is None:
        reason = _REASONS.get(status, "HTTP error")
        kind = headers.get("Content-Type", "").split(";")[0].strip()
        message = f"{reason} (non-JSON {kind} body)" if kind and body else reason
    if 300 <= status < 400 and headers.get("Location"):
        message = f"{message}; redirect to {headers['Location']} not followed"
    cls = error_class_for(status)
    common: dict[str, Any] = {
        "status": status,
        "message": message,
        "method": method,
        "path": path,
        "error_id": error_id,
        "details": details,
        "headers": headers,
    }
    if cls is TooManyRequestsError:
        now = now or datetime.now(UTC)
        wait = retry_after_seconds(headers, now)
        if wait is None:
            wait = reset_seconds(headers)
        reset = reset_seconds(headers)
        return TooManyRequestsError(
            retry_after=wait,
            reset_at=_later(now, reset) if reset is not None else None,
            **common,
        )
    return cls(**common)


def decipher_response(
    status: int, headers: Mapping[str, str], body: bytes, *, method: str, path: str
) -> Any:
    """The parsed JSON of a 2xx answer, or the typed `APIError` raised for any other."""
    if 200 <= status < 300:
        return _parse_json(body, method, path) if body else {}
    raise api_error(status, headers, body, method=method, path=path)


def _field(mapping: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
    try:
        value = mapping[key]
    except KeyError:
        raise DecodeError("required field missing", field=f"{path}.{key}") from None
    if not isinstance(value, kind):
        raise DecodeError(
            f"expected {kind.__name__}, got {type(value).__name__}", field=f"{path}.{key}"
        )
    return value


def read_list_frame(envelope: Any, key: str) -> Page[Any]:
    """Check a list envelope ``{"data": {key: [...]}, "pagination": {...}}``, items undecoded.

    Cheap (no item is decoded), so that pagination can move on before the items are decoded.
    """
    if not isinstance(envelope, dict):
        raise DecodeError(f"expected an object, got {type(envelope).__name__}", field="$")
    data = _field(envelope, "data", dict, "$")
    pagination = _field(envelope, "pagination", dict, "$")
    has_next = _field(pagination, "hasNextPage", bool, "pagination")
    count = pagination.get("count")
    cursor = pagination.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise DecodeError(f"expected str, got {type(cursor).__name__}", field="pagination.cursor")
    items = _field(data, key, list, "data")
    if not isinstance(count, int) or isinstance(count, bool):
        count = len(items)  # count is informational; the items are the truth
    return Page(
        items=items, has_next_page=has_next, count=count, cursor=cursor if has_next else None
    )


def decode_frame(frame: Page[Any], key: str, cls: type[T]) -> Page[T]:
    """Decode the items of a frame from `read_list_frame()` into ``cls``."""
    items = decode_list(frame.items, cls, root=f"data.{key}")
    # The frame's other fields were checked by read_list_frame: no need for attrs.evolve's
    # field-by-field copy through __init__ on every page.
    return Page(
        items=items, has_next_page=frame.has_next_page, count=frame.count, cursor=frame.cursor
    )


def parse_list_page(envelope: Any, key: str, cls: type[T]) -> Page[T]:
    """Decode a list endpoint's envelope into a `Page` of ``cls``."""
    return decode_frame(read_list_frame(envelope, key), key, cls)


def parse_data(envelope: Any) -> Any:
    """The ``data`` member of a single-object envelope."""
    if not isinstance(envelope, dict) or "data" not in envelope:
        raise DecodeError("expected an object with a data member", field="$")
    return envelope["data"]
