"""The monitor's pure core: job trackers, the request ledger, the budget planner, coalescing."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from northflank_async import BuildStatus, JobBuild
from northflank_async._core.events import BuildEvent
from northflank_async._core.planning import (
    BudgetPlanner,
    JobLoad,
    RequestLedger,
    answer_waiters,
    default_budget,
    next_due,
)
from northflank_async._core.trackers import JobTracker
from northflank_async._core.tracking import GONE_AFTER, MAX_GETS_PER_POLL

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RUNNING = BuildStatus.BUILDING


def build(
    n: int, status: BuildStatus = RUNNING, *, at: float | None = None, concluded: bool | None = None
) -> JobBuild:
    """Build ``b<n>``, created ``at`` seconds after T0 (``n`` by default)."""
    return JobBuild(
        id=f"b{n}",
        status=status,
        concluded=concluded,
        created_at=T0 + timedelta(seconds=n if at is None else at),
    )


def poll(
    tracker: JobTracker,
    pages: Sequence[Sequence[JobBuild]],
    gets: dict[str, JobBuild] | None = None,
) -> list[tuple[str, str]]:
    """One poll over ``pages`` (the last one ends the history), as (kind, build id) pairs."""
    p = tracker.begin_poll()
    for i, page in enumerate(pages):
        assert p.needs_next_page, "the test read a page the tracker did not ask for"
        p.add_page(page, has_next_page=i < len(pages) - 1)
    assert not p.needs_next_page
    for build_id in p.missing:
        if gets and build_id in gets:
            p.add_fetched(gets[build_id])
    return [(e.kind, e.build.id) for e in tracker.commit(p)]


def started(*snapshot: JobBuild, **kwargs: object) -> JobTracker:
    tracker = JobTracker("proj", "job", **kwargs)  # type: ignore[arg-type]
    assert poll(tracker, [list(snapshot)]) == []
    assert tracker.started
    return tracker


class TestBuildEvent:
    def test_fields(self) -> None:
        """An event names its kind, build, project and job, and is immutable."""
        event = BuildEvent("created", build(1), "proj", "job")
        assert (event.kind, event.build.id, event.project_id, event.job_id) == (
            "created",
            "b1",
            "proj",
            "job",
        )
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            event.kind = "status"  # type: ignore[misc]

    def test_unknown_kind_is_refused(self) -> None:
        """A kind outside created/status/concluded is a ValueError."""
        with pytest.raises(ValueError, match="kind"):
            BuildEvent("finished", build(1), "proj", "job")  # type: ignore[arg-type]


class TestJobTrackerLifecycle:
    def test_snapshot_is_not_reported(self) -> None:
        """Builds already there at the first poll, running or not, yield nothing."""
        tracker = started(build(3), build(2, BuildStatus.SUCCESS), build(1))
        assert not tracker.active
        assert poll(tracker, [[build(3), build(2, BuildStatus.SUCCESS), build(1)]]) == []

    def test_a_build_from_creation_to_conclusion(self) -> None:
        """created, then status on a change, nothing on no change, then concluded once."""
        tracker = started(build(1, BuildStatus.SUCCESS))
        old = build(1, BuildStatus.SUCCESS)
        assert poll(tracker, [[build(2, BuildStatus.QUEUED), old]]) == [("created", "b2")]
        assert tracker.active and list(tracker.tracked) == ["b2"]
        assert poll(tracker, [[build(2, BuildStatus.QUEUED), old]]) == []
        assert poll(tracker, [[build(2, BuildStatus.BUILDING), old]]) == [("status", "b2")]
        assert poll(tracker, [[build(2, BuildStatus.SUCCESS), old]]) == [("concluded", "b2")]
        assert not tracker.active
        assert poll(tracker, [[build(2, BuildStatus.SUCCESS), old]]) == []

    def test_concluded_flag_wins_over_status(self) -> None:
        """``concluded`` from the API decides, whatever the status says."""
        tracker = started(build(1))
        assert poll(tracker, [[build(2, BuildStatus.SUCCESS, concluded=False)]]) == [
            ("created", "b2")
        ]
        assert poll(tracker, [[build(2, BuildStatus.BUILDING, concluded=True)]]) == [
            ("concluded", "b2")
        ]

    def test_new_and_already_concluded(self) -> None:
        """A build seen for the first time already finished: created then concluded."""
        tracker = started(build(1))
        assert poll(tracker, [[build(2, BuildStatus.FAILURE), build(1)]]) == [
            ("created", "b2"),
            ("concluded", "b2"),
        ]
        assert not tracker.active

    def test_events_come_oldest_first(self) -> None:
        """Several new builds and a tracked one's change come in the order they happened."""
        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        events = poll(
            tracker,
            [[build(4, BuildStatus.SUCCESS), build(3), build(2, BuildStatus.UPLOADING), build(1)]],
        )
        assert events == [
            ("status", "b2"),
            ("created", "b3"),
            ("created", "b4"),
            ("concluded", "b4"),
        ]

    def test_empty_job(self) -> None:
        """A job with no builds yet: its first build is new."""
        tracker = started()
        assert poll(tracker, [[build(1)]]) == [("created", "b1")]

    def test_shared_created_at(self) -> None:
        """Builds that share a createdAt are told apart by id."""
        tracker = started(build(1, at=5), build(0, at=5))
        events = poll(tracker, [[build(3, at=5), build(2, at=5), build(1, at=5), build(0, at=5)]])
        assert events == [("created", "b2"), ("created", "b3")]

    def test_older_tie_past_the_seen_part_is_old(self) -> None:
        """Past a seen build, an unknown build of the same instant is an older one: not new."""
        tracker = started(build(2, at=5))  # a snapshot of one build; b1 shares its time
        assert poll(tracker, [[build(3, at=6), build(2, at=5), build(1, at=5)]]) == [
            ("created", "b3")
        ]

    def test_out_of_order_newer_build_is_still_found(self) -> None:
        """A build strictly newer than all seen, listed after a seen one, is still reported."""
        tracker = started(build(2))
        assert poll(tracker, [[build(2), build(3), build(1)]]) == [("created", "b3")]


class TestJobTrackerSince:
    def test_since_datetime(self) -> None:
        """With an aware datetime, builds created at or after it are new at the first poll."""
        tracker = JobTracker("proj", "job", since=T0 + timedelta(seconds=2))
        events = poll(tracker, [[build(3), build(2, BuildStatus.SUCCESS), build(1)]])
        assert events == [("created", "b2"), ("concluded", "b2"), ("created", "b3")]
        assert list(tracker.tracked) == ["b3"]

    def test_since_build(self) -> None:
        """With a build, those listed before it are new, it and older ones are not."""
        tracker = JobTracker("proj", "job", since=build(2, at=2))
        events = poll(tracker, [[build(4, at=2), build(3, at=2), build(2, at=2), build(1, at=2)]])
        assert events == [("created", "b3"), ("created", "b4")]

    def test_since_build_id_reads_until_the_id(self) -> None:
        """With a bare id, the first poll pages until it meets that build."""
        tracker = JobTracker("proj", "job", since="b2")
        p = tracker.begin_poll()
        p.add_page([build(5), build(4)], has_next_page=True)
        assert p.needs_next_page
        p.add_page([build(3), build(2)], has_next_page=True)
        assert not p.needs_next_page
        assert [(e.kind, e.build.id) for e in tracker.commit(p)] == [
            ("created", "b3"),
            ("created", "b4"),
            ("created", "b5"),
        ]

    @pytest.mark.parametrize(
        "since", [datetime(2024, 1, 1), "", 42], ids=["naive", "empty-id", "int"]
    )
    def test_bad_since(self, since: object) -> None:
        """A naive datetime, an empty id or another type is a ValueError."""
        with pytest.raises(ValueError, match="since"):
            JobTracker("proj", "job", since=since)  # type: ignore[arg-type]

    @pytest.mark.parametrize("memory", [0, -1, True, 1.5])
    def test_bad_memory(self, memory: object) -> None:
        """memory must be a positive int."""
        with pytest.raises(ValueError, match="memory"):
            JobTracker("proj", "job", memory=memory)  # type: ignore[arg-type]


class TestJobTrackerPaging:
    def test_reads_pages_until_the_seen_part(self) -> None:
        """needs_next_page stays true until a page holds a build seen before."""
        tracker = started(build(1))
        p = tracker.begin_poll()
        p.add_page([build(5), build(4)], has_next_page=True)
        assert p.needs_next_page and not p.complete
        p.add_page([build(3), build(2)], has_next_page=True)
        assert p.needs_next_page
        p.add_page([build(1), build(0)], has_next_page=True)
        assert not p.needs_next_page
        events = [(e.kind, e.build.id) for e in tracker.commit(p)]
        assert events == [("created", f"b{n}") for n in (2, 3, 4, 5)]

    def test_older_than_the_watermark_reaches(self) -> None:
        """A whole page of unknown builds older than the watermark ends the paging when no
        known build was met (the known ones were deleted): those builds are taken as old.

        (One older build alone does not end it: ids decide what is new, see TestClockSkew.)"""
        tracker = started(build(10))
        p = tracker.begin_poll()
        p.add_page([build(11), build(3)], has_next_page=True)
        assert p.needs_next_page  # b3 may be a new build with a skewed clock: read on
        p.add_page([build(2), build(1)], has_next_page=True)
        assert not p.needs_next_page
        assert [(e.kind, e.build.id) for e in tracker.commit(p)] == [("created", "b11")]

    def test_end_of_history_completes(self) -> None:
        """The last page completes a poll even when no seen build was met."""
        tracker = JobTracker("proj", "job", since=T0)
        p = tracker.begin_poll()
        p.add_page([build(2)], has_next_page=True)
        assert p.needs_next_page
        p.add_page([build(1)], has_next_page=False)
        assert p.complete

    def test_snapshot_needs_one_page(self) -> None:
        """Without since, the first poll's newest page is the whole snapshot."""
        tracker = JobTracker("proj", "job")
        p = tracker.begin_poll()
        assert p.needs_next_page
        p.add_page([build(2), build(1)], has_next_page=True)
        assert not p.needs_next_page and p.missing == []

    def test_build_moving_to_the_next_page_counts_once(self) -> None:
        """A build listed on two pages (it moved while we paged) yields one event, latest state."""
        tracker = started(build(1))
        p = tracker.begin_poll()
        p.add_page([build(3), build(2)], has_next_page=True)
        p.add_page([build(2, BuildStatus.SUCCESS), build(1)], has_next_page=False)
        events = [(e.kind, e.build.id) for e in tracker.commit(p)]
        assert events == [("created", "b2"), ("concluded", "b2"), ("created", "b3")]


class TestJobTrackerMissing:
    def test_tracked_build_off_the_page_costs_a_get(self) -> None:
        """A tracked build not on the pages read is missing; its get's answer is absorbed."""
        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        p = tracker.begin_poll()
        p.add_page([build(4), build(3)], has_next_page=True)
        p.add_page([build(2, BuildStatus.SUCCESS), build(1)], has_next_page=True)
        assert p.missing == []  # b2 was on page 2: no get
        tracker.commit(p)

        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        p = tracker.begin_poll()
        p.add_page([build(3), build(1)], has_next_page=True)  # reached, b2 not listed
        assert p.missing == ["b2"]
        p.add_fetched(build(2, BuildStatus.CRASHED))
        assert p.missing == []
        events = [(e.kind, e.build.id) for e in tracker.commit(p)]
        assert events == [("concluded", "b2"), ("created", "b3")]
        assert list(tracker.tracked) == ["b3"]

    def test_unanswered_get_keeps_the_build_tracked(self) -> None:
        """A poll may commit without a get's answer: the build stays tracked and is asked again."""
        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        assert poll(tracker, [[build(3), build(1)]]) == [("created", "b3")]
        assert list(tracker.tracked) == ["b2", "b3"]
        done = {"b2": build(2, BuildStatus.SUCCESS)}
        assert poll(tracker, [[build(3), build(1)]], gets=done) == [("concluded", "b2")]

    def test_gone_build_stops_being_tracked(self) -> None:
        """A tracked build whose get answers 404 poll after poll is dropped, without an event.

        (One 404 is not proof enough: it takes GONE_AFTER in a row.)"""
        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        for n in range(GONE_AFTER):
            assert tracker.active, f"dropped after {n} 404s"
            p = tracker.begin_poll()
            p.add_page([build(1)], has_next_page=False)
            p.add_gone("b2")
            assert tracker.commit(p) == []
        assert not tracker.active

    def test_only_missing_builds_may_be_added(self) -> None:
        """add_fetched / add_gone of a build that is not missing is a ValueError."""
        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        p = tracker.begin_poll()
        p.add_page([build(2), build(1)], has_next_page=False)
        with pytest.raises(ValueError, match="not a missing"):
            p.add_fetched(build(2))
        with pytest.raises(ValueError, match="not a missing"):
            p.add_gone("b9")


class TestJobTrackerTransactions:
    def test_dropped_poll_changes_nothing(self) -> None:
        """A poll abandoned half-way (a failed page) leaves the tracker as it was."""
        tracker = started(build(1))
        p = tracker.begin_poll()
        p.add_page([build(3), build(2)], has_next_page=True)  # page 2 then fails
        del p
        assert not tracker.active
        assert poll(tracker, [[build(3), build(2), build(1)]]) == [
            ("created", "b2"),
            ("created", "b3"),
        ]

    def test_failed_snapshot_is_retried(self) -> None:
        """A snapshot never committed is taken again by the next poll."""
        tracker = JobTracker("proj", "job")
        tracker.begin_poll().add_page([build(1)], has_next_page=False)
        assert not tracker.started
        assert poll(tracker, [[build(2), build(1)]]) == []
        assert tracker.started

    def test_incomplete_poll_cannot_commit(self) -> None:
        """Committing before the pages reach the seen part is a ValueError, state unchanged."""
        tracker = started(build(1))
        p = tracker.begin_poll()
        p.add_page([build(3), build(2)], has_next_page=True)
        with pytest.raises(ValueError, match="incomplete"):
            tracker.commit(p)
        assert not tracker.active

    def test_stale_poll_cannot_commit(self) -> None:
        """Two polls begun together: the second to commit is refused (no doubled events)."""
        tracker = started(build(1))
        first, second = tracker.begin_poll(), tracker.begin_poll()
        for p in (first, second):
            p.add_page([build(2), build(1)], has_next_page=False)
        assert len(tracker.commit(first)) == 1
        with pytest.raises(ValueError, match="stale"):
            tracker.commit(second)
        with pytest.raises(ValueError, match="stale"):
            tracker.commit(first)

    def test_poll_of_another_tracker(self) -> None:
        """A poll commits only into the tracker that began it."""
        p = started(build(1)).begin_poll()
        p.add_page([build(1)], has_next_page=False)
        with pytest.raises(ValueError, match="another tracker"):
            started(build(1)).commit(p)

    def test_memory_is_bounded(self) -> None:
        """Only the ids of the latest ``memory`` builds are kept."""
        tracker = started(build(0), memory=5)
        for n in range(1, 40):
            poll(tracker, [[build(n, BuildStatus.SUCCESS), build(n - 1, BuildStatus.SUCCESS)]])
        assert len(tracker._id_set) == len(tracker._ids) == 5
        assert tracker._id_set == {f"b{n}" for n in range(35, 40)}


class TestJobTrackerGone:
    """Gone builds: a build leaves tracking only after repeated proof, and comes back."""

    def test_one_404_then_reappearing_concluded_is_reported(self) -> None:
        """Missing from one poll with a 404 get, then listed concluded: concluded is sent."""
        tracker = started(build(1))
        assert poll(tracker, [[build(2), build(1)]]) == [("created", "b2")]
        p = tracker.begin_poll()
        p.add_page([build(1)], has_next_page=False)
        p.add_gone("b2")
        assert tracker.commit(p) == []
        assert list(tracker.tracked) == ["b2"]
        events = poll(tracker, [[build(2, BuildStatus.SUCCESS), build(1)]])
        assert events == [("concluded", "b2")]
        assert not tracker.active

    def test_a_listing_resets_the_proof(self) -> None:
        """404s must come in a row: a poll that lists the build starts the count again."""
        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        for _ in range(3):
            for _ in range(GONE_AFTER - 1):
                p = tracker.begin_poll()
                p.add_page([build(1)], has_next_page=False)
                p.add_gone("b2")
                tracker.commit(p)
            assert poll(tracker, [[build(2), build(1)]]) == []
        assert tracker.active

    def test_reported_even_after_leaving_tracking(self) -> None:
        """A build dropped after GONE_AFTER 404s that is listed again still gets its outcome."""
        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        for _ in range(GONE_AFTER):
            p = tracker.begin_poll()
            p.add_page([build(1)], has_next_page=False)
            p.add_gone("b2")
            tracker.commit(p)
        assert not tracker.active
        assert poll(tracker, [[build(2, BuildStatus.UPLOADING), build(1)]]) == [("status", "b2")]
        assert tracker.active
        assert poll(tracker, [[build(2, BuildStatus.FAILURE), build(1)]]) == [("concluded", "b2")]

    def test_absence_survives_a_restart(self) -> None:
        """The count of 404s in a row is part of the durable position."""
        tracker = started(build(1))
        poll(tracker, [[build(2), build(1)]])
        p = tracker.begin_poll()
        p.add_page([build(1)], has_next_page=False)
        p.add_gone("b2")
        tracker.commit(p)
        restored = JobTracker.from_position("proj", "job", tracker.position())
        assert restored._absent == {"b2": 1}


class TestClockSkew:
    """Clock skew: an id not seen before is new, whatever its time."""

    def test_new_ids_above_a_known_build_with_earlier_times(self) -> None:
        tracker = started(build(10))
        page = [build(12, at=3), build(11, at=2), build(10)]
        assert poll(tracker, [page]) == [("created", "b11"), ("created", "b12")]

    def test_skewed_builds_across_a_page_boundary(self) -> None:
        """Older-stamped unknown builds on page 1, the known build on page 2: all new."""
        tracker = started(build(10))
        p = tracker.begin_poll()
        p.add_page([build(13, at=20), build(12, at=3)], has_next_page=True)
        assert p.needs_next_page
        p.add_page([build(11, at=2), build(10)], has_next_page=True)
        assert not p.needs_next_page
        events = [(e.kind, e.build.id) for e in tracker.commit(p)]
        assert sorted(events) == [("created", "b11"), ("created", "b12"), ("created", "b13")]

    def test_first_snapshot_stays_silent(self) -> None:
        """Whatever the times, the first poll without since reports nothing."""
        tracker = JobTracker("proj", "job")
        assert poll(tracker, [[build(1, at=50), build(2, at=1)]]) == []
        assert poll(tracker, [[build(3, at=0), build(1, at=50)]]) == [("created", "b3")]


class TestGetsCap:
    """A large backlog: read by pages, with gets per poll capped."""

    def test_thousands_of_running_builds_read_by_pages(self) -> None:
        per_page = 100
        tracker = started(build(0))
        backlog = [build(n) for n in range(10_000, 0, -1)]  # newest first
        pages = [backlog[i : i + per_page] for i in range(0, len(backlog), per_page)]
        pages[-1] = [*pages[-1], build(0)]
        events = poll(tracker, pages)
        assert len(events) == 10_000 and len(tracker.tracked) == 10_000
        # The next poll: one new build on top; the tracked ones are read by pages, not gets.
        listing = [build(10_001), *backlog, build(0)]
        p = tracker.begin_poll()
        read = 0
        while p.needs_next_page:
            p.add_page(
                listing[read * per_page : (read + 1) * per_page],
                has_next_page=(read + 1) * per_page < len(listing),
            )
            read += 1
        assert read <= 101
        assert len(p.missing) <= MAX_GETS_PER_POLL  # the few left cost one get each
        assert p.to_fetch == p.missing

    def test_deep_tracked_builds_cost_capped_gets_in_turn(self) -> None:
        """Tracked builds far below the newest page: at most max_gets gets a poll, no extra
        pages, and the least recently confirmed first."""
        tracker = started(build(0), max_gets=2)
        poll(tracker, [[build(3), build(2), build(1), build(0)]])
        top = [build(n, BuildStatus.SUCCESS) for n in range(20, 3, -1)]
        poll(tracker, [top[:5]])  # 5 new concluded builds; b1..b3 fell off the page
        asked: list[list[str]] = []
        for _ in range(3):
            p = tracker.begin_poll()
            p.add_page(top[:5], has_next_page=True)
            assert not p.needs_next_page  # the page held no tracked build: no more pages
            asked.append(p.to_fetch)
            for build_id in p.to_fetch:
                p.add_fetched(build(int(build_id[1:])))
            tracker.commit(p)
        assert [len(a) for a in asked] == [2, 2, 2]
        assert set(asked[0] + asked[1]) == {"b1", "b2", "b3"}

    def test_bad_max_gets(self) -> None:
        with pytest.raises(ValueError, match="max_gets"):
            JobTracker("proj", "job", max_gets=0)


# --------------------------------------------------------------------------- simulated job


STEPS = [BuildStatus.QUEUED, BuildStatus.BUILDING, BuildStatus.UPLOADING]
OUTCOMES = [BuildStatus.SUCCESS, BuildStatus.FAILURE, BuildStatus.ABORTED]


@attrs.define
class SimJob:
    """A job's history as the API would list it: newest first, cursors after an id."""

    clock: int = 0
    builds: list[JobBuild] = attrs.field(factory=list)  # creation order

    def create(self) -> None:
        n = len(self.builds)
        self.builds.append(build(n, STEPS[0], at=self.clock))

    def advance(self, k: int) -> None:
        if not self.builds:
            return
        i = k % len(self.builds)
        current = self.builds[i]
        if current.is_concluded:
            return
        step = STEPS.index(current.status)  # type: ignore[arg-type]
        status = STEPS[step + 1] if step + 1 < len(STEPS) else OUTCOMES[i % len(OUTCOMES)]
        self.builds[i] = attrs.evolve(current, status=status)

    def conclude_all(self) -> None:
        for i in range(len(self.builds)):
            while not self.builds[i].is_concluded:
                self.advance(i)

    def page(self, after: str | None, per_page: int) -> tuple[list[JobBuild], bool]:
        listing = self.builds[::-1]
        start = 0 if after is None else [b.id for b in listing].index(after) + 1
        items = listing[start : start + per_page]
        return items, start + per_page < len(listing)

    def get(self, build_id: str) -> JobBuild:
        return next(b for b in self.builds if b.id == build_id)


def drive(
    tracker: JobTracker,
    job: SimJob,
    *,
    per_page: int,
    fail_page: int | None = None,
    gets: str = "ok",
    between_pages: Sequence[tuple[str, int]] = (),
) -> list[BuildEvent] | None:
    """One poll as the I/O layer runs it; ``None`` when it failed (and was dropped)."""
    p = tracker.begin_poll()
    after: str | None = None
    mutations = iter(between_pages)
    for page_no in range(1000):  # bounded: a tracker that never completes fails, not hangs
        if not p.needs_next_page:
            break
        if page_no == fail_page:
            return None
        items, has_next = job.page(after, per_page)
        p.add_page(items, has_next_page=has_next)
        after = items[-1].id if items else None
        for op, k in itertools.islice(mutations, 1):
            if op == "create":
                job.create()
            else:
                job.advance(k)
    for build_id in p.missing:
        if gets == "fail":
            return None
        if gets == "ok":
            p.add_fetched(job.get(build_id))
    return tracker.commit(p)


mutation = st.tuples(st.sampled_from(["create", "advance", "tick"]), st.integers(0, 50))
poll_op = st.tuples(
    st.just("poll"),
    st.integers(1, 4),  # per_page
    st.none() | st.integers(0, 3),  # the page at which the poll fails
    st.sampled_from(["ok", "fail", "skip"]),  # the gets: answered, failing, not answered
    st.lists(st.tuples(st.sampled_from(["create", "advance"]), st.integers(0, 50)), max_size=2),
)


class TestJobTrackerProperties:
    @settings(max_examples=200, deadline=None)
    @given(
        pre=st.integers(0, 6),
        since_kind=st.sampled_from(["none", "build", "id", "time"]),
        since_pick=st.integers(0, 5),
        ops=st.lists(st.one_of(mutation, poll_op), max_size=40),
    )
    def test_every_build_concluded_once_after_created(
        self, pre: int, since_kind: str, since_pick: int, ops: list[tuple[object, ...]]
    ) -> None:
        """Across pages, failed polls and missing builds: one created, then one concluded each."""
        job = SimJob()
        for i in range(pre):
            job.clock += i % 2  # pairs of builds share a createdAt
            job.create()
            job.advance(i)
        since: str | datetime | JobBuild | None = None
        expected_from = 0  # index of the oldest build that must be reported
        if since_kind != "none" and pre:
            pick = job.builds[since_pick % pre]
            n = int(pick.id[1:])
            if since_kind == "build":
                since, expected_from = pick, n + 1
            elif since_kind == "id":
                since, expected_from = pick.id, n + 1
            else:
                assert pick.created_at is not None
                since = pick.created_at
                expected_from = min(
                    i for i, b in enumerate(job.builds) if b.created_at == pick.created_at
                )
        elif since_kind != "none":
            since = T0  # an empty job: everything is new
        tracker = JobTracker("proj", "job", since=since)
        events: list[BuildEvent] = []
        if since is None:
            assert drive(tracker, job, per_page=3) == []
            expected_from = len(job.builds)
        for op in ops:
            if op[0] == "poll":
                _, per_page, fail_page, gets, between = op
                result = drive(
                    tracker,
                    job,
                    per_page=per_page,  # type: ignore[arg-type]
                    fail_page=fail_page,  # type: ignore[arg-type]
                    gets=gets,  # type: ignore[arg-type]
                    between_pages=between,  # type: ignore[arg-type]
                )
                events += result or []
            elif op[0] == "create":
                job.create()
            elif op[0] == "advance":
                job.advance(op[1])  # type: ignore[arg-type]
            else:
                job.clock += 1
        job.conclude_all()
        final = drive(tracker, job, per_page=2)
        assert final is not None
        events += final
        assert not tracker.active

        expected = {b.id for b in job.builds[expected_from:]}
        kinds = Counter((e.kind, e.build.id) for e in events)
        assert {i for k, i in kinds if k == "created"} == expected
        assert {i for k, i in kinds if k == "concluded"} == expected
        assert all(count == 1 for (kind, _), count in kinds.items() if kind != "status")
        position = {(e.kind, e.build.id): i for i, e in enumerate(events)}
        for build_id in expected:
            assert position[("created", build_id)] < position[("concluded", build_id)]
        for i, event in enumerate(events):
            if event.kind == "concluded":
                assert event.build.is_concluded
            if event.kind == "status":
                assert not event.build.is_concluded
                assert i < position[("concluded", event.build.id)]
        # created events follow the builds' creation order
        created = [int(e.build.id[1:]) for e in events if e.kind == "created"]
        assert created == sorted(created)


# --------------------------------------------------------------------------- coalescing


class TestAnswerWaiters:
    def test_page_answers_the_listed_builds(self) -> None:
        """Waiters on listed builds are answered by the page; the others need a get."""
        page = [build(5, BuildStatus.SUCCESS), build(4), build(3)]
        answers = answer_waiters({"b5", "b3", "b1"}, page)
        assert {k: v.status for k, v in answers.found.items()} == {
            "b5": BuildStatus.SUCCESS,
            "b3": RUNNING,
        }
        assert answers.missing == frozenset({"b1"})

    def test_fifty_waiters_one_page(self) -> None:
        """Fifty waiters on fifty listed builds: no get at all, one list answers them all."""
        page = [build(n) for n in range(50, 0, -1)]
        answers = answer_waiters([f"b{n}" for n in range(1, 51)], page)
        assert len(answers.found) == 50 and not answers.missing

    def test_nobody_waiting(self) -> None:
        """No waiter: nothing found, nothing missing."""
        answers = answer_waiters([], [build(1)])
        assert not answers.found and not answers.missing


# --------------------------------------------------------------------------- ledger


def windows_within(times: Sequence[float], budget: int, window: float = 3600.0) -> bool:
    """Whether every interval [t, t + window) holds at most ``budget`` of ``times``."""
    ordered = sorted(times)
    return all(sum(1 for u in ordered if t <= u < t + window) <= budget for t in ordered)


class TestRequestLedger:
    def test_spent_in_window(self) -> None:
        """Requests of the last hour count; older ones do not."""
        ledger = RequestLedger()
        for t in (0.0, 10.0, 3000.0):
            ledger.record(t)
        assert ledger.spent_in_window(3000.0) == 3
        assert ledger.spent_in_window(3600.0) == 2  # the one at 0 left the window
        assert ledger.spent_in_window(6600.0) == 0

    def test_next_allowed_under_budget_is_now(self) -> None:
        """While the hour holds fewer than the budget, a request may go now."""
        ledger = RequestLedger()
        assert ledger.next_allowed(5.0, 2) == 5.0
        ledger.record(5.0)
        assert ledger.next_allowed(6.0, 2) == 6.0

    def test_next_allowed_when_spent(self) -> None:
        """A spent budget opens an hour after the oldest request of the last ``budget``."""
        ledger = RequestLedger()
        for t in (0.0, 100.0, 200.0):
            ledger.record(t)
        assert ledger.next_allowed(300.0, 3) == 3600.0
        assert ledger.next_allowed(300.0, 2) == 3700.0
        assert ledger.next_allowed(5000.0, 3) == 5000.0

    def test_claims_book_slots(self) -> None:
        """Claims made at the same instant get successive slots, never over the budget."""
        ledger = RequestLedger()
        slots = [ledger.claim(0.0, 2) for _ in range(5)]
        assert slots == [0.0, 0.0, 3600.0, 3600.0, 7200.0]
        assert windows_within(slots, 2)

    def test_memory_is_bounded(self) -> None:
        """Only the last hour of requests is kept."""
        ledger = RequestLedger()
        for t in range(0, 100_000, 10):
            ledger.record(float(t))
        assert len(ledger._times) <= 361

    @pytest.mark.parametrize("budget", [0, -5, True, 2.5])
    def test_bad_budget(self, budget: object) -> None:
        """The budget must be a positive int."""
        with pytest.raises(ValueError, match="budget_per_hour"):
            RequestLedger().next_allowed(0.0, budget)  # type: ignore[arg-type]

    def test_bad_window(self) -> None:
        """A window must be a positive duration."""
        with pytest.raises(ValueError, match="window"):
            RequestLedger(window=0)

    @pytest.mark.parametrize("now", [float("nan"), float("inf")])
    def test_bad_time(self, now: float) -> None:
        """Times must be finite numbers."""
        with pytest.raises(ValueError, match="finite"):
            RequestLedger().record(now)
        with pytest.raises(ValueError, match="finite"):
            RequestLedger().next_allowed(now, 5)

    @settings(max_examples=200, deadline=None)
    @given(
        budget=st.integers(1, 8),
        asks=st.lists(
            st.tuples(
                st.floats(0, 20_000, allow_nan=False),  # when the request is asked for
                st.floats(0, 500, allow_nan=False),  # how late it goes after next_allowed
            ),
            max_size=60,
        ),
    )
    def test_no_rolling_hour_over_budget(
        self, budget: int, asks: list[tuple[float, float]]
    ) -> None:
        """Requests sent at or after next_allowed never put more than budget in any hour."""
        ledger = RequestLedger()
        sent: list[float] = []
        for asked, lateness in asks:
            at = ledger.next_allowed(asked, budget)
            assert at >= asked
            ledger.record(at + lateness)
            sent.append(at + lateness)
        assert windows_within(sent, budget)


# --------------------------------------------------------------------------- planner


def jobs(active: int = 0, idle: int = 0, idle_for: float = 0.0) -> list[JobLoad]:
    loads = [JobLoad(project_id="p", job_id=f"a{i}", active=True) for i in range(active)]
    loads += [
        JobLoad(project_id="p", job_id=f"i{i}", active=False, idle_for=idle_for)
        for i in range(idle)
    ]
    return loads


class TestBudgetPlanner:
    def test_ideal_figure_of_the_issue(self) -> None:
        """20 jobs at 500 requests an hour, no reserve: one poll per job every 144 s."""
        planner = BudgetPlanner(budget_per_hour=500, reserve=0.0)
        for loads in (jobs(active=20), jobs(idle=20), jobs(idle=20, idle_for=50)):
            plan = planner.plan(loads)
            assert [e.interval for e in plan.jobs] == pytest.approx([144.0] * 20)
            assert plan.expected_per_hour == pytest.approx(500.0)

    def test_reserve_is_kept_for_gets(self) -> None:
        """The default reserve (5%) is kept while the jobs want less than the budget; a
        saturated plan polls every job at its even share (issue 20: no job waits longer)."""
        plan = BudgetPlanner(budget_per_hour=500, floor=10).plan(jobs(active=1))
        assert plan.jobs[0].interval == 10.0
        assert plan.expected_per_hour == pytest.approx(360 + 25)
        plan = BudgetPlanner(budget_per_hour=500).plan(jobs(active=20))
        assert plan.jobs[0].interval == pytest.approx(20 * 3600 / 500)
        assert plan.expected_per_hour == pytest.approx(500.0)

    def test_active_jobs_poll_more_often(self) -> None:
        """Under a tight budget every job is polled at its even share, an idle one included
        (issue 20: before, idle jobs were stretched 4x beyond active ones)."""
        plan = BudgetPlanner(budget_per_hour=100).plan(jobs(active=2, idle=8))
        active = plan.entry("p", "a0")
        idle = plan.entry("p", "i0")
        assert active.active and not idle.active
        assert idle.interval == active.interval == pytest.approx(10 * 3600 / 100)
        assert sum(3600 / e.interval for e in plan.jobs) == pytest.approx(100.0)

    def test_idle_jobs_back_off_to_the_cap(self) -> None:
        """Idle intervals grow with idle time up to idle_cap, within the jobs' even share
        (3 jobs at 36 an hour: 300 s)."""
        planner = BudgetPlanner(budget_per_hour=36, floor=10, idle_cap=300)
        intervals = [
            planner.desired_interval(jobs(idle=1, idle_for=idle)[0], 3)
            for idle in (0, 60, 200, 1000, 10_000)
        ]
        assert intervals == [40.0, 70.0, 140.0, 300.0, 300.0]
        assert planner.desired_interval(jobs(active=1)[0]) == 10.0  # the floor

    def test_spare_budget_is_not_spent(self) -> None:
        """Quiet jobs spend the budget their share allows (issue 20: a generous budget is
        used), and no more than their floor allows."""
        plan = BudgetPlanner(budget_per_hour=500).plan(jobs(idle=3, idle_for=10_000))
        assert [e.interval for e in plan.jobs] == pytest.approx([3 * 3600 / 500] * 3)
        plan = BudgetPlanner(budget_per_hour=500, floor=60).plan(jobs(idle=3, idle_for=10_000))
        assert plan.expected_per_hour == pytest.approx(3 * 3600 / 60 + 25)

    def test_plan_shows_spend(self) -> None:
        """The plan carries the budget and the requests spent this hour."""
        plan = BudgetPlanner(budget_per_hour=200).plan(jobs(active=1), spent_this_hour=17)
        assert (plan.budget_per_hour, plan.spent_this_hour) == (200, 17)

    def test_no_jobs(self) -> None:
        """An empty plan expects no spend."""
        plan = BudgetPlanner().plan([])
        assert plan.jobs == () and plan.expected_per_hour == 0.0

    def test_duplicate_job(self) -> None:
        """A job listed twice is a ValueError."""
        with pytest.raises(ValueError, match="once"):
            BudgetPlanner().plan(jobs(active=1) + jobs(active=1))

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"budget_per_hour": 0},
            {"floor": 0},
            {"floor": float("nan")},
            {"idle_cap": 5.0, "floor": 10.0},
            {"active_weight": 0.5},
            {"reserve": 1.0},
            {"idle_growth": -1.0},
        ],
    )
    def test_bad_settings(self, kwargs: dict[str, float]) -> None:
        """Impossible settings are a ValueError."""
        with pytest.raises(ValueError):  # noqa: PT011 - each case names a different field
            BudgetPlanner(**kwargs)  # type: ignore[arg-type]

    def test_bad_idle_time(self) -> None:
        """A negative idle time is a ValueError."""
        with pytest.raises(ValueError, match="idle_for"):
            BudgetPlanner().plan(jobs(idle=1, idle_for=-1))

    @settings(max_examples=200, deadline=None)
    @given(
        budget=st.integers(1, 5000),
        floor=st.floats(1, 60),
        loads=st.lists(st.tuples(st.booleans(), st.floats(0, 100_000)), min_size=1, max_size=60),
    )
    def test_plan_within_budget_and_floor(
        self, budget: int, floor: float, loads: list[tuple[bool, float]]
    ) -> None:
        """Whatever the jobs: no interval under the floor, the plan within the budget."""
        planner = BudgetPlanner(budget_per_hour=budget, floor=floor, idle_cap=floor * 30)
        plan = planner.plan(
            JobLoad(project_id="p", job_id=str(i), active=active, idle_for=idle)
            for i, (active, idle) in enumerate(loads)
        )
        assert all(e.interval >= floor for e in plan.jobs)
        polls = sum(3600 / e.interval for e in plan.jobs)
        assert polls <= budget * (1 + 1e-9)  # the reserve gives way to the share (issue 20)
        actives = [e.interval for e in plan.jobs if e.active]
        idles = [e.interval for e in plan.jobs if not e.active]
        if actives and idles:
            assert max(actives) <= min(idles)


class TestDefaultBudget:
    def test_half_the_announced_limit(self) -> None:
        """Half of the account's announced limit."""
        assert default_budget(1000) == 500
        assert default_budget(5000) == 2500

    def test_unknown_limit(self) -> None:
        """No announced limit (or a useless one): 500."""
        assert default_budget(None) == 500
        assert default_budget(0) == 500


class TestNextDue:
    def test_never_polled_first_then_earliest_due(self) -> None:
        """A job never polled is due now; else the one whose interval ends first."""
        plan = BudgetPlanner(budget_per_hour=500).plan(jobs(active=1, idle=1))
        first = next_due(plan, {("p", "a0"): 100.0}, now=105.0)
        assert first is not None and first[0].job_id == "i0" and first[1] == 105.0
        due = next_due(plan, {("p", "a0"): 100.0, ("p", "i0"): 100.0}, now=105.0)
        assert due is not None and due[0].job_id == "a0" and due[1] == 100.0 + 2 * 3600 / 500

    def test_no_jobs(self) -> None:
        """A plan of no jobs has nothing due."""
        assert next_due(BudgetPlanner().plan([]), {}, now=0.0) is None
