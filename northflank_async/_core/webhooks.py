"""Northflank's webhook notifications, verified and decoded: `WebhookParser`. Pure: no I/O.

A notification is a ``POST`` of ``{"event": "build:start", "data": {...}}`` with the
integration's secret, as is, in ``X-Northflank-Notification-Token`` (no signature, no timestamp:
../shared/northflank-api.md, "Webhooks"). Each delivery goes through the same steps, each
refusing with its own `WebhookError`:

1. the token, compared in constant time with every secret (rotation: any one passes) -> 401;
2. the body's size -> 413 (the I/O side checks ``Content-Length`` before reading, too);
3. UTF-8, a nesting depth of at most `MAX_DEPTH` (checked *before* the JSON parser recurses),
   JSON, and the shape of the known parts -> 400.

An event type this version does not know is no error: its `WebhookEvent` keeps the ``kind``
and the raw body. The undocumented parts (the owner of a job build, the run of a ``job-run:*``
event) are read tolerantly: see `WebhookParser.parse`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Any, TypeVar

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from .converter import decode
from .errors import (
    DecodeError,
    WebhookAuthError,
    WebhookPayloadError,
    WebhookPayloadTooLargeError,
)
from .models import JobBuild, JobRun
from .secret import Secret
from .wire import loads

__all__ = [
    "BUILD_KINDS",
    "HEADER_PREFIX",
    "MAX_BODY",
    "MAX_DEPTH",
    "MAX_HEADER_VALUE",
    "RUN_KINDS",
    "WebhookEvent",
    "WebhookParser",
    "decode_event",
    "encode_event",
]

#: The largest body accepted by default (a build notification is well under a kilobyte).
MAX_BODY = 1 << 20
#: The deepest nesting of JSON arrays and objects accepted (a notification nests about four).
MAX_DEPTH = 32
#: The longest event id, event type or integration id accepted from a header.
MAX_HEADER_VALUE = 256

HEADER_PREFIX = "x-northflank-notification-"
_TOKEN = HEADER_PREFIX + "token"
_EVENT_ID = HEADER_PREFIX + "event-id"
_EVENT_TYPE = HEADER_PREFIX + "event-type"
_INTEGRATION_ID = HEADER_PREFIX + "integration-id"
_NAMES = (_TOKEN, _EVENT_ID, _EVENT_TYPE, _INTEGRATION_ID)

#: The build and run event types Northflank documents; any ``build:*`` or ``job-run:*`` type
#: is decoded as one (a new outcome keeps its ``kind``), any other type is kept raw.
BUILD_KINDS = ("build:start", "build:success", "build:failure", "build:abort")
RUN_KINDS = (
    "job-run:start",
    "job-run:success",
    "job-run:failure",
    "job-run:abort",
    "job-run:terminate",
)

# A JSON string (escapes included), removed before brackets are counted: "[[" in a string
# nests nothing. Two disjoint alternatives: linear time on any input.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
T = TypeVar("T")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """One notification from Northflank, verified and decoded.

    ``event_id`` is the ``X-Northflank-Notification-Event-Id`` header (the dedupe key; when
    the header is missing, ``"sha256:"`` and the hash of the body, so that a resend of the
    same body is still recognised). ``kind`` is the event type (``"build:success"``, or any
    type this version does not know). ``build`` is the build a ``build:*`` event names, with
    the fields the notification carries (a subset of the API's: the others are ``None``);
    ``run`` the run of a ``job-run:*`` event, when it names one (that payload is
    undocumented). ``job_id`` or ``service_id`` names the build's owner, ``project_id`` its
    project. ``raw`` is the whole decoded body, as sent.
    """

    event_id: str
    kind: str
    integration_id: str | None = None
    project_id: str | None = None
    job_id: str | None = None
    service_id: str | None = None
    build: JobBuild | None = None
    run: JobRun | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, hash=False, repr=False)


class WebhookParser:
    """Verifies and decodes notifications against one or more secrets. Pure: no I/O.

    ``secret`` is a string, or a sequence of strings while a secret is being rotated (a
    token equal to any one of them passes). ``max_body`` bounds the body in bytes.
    """

    __slots__ = ("_secrets", "max_body")

    def __init__(self, secret: str | Iterable[str], *, max_body: int = MAX_BODY) -> None:
        secrets = (secret,) if isinstance(secret, str) else tuple(secret)
        if not secrets:
            raise ValueError("secret must be a string or a non-empty sequence of strings")
        for one in secrets:
            if not isinstance(one, str) or not one:
                raise ValueError(f"each secret must be a non-empty string, got {type(one)}")
            try:
                one.encode()
            except UnicodeEncodeError:
                raise ValueError("each secret must be valid text (a lone surrogate?)") from None
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValueError(f"max_body must be a positive integer, got {max_body!r}")
        self._secrets = tuple(Secret(one) for one in secrets)
        self.max_body = max_body

    def __repr__(self) -> str:
        return f"WebhookParser(<{len(self._secrets)} secret(s) hidden>, max_body={self.max_body})"

    def authenticate(self, headers: Mapping[str, str]) -> None:
        """Raise `WebhookAuthError` unless the token header matches one of the secrets.

        Each secret is compared in constant time (`hmac.compare_digest`; only the length
        can show), all of them every time. A token header sent twice with different values
        is refused.
        """
        self._authenticate(_collect(headers))

    def _authenticate(self, headers: dict[str, list[str]]) -> None:
        values = headers.get(_TOKEN)
        if not values:
            raise WebhookAuthError("the notification has no X-Northflank-Notification-Token")
        if len(values) > 1:
            raise WebhookAuthError("the notification has several different tokens")
        try:
            token = values[0].encode()
        except UnicodeEncodeError:
            raise WebhookAuthError("the notification's token matches no secret") from None
        matched = False
        for secret in self._secrets:
            matched |= hmac.compare_digest(token, secret.reveal().encode())
        if not matched:
            raise WebhookAuthError("the notification's token matches no secret")

    def check_size(self, size: int) -> None:
        """Raise `WebhookPayloadTooLargeError` for a body of more than ``max_body`` bytes."""
        if size > self.max_body:
            raise WebhookPayloadTooLargeError(
                f"the body is larger than the receiver's max_body ({self.max_body} bytes)"
            )

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The `WebhookEvent` of one delivery, or a `WebhookError` (401, 413 or 400).

        ``headers`` is any mapping (case-insensitive: names are normalised); ``body`` the raw
        bytes. The event type is the body's ``event`` (the ``Event-Type`` header when the body
        has none; both, if they differ, are refused). ``data.build`` must be an object with a
        string ``id`` for a ``build:*`` event, and decodes strictly about JSON types; a
        ``job-run:*`` event's ``data.run`` is decoded when present. An owner (``data.job``,
        ``data.service``, ``data.project``) is an object with a string ``id``, or that id.
        """
        found = _collect(headers)
        self._authenticate(found)
        self.check_size(len(body))
        try:
            return _parse(_single(found), body)
        except WebhookPayloadError as exc:
            message = exc.message
            for secret in self._secrets:  # the sender's text, echoed: never the secret
                message = secret.redact(message)
            if message is exc.message:
                raise
            raise WebhookPayloadError(message) from None


def _parse(headers: Mapping[str, str], body: bytes) -> WebhookEvent:
    document = _load(body)
    if not isinstance(document, dict):
        raise WebhookPayloadError(f"the body must be a JSON object, not {_kind(document)}")
    kind = _kind_of(document, headers.get(_EVENT_TYPE))
    data = document.get("data", {})
    if not isinstance(data, dict):
        raise WebhookPayloadError(f"data must be an object, not {_kind(data)}")
    build = run = None
    if kind.startswith("build:"):
        value = data.get("build")
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            raise WebhookPayloadError("a build event needs data.build with a string id")
        build = _decode(value, JobBuild, "data.build")
    elif kind.startswith("job-run:") and data.get("run") is not None:
        run = _decode(data["run"], JobRun, "data.run")
    return WebhookEvent(
        event_id=_event_id(headers.get(_EVENT_ID), body),
        kind=kind,
        integration_id=_header(headers, _INTEGRATION_ID),
        project_id=_owner(data, "project"),
        job_id=_owner(data, "job"),
        service_id=_owner(data, "service"),
        build=build,
        run=run,
        raw=document,
    )


def encode_event(event: WebhookEvent) -> str:
    """A verified event as a receiving group's queue keeps it: its id, type, integration and
    body (never a token: none is in the body)."""
    record = {
        "id": event.event_id,
        "kind": event.kind,
        "integration": event.integration_id,
        "raw": event.raw,
    }
    return json.dumps(record, separators=(",", ":"))


def decode_event(payload: str) -> WebhookEvent:
    """The event `encode_event` wrote, decoded as its notification was; ``ValueError`` if not."""
    try:
        record = json.loads(payload)
        headers = {_EVENT_ID: record["id"], _EVENT_TYPE: record["kind"]}
        if record.get("integration") is not None:
            headers[_INTEGRATION_ID] = record["integration"]
        body = json.dumps(record["raw"], separators=(",", ":")).encode()
        return _parse(headers, body)
    except (KeyError, TypeError, ValueError, WebhookPayloadError) as error:
        raise ValueError(f"not a queued notification: {error}") from None


def _text(value: str | bytes) -> str:
    # Header names and values may come as bytes from some frameworks (ASGI): HTTP's latin-1.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _collect(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Northflank's headers by lower-cased name, each with its distinct values."""
    found: dict[str, list[str]] = {}
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):  # aiohttp's: a lookup per name
        for name in _NAMES:
            values = headers.getall(name, ())
            if values:
                found[name] = list(dict.fromkeys(values))
        return found
    for key, value in headers.items():
        name = _text(key).lower()
        if name in _NAMES:
            values = found.setdefault(name, [])
            if (text := _text(value)) not in values:
                values.append(text)
    return found


def _single(headers: dict[str, list[str]]) -> dict[str, str]:
    """One value per header; one sent twice with different values: 400."""
    for name, values in headers.items():
        if len(values) > 1:
            raise WebhookPayloadError(f"the header {name} was sent twice with different values")
    return {name: values[0] for name, values in headers.items() if name != _TOKEN}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None and (not value or len(value) > MAX_HEADER_VALUE):
        raise WebhookPayloadError(f"{name} must be 1 to {MAX_HEADER_VALUE} characters")
    return value


def _event_id(header: str | None, body: bytes) -> str:
    if header is None:
        return "sha256:" + hashlib.sha256(body).hexdigest()
    if not header or len(header) > MAX_HEADER_VALUE:
        raise WebhookPayloadError(f"{_EVENT_ID} must be 1 to {MAX_HEADER_VALUE} characters")
    return header


def _load(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookPayloadError("the body is not UTF-8 text") from None
    if _too_deep(text, MAX_DEPTH):
        raise WebhookPayloadError(f"the body nests JSON deeper than {MAX_DEPTH} levels")
    try:
        return loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: never, the depth is checked
        raise WebhookPayloadError(f"the body is not JSON ({type(exc).__name__})") from None


def _too_deep(text: str, limit: int) -> bool:
    """Whether ``text`` nests arrays and objects more than ``limit`` deep, without parsing it.

    Strings are removed first (their brackets nest nothing), as a JSON parser would read
    them up to the first point where the text stops being JSON: so the depth counted is at
    least the depth a parser reaches before it accepts or refuses the text.
    """
    if text.count("[") + text.count("{") <= limit:
        return False  # the usual case: a handful of objects, nothing to count
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return any(depth > limit for depth in accumulate(map(_STEP.__getitem__, brackets)))


def _kind_of(document: dict[str, Any], header: str | None) -> str:
    kind = document.get("event", header)
    if not isinstance(kind, str) or not kind or len(kind) > MAX_HEADER_VALUE:
        if kind is None:
            raise WebhookPayloadError("the notification has no event type")
        raise WebhookPayloadError(f"event must be a string of 1 to {MAX_HEADER_VALUE} characters")
    if header is not None and header != kind:
        raise WebhookPayloadError(f"the body's event {kind!r} is not the header's {header!r}")
    return kind


def _owner(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, dict):
        value = value.get("id")
        key += ".id"
    if value is None or isinstance(value, str):
        return value
    raise WebhookPayloadError(f"data.{key} must be a string id or an object with one")


def _decode(value: Any, cls: type[T], root: str) -> T:
    try:
        return decode(value, cls, root=root)
    except DecodeError as exc:
        raise WebhookPayloadError(str(exc)) from None


_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def _kind(value: Any) -> str:
    return "null" if value is None else _KINDS.get(type(value), "a number")
