"""The pure core: no sockets, no event loop.

Everything here is a function of its arguments (plus an injected clock or random source), so
that routes, envelopes, error mapping, cursor bookkeeping, retry decisions, backoff and
rate-limit accounting are unit-tested without I/O. ``_http`` is the only module that sends.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import attrs

from ._converter import decode_list
from ._errors import APIError, DecodeError, RateLimitError, error_class_for
from ._models import JobBuild, Page, RateLimit

__all__ = [
    "PollSchedule",
    "RateLimitState",
    "RetryPolicy",
    "Watermark",
    "check_id",
    "check_number",
    "decipher_response",
    "job_path",
    "parse_list_page",
    "project_path",
    "retry_after_seconds",
]

T = TypeVar("T")

# --------------------------------------------------------------------------- arguments

_FLOAT_MAX = sys.float_info.max


def check_number(
    value: object,
    name: str,
    *,
    minimum: float = 0.0,
    above: bool = False,
    maximum: float | None = None,
    integer: bool = False,
    infinite: bool = False,
    error: type[Exception] = ValueError,
) -> None:
    """Refuse a numeric option of the wrong type, not finite, or out of range.

    ``value`` must be an int (``integer``) or a real number, never a bool; at least
    ``minimum`` (more than it if ``above``) and at most ``maximum``; finite unless ``infinite``
    allows +inf. The ``error`` raised (``ValueError`` for call arguments, ``ConfigurationError``
    for client options) names the option and says why.
    """
    kind = "an integer" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        raise error(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if not integer and isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        raise error(f"{name} must be finite, got an integer too large for a float")
    if isinstance(value, float) and math.isnan(value):
        raise error(f"{name} must be {kind}, not nan")
    if isinstance(value, float) and math.isinf(value) and not (infinite and value > 0):
        raise error(f"{name} must be finite, got {value!r}")
    if value < minimum or (above and value == minimum):
        bound = f"greater than {minimum:g}" if above else f"at least {minimum:g}"
        raise error(f"{name} must be {bound}, got {value!r}")
    if maximum is not None and value > maximum:
        raise error(f"{name} must be at most {maximum:g}, got {value!r}")


# --------------------------------------------------------------------------- routes


# The URL layer (yarl) resolves these as dot segments, even percent-encoded: as ids they would
# silently address another route ("build/.." is the job itself), so they are refused instead.
_DOT_SEGMENTS = frozenset({".", ".."})


def _segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if value in _DOT_SEGMENTS:
        raise ValueError(f"{name} {value!r} is not a valid id: the URL would resolve it away")
    try:
        # safe="" so that "/" and "?" in user data are encoded and can never change the route.
        return quote(value, safe="")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid text (a lone surrogate?): {value!r}") from None


def check_id(value: str, name: str) -> None:
    """Refuse an id that cannot be a path segment, with the ``ValueError`` a request would raise."""
    _segment(value, name)


def project_path(project_id: str, team_id: str | None, *tail: str) -> str:
    """The path of a project endpoint in the team (``team_id``) or project route form.

    ``tail`` holds literal segments and user-supplied ids, all checked and percent-encoded.
    """
    parts = ["v1"]
    if team_id is not None:
        parts += ["teams", _segment(team_id, "team_id")]
    parts += ["projects", _segment(project_id, "project_id")]
    parts += [_segment(piece, "path parameter") for piece in tail]
    return "/" + "/".join(parts)


def job_path(
    *, project_id: str, job_id: str, team_id: str | None = None, tail: tuple[str, ...] = ()
) -> str:
    """The path of a job endpoint in the team (``team_id``) or project route form."""
    _segment(job_id, "job_id")  # checked first, so that a bad job id is named as such
    return project_path(project_id, team_id, "jobs", job_id, *tail)


# --------------------------------------------------------------------------- envelopes


def _json_loads() -> Any:
    # orjson parses a page about 25% faster (benchmarks/, docs/performance.md): used when the
    # `speedups` extra installed it, never required. Its errors are ValueErrors too.
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


loads = _json_loads()


def _parse_json(body: bytes) -> Any:
    try:
        return loads(body)
    # JSONDecodeError and UnicodeDecodeError derive from ValueError; absurd nesting recurses.
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"response is not JSON ({type(exc).__name__}: {exc})") from None


def _error_fields(body: bytes) -> tuple[str | None, str | None, Any]:
    """Message, error id and details from an error body, read defensively.

    Accepts the documented ``{"error": {...}}`` envelope, the older generated SDK's flat
    ``{code, message, status, data}`` form, and anything else (HTML from a proxy, empty).
    """
    try:
        parsed = loads(body) if body else None
    except (ValueError, RecursionError):
        return None, None, None
    if not isinstance(parsed, dict):
        return None, None, None
    inner = parsed.get("error")
    source = inner if isinstance(inner, dict) else parsed
    message = source.get("message")
    error_id = source.get("id")
    details = source.get("details", source.get("data"))
    return (
        message if isinstance(message, str) else None,
        error_id if isinstance(error_id, str) else None,
        details,
    )


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def api_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    path: str,
    now: datetime | None = None,
) -> APIError:
    """Build the typed error for an HTTP error answer (it is returned, not raised)."""
    message, error_id, details = _error_fields(body)
    if message is None:
        reason = _REASONS.get(status, "HTTP error")
        kind = headers.get("Content-Type", "").split(";")[0].strip()
        message = f"{reason} (non-JSON {kind} body)" if kind and body else reason
    if 300 <= status < 400 and headers.get("Location"):
        message = f"{message}; redirect to {headers['Location']} not followed"
    cls = error_class_for(status)
    common: dict[str, Any] = {
        "status": status,
        "message": message,
        "method": method,
        "path": path,
        "error_id": error_id,
        "details": details,
        "headers": headers,
    }
    if cls is RateLimitError:
        now = now or datetime.now(UTC)
        wait = retry_after_seconds(headers, now)
        if wait is None:
            wait = reset_seconds(headers)
        reset = reset_seconds(headers)
        return RateLimitError(
            retry_after=wait,
            reset_at=_later(now, reset) if reset is not None else None,
            **common,
        )
    return cls(**common)


def decipher_response(
    status: int, headers: Mapping[str, str], body: bytes, *, method: str, path: str
) -> Any:
    """The parsed JSON of a 2xx answer, or the typed :class:`APIError` raised for any other."""
    if 200 <= status < 300:
        return _parse_json(body) if body else {}
    raise api_error(status, headers, body, method=method, path=path)


def _field(mapping: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
    try:
        value = mapping[key]
    except KeyError:
        raise DecodeError("required field missing", path=f"{path}.{key}") from None
    if not isinstance(value, kind):
        raise DecodeError(
            f"expected {kind.__name__}, got {type(value).__name__}", path=f"{path}.{key}"
        )
    return value


def read_list_frame(envelope: Any, key: str) -> Page[Any]:
    """Check a list envelope ``{"data": {key: [...]}, "pagination": {...}}``, items undecoded.

    Cheap (no item is decoded), so that pagination can move on before the items are decoded.
    """
    if not isinstance(envelope, dict):
        raise DecodeError(f"expected an object, got {type(envelope).__name__}", path="$")
    data = _field(envelope, "data", dict, "$")
    pagination = _field(envelope, "pagination", dict, "$")
    has_next = _field(pagination, "hasNextPage", bool, "pagination")
    count = pagination.get("count")
    cursor = pagination.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise DecodeError(f"expected str, got {type(cursor).__name__}", path="pagination.cursor")
    items = _field(data, key, list, "data")
    if not isinstance(count, int) or isinstance(count, bool):
        count = len(items)  # count is informational; the items are the truth
    return Page(
        items=items, has_next_page=has_next, count=count, cursor=cursor if has_next else None
    )


def decode_frame(frame: Page[Any], key: str, cls: type[T]) -> Page[T]:
    """Decode the items of a frame from :func:`read_list_frame` into ``cls``."""
    items = decode_list(frame.items, cls, root=f"data.{key}")
    return attrs.evolve(frame, items=items)


def parse_list_page(envelope: Any, key: str, cls: type[T]) -> Page[T]:
    """Decode a list endpoint's envelope into a :class:`Page` of ``cls``."""
    return decode_frame(read_list_frame(envelope, key), key, cls)


def parse_data(envelope: Any) -> Any:
    """The ``data`` member of a single-object envelope."""
    if not isinstance(envelope, dict) or "data" not in envelope:
        raise DecodeError("expected an object with a data member", path="$")
    return envelope["data"]


# --------------------------------------------------------------------------- retries


RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
#: Answers that refuse a request before any work is done: an attempt that met one of them
#: cannot have taken effect (unlike a 500, 502 or 504, or an answer lost on the way back).
REFUSED_STATUSES = frozenset({408, 429, 503})


@attrs.frozen
class RetryPolicy:
    """When to retry and how long to wait: exponential backoff with equal jitter.

    Attempt ``n`` (1-based) waits between half and all of ``min(cap, base * 2 ** (n - 1))``, so
    retries spread out under load but never fire at once.
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0

    def retry_status(self, method: str, status: int) -> bool:
        """Whether an HTTP status is worth another attempt for this method."""
        if status == 429:
            return True  # a 429 was refused before any work was done: safe for POST too
        return method in IDEMPOTENT_METHODS and status in RETRYABLE_STATUSES

    def retry_exception(self, method: str, *, reached_server: bool) -> bool:
        """Whether a transport failure is worth another attempt.

        A request that may have reached the server (a reset, a dropped response, a read
        timeout) is only repeated when repeating it is harmless.
        """
        return method in IDEMPOTENT_METHODS or not reached_server

    def may_have_acted(self, status: int) -> bool:
        """Whether an attempt answered with error ``status`` may have done its work anyway."""
        return status not in REFUSED_STATUSES

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
        # The exponent is capped so that a huge max_retries cannot overflow a float.
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt - 1, 64))
        jitter: float = (rng or random).uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date), if usable."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


#: Beyond these bounds a rate-limit header is not believed: it is ignored as if absent.
#: The documented window is one hour; a reset more than a day away is not a window.
MAX_RESET_SECONDS = 86_400.0
#: No account has a budget of more than a billion requests a window.
MAX_BUDGET = 1_000_000_000

# Plain ASCII decimals only: no sign, exponent, nan/inf, "_" separators or non-ASCII digits.
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")


def _header_number(
    headers: Mapping[str, str], name: str, maximum: float = MAX_BUDGET
) -> float | None:
    """A header as a number from 0 to ``maximum``; ``None`` when absent or not believable."""
    raw = headers.get(name)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if value <= maximum else None


def _later(when: datetime, seconds: float) -> datetime | None:
    try:
        return when + timedelta(seconds=seconds)
    except OverflowError:
        return None


def reset_seconds(headers: Mapping[str, str]) -> float | None:
    """``x-ratelimit-reset``: seconds until the window resets (not an epoch), at most a day."""
    return _header_number(headers, "x-ratelimit-reset", MAX_RESET_SECONDS)


# --------------------------------------------------------------------------- rate limit


@attrs.define
class RateLimitState:
    """What the client knows of its rate-limit window, and whether a request may go now.

    Times are on a monotonic clock supplied by the caller. ``remaining`` is our own count:
    the API's figure minus the requests we sent since that the API may not have counted yet,
    so concurrent tasks cannot overspend the window between two answers. Within one window
    the count only goes down and the window's end only moves later, so a late answer can
    never make us spend more than the API allows.

    While the window is unknown (before the first answer, and after a spent window's
    announced reset passed) one request goes first, the *probe*, and the others wait for its
    answer to tell the budget. A probe that comes back without telling it (no usable
    ``x-ratelimit-*`` headers, or a failure) opens the gate: requests go without waiting until
    an answer tells the budget again, so a server that never sends the headers is not
    serialised. A cancelled probe tells nothing either way: the next request becomes the probe.
    """

    limit: int | None = None
    remaining: int | None = None  # None: unknown (see probing)
    reset_deadline: float | None = None  # monotonic time at which the window resets
    reset_at: datetime | None = None  # the same instant, as an aware wall-clock datetime
    in_flight: int = 0
    probing: bool = False  # a probe is out: the others wait for its answer
    blind: bool = False  # a probe told nothing: nobody waits until an answer tells the budget

    def observe(self, headers: Mapping[str, str], now: float, wall: datetime) -> bool:
        """Take the ``x-ratelimit-*`` headers of an answer; whether they told the budget.

        Called once per answer, before that request leaves ``in_flight``. Values that are not
        plain decimal numbers, or beyond :data:`MAX_BUDGET` / :data:`MAX_RESET_SECONDS`, are
        not believed: the answer then tells nothing.
        """
        limit = _header_number(headers, "x-ratelimit-limit")
        remaining = _header_number(headers, "x-ratelimit-remaining")
        reset = reset_seconds(headers)
        if limit is None or remaining is None or reset is None:
            return False
        reset_at = _later(wall, reset)
        if reset_at is None:
            return False
        others = max(0, self.in_flight - 1)
        announced = max(0, min(int(remaining), int(limit)) - others)
        deadline = now + reset
        if self.remaining is None or self.reset_deadline is None or now >= self.reset_deadline:
            # Nothing known of the current window: this answer describes it.
            self.remaining = announced
            self.reset_deadline, self.reset_at = deadline, reset_at
        else:
            # The same window: an older answer may arrive after a newer one.
            self.remaining = min(self.remaining, announced)
            if deadline > self.reset_deadline:
                self.reset_deadline, self.reset_at = deadline, reset_at
        self.limit = int(limit)
        self.blind = False
        return True

    def delay(self, now: float) -> float | None:
        """Seconds to wait before the next request may go: 0 for now, ``None`` for "unknown".

        ``None`` means the window is unknown and a probe is out: wait until it finishes.
        """
        if self.reset_deadline is not None and now >= self.reset_deadline:
            # The announced reset passed. A budget left over is still ours to spend (it was a
            # moment ago); a spent window is unknown again until a probe tells the new one.
            self.reset_deadline = None
        if self.remaining == 0 and self.reset_deadline is None:
            self.remaining = None
        if self.remaining is None:
            return None if self.probing else 0.0
        if self.remaining > 0 or self.reset_deadline is None:
            return 0.0
        return self.reset_deadline - now

    def start(self) -> bool:
        """Count a request that is about to be sent; whether it goes as the probe."""
        probe = self.remaining is None and not self.blind and not self.probing
        if self.remaining is not None:
            self.remaining = max(0, self.remaining - 1)
        self.in_flight += 1
        if probe:
            self.probing = True
        return probe

    def finish(self, *, probe: bool = False, cancelled: bool = False) -> None:
        """Count a request that got its answer (or failed, or was cancelled).

        ``probe`` says whether it was the probe that :meth:`start` announced.
        """
        self.in_flight = max(0, self.in_flight - 1)
        # With nothing in flight the probe has finished, whether or not the caller said so.
        if self.probing and (probe or self.in_flight == 0):
            self.probing = False
            if self.remaining is None and not cancelled:
                self.blind = True

    def snapshot(self) -> RateLimit | None:
        """The public view, once any answer carried the headers.

        After a spent window's reset, before the probe's answer, it shows a fresh window.
        """
        if self.limit is None or self.reset_at is None:
            return None
        remaining = self.remaining if self.remaining is not None else self.limit
        return RateLimit(limit=self.limit, remaining=remaining, reset_at=self.reset_at)


# --------------------------------------------------------------------------- watching


_SHA_LENGTH = 40
_HEX = frozenset("0123456789abcdefABCDEF")


def check_sha(sha: str | None) -> None:
    """A commit sha must be 40 hex characters; anything else is refused before a request."""
    if sha is not None and (
        not isinstance(sha, str) or len(sha) != _SHA_LENGTH or not _HEX.issuperset(sha)
    ):
        raise ValueError(f"sha must be a 40-character hex commit id, got {sha!r}")


@attrs.define
class PollSchedule:
    """How long to wait between polls: ``base`` after a change, growing to ``cap`` while idle.

    Each poll that sees nothing new multiplies the interval by ``factor``, so a long build costs
    a few requests an hour instead of hundreds, and a change brings the interval back down.
    """

    base: float
    cap: float
    factor: float = 1.5
    current: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.base < 0 or self.cap < self.base:
            raise ValueError("poll interval must be >= 0 and no larger than its cap")
        self.current = self.base

    def next(self, *, changed: bool) -> float:
        """The wait before the next poll, given whether the last poll saw a change."""
        self.current = self.base if changed else min(self.cap, self.current * self.factor)
        return self.current


@attrs.define
class Watermark:
    """Where a follower stands in a job's history (newest first): what it has already seen.

    A build is old when its id was seen, or when it was created before ``time``. Ids are kept
    for the latest ``memory`` builds, enough to separate builds that share a timestamp.
    """

    time: datetime | None = None
    _seen: deque[str] = attrs.field(factory=lambda: deque(maxlen=1000))
    _seen_set: set[str] = attrs.field(factory=set)

    @classmethod
    def at(cls, time: datetime | None, ids: Iterable[str] = ()) -> Watermark:
        """A watermark at ``time`` that already knows ``ids``."""
        mark = cls(time)
        mark.remember(ids)
        return mark

    def remember(self, ids: Iterable[str]) -> None:
        for build_id in ids:
            if build_id in self._seen_set:
                continue
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(build_id)
            self._seen_set.add(build_id)

    def scan(self, newest_first: Sequence[JobBuild]) -> tuple[list[JobBuild], bool]:
        """The new builds of one page (newest first), and whether the watermark was reached."""
        new: list[JobBuild] = []
        for build in newest_first:
            created = build.created_at
            if build.id in self._seen_set or (
                self.time is not None and created is not None and created < self.time
            ):
                return new, True
            new.append(build)
        return new, False

    def advance(self, new_newest_first: Sequence[JobBuild]) -> None:
        """Move past builds that have been handed out."""
        self.remember(build.id for build in new_newest_first)
        times = [b.created_at for b in new_newest_first if b.created_at is not None]
        if times:
            latest = max(times)
            self.time = latest if self.time is None else max(self.time, latest)
