"""What one watched job has shown, and one poll of it. Pure: no sockets, no event loop.

`JobTracker` holds what one watched job (or service) has shown so far. A poll is a transaction
(`TrackerPoll`): the pages read (newest first) and the answers of the ``get`` calls for tracked
builds that fell off them are added to it, and `JobTracker.commit()` turns it into `BuildEvent`
values at once. A poll that fails half-way is dropped: the tracker has not changed, so nothing
is lost and nothing is doubled. A tracker's `position()` is what a monitoring group stores.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from .checks import check_number, check_since
from .events import BuildEvent, BuildEventKind
from .models import BuildStatus, JobBuild

__all__ = ["GONE_AFTER", "MAX_GETS_PER_POLL", "JobTracker", "TrackerPoll"]

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


@attrs.define(eq=False)
class JobTracker:
    """What one watched job has shown: the builds seen, and the running builds being tracked.

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

    project_id: str
    job_id: str  # the owner's id: a job's, or with ``owner_kind="service"`` a service's
    since: str | datetime | JobBuild | None = attrs.field(default=None, kw_only=True)
    owner_kind: str = attrs.field(default="job", kw_only=True)
    memory: int = attrs.field(default=1000, kw_only=True)
    max_gets: int = attrs.field(default=MAX_GETS_PER_POLL, kw_only=True)
    _ids: deque[str] = attrs.field(init=False)
    _id_set: set[str] = attrs.field(init=False, factory=set)
    _time: datetime | None = attrs.field(init=False, default=None)
    _tracked: dict[str, JobBuild] = attrs.field(init=False, factory=dict)
    # Tracked builds proven gone in the latest polls in a row (see GONE_AFTER).
    _absent: dict[str, int] = attrs.field(init=False, factory=dict)
    # The poll generation at which each tracked build was last listed or fetched.
    _confirmed: dict[str, int] = attrs.field(init=False, factory=dict)
    # Builds that left tracking unconcluded (proven gone): reported if they are listed again.
    _dropped: dict[str, JobBuild] = attrs.field(init=False, factory=dict)
    _snapshot_pending: bool = attrs.field(init=False)
    _generation: int = attrs.field(init=False, default=0)
    # Builds told by a notification (`observe`) that no poll has listed yet: reported, but no
    # landmark for a poll (builds before them may not have been listed).
    _pushed: dict[str, None] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.memory, bool) or not isinstance(self.memory, int) or self.memory < 1:
            raise ValueError(f"memory must be a positive int, got {self.memory!r}")
        check_number(self.max_gets, "max_gets", integer=True, minimum=1)
        check_since(self.since)
        self._ids = deque(maxlen=self.memory)
        self._snapshot_pending = self.since is None
        if isinstance(self.since, datetime):
            self._time = self.since
        elif isinstance(self.since, str):
            self._remember([self.since])
        elif isinstance(self.since, JobBuild):
            self._time = self.since.created_at
            self._remember([self.since.id])

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
    def tracked(self) -> Mapping[str, JobBuild]:
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
    ) -> JobTracker:
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
                known = status in BuildStatus.__members__.values()
                tracker._tracked[str(build_id)] = JobBuild(
                    id=str(build_id),
                    status=BuildStatus(status) if known else status,
                    concluded=False,
                )
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

    def begin_poll(self) -> TrackerPoll:
        """Start a poll: add its pages (and ``get`` answers) to it, then `commit()` it."""
        return TrackerPoll(self, self._generation, snapshot=self._snapshot_pending)

    def commit(self, poll: TrackerPoll) -> list[BuildEvent]:
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
        events: list[BuildEvent] = []
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
        new: list[JobBuild] = []
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
        # Builds told by notifications, listed now: known from here on as any listed build.
        listed = [b for b in poll._observed.values() if b.id in self._pushed]
        for build in listed:
            del self._pushed[build.id]
        self._advance([*new, *reversed(listed)])
        return events

    def observe(self, build: JobBuild) -> list[BuildEvent]:
        """One build as told between polls (a notification, or the ``get`` that settled
        one): its events, decided as a poll's are. The tracker must have `started`.

        A build new to the tracker is ``created`` (and ``concluded`` if it has ended: an end
        that comes before its start), a tracked one that ended is ``concluded``; a known
        build that ended, and a start of a build already seen, tell nothing (a concluded
        build never goes back; statuses between come from polls).
        """
        if not self.started:
            raise ValueError("observe() before the first poll: the snapshot decides first")
        events: list[BuildEvent] = []
        if build.id in self._dropped and build.is_concluded:
            self._tracked[build.id] = self._dropped.pop(build.id)
        if build.id in self._tracked:
            if build.is_concluded:
                self._update(attrs.evolve(self._tracked[build.id], **_told(build)), events)
            return events
        if self._known(build.id):
            return events
        events.append(self._event("created", build))
        if build.is_concluded:
            events.append(self._event("concluded", build))
        else:
            self._tracked[build.id] = build
            self._confirmed[build.id] = self._generation
        self._pushed[build.id] = None
        while len(self._pushed) > self.memory:
            oldest = next(iter(self._pushed))
            del self._pushed[oldest]
            self._remember([oldest])
        return events

    # -- internals
    def _event(self, kind: BuildEventKind, build: JobBuild) -> BuildEvent:
        return BuildEvent.of_owner(kind, build, self.project_id, self.owner_kind, self.job_id)

    def _update(self, build: JobBuild, events: list[BuildEvent]) -> None:
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

    def _untrack(self, build_id: str) -> JobBuild:
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

    def _advance(self, oldest_first: Sequence[JobBuild]) -> None:
        self._remember(build.id for build in oldest_first)
        times = [b.created_at for b in oldest_first if b.created_at is not None]
        if times:
            latest = max(times)
            self._time = latest if self._time is None else max(self._time, latest)


class TrackerPoll:
    """One poll of a `JobTracker` in the making; the tracker changes only at commit.

    Add the pages read (newest first) with `add_page()` while `needs_next_page`;
    then ``get`` each id of `to_fetch` and add the answer with `add_fetched()` (or
    `add_gone()` for a 404 or an answer that cannot be decoded). Drop the poll on any
    failure: the tracker is unchanged.
    """

    def __init__(self, tracker: JobTracker, generation: int, *, snapshot: bool) -> None:
        self._tracker = tracker
        self._generation = generation
        self._snapshot = snapshot
        self._pages = 0
        self._reached = False  # met the already-seen part of the history
        self._ended = False  # read the last page of the history
        self._last_page_tracked = False  # the latest page listed a tracked build
        self._observed: dict[str, JobBuild] = {}  # listing order, latest state of each build
        self._new: set[str] = set()
        # Unknown builds older than the watermark, met before any known build: new if a known
        # build is listed below them (clock skew), old if none is (the known ones were deleted).
        self._older: list[str] = []
        self._fetched: dict[str, JobBuild] = {}
        self._gone: set[str] = set()

    @property
    def needs_next_page(self) -> bool:
        """Whether to read the next page: the pages so far fall short of what was seen before,
        or more tracked builds are missing than one poll may ``get`` and the latest page still
        listed tracked builds (a page answers many of them for one request)."""
        if not self.complete:
            return True
        return (
            not self._snapshot
            and not self._ended
            and self._last_page_tracked
            and len(self.missing) > self._tracker.max_gets
        )

    @property
    def complete(self) -> bool:
        """Whether the pages read reach the seen history (or its end), so the poll may commit."""
        if self._snapshot:
            return self._pages > 0  # the newest page is the snapshot
        return self._reached or self._ended

    @property
    def missing(self) -> list[str]:
        """Tracked builds neither on the pages read nor fetched yet, confirmed least recently
        first. Meaningful once `needs_next_page` is False."""
        if self._snapshot:
            return []
        tracker = self._tracker
        done = self._observed.keys() | self._fetched.keys() | self._gone
        ids = [build_id for build_id in tracker._tracked if build_id not in done]
        return sorted(ids, key=lambda build_id: tracker._confirmed.get(build_id, 0))

    @property
    def to_fetch(self) -> list[str]:
        """The `missing` builds this poll may ``get``: at most the tracker's ``max_gets``."""
        return self.missing[: max(0, self._tracker.max_gets - len(self._fetched) - len(self._gone))]

    def add_page(self, newest_first: Sequence[JobBuild], *, has_next_page: bool) -> None:
        """Take one page of the job's builds, newest first, as the list endpoint returns them."""
        self._pages += 1
        tracker = self._tracker
        time = tracker._time
        # With no build known at all (``since`` a datetime), time alone tells old from new.
        by_time = not tracker._id_set and not tracker._dropped
        by_time = by_time and tracker._tracked.keys() <= tracker._pushed.keys()
        older_only = bool(newest_first) and not self._reached
        self._last_page_tracked = False
        for build in newest_first:
            if build.id in tracker._tracked:
                self._last_page_tracked = True
            if build.id in self._observed:
                # Listed again (it moved to the next page while we read): keep the first
                # position and the latest state.
                self._observed[build.id] = build
                continue
            self._observed[build.id] = build
            if self._snapshot:
                continue
            if build.id in tracker._pushed:
                older_only = False  # told by a notification: reported, and no landmark
                continue
            created = build.created_at
            older = time is not None and created is not None and created < time
            if tracker._known(build.id):
                if not self._reached:
                    # Listed above a known build: new, whatever their time says.
                    self._new.update(self._older)
                    self._older.clear()
                self._reached = True
                older_only = False
            elif self._reached:
                # Past the seen part only a build strictly newer than everything seen is still
                # new (a listing out of order); one that shares the watermark's time there is
                # an older build of that tie.
                if time is not None and created is not None and created > time:
                    self._new.add(build.id)
            elif older and by_time:
                self._reached = True
            elif older:
                self._older.append(build.id)
            else:
                self._new.add(build.id)
                older_only = False
        if older_only and not self._reached:
            # A whole page of unknown builds older than the watermark and no known build met:
            # the known ones were deleted. Going by time, these and the rest are old.
            self._reached = True
        if not has_next_page:
            self._ended = True

    def add_fetched(self, build: JobBuild) -> None:
        """Take the answer of the ``get`` of a missing tracked build."""
        if build.id not in self.missing:
            raise ValueError(f"build {build.id!r} is not a missing tracked build of this poll")
        self._fetched[build.id] = build

    def add_gone(self, build_id: str) -> None:
        """A missing tracked build's ``get`` proved it gone (404, or an answer that cannot be
        decoded). It leaves tracking after `GONE_AFTER` such polls in a row."""
        if build_id not in self.missing:
            raise ValueError(f"build {build_id!r} is not a missing tracked build of this poll")
        self._gone.add(build_id)


def _told(build: JobBuild) -> dict[str, Any]:
    """The fields a notification's build carries (the others are ``None``: not told)."""
    return {
        field.name: value
        for field in attrs.fields(JobBuild)
        if (value := getattr(build, field.name)) is not None
    }
