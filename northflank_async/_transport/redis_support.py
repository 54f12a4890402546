"""The Redis coordinator's care with secrets and errors: credentials masked in every URL and
message, refused credentials told apart from an outage, and redis-py imported only when used.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .._core.errors import ConfigurationError

__all__ = ["auth_failure", "credentials", "describe", "import_redis", "redis_errors", "safe"]


def describe(exc: BaseException, hidden: tuple[str, ...] = ()) -> str:
    """``Class: message`` on one line, cut, with every credential of ``hidden`` masked."""
    text = _hide(" ".join(str(exc).split()), hidden)[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _hide(text: str, hidden: tuple[str, ...]) -> str:
    for secret in hidden:  # longest first: a password holding another is masked whole
        text = text.replace(secret, "***")
    return text


# Answers that say the server refused our credentials or their rights: a wrong password (or
# user) is the caller's to fix, not an outage to ride out on each process's own budget.
_AUTH_CLASSES = (
    "AuthenticationError",
    "AuthenticationWrongNumberOfArgsError",
    "AuthorizationError",
    "NoPermissionError",
)
_AUTH_REPLIES = ("NOAUTH", "WRONGPASS", "NOPERM")


def auth_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing the coordinator's credentials or their rights."""
    try:
        import redis.exceptions
    except ImportError:  # a lent client of a redis-compatible library: its reply says it
        classes: tuple[type[BaseException], ...] = ()
    else:
        found = (getattr(redis.exceptions, name, None) for name in _AUTH_CLASSES)
        classes = tuple(c for c in found if isinstance(c, type))
    return isinstance(exc, classes) or str(exc).lstrip().startswith(_AUTH_REPLIES)


_SECRET_PARAMETER = re.compile(r"pass|secret|token|credential|auth", re.IGNORECASE)


def safe(url: str) -> str:
    """``url`` with every credential masked, as it may land in a log or an error.

    ``redis://user:***@host/0``, ``rediss://host/0?password=***``,
    ``unix:///run/redis.sock?db=0&password=***``; a user name stays.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        userinfo, at, host = netloc.rpartition("@")
        if at and ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
        query = "&".join(_masked_parameter(pair) for pair in parts.query.split("&"))
        safe = urlunsplit(parts._replace(netloc=netloc, query=query if parts.query else ""))
        if not netloc and url.startswith(f"{parts.scheme}://"):  # unix:///path keeps its //
            safe = f"{parts.scheme}://{safe[len(parts.scheme) + 1 :]}"
        return safe
    except ValueError:
        return "<unparsable Redis URL>"


def _masked_parameter(pair: str) -> str:
    name, equals, value = pair.partition("=")
    secret = equals and value and _SECRET_PARAMETER.search(unquote(name))
    return f"{name}=***" if secret else pair


def credentials(*, url: str | None = None, client: Any = None) -> tuple[str, ...]:
    """The secrets of a Redis URL and of a client's connection settings, longest first, in
    every form an error message might quote them (as written, and decoded)."""
    found: set[str] = set()
    if url is not None:
        try:
            parts = urlsplit(url)
            userinfo = parts.netloc.rpartition("@")[0]
            if ":" in userinfo:
                found.add(userinfo.split(":", 1)[1])
            for pair in parts.query.split("&"):
                name, _, value = pair.partition("=")
                if _SECRET_PARAMETER.search(unquote(name)):
                    found.add(value)
        except ValueError:
            pass
    settings = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if isinstance(settings, dict):
        for name, value in settings.items():
            if isinstance(value, str) and _SECRET_PARAMETER.search(name):
                found.add(value)
    found |= {unquote(secret) for secret in found}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def import_redis() -> Any:
    try:
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            "RedisCoordinator needs the redis package: pip install 'northflank-async[redis]'"
        ) from None
    return redis.asyncio


def redis_errors() -> tuple[type[BaseException], ...]:
    """What makes the store unusable: every Redis error, and the socket's own."""
    try:
        from redis.exceptions import RedisError
    except ImportError:  # a lent client of a redis-compatible library
        return (OSError, TimeoutError)
    return (RedisError, OSError, TimeoutError)
