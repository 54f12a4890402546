"""The one cattrs converter that turns wire JSON into our models.

Two converters are built once, at import time, with the same field hooks:

* ``_fast`` runs on every page: it is the hot path, with a structure function generated once
  per class (see ``_fast_hook`` for why it is not cattrs' own).
* ``_detailed`` runs only after ``_fast`` has failed: cattrs' generated functions with
  ``detailed_validation`` on find and name the offending field (``data.builds[3].createdAt``)
  for `DecodeError`.

A good payload therefore pays nothing for error reporting, and a bad one still gets a precise
message. The hooks are strict about JSON types (a string where a bool belongs is an error, not
``bool("false") == True``) and lenient about the API's evolution (unknown keys are ignored,
unknown statuses are kept as strings).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import attrs
import cattrs

from .errors import DecodeError
from .fieldhooks import (
    _FIELD_HOOKS,
    _SNAKE_SEGMENT,
    ModelError,
    _camel,
    _events,
    _log_raw,
    _log_text,
    wire_name,
)
from .models import (
    Branch,
    BranchCommit,
    Job,
    JobBuild,
    JobRun,
    LogLine,
    NotificationIntegration,
    NotificationStatus,
    Registry,
    RunStarted,
)
from .structure import _fast_hook, _object_hook, _renamed_hook

__all__ = ["ModelError", "decode", "decode_list", "wire_name"]

T = TypeVar("T")

# The models every decoder knows, in dependency order (nested classes first).
_MODELS: tuple[type, ...] = (
    Registry,
    JobBuild,
    JobRun,
    RunStarted,
    Job,
    BranchCommit,
    Branch,
    LogLine,
    NotificationStatus,
    NotificationIntegration,
)

# Fields read from another wire key, or through another hook, than their name and type give:
# (model, attribute) -> (wire key, hook). A log line's ``log`` fills both ``text`` and ``raw``.
_FIELD_OVERRIDES: dict[tuple[type, str], tuple[str, Any]] = {
    (LogLine, "text"): ("log", _log_text),
    (LogLine, "raw"): ("log", _log_raw),
    (NotificationIntegration, "events"): ("events", _events),
}


def _build(detailed: bool) -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    nested: dict[Any, Any] = {}  # `Model | None` -> the hook for an optional nested object

    def make(cls: type, hooks: dict[str, Any], wires: dict[str, str]) -> Any:
        if detailed:
            return _object_hook(_renamed_hook(converter, cls, hooks, wires))
        return _fast_hook(cls, hooks, wires)

    def optional(structure: Any, cls: type) -> Any:
        def hook(value: Any, _: Any = None) -> Any:
            return None if value is None else structure(value, cls)

        # The fast hook handles None inline for fields it does not check itself: skip one call.
        return hook if detailed else structure

    for cls in _MODELS:
        fields = attrs.fields(attrs.resolve_types(cls))  # the models use string annotations
        special = {f.name: _FIELD_OVERRIDES[cls, f.name] for f in fields if (cls, f.name) in
                   _FIELD_OVERRIDES}  # fmt: skip
        hooks = {
            f.name: special[f.name][1]
            if f.name in special
            else nested.get(f.type) or _FIELD_HOOKS[f.type]
            for f in fields
        }
        structure = make(cls, hooks, {name: wire for name, (wire, _) in special.items()})
        converter.register_structure_hook(cls, structure)
        nested[cls | None] = optional(structure, cls)
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
    raise _explain(value, cls, root) from None


def _explain(value: Any, cls: Any, root: str) -> DecodeError:
    """The `DecodeError` naming the field of ``value`` that ``_fast`` refused."""
    # Slow path, only for payloads that are already known to be bad: find the field to name.
    try:
        _detailed.structure(value, cls)
    except Exception as exc:
        path, message = _path_of(exc, root)
        return DecodeError(message, field=_wire_path(path))
    return DecodeError("payload could not be decoded", field=root)  # pragma: no cover


def _wire_path(path: str) -> str:
    # cattrs reports some failures under the Python attribute name; users read wire names.
    path = _SNAKE_SEGMENT.sub(lambda m: "." + _camel(m.group(1)), path)
    return _RENAMED_SEGMENT.sub(lambda m: "." + _RENAMED[m.group(1)], path)


# The attributes read from another wire key (no other model has an attribute of these names).
_RENAMED = {name: wire for (_, name), (wire, _) in _FIELD_OVERRIDES.items()}
_RENAMED_SEGMENT = re.compile(r"\.(" + "|".join(map(re.escape, _RENAMED)) + r")(?![\w])")


def decode(value: Any, cls: type[T], *, root: str = "data") -> T:
    """Structure ``value`` into ``cls``, raising `DecodeError` naming the field path."""
    return _decode(value, cls, root)  # type: ignore[no-any-return]


def _hook_of(converter: cattrs.Converter, cls: type) -> Any:
    """The converter's structure function for ``cls``, looked up once per page."""
    get = getattr(converter, "get_structure_hook", None)  # cattrs 24.1 and later
    if get is not None:
        return get(cls)
    # Older cattrs (the declared floor is 23.2.1) keeps the same lookup under this name.
    return converter._structure_func.dispatch(cls)  # type: ignore[call-arg]


def decode_list(value: Any, cls: type[T], *, root: str) -> list[T]:
    """Structure a JSON array into ``list[cls]``, raising `DecodeError` on bad input."""
    if not isinstance(value, list):
        raise DecodeError(f"expected an array, got {type(value).__name__}", field=root)
    # What cattrs' list hook does, without its dispatch of ``list[cls]`` on every page.
    try:
        hook = _hook_of(_fast, cls)
        many = getattr(hook, "structure_list", None)  # a generated hook's loop over a page
        if many is not None:
            return many(value)  # type: ignore[no-any-return]
        return [hook(item, cls) for item in value]
    except Exception:
        pass
    raise _explain(value, list[cls], root) from None  # type: ignore[valid-type]
