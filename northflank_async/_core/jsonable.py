"""Models as JSON-ready data: ``to_json``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

from .converter import wire_name

__all__ = ["to_json"]


def to_json(value: Any, *, wire_names: bool = False) -> Any:
    """Turn a model (or a list, tuple or dict of them) into data that ``json.dumps`` accepts.

    Attributes keep their snake_case names (``created_at``), as on the model, unless
    ``wire_names=True`` asks for the API's own camelCase names (``createdAt``), for output that
    tools written against the API read. Every field is kept, ``None`` as ``null``; datetimes
    become ISO-8601 strings in UTC with a ``Z`` suffix, a status becomes its string value,
    tuples become lists and a ``timedelta`` its seconds as a float. Computed properties
    (``is_concluded``, ``duration``) are not fields and are left out.

    Anything else that JSON cannot hold raises ``ValueError``, naming its type.

    ::

        json.dumps([to_json(build) async for build in nf.jobs.builds.list(...)])
    """
    if value is None or isinstance(value, bool | int | float | str):
        # A StrEnum status is a str: its plain value, not the member.
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return to_json(value.value, wire_names=wire_names)
    if attrs.has(type(value)):
        return {
            (wire_name(field.name) if wire_names else field.name): to_json(
                getattr(value, field.name), wire_names=wire_names
            )
            for field in attrs.fields(type(value))
        }
    if isinstance(value, list | tuple):
        return [to_json(item, wire_names=wire_names) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json(item, wire_names=wire_names) for key, item in value.items()}
    raise ValueError(f"to_json cannot convert a {type(value).__name__} to JSON")
