"""The token, kept secret: no repr, log line, error or traceback local ever shows it. Pure.

`Secret` holds the token and hides it in whatever a server sends back (headers, bodies,
error messages), whole, JSON-escaped, or as a piece of at least ``_FRAGMENT`` characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, AnyStr

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["FRAGMENT_BODY", "HIDDEN", "TOKEN_VARIABLES", "Authorization", "Secret"]

# Where the token is read from when none is given, first set first: the client and the CLI's
# "no token" check both read this one list.
TOKEN_VARIABLES = ("NORTHFLANK_API_TOKEN", "NF_API_TOKEN")

HIDDEN = "<token hidden>"
_HIDDEN = HIDDEN
# A run of this many characters of the token, echoed by a server, is hidden like the whole.
_FRAGMENT = 8
# Error bodies up to this size are searched for pieces of the token, larger ones for the whole.
FRAGMENT_BODY = 1 << 16
_FRAGMENT_BODY = FRAGMENT_BODY


class Secret:
    """Holds the token so that no repr, log line or formatted local ever shows it.

    It also hides the token in what a server sends back: `redact()` replaces the token, and
    any run of at least ``_FRAGMENT`` of its characters (a partial echo), with ``<token hidden>``.
    """

    __slots__ = ("_escapes", "_pieces", "_text_escapes", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        # The JSON escapes that could spell the token without its characters on the wire.
        self._escapes = (b"\\u", *(b"\\" + c.encode() for c in '/"\\' if c in value))
        self._text_escapes = tuple(escape.decode() for escape in self._escapes)
        # The pieces of the token a partial echo is hidden for (see _mask).
        size = min(len(value), _FRAGMENT)
        self._pieces = tuple({value[i : i + size] for i in range(len(value) - size + 1)})

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return _mask(text, self._value, _HIDDEN)

    def redact_answer(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> tuple[Mapping[str, str], bytes]:
        """An answer's headers and body with the token hidden.

        Error answers, which error messages are built from, lose partial echoes too (bodies up
        to ``_FRAGMENT_BODY`` bytes); successful answers, megabytes at times and read on every
        page, are searched for the whole token only: one fast scan.
        """
        secret, raw, hidden = self._value, self._value.encode(), _HIDDEN.encode()
        if status >= 300 or any(secret in k or secret in v for k, v in headers.items()):
            headers = self._redact_headers(headers)
        if status >= 300 and len(body) <= _FRAGMENT_BODY:
            return headers, _mask(body, raw, hidden)
        return headers, body.replace(raw, hidden) if raw in body else body

    def _redact_headers(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        redact = self.redact
        if all(redact(key) is key and redact(value) is value for key, value in headers.items()):
            return headers
        return CIMultiDictProxy(CIMultiDict((redact(k), redact(v)) for k, v in headers.items()))

    def redact_json(self, value: Any, *, fragments: bool = True) -> Any:
        """A decoded JSON value with the token hidden in every string (keys included)."""
        if isinstance(value, str):
            if fragments:
                return self.redact(value)
            return value.replace(self._value, _HIDDEN) if self._value in value else value
        if isinstance(value, list):
            return [self.redact_json(item, fragments=fragments) for item in value]
        if isinstance(value, dict):
            return {
                self.redact_json(k, fragments=fragments): self.redact_json(v, fragments=fragments)
                for k, v in value.items()
            }
        return value

    def redact_decoded(self, raw: bytes | str, value: Any, *, fragments: bool = False) -> Any:
        """``value``, parsed from ``raw``, with the token hidden where JSON escapes spelled it.

        The one step after decoding, for HTTP answers and WebSocket frames alike: ``raw`` (a
        body, or a frame's text) has been searched for the whole token already, so only
        escapes can have hidden it from that search, and a ``raw`` without them is passed
        through untouched. ``fragments`` hides pieces of the token too, in the decoded strings
        (never in ``raw``: masking a piece of JSON text can cut an escape in two).
        """
        # Every escape starts with a backslash: one memchr says whether any can be there (a
        # two-byte search such as b"\\u" costs ~20 µs on a 30 KB page, 20 times more).
        if isinstance(raw, bytes):
            escaped = b"\\" in raw and any(escape in raw for escape in self._escapes)
        else:
            escaped = "\\" in raw and any(escape in raw for escape in self._text_escapes)
        if fragments and (escaped or self._has_piece(raw)):
            return self.redact_json(value, fragments=True)
        return self.redact_json(value, fragments=False) if escaped else value

    def _has_piece(self, raw: bytes | str) -> bool:
        if isinstance(raw, bytes):
            return any(piece.encode() in raw for piece in self._pieces)
        return any(piece in raw for piece in self._pieces)

    def __repr__(self) -> str:
        return _HIDDEN

    __str__ = __repr__


def _mask(text: AnyStr, secret: AnyStr, mask: AnyStr) -> AnyStr:
    """``text`` with each run of characters copied from ``secret`` replaced by ``mask``.

    A run is hidden when it holds any ``_FRAGMENT`` consecutive characters of the secret (or the
    whole secret, when shorter); ``text`` itself is returned when there is nothing to hide.
    """
    size = min(len(secret), _FRAGMENT)
    if not size or len(text) < size:
        return text
    hidden = bytearray(len(text))
    for start in range(len(secret) - size + 1):
        piece = secret[start : start + size]
        at = text.find(piece)
        while at >= 0:
            hidden[at : at + size] = b"\x01" * size
            at = text.find(piece, at + 1)
    parts: list[AnyStr] = []
    index = 0
    while (start := hidden.find(1, index)) >= 0:
        end = hidden.find(0, start)
        parts += [text[index:start], mask]
        index = len(text) if end < 0 else end
    if not parts:
        return text
    parts.append(text[index:])
    return text[:0].join(parts)


class Authorization(dict[str, str]):
    """The request's own headers; its repr hides the token from tracebacks with locals.

    ``extra`` headers (User-Agent, Accept) are sent beside it and shown by the repr.
    """

    def __init__(self, token: Secret, extra: Mapping[str, str] | None = None) -> None:
        super().__init__(extra or {}, Authorization=f"Bearer {token.reveal()}")

    def __repr__(self) -> str:
        return repr({**self, "Authorization": f"Bearer {_HIDDEN}"})
