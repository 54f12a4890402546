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

import enum
import json
import re
import types
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .errors import DecodeError
from .models import (
    Branch,
    BranchCommit,
    BuildStatus,
    Job,
    JobBuild,
    JobRun,
    JobType,
    LogLine,
    Registry,
    RunStarted,
    RunStatus,
)

__all__ = ["ModelError", "decode", "decode_list", "wire_name"]

T = TypeVar("T")

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
} | {union: hook for union, (_, hook) in _ENUMS.items()}


def _object_hook(generated: Any) -> Any:
    def structure(value: Any, type_: Any = None) -> Any:
        # The generated function would read a list or a string as an object with no keys.
        if value.__class__ is not dict:
            _expect(value, dict, "an object")
        return generated(value, type_)

    return structure


def _renamed_hook(
    converter: cattrs.Converter,
    cls: type,
    hooks: dict[str, Any],
    wires: dict[str, str] | None = None,
) -> Any:
    """cattrs' generated structure function, reading camelCase keys through our field hooks.

    ``wires`` names the wire key of the fields whose key is not their camelCase name.
    """
    wires = wires or {}
    overrides = {
        name: override(rename=wires.get(name) or _camel(name), struct_hook=hook)
        for name, hook in hooks.items()
    }
    # cattrs types **overrides loosely; the mapping of attribute names to overrides is its API.
    return make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]


def _check_model(cls: type) -> None:
    """Refuse a model that no generated structure function could build by its own rules.

    A field that is not an ``__init__`` argument (``init=False``) would be read by one decoder
    and not by the other, and a default computed from the half-built instance
    (``Factory(takes_self=True)``) has no instance to read in the fast hook: fail at import,
    not on the first page.
    """
    for field in attrs.fields(cls):
        if not field.init:
            raise ModelError(f"{cls.__name__}.{field.name}: init=False fields cannot be decoded")
        default = field.default
        if isinstance(default, attrs.Factory) and default.takes_self:  # type: ignore[arg-type]
            raise ModelError(
                f"{cls.__name__}.{field.name}: Factory(takes_self=True) defaults cannot be decoded"
            )


def _slot_setters(cls: type) -> dict[str, Any] | None:
    """Each field's slot setter, when storing into the slots is all that ``cls(...)`` does.

    ``None`` (call the class instead) when constructing the class runs any rule of its own: a
    validator or converter on a field, ``__attrs_pre_init__``/``__attrs_post_init__``, an
    ``__init__`` or ``__new__`` that attrs did not generate, or a field without a slot.
    """
    if any(f.validator is not None or f.converter is not None for f in attrs.fields(cls)):
        return None
    if hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        return None
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    if code is None or not code.co_filename.startswith("<attrs generated"):
        return None  # inherited, hand-written, or attrs' own under a name we do not know
    if cls.__new__ is not object.__new__:  # type: ignore[comparison-overlap]
        return None
    setters = {}
    for field in attrs.fields(cls):
        slot = next((k.__dict__[field.name] for k in cls.__mro__ if field.name in k.__dict__), None)
        if not isinstance(slot, types.MemberDescriptorType):
            return None
        setters[field.name] = slot.__set__
    return setters


# Types whose common case the fast hook checks inline instead of calling the field hook.
_INLINE_TYPES: dict[Any, type] = {str: str, str | None: str, bool | None: bool, int | None: int}


def _fast_hook(cls: type, hooks: dict[str, Any], wires: dict[str, str] | None = None) -> Any:
    """A structure function for an attrs class, generated once per class.

    Why not cattrs' own: its generated function gathers optional fields into a dict and calls
    the class with ``**kwargs``, and a frozen class's ``__init__`` then sets every field
    through ``object.__setattr__``; together that measured 5.4 µs per build. This one reads
    each key with ``dict.get`` and checks plain ``str``/``bool`` values and known enum values
    inline. When the class's ``__init__`` would only store the values (see ``_slot_setters``),
    it stores them through the slots' own setters (about 1.5 µs per build in all, datetimes
    included; calling ``__init__`` costs 0.7 µs more); otherwise it calls the class, so that
    its validators, converters and post-init hooks run as attrs means them to.
    It accepts exactly what the cattrs function accepts (a property test holds them to it),
    and anything it rejects is decoded again by cattrs to name the field. ``wires`` is as for
    `_renamed_hook()`.
    """
    wires = wires or {}
    _check_model(cls)
    setters = _slot_setters(cls)
    namespace: dict[str, Any] = {
        "cls": cls,
        "fromiso": datetime.fromisoformat,
        "fromts": datetime.fromtimestamp,
        "UTC": UTC,
        "MS": _MS_THRESHOLD,
        "MISSING": attrs.NOTHING,
    }
    lines = ["def structure(o, _=None):", "    get = o.get"]
    arguments = []
    for index, field in enumerate(attrs.fields(cls)):
        wire, local, hook = (
            wires.get(field.name) or _camel(field.name),
            f"a{index}",
            f"hook_{index}",
        )
        namespace[hook] = hooks[field.name]
        arguments.append(f"{field.alias}={local}")
        default = field.default
        if default is attrs.NOTHING:
            lines.append(f"    v = o[{wire!r}]")
        elif default is None:
            lines.append(f"    v = get({wire!r})")
        else:
            # A missing key takes the field's own default; a present one (null included) goes
            # through the hook, as in cattrs' function.
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                namespace[f"default_{index}"] = default.factory
                value = f"default_{index}()"
            else:
                namespace[f"default_{index}"] = default
                value = f"default_{index}"
            lines.append(f"    v = get({wire!r}, MISSING)")
            lines.append(f"    {local} = {value} if v is MISSING else {hook}(v)")
            continue
        enum_table = _ENUMS.get(field.type)
        inline = _INLINE_TYPES.get(field.type)
        if enum_table is not None:  # a known value is a dict lookup away
            namespace[f"known_{index}"] = enum_table[0]
            lines.append(f"    {local} = known_{index}[v] if v in known_{index} else {hook}(v)")
        elif field.type == datetime | None:
            # The API's forms: "...Z" strings (already UTC), and epoch seconds as floats or,
            # in the reference's own example (buildConcludedAt: 1606237973), as integers.
            lines += [
                "    if v.__class__ is str and v[-1:] == 'Z':",
                f"        {local} = fromiso(v)",
                "    elif (v.__class__ is float or v.__class__ is int) and v < MS:",
                f"        {local} = fromts(v, UTC)",
                "    else:",
                f"        {local} = {hook}(v)",
            ]
        elif inline is None and default is attrs.NOTHING:
            lines.append(f"    {local} = {hook}(v)")  # a required field: its hook judges null
        elif inline is None:
            lines.append(f"    {local} = None if v is None else {hook}(v)")
        else:
            accept = f"v.__class__ is {inline.__name__}"
            if default is not attrs.NOTHING:
                accept = f"v is None or {accept}"
            lines.append(f"    {local} = v if {accept} else {hook}(v)")
    if setters is None:
        lines.append(f"    return cls({', '.join(arguments)})")
    else:
        namespace["new"] = object.__new__
        lines.append("    obj = new(cls)")
        for index, field in enumerate(attrs.fields(cls)):
            namespace[f"set_{index}"] = setters[field.name]
            lines.append(f"    set_{index}(obj, a{index})")
        lines.append("    return obj")
    exec("\n".join(lines), namespace)  # the source is built above from the class's field names
    return namespace["structure"]


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
)

# Fields read from another wire key, or through another hook, than their name and type give:
# (model, attribute) -> (wire key, hook). A log line's ``log`` fills both ``text`` and ``raw``.
_FIELD_OVERRIDES: dict[tuple[type, str], tuple[str, Any]] = {
    (LogLine, "text"): ("log", _log_text),
    (LogLine, "raw"): ("log", _log_raw),
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
        return [hook(item, cls) for item in value]
    except Exception:
        pass
    raise _explain(value, list[cls], root) from None  # type: ignore[valid-type]
