"""Structure functions for the models: cattrs' own (with the field named on failure), and a
faster one generated once per class for the hot path. Pure.
"""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .fieldhooks import _ENUMS, _MS_THRESHOLD, ModelError, _camel, _expect


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


_OBJECT_METHODS = ("__setattr__", "__init__", "__new__")


def _twin(cls: type) -> type | None:
    """An unfrozen class with ``cls``'s slots, whose instances may become ``cls`` instances.

    Stores into a frozen class's slots go through a setter call each (its ``__setattr__``
    refuses them); stores into the twin are plain attribute stores, which the interpreter
    specialises, and one ``__class__`` assignment then makes the object a ``cls``: about a
    third of the time for a model of 11 fields. ``None`` (use the setters) unless ``cls``'s own
    slots are exactly its fields and CPython accepts the assignment (it checks that the two
    layouts are the same; a probe tries it once here).
    """
    own = cls.__dict__.get("__slots__")
    names = [field.name for field in attrs.fields(cls)]
    if own is None or sorted(set(own) - {"__weakref__"}) != sorted(names):
        return None
    if len(cls.__bases__) != 1:
        return None
    base = cls.__bases__[0]
    if any(getattr(base, name) is not getattr(object, name) for name in _OBJECT_METHODS):
        return None  # the twin would inherit a refusing __setattr__, or an __init__ to run
    twin = type(cls.__name__, (base,), {"__slots__": own, "__module__": cls.__module__})
    probe: Any = object.__new__(twin)
    try:
        for name in names:
            setattr(probe, name, None)
        probe.__class__ = cls
    except TypeError:
        return None
    return twin


# Types whose common case the fast hook checks inline instead of calling the field hook.
_INLINE_TYPES: dict[Any, tuple[type, ...]] = {
    str: (str,),
    str | None: (str,),
    bool | None: (bool,),
    int | None: (int,),
    int | str | None: (int, str),
}


def _fast_hook(cls: type, hooks: dict[str, Any], wires: dict[str, str] | None = None) -> Any:
    """A structure function for an attrs class, generated once per class.

    Why not cattrs' own: its generated function gathers optional fields into a dict and calls
    the class with ``**kwargs``, and a frozen class's ``__init__`` then sets every field
    through ``object.__setattr__``; together that measured 5.4 µs per build. This one reads
    each key with ``dict.get`` and checks plain ``str``/``bool``/``int`` values, datetimes in
    the API's forms and known enum values inline; a nested model whose own function was
    generated here (a build's ``registry``) is built inline too, not through a call. When the
    class's ``__init__`` would only store the values (see ``_slot_setters``), it stores them
    into a twin of the class and then sets the object's class (see ``_twin``), or through the
    slots' own setters where CPython refuses the twin; otherwise it calls the class, so that
    its validators, converters and post-init hooks run as attrs means them to.
    It accepts exactly what the cattrs function accepts (a property test holds them to it),
    and anything it rejects is decoded again by cattrs to name the field. ``wires`` is as for
    `_renamed_hook()`.
    """
    wires = wires or {}
    namespace: dict[str, Any] = {
        "fromiso": datetime.fromisoformat,
        "fromts": datetime.fromtimestamp,
        "UTC": UTC,
        "MS": _MS_THRESHOLD,
        "MISSING": attrs.NOTHING,
        "new": object.__new__,
    }
    body = _body(cls, hooks, wires, namespace, source="o", prefix="")
    source = [
        "def structure(o, _=None):",
        *_indent(body),
        "    return obj",
        # The same statements in a loop, for a page: one call a page instead of one a build.
        "def structure_list(items):",
        "    out = []",
        "    for o in items:",
        *_indent(_indent(body)),
        "        out.append(obj)",
        "    return out",
    ]
    exec("\n".join(source), namespace)  # built by _body from the class's field names
    structure = namespace["structure"]
    structure.inline_spec = (cls, hooks, wires)  # what a model holding this one inlines
    structure.structure_list = namespace["structure_list"]  # what decode_list calls
    return structure


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _body(
    cls: type,
    hooks: dict[str, Any],
    wires: dict[str, str],
    namespace: dict[str, Any],
    *,
    source: str,
    prefix: str,
) -> list[str]:
    """The statements that build a ``cls`` from the dict named ``source`` into ``{prefix}obj``.

    Every name it uses, local or in ``namespace``, starts with ``prefix``, so that a nested
    model's statements can sit inside its holder's.
    """
    _check_model(cls)
    setters = _slot_setters(cls)
    # The class change costs more than the setter calls it saves on a small model: with a
    # registry's one field the setters measured about 40 ns less; three fields or more, the twin.
    fields = attrs.fields(cls)
    twin = None if setters is None or len(fields) < 3 else _twin(cls)
    p = prefix
    v = f"{p}v"
    namespace[f"{p}cls"] = cls
    # ``source.get(key)`` each time, not a bound ``get``: the interpreter specialises the
    # method call on a dict, and calling a bound method measured 5-10% slower per build.
    lines: list[str] = []
    arguments = []
    for index, field in enumerate(fields):
        wire, local, hook = (
            wires.get(field.name) or _camel(field.name),
            f"{p}a{index}",
            f"{p}hook_{index}",
        )
        namespace[hook] = hooks[field.name]
        arguments.append(f"{field.alias}={local}")
        default = field.default
        if default is attrs.NOTHING:
            lines.append(f"{v} = {source}[{wire!r}]")
        elif default is None:
            lines.append(f"{v} = {source}.get({wire!r})")
        else:
            # A missing key takes the field's own default; a present one (null included) goes
            # through the hook, as in cattrs' function.
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                namespace[f"{p}default_{index}"] = default.factory
                value = f"{p}default_{index}()"
            else:
                namespace[f"{p}default_{index}"] = default
                value = f"{p}default_{index}"
            lines.append(f"{v} = {source}.get({wire!r}, MISSING)")
            lines.append(f"{local} = {value} if {v} is MISSING else {hook}({v})")
            continue
        enum_table = _ENUMS.get(field.type)
        inline = _INLINE_TYPES.get(field.type)
        nested = getattr(hooks[field.name], "inline_spec", None)
        if enum_table is not None:  # a known value is a dict lookup away
            namespace[f"{p}known_{index}"] = enum_table[0]
            lines.append(
                f"{local} = {p}known_{index}[{v}] if {v} in {p}known_{index} else {hook}({v})"
            )
        elif field.type == datetime | None:
            # The API's forms: "...Z" strings (already UTC), and epoch seconds as floats or,
            # in the reference's own example (buildConcludedAt: 1606237973), as integers.
            kind = f"{p}kind"
            lines += [
                f"{kind} = {v}.__class__",
                f"if {kind} is str and {v}[-1:] == 'Z':",
                f"    {local} = fromiso({v})",
                f"elif ({kind} is float or {kind} is int) and {v} < MS:",
                f"    {local} = fromts({v}, UTC)",
                f"elif {v} is None:",
                f"    {local} = None",
                "else:",
                f"    {local} = {hook}({v})",
            ]
        elif nested is not None:
            # The nested model's statements in place of a call to its function: as in that
            # function, anything but a dict fails (no ``.get``, no string keys), and null is None
            # when the field is optional.
            inner = f"{p}n{index}_"
            nested_cls, nested_hooks, nested_wires = nested
            statements = [
                *_body(nested_cls, nested_hooks, nested_wires, namespace, source=v, prefix=inner),
                f"{local} = {inner}obj",
            ]
            if default is None:
                lines += [f"if {v} is None:", f"    {local} = None", "else:", *_indent(statements)]
            else:
                lines += statements
        elif inline is None and default is attrs.NOTHING:
            lines.append(f"{local} = {hook}({v})")  # a required field: its hook judges null
        elif inline is None:
            lines.append(f"{local} = None if {v} is None else {hook}({v})")
        else:
            accept = " or ".join(f"{v}.__class__ is {kind.__name__}" for kind in inline)
            if default is not attrs.NOTHING:
                accept = f"{v} is None or {accept}"
            lines.append(f"{local} = {v} if {accept} else {hook}({v})")
    names = [field.name for field in fields]
    if setters is None:
        lines.append(f"{p}obj = {p}cls({', '.join(arguments)})")
    elif twin is not None:
        namespace[f"{p}twin"] = twin
        lines.append(f"{p}obj = {p}twin()")  # no __init__ of its own: 30 ns less than new()
        lines += [f"{p}obj.{name} = {p}a{index}" for index, name in enumerate(names)]
        lines.append(f"{p}obj.__class__ = {p}cls")
    else:
        lines.append(f"{p}obj = new({p}cls)")
        for index, name in enumerate(names):
            namespace[f"{p}set_{index}"] = setters[name]
            lines.append(f"{p}set_{index}({p}obj, {p}a{index})")
    return lines
