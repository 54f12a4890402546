"""Field hooks: how each JSON value becomes a model's field, strict about JSON types. Pure.

A string where a bool belongs is an error, not ``bool("false") == True``; an unknown enum
value stays a plain string, so that new API values never break decoding. `converter` builds
its structure functions (`structure`) from these hooks.
"""

from __future__ import annotations

import enum
import json
import re
from datetime import UTC, datetime
from typing import Any

from .models import BuildStatus, JobType, RunStatus
from .notifications import short_event

_CAMEL_BOUNDARY = re.compile(r"_([a-z])")
_SNAKE_SEGMENT = re.compile(r"\.([a-z]+(?:_[a-z]+)+)")
_MS_THRESHOLD = 1e12  # epoch values above this are milliseconds (see northflank-api.md)
# Wire names that plain camelCase does not give (the API spells these acronyms in capitals).
_IRREGULAR_WIRE_NAMES = {"disabled_ci": "disabledCI", "disabled_cd": "disabledCD"}


class ModelError(TypeError):
    """A model that the decoders cannot build without skipping a rule of its own."""


def _camel(name: str) -> str:
    irregular = _IRREGULAR_WIRE_NAMES.get(name)
    if irregular is not None:
        return irregular
    return _CAMEL_BOUNDARY.sub(lambda m: m.group(1).upper(), name)


def wire_name(name: str) -> str:
    """The API's camelCase name of a model attribute (``created_at`` -> ``createdAt``)."""
    return _camel(name)


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> None:
    # bool is an int subclass: a JSON true must never pass for a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TypeError(f"expected {what}, got {type(value).__name__} {value!r:.40}")


# One hook per field type, called directly by the generated structure functions (no per-field
# dispatch through cattrs' Optional handling, which costs more than the checks themselves).
# `type(v) is X` is the fast path; anything unusual falls through to `_expect` for the message.


def _str(value: Any, _: Any = None) -> str:
    if type(value) is not str:
        _expect(value, str, "a string")
    return value  # type: ignore[no-any-return]


def _opt_str(value: Any, _: Any = None) -> str | None:
    if value is None or type(value) is str:
        return value
    return _str(value)


def _opt_bool(value: Any, _: Any = None) -> bool | None:
    if value is None or type(value) is bool:
        return value
    _expect(value, bool, "a boolean")
    return bool(value)  # pragma: no cover - _expect raised


def _opt_int(value: Any, _: Any = None) -> int | None:
    # Numbers documented as floats (pullRequestId once was): an integral float is an int.
    if value is None or type(value) is int:
        return value
    _expect(value, (int, float), "an integer")
    if not value.is_integer():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _opt_int_or_str(value: Any, _: Any = None) -> int | str | None:
    # pullRequestId: the official types say a string or a number; keep the string as sent.
    if value is None or type(value) is str or type(value) is int:
        return value
    if isinstance(value, str):
        return str(value)
    _expect(value, (int, float), "an integer or a string")
    return _opt_int(value)


def _str_tuple(value: Any, _: Any = None) -> tuple[str, ...]:
    # null reads as no tags: a list of tags the API leaves empty is not worth losing a page.
    if value is None:
        return ()
    if value.__class__ is not list:
        _expect(value, list, "an array of strings")
    for index, item in enumerate(value):
        if item.__class__ is not str:
            _expect(item, str, f"a string at index {index}")
    return tuple(value)


def _any(value: Any, _: Any = None) -> object | None:
    # A field the API types loosely (an integration status's ``reason``): kept as sent.
    kept: object | None = value
    return kept


def _events(value: Any, _: Any = None) -> tuple[str, ...]:
    # An integration's ``{"trigger:build:success": true, ...}``: the short names set true.
    if value is None:
        return ()
    if value.__class__ is not dict:
        _expect(value, dict, "an object of event booleans")
    for key, on in value.items():
        if on is not None and on.__class__ is not bool:
            _expect(on, bool, f"a boolean for {key!r}")
    return tuple(sorted(short_event(key) for key, on in value.items() if on is True))


def _datetime(value: Any, _: Any = None) -> datetime:
    """A required datetime: as `_opt_datetime()`, ``null`` refused."""
    if value is None:
        raise TypeError("expected an ISO-8601 string or epoch seconds, got null")
    return _opt_datetime(value)  # type: ignore[return-value]


def _log_text(value: Any, _: Any = None) -> str:
    # A log line's ``log`` is usually a string; anything else is kept readable as JSON text.
    if type(value) is str:
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _log_raw(value: Any, _: Any = None) -> object | None:
    return None if isinstance(value, str) else value


def _opt_datetime(value: Any, _: Any = None) -> datetime | None:
    """ISO-8601 strings, or epoch seconds (milliseconds above 1e12), always aware UTC."""
    kind = type(value)
    if kind is str:
        parsed = datetime.fromisoformat(value)
        tz = parsed.tzinfo
        if tz is UTC:  # the API's "...Z" form: already what we want
            return parsed
        return parsed.replace(tzinfo=UTC) if tz is None else parsed.astimezone(UTC)
    if kind is float or kind is int:
        return datetime.fromtimestamp(value / 1000 if value > _MS_THRESHOLD else value, UTC)
    if value is None:
        return None
    _expect(value, (int, float), "an ISO-8601 string or epoch seconds")
    return _opt_datetime(float(value))  # an int or float subclass: read it as its value


def _enum_hook(enum_cls: type[enum.StrEnum]) -> tuple[dict[str, Any], Any]:
    """The lookup table of an enum's wire values, and the hook for ``enum | str | None``."""
    known: dict[str, Any] = {member.value: member for member in enum_cls}
    what = f"a {enum_cls.__name__} string"

    def hook(value: Any, _: Any = None) -> Any:
        # Unknown values stay plain strings so that new API values never break decoding.
        member = known.get(value) if type(value) is str else None
        if member is not None or value is None:
            return member
        _expect(value, str, what)
        return str(value)

    return known, hook


_STATUSES, _status = _enum_hook(BuildStatus)
_ENUMS: dict[Any, tuple[dict[str, Any], Any]] = {
    BuildStatus | str | None: (_STATUSES, _status),
    RunStatus | str | None: _enum_hook(RunStatus),
    JobType | str | None: _enum_hook(JobType),
}

_FIELD_HOOKS: dict[Any, Any] = {
    str: _str,
    str | None: _opt_str,
    bool | None: _opt_bool,
    int | None: _opt_int,
    int | str | None: _opt_int_or_str,
    datetime | None: _opt_datetime,
    datetime: _datetime,
    tuple[str, ...]: _str_tuple,
    object | None: _any,
} | {union: hook for union, (_, hook) in _ENUMS.items()}
