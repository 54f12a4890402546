"""Text from the API made safe to show: on a terminal, in a spreadsheet, in an error. Pure.

A build's branch, a job's name, a log line or a server's error message is written by whoever
controls the build or the server. Printed as it is, ``\\x1b]0;pwned\\x07`` retitles the
terminal, ``\\x1b[2J`` clears it, a bare CR overwrites the row it is on, a C1 control (``\\x9b``
is a CSI on many terminals) starts an escape sequence, and a bidi override (U+202E) makes
text read backwards. `visible()` writes every such character as a visible escape instead;
every text path of the command line (tables, log lines, notes, error lines) goes through it.

`csv_cell()` keeps a spreadsheet from reading a cell as a formula; `json_line()` writes JSON
whose strings hold none of those characters raw (an escape reads back to the same string).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

__all__ = [
    "CSV_FORMULA_PREFIXES",
    "MAX_SHOWN_MESSAGE",
    "bounded",
    "csv_cell",
    "json_line",
    "visible",
]

# Control characters (C0, DEL, C1), format characters (bidi embeddings, overrides and
# isolates, zero-width characters, the BOM, tag characters), line and paragraph separators,
# and lone surrogates (a JSON string may hold one; no terminal encoding can print it).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

#: A CSV cell starting with one of these is read as a formula by spreadsheets (OWASP's list).
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: The most characters of a server's message shown in an error (more are cut, and counted).
MAX_SHOWN_MESSAGE = 500


def _escaped(char: str) -> bool:
    return unicodedata.category(char) in _ESCAPED_CATEGORIES


def _escape(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str, *, keep: str = "") -> str:
    """``text`` with every control, format or separator character written as an escape.

    ESC becomes ``\\x1b``, CR ``\\r``, U+202E ``\\u202e``; the characters of ``keep`` (a log
    line keeps tab and newline) stay as they are, and so does all other text, any script or
    emoji included. A backslash is not doubled: the result is for reading, not for parsing
    back (``--format jsonl`` is exact).
    """
    if text.isprintable() or not any(_escaped(char) and char not in keep for char in text):
        return text
    return "".join(_escape(char) if char not in keep and _escaped(char) else char for char in text)


def bounded(text: str, limit: int = MAX_SHOWN_MESSAGE) -> str:
    """`visible` text of at most ``limit`` characters of ``text``, and how many were cut."""
    if len(text) <= limit:
        return visible(text)
    return f"{visible(text[:limit])}... ({len(text) - limit} more characters)"


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell: a string a spreadsheet would take for a formula gets a ``'``.

    ``=1+1``, ``@SUM(A1)``, ``+1``, ``-1`` and a leading tab or CR are written ``'=1+1``
    and so on (OWASP's advice); every other value is left as it is.
    """
    if isinstance(value, str) and value.startswith(CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes a character beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_line(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)`` with the characters `visible` escapes
    written as ``\\uXXXX``: other text stays readable, and it all reads back exactly."""
    text = json.dumps(value, ensure_ascii=False)
    if text.isprintable():
        return text
    # Such characters can only be inside strings (JSON's own syntax is printable ASCII), where
    # an escape means the same character.
    return "".join(_json_escape(char) if _escaped(char) else char for char in text)
