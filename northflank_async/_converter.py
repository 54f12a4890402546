"""The one cattrs converter that turns wire JSON into our models.

Two converters are built once, at import time, with the same hooks:

* ``_fast`` runs on every page with ``detailed_validation`` off: it is the hot path.
* ``_detailed`` runs only after ``_fast`` has failed, to find and name the offending field
  (``data.builds[3].createdAt``) for :class:`~northflank_async.DecodeError`.

A good payload therefore pays nothing for error reporting, and a bad one still gets a precise
message. The hooks are strict about JSON types (a string where a bool belongs is an error, not
``bool("false") == True``) and lenient about the API's evolution (unknown keys are ignored,
unknown statuses are kept as strings).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._errors import DecodeError
from ._models import BuildStatus, JobBuild, Registry

__all__ = ["decode", "decode_list"]

T = TypeVar("T")

_CAMEL_BOUNDARY = re.compile(r"_([a-z])")
_SNAKE_SEGMENT = re.compile(r"\.([a-z]+(?:_[a-z]+)+)")
_MS_THRESHOLD = 1e12  # epoch values above this are milliseconds (see northflank-api.md)
_STATUSES = {status.value: status for status in BuildStatus}


def _camel(name: str) -> str:
    return _CAMEL_BOUNDARY.sub(lambda m: m.group(1).upper(), name)


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> None:
    # bool is an int subclass: a JSON true must never pass for a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TypeError(f"expected {what}, got {type(value).__name__} {value!r:.40}")


def _str(value: Any, _: type) -> str:
    _expect(value, str, "a string")
    return value  # type: ignore[no-any-return]


def _bool(value: Any, _: type) -> bool:
    _expect(value, bool, "a boolean")
    return value  # type: ignore[no-any-return]


def _int(value: Any, _: type) -> int:
    # pullRequestId is documented as a float-formatted number; an integral float is an int.
    _expect(value, (int, float), "an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    return value  # type: ignore[no-any-return]


def _datetime(value: Any, _: type) -> datetime:
    """ISO-8601 strings, or epoch seconds (milliseconds above 1e12), always aware UTC."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    _expect(value, (int, float), "an ISO-8601 string or epoch seconds")
    seconds = value / 1000 if value > _MS_THRESHOLD else value
    return datetime.fromtimestamp(seconds, tz=UTC)


def _status(value: Any, _: type) -> BuildStatus | str | None:
    if value is None:
        return None
    _expect(value, str, "a status string")
    # Unknown statuses stay plain strings so that new API values never break decoding.
    known: BuildStatus | None = _STATUSES.get(value)
    return known if known is not None else str(value)


def _renamed_hook(converter: cattrs.Converter, cls: type) -> Any:
    overrides = {a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls)}
    # cattrs types **overrides loosely; the mapping of attribute names to overrides is its API.
    generated: Any = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def structure(value: Any, type_: type) -> Any:
        # The generated function would read a list or a string as an object with no keys.
        if value.__class__ is not dict:
            _expect(value, dict, "an object")
        return generated(value, type_)

    return structure


def _build(detailed: bool) -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    converter.register_structure_hook(str, _str)
    converter.register_structure_hook(bool, _bool)
    converter.register_structure_hook(int, _int)
    converter.register_structure_hook(datetime, _datetime)
    converter.register_structure_hook(BuildStatus | str | None, _status)
    for cls in (Registry, JobBuild):
        converter.register_structure_hook(cls, _renamed_hook(converter, cls))
    return converter


_fast = _build(detailed=False)
_detailed = _build(detailed=True)


def _path_of(exc: BaseException, root: str) -> tuple[str, str]:
    """The wire path and message of the first leaf error in a cattrs exception tree."""
    for message in cattrs.transform_error(exc, path=root, format_exception=_describe):
        text, _, path = message.rpartition(" @ ")
        return path, text
    return root, str(exc)


def _describe(exc: BaseException, _: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    return str(exc) or type(exc).__name__


def _decode(value: Any, cls: Any, root: str) -> Any:
    try:
        return _fast.structure(value, cls)
    except Exception:
        pass
    # Slow path, only for payloads that are already known to be bad: find the field to name.
    try:
        _detailed.structure(value, cls)
    except Exception as exc:
        path, message = _path_of(exc, root)
        raise DecodeError(message, path=_wire_path(path)) from None
    raise DecodeError("payload could not be decoded", path=root)  # pragma: no cover


def _wire_path(path: str) -> str:
    # cattrs reports some failures under the Python attribute name; users read wire names.
    return _SNAKE_SEGMENT.sub(lambda m: "." + _camel(m.group(1)), path)


def decode(value: Any, cls: type[T], *, root: str = "data") -> T:
    """Structure ``value`` into ``cls``, raising :class:`DecodeError` naming the field path."""
    return _decode(value, cls, root)  # type: ignore[no-any-return]


def decode_list(value: Any, cls: type[T], *, root: str) -> list[T]:
    """Structure a JSON array into ``list[cls]``, raising :class:`DecodeError` on bad input."""
    if not isinstance(value, list):
        raise DecodeError(f"expected an array, got {type(value).__name__}", path=root)
    return _decode(value, list[cls], root)  # type: ignore[valid-type, no-any-return]
