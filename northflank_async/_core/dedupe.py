"""A bounded window of the event ids seen lately: `DedupeWindow`. Pure: times are passed in.

Northflank delivers at least once: a notification may come again (a resend after a failed or
slow answer). The window remembers each id for ``ttl`` seconds and at most ``size`` ids (the
oldest go first), so its memory is bounded whatever is sent: an id is kept as a 16-byte
BLAKE2b digest (an id of any length costs the same), its arrival time beside it, about 120
bytes in all (100,000 ids: about 12 MB; benchmarks/webhooks.py measures it).

An id seen again within the window is a duplicate; one seen again after it left the window
is new again (the consumer must tolerate that: the monitor keeps each build's state, so an
old outcome told twice changes nothing).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque

from .checks import check_number

__all__ = ["DEDUPE_SIZE", "DEDUPE_TTL", "DedupeWindow"]

#: How many event ids a receiver remembers by default.
DEDUPE_SIZE = 100_000
#: How long (seconds) a receiver remembers an event id by default: a day.
DEDUPE_TTL = 86_400.0


class DedupeWindow:
    """The ids seen within the last ``ttl`` seconds, at most ``size`` of them.

    `add` records an id and says whether it is new. The times given must not go back (a
    monotonic clock, such as the event loop's).
    """

    __slots__ = ("_order", "_seen", "size", "ttl")

    def __init__(self, size: int = DEDUPE_SIZE, ttl: float = DEDUPE_TTL) -> None:
        check_number(size, "dedupe_size", minimum=1, integer=True)
        check_number(ttl, "dedupe_ttl", minimum=0, above=True, infinite=True)
        self.size = size
        self.ttl = ttl
        self._seen: dict[bytes, float] = {}  # digest -> when first seen
        self._order: deque[bytes] = deque()  # the same digests, oldest first

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and _digest(event_id) in self._seen

    def seen(self, event_id: str, now: float) -> bool:
        """Whether ``event_id`` is in the window at ``now`` (expired ids leave it first)."""
        self._expire(now)
        return _digest(event_id) in self._seen

    def add(self, event_id: str, now: float) -> bool:
        """Record ``event_id`` at ``now``; ``False`` if it was already in the window.

        A duplicate does not renew its id's time: an id leaves the window ``ttl`` after it
        was first seen, or when ``size`` newer ids have come.
        """
        self._expire(now)
        key = _digest(event_id)
        if key in self._seen:
            return False
        self._seen[key] = now
        self._order.append(key)
        while len(self._order) > self.size:
            del self._seen[self._order.popleft()]
        return True

    def _expire(self, now: float) -> None:
        if math.isinf(self.ttl):
            return
        oldest = now - self.ttl
        order, seen = self._order, self._seen
        while order and seen[order[0]] <= oldest:
            del seen[order.popleft()]


def _digest(event_id: str) -> bytes:
    return hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()
