"""What one watched job has shown, and one poll of it. Pure: no sockets, no event loop.

`JobTracker` holds what one watched job's (or service's) builds have shown so far; `RunTracker`
the same of a job's runs (both in ``trackers``). Both are one `ItemTracker` over another
model: only what an item's time is, what its event is and how a stored position names it
differ. A poll is a transaction
(`TrackerPoll`, ``trackpoll``): the pages read (newest first) and the answers of the ``get``
calls for tracked items that fell off them are added to it, and `ItemTracker.commit()` turns it
into events at once; `ItemTracker.observe()` does the same for one item a notification told
(the hybrid monitor). A poll that fails half-way is dropped: the tracker has not changed, so
nothing is lost and nothing is doubled. A tracker's `position()` is what a monitoring group
stores.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import attrs

from .checks import check_number, check_since
from .events import BuildEventKind
from .trackpoll import Tracked, TrackerPoll

__all__ = ["GONE_AFTER", "MAX_GETS_PER_POLL", "ItemTracker", "Tracked", "TrackerPoll"]

#: Polls in a row in which a tracked build must be proven gone (neither listed nor answered by
#: its ``get``: a 404, or an answer that cannot be decoded) before it leaves tracking. One 404
#: can be a passing fault (a replica behind, a proxy); a build that shows up again later, even
#: after leaving tracking, is still reported.
GONE_AFTER = 3

#: The most ``get`` calls one poll of a job makes for tracked builds that fell off its pages.
#: Past it, the poll reads further list pages first (while they still hold tracked builds: one
#: page answers up to ``per_page`` builds), and the rest wait for the next polls, the builds
#: confirmed least recently first.
MAX_GETS_PER_POLL = 10


T = TypeVar("T", bound=Tracked)
E = TypeVar("E")


@attrs.define(eq=False)
class ItemTracker(Generic[T, E]):
    """What one watched job has shown of its items (builds: `JobTracker`; runs: `RunTracker`).

    Said of builds below; runs go alike, their ``started_at`` standing for ``created_at``.

    Without ``since``, the first poll is a snapshot: the builds on its page are already there
    and are not reported. With ``since``, the first poll is an ordinary one and reports the
    builds after it: for an aware ``datetime``, those created at or after it; for a build (a
    `JobBuild`, or its id), those listed before it. A bare id bounds the history by
    identity only: when that build is no longer listed, the first poll reads to the end of the
    history, so prefer passing the build (one ``get``).

    A build is *known* when its id was seen (the ids of the latest ``memory`` builds are kept)
    or it is tracked. Ids are the identity: an id not seen before, listed above a known build,
    is new whatever its ``created_at`` (builds may share one, and clocks may disagree). The
    watermark time, the newest ``created_at`` seen, only decides where there is no known build
    to go by: with ``since`` a datetime (builds before it are old), past the known part (only a
    build newer than all seen is still new there), and when the known builds are no longer
    listed (deleted): a whole page of unknown builds older than the watermark ends the poll,
    those builds taken as old.

    A tracked build leaves tracking once concluded, or after `GONE_AFTER` polls in a row proved
    it gone (not listed, and its ``get`` answered 404 or could not be decoded); if it is listed
    again later, it is tracked again (or its conclusion reported). A poll asks at most
    ``max_gets`` (`MAX_GETS_PER_POLL`) ``get`` calls (`TrackerPoll.to_fetch`).
    """

    #: The model of the items (a `since` of this type is an item), and its status enum.
    model: ClassVar[type[Tracked]]
    statuses: ClassVar[type[enum.StrEnum]]

    project_id: str
    job_id: str  # the owner's id: a job's, or with ``owner_kind="service"`` a service's
    since: str | datetime | T | None = attrs.field(default=None, kw_only=True)
    owner_kind: str = attrs.field(default="job", kw_only=True)
    memory: int = attrs.field(default=1000, kw_only=True)
    max_gets: int = attrs.field(default=MAX_GETS_PER_POLL, kw_only=True)
    _ids: deque[str] = attrs.field(init=False)
    _id_set: set[str] = attrs.field(init=False, factory=set)
    _time: datetime | None = attrs.field(init=False, default=None)
    _tracked: dict[str, T] = attrs.field(init=False, factory=dict)
    # Tracked builds proven gone in the latest polls in a row (see GONE_AFTER).
    _absent: dict[str, int] = attrs.field(init=False, factory=dict)
    # The poll generation at which each tracked build was last listed or fetched.
    _confirmed: dict[str, int] = attrs.field(init=False, factory=dict)
    # Builds that left tracking unconcluded (proven gone): reported if they are listed again.
    _dropped: dict[str, T] = attrs.field(init=False, factory=dict)
    _snapshot_pending: bool = attrs.field(init=False)
    _generation: int = attrs.field(init=False, default=0)
    # Items told by a notification (`observe`) that no poll has listed yet: reported, but no
    # landmark for a poll (items before them may not have been listed).
    _pushed: dict[str, None] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.memory, bool) or not isinstance(self.memory, int) or self.memory < 1:
            raise ValueError(f"memory must be a positive int, got {self.memory!r}")
        check_number(self.max_gets, "max_gets", integer=True, minimum=1)
        since = self.since
        check_since(None if isinstance(since, self.model) else since)  # type: ignore[arg-type]
        self._ids = deque(maxlen=self.memory)
        self._snapshot_pending = since is None
        if isinstance(since, datetime):
            self._time = since
        elif isinstance(since, str):
            self._remember([since])
        elif since is not None:
            self._time = self._time_of(since)
            self._remember([since.id])

    # -- what differs between items (the subclasses)
    def _time_of(self, item: T) -> datetime | None:
        """The item's time: a build's ``created_at``, a run's ``started_at``."""
        raise NotImplementedError

    def _event(self, kind: BuildEventKind, item: T) -> E:
        raise NotImplementedError

    def _stub(self, item_id: str, status: object) -> T:
        """A running item as a position names it: its id and status."""
        raise NotImplementedError

    # -- public state
    @property
    def started(self) -> bool:
        """Whether the first poll has been committed (the snapshot is taken)."""
        return self._generation > 0

    @property
    def active(self) -> bool:
        """Whether the job has running builds being tracked."""
        return bool(self._tracked)

    @property
    def tracked(self) -> Mapping[str, T]:
        """The running builds being tracked, by id, oldest first (a copy)."""
        return dict(self._tracked)

    # -- durable position (group monitoring)

    def position(self) -> dict[str, object]:
        """What a restarted tracker needs to go on with nothing missed nor repeated.

        Ids, the watermark time and the tracked builds' statuses only (JSON-able): no other
        build data. `from_position()` turns it back into a tracker.
        """
        return {
            "v": 1,
            "started": self.started,
            "snapshot": self._snapshot_pending,
            "time": None if self._time is None else self._time.isoformat(),
            "ids": list(self._ids),
            "tracked": [
                [b.id, None if b.status is None else str(b.status)] for b in self._tracked.values()
            ],
            "absent": dict(self._absent),
        }

    @classmethod
    def from_position(
        cls,
        project_id: str,
        job_id: str,
        position: Mapping[str, object],
        *,
        memory: int = 1000,
        owner_kind: str = "job",
    ) -> Self:
        """The tracker a `position()` describes; ``ValueError`` for one that is not."""
        try:
            if position.get("v") != 1:
                raise ValueError("unknown version")
            tracker = cls(project_id, job_id, memory=memory, owner_kind=owner_kind)
            time = position["time"]
            tracker._time = None if time is None else datetime.fromisoformat(str(time))
            ids = position["ids"]
            tracked = position["tracked"]
            if not isinstance(ids, list) or not isinstance(tracked, list):
                raise ValueError("ids and tracked must be lists")
            tracker._remember(str(build_id) for build_id in ids)
            for build_id, status in tracked:
                known = status in cls.statuses.__members__.values()
                status = cls.statuses(status) if known else status
                tracker._tracked[str(build_id)] = tracker._stub(str(build_id), status)
            absent = position.get("absent", {})
            if not isinstance(absent, dict):
                raise ValueError("absent must be a mapping")
            tracker._absent = {
                str(k): int(v) for k, v in absent.items() if str(k) in tracker._tracked
            }
            tracker._snapshot_pending = bool(position["snapshot"])
            tracker._generation = 1 if position["started"] else 0
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a tracker position: {error}") from None
        return tracker

    # -- polls

    def begin_poll(self) -> TrackerPoll[T]:
        """Start a poll: add its pages (and ``get`` answers) to it, then `commit()` it."""
        return TrackerPoll(self, self._generation, snapshot=self._snapshot_pending)

    def commit(self, poll: TrackerPoll[T]) -> list[E]:
        """Apply a complete poll at once; its events, in the order observed (oldest first).

        Tracked builds the poll neither listed nor fetched stay tracked as they were: their
        ``get`` is asked again at the next poll. Raises ``ValueError`` for a poll of another
        tracker, a poll begun before another one was committed, or a poll whose pages did not
        reach the part of the history already seen.
        """
        if poll._tracker is not self:
            raise ValueError("this poll belongs to another tracker")
        if poll._generation != self._generation:
            raise ValueError("stale poll: another poll was committed since it began")
        if not poll.complete:
            raise ValueError("incomplete poll: read the next page until needs_next_page is False")
        self._generation += 1
        if poll._snapshot:
            self._snapshot_pending = False
            self._advance(list(reversed(poll._observed.values())))
            return []
        generation = self._generation
        events: list[E] = []
        for build_id in list(self._tracked):
            if build_id in poll._fetched:
                self._update(poll._fetched[build_id], events)
            elif build_id in poll._gone and build_id not in poll._observed:
                absent = self._absent.get(build_id, 0) + 1
                if absent < GONE_AFTER:
                    self._absent[build_id] = absent
                    continue
                # Proven gone poll after poll: no outcome to wait for. Kept aside, so that a
                # build that shows up again is still reported.
                self._drop(build_id)
        new: list[T] = []
        for build in reversed(list(poll._observed.values())):
            if build.id in poll._new:
                new.append(build)
                events.append(self._event("created", build))
                if build.is_concluded:
                    events.append(self._event("concluded", build))
                else:
                    self._tracked[build.id] = build
                    self._confirmed[build.id] = generation
            elif build.id in self._tracked:
                self._update(build, events)
            elif build.id in self._dropped:
                # Back after it was taken for gone: its outcome (or its tracking) resumes.
                self._tracked[build.id] = self._dropped.pop(build.id)
                self._update(build, events)
        # Items told by notifications, listed now: known from here on as any listed item.
        listed = [b for b in poll._observed.values() if b.id in self._pushed]
        for build in listed:
            del self._pushed[build.id]
        self._advance([*new, *reversed(listed)])
        return events

    def observe(self, item: T) -> list[E]:
        """One item as told between polls (a notification, or the ``get`` that settled
        one): its events, decided as a poll's are. The tracker must have `started`.

        An item new to the tracker is ``created`` (and ``concluded`` if it has ended: an end
        that comes before its start), a tracked one that ended is ``concluded``; a known
        item that ended, and a start of an item already seen, tell nothing (a concluded
        item never goes back; statuses between come from polls).
        """
        if not self.started:
            raise ValueError("observe() before the first poll: the snapshot decides first")
        events: list[E] = []
        if item.id in self._dropped and item.is_concluded:
            self._tracked[item.id] = self._dropped.pop(item.id)
        if item.id in self._tracked:
            if item.is_concluded:
                self._update(_merged(self._tracked[item.id], item), events)
            return events
        if self._known(item.id):
            return events
        events.append(self._event("created", item))
        if item.is_concluded:
            events.append(self._event("concluded", item))
        else:
            self._tracked[item.id] = item
            self._confirmed[item.id] = self._generation
        self._pushed[item.id] = None
        while len(self._pushed) > self.memory:
            oldest = next(iter(self._pushed))
            del self._pushed[oldest]
            self._remember([oldest])
        return events

    # -- internals
    def _update(self, build: T, events: list[E]) -> None:
        before = self._tracked[build.id]
        self._absent.pop(build.id, None)
        self._confirmed[build.id] = self._generation
        if build.is_concluded:
            self._untrack(build.id)
            events.append(self._event("concluded", build))
            return
        self._tracked[build.id] = build
        if build.status != before.status:
            events.append(self._event("status", build))

    def _untrack(self, build_id: str) -> T:
        self._absent.pop(build_id, None)
        self._confirmed.pop(build_id, None)
        return self._tracked.pop(build_id)

    def _drop(self, build_id: str) -> None:
        self._dropped[build_id] = self._untrack(build_id)
        while len(self._dropped) > self.memory:
            del self._dropped[next(iter(self._dropped))]

    def _known(self, build_id: str) -> bool:
        return (
            build_id in self._id_set
            or build_id in self._tracked
            or build_id in self._dropped
            or build_id in self._pushed
        )

    def _remember(self, ids: Iterable[str]) -> None:
        for build_id in ids:
            if build_id in self._id_set:
                continue
            if len(self._ids) == self._ids.maxlen:
                self._id_set.discard(self._ids[0])
            self._ids.append(build_id)
            self._id_set.add(build_id)

    def _advance(self, oldest_first: Sequence[T]) -> None:
        self._remember(build.id for build in oldest_first)
        times = [t for t in map(self._time_of, oldest_first) if t is not None]
        if times:
            latest = max(times)
            self._time = latest if self._time is None else max(self._time, latest)


def _merged(known: T, told: T) -> T:
    """``known`` with the fields a notification's item carries (the others are ``None``)."""
    values = {
        field.name: value
        for field in attrs.fields(cast(Any, type(told)))
        if (value := getattr(told, field.name)) is not None
    }
    return cast(T, attrs.evolve(cast(Any, known), **values))
