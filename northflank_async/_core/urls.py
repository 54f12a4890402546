"""URL rules, in one place: which base URLs are accepted, and the tail's WebSocket URL. Pure.

Plain ``http://`` is decided once, by the client, when it checks its base URL
(`check_base_url`): accepted for a loopback host or with ``allow_insecure=True``, refused
elsewhere. Everything built from that base URL afterwards (requests, the log tail's
``ws://``) follows that one decision.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigurationError

#: Where the client sends requests when neither ``base_url=`` nor NORTHFLANK_API_BASE_URL says.
DEFAULT_BASE_URL = "https://api.northflank.com"

__all__ = ["DEFAULT_BASE_URL", "check_base_url", "has_control", "is_loopback", "websocket_url"]


def is_loopback(host: str) -> bool:
    """``localhost``, or an address of 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_control(text: str) -> bool:
    """C0 controls (CR, LF, NUL, ...), DEL and the C1 range: never legal in a header or a URL."""
    return any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in text)


def check_base_url(base_url: object, allow_insecure: bool) -> str:
    """The API's base URL without its trailing slash, or `ConfigurationError` saying why not."""
    if not isinstance(base_url, str) or has_control(base_url) or " " in base_url:
        raise ConfigurationError("base_url must be a URL without spaces or control characters")
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", a port that is not a number or > 65535
        raise ConfigurationError(f"base_url cannot be parsed: {exc}") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        # Not echoed: the user info may hold a password.
        raise ConfigurationError(
            "base_url must not carry user info (user:password@): the API takes a token"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if port == 0:
        raise ConfigurationError(f"base_url has port 0, which cannot be connected to: {base_url!r}")
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url must not carry a query or fragment")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"base_url {base_url!r} is plain http: the token would cross the network in clear. "
            "Use https://, or pass allow_insecure=True if you really mean it."
        )
    return base_url.rstrip("/")


def websocket_url(base_url: str) -> str:
    """The WebSocket form of a base URL that `check_base_url` accepted: ``wss://`` for https,
    ``ws://`` for the plain http that the client allowed."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(scheme="wss" if parts.scheme == "https" else "ws"))
