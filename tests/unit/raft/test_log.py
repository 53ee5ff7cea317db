"""RaftLog over MemoryStorage: appends with conflicts, terms at the edges, commit and
apply, the unstable part and snapshots; MemoryStorage's compaction."""

from __future__ import annotations

import pytest

from quorumkv.core.raft.log import RaftLog
from quorumkv.core.raft.storage import MemoryStorage
from quorumkv.core.raft.types import (
    Compacted, ConfState, Entry, HardState, Snapshot, SnapshotMeta, Unavailable,
)


def ents(*terms, start=1):
    return [Entry(t, start + i, f"e{start + i}".encode()) for i, t in enumerate(terms)]


def stored(*terms) -> MemoryStorage:
    s = MemoryStorage(ConfState(voters=frozenset({"1"})))
    s.append(ents(*terms))
    return s


def test_maybe_append_appends_what_is_new_and_replaces_a_conflicting_suffix():
    log = RaftLog(stored(1, 1, 2))
    assert log.maybe_append(3, 2, 3, ents(2, 3, start=4)) == 5
    assert [e.term for e in log.all_entries()] == [1, 1, 2, 2, 3]
    assert log.committed == 3
    # the leader of term 4 replaces 4 and 5 (uncommitted)
    assert log.maybe_append(3, 2, 3, ents(4, start=4)) == 4
    assert [e.term for e in log.all_entries()] == [1, 1, 2, 4]


def test_maybe_append_refuses_when_the_previous_entry_does_not_match():
    log = RaftLog(stored(1, 1, 2))
    assert log.maybe_append(3, 1, 3, ents(2, start=4)) is None
    assert log.maybe_append(7, 2, 3, ents(2, start=8)) is None
    assert log.last_index() == 3


def test_an_append_that_would_overwrite_a_committed_entry_is_a_bug():
    log = RaftLog(stored(1, 1, 2))
    log.commit_to(3)
    with pytest.raises(AssertionError):
        log.maybe_append(1, 1, 3, ents(5, 5, start=2))


def test_commit_never_goes_back_nor_beyond_the_log():
    log = RaftLog(stored(1, 1))
    log.commit_to(2)
    log.commit_to(1)
    assert log.committed == 2
    with pytest.raises(AssertionError):
        log.commit_to(3)


def test_maybe_commit_only_for_the_given_term():
    log = RaftLog(stored(1, 2))
    assert not log.maybe_commit(2, 1)
    assert log.maybe_commit(2, 2) and log.committed == 2


def test_terms_at_the_edges():
    s = stored(1, 1, 2, 3)
    s.create_snapshot(2, ConfState(voters=frozenset({"1"})))
    s.compact(2)
    log = RaftLog(s)
    assert log.first_index() == 3 and log.term(2) == 1
    with pytest.raises(Compacted):
        log.term(1)
    with pytest.raises(Unavailable):
        log.term(5)
    with pytest.raises(Compacted):
        log.slice(2, 4)
    assert log.term_or_zero(1) == 0 and not log.match_term(9, 3)


def test_find_conflict_by_term_skips_a_whole_term():
    log = RaftLog(stored(1, 3, 3, 3, 5, 5))
    assert log.find_conflict_by_term(6, 4) == (4, 3)
    assert log.find_conflict_by_term(6, 0) == (0, 0)


def test_is_up_to_date_compares_the_last_term_then_the_length():
    log = RaftLog(stored(1, 2, 2))
    assert log.is_up_to_date(1, 3)
    assert log.is_up_to_date(3, 2) and not log.is_up_to_date(2, 2)
    assert not log.is_up_to_date(9, 1)


def test_unstable_entries_become_stable_unless_replaced():
    s = stored(1)
    log = RaftLog(s)
    log.append(ents(1, 1, start=2))
    assert [e.index for e in log.unstable_entries()] == [2, 3]
    s.append(log.unstable_entries())
    log.append(ents(2, start=3))  # replaced before the host said it persisted
    log.stable_to(3, 1)           # the persisted term is not the one at 3 now
    assert [e.index for e in log.unstable_entries()] == [2, 3]
    log.stable_to(2, 1)
    assert [(e.index, e.term) for e in log.unstable_entries()] == [(3, 2)]
    # reading across the storage and the unstable part: the unstable 3 wins
    assert [e.term for e in log.slice(1, 4)] == [1, 1, 2]


def test_slice_honours_max_bytes_but_gives_at_least_one():
    log = RaftLog(stored(1, 1, 1))
    log.append(ents(1, start=4))
    assert len(log.slice(1, 5, max_bytes=1)) == 1
    assert len(log.slice(1, 5, max_bytes=2 * 18)) == 2
    assert len(log.slice(1, 5)) == 4


def test_next_committed_entries_are_bounded_and_advance_with_applied():
    log = RaftLog(stored(1, 1, 1))
    log.commit_to(3)
    assert [e.index for e in log.next_committed_entries(1)] == [1]
    log.applied_to(1)
    assert [e.index for e in log.next_committed_entries(1 << 20)] == [2, 3]
    log.applied_to(3)
    assert not log.has_next_committed_entries()


def test_a_restart_counts_what_was_applied_as_committed():
    # the host may store an applied index before the hard state that recorded the
    # commit (it applies entries made durable by an earlier turn before this turn's
    # sync); a crash between the two leaves the stored commit behind the applied
    s = stored(1, 1, 2, 2)
    s.set_hard_state(HardState(term=2, vote="1", commit=1))
    log = RaftLog(s, applied=3)
    assert (log.committed, log.applied) == (3, 3)
    assert not log.has_next_committed_entries()
    # the stored commit still counts when it is the higher one
    s.set_hard_state(HardState(term=2, vote="1", commit=4))
    log = RaftLog(s, applied=3)
    assert (log.committed, log.applied) == (4, 3)
    assert [e.index for e in log.next_committed_entries(1 << 20)] == [4]


def test_restore_replaces_the_log_with_the_snapshot():
    log = RaftLog(stored(1, 1))
    snap = Snapshot(SnapshotMeta(10, 3, ConfState(voters=frozenset({"1"}))))
    log.restore(snap)
    assert (log.first_index(), log.last_index(), log.term(10), log.committed) == (11, 10, 3, 10)
    assert not log.has_next_committed_entries()  # the snapshot is applied, not entries
    log.stable_snap_to(10)
    assert log.unstable_snapshot is None


def test_storage_compaction_keeps_the_term_of_the_last_compacted_entry():
    s = stored(1, 2, 3)
    s.compact(2)
    assert (s.first_index(), s.last_index(), s.term(2)) == (3, 3, 2)
    with pytest.raises(Compacted):
        s.entries(2, 3, 100)
    s.append(ents(4, 4, start=2))  # the compacted part of an append is ignored
    assert [(e.index, e.term) for e in s.entries(3, 4, 100)] == [(3, 4)]
