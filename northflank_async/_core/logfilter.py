"""Which log lines to read, as one value: `LogFilter`. Pure: no I/O.

The logs calls take the filter either as a `LogFilter` (``filter=``) or as the keyword
arguments they always took (``container=``, ``text_includes=``, ...); `choose_filter()` is the
one place where the keywords become a `LogFilter`.
"""

from __future__ import annotations

from typing import Any, TypedDict

import attrs

__all__ = ["FilterKeywords", "LogFilter", "choose_filter"]

_TEXT_FILTERS = ("text_includes", "text_not_includes", "regex_includes", "regex_not_includes")


class FilterKeywords(TypedDict):
    """A `LogFilter` as the keyword arguments of a logs call (and of ``log_query``)."""

    container: str | None
    text_includes: str | None
    text_not_includes: str | None
    regex_includes: str | None
    regex_not_includes: str | None


def _text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{attribute.name} must be a non-empty string, got {value!r}")


@attrs.frozen(kw_only=True)
class LogFilter:
    """Which lines of a build's or run's log to read: one container, one text or regex filter.

    ``container`` picks one container; at most one of ``text_includes``,
    ``text_not_includes``, ``regex_includes`` and ``regex_not_includes`` applies (the API takes
    one). Checked when made (``ValueError``), so a bad filter fails before any request. Pass it
    as ``filter=`` to `logs()` or `tail_logs()`, and reuse it across calls.
    """

    container: str | None = attrs.field(default=None, validator=_text)
    text_includes: str | None = attrs.field(default=None, validator=_text)
    text_not_includes: str | None = attrs.field(default=None, validator=_text)
    regex_includes: str | None = attrs.field(default=None, validator=_text)
    regex_not_includes: str | None = attrs.field(default=None, validator=_text)

    def __attrs_post_init__(self) -> None:
        given = [name for name in _TEXT_FILTERS if getattr(self, name) is not None]
        if len(given) > 1:
            names = ", ".join(given)
            raise ValueError(f"the API takes at most one text or regex filter, got {names}")

    def keywords(self) -> FilterKeywords:
        """The filter as the keyword arguments of the logs calls."""
        return FilterKeywords(
            container=self.container,
            text_includes=self.text_includes,
            text_not_includes=self.text_not_includes,
            regex_includes=self.regex_includes,
            regex_not_includes=self.regex_not_includes,
        )


def choose_filter(given: LogFilter | None, **keywords: str | None) -> LogFilter:
    """The filter of a logs call: ``filter=`` or the filter keywords, not both."""
    used = sorted(name for name, value in keywords.items() if value is not None)
    if given is None:
        return LogFilter(**keywords)
    if not isinstance(given, LogFilter):
        raise ValueError(f"filter must be a LogFilter, got {type(given).__name__}")
    if used:
        raise ValueError(f"pass filter= or {', '.join(used)}, not both")
    return given
