"""RaftLog: the stable log (a ``LogStorage``) plus what is not persisted yet.

    storage:   [first_index ........ storage.last_index]
    unstable:                   [offset ......... last_index]   (or a snapshot)

New entries go to the unstable part first; a ``Ready`` hands them to the host,
which persists them, and ``stable_to`` then drops them from the unstable part (only
if the entry at that index still has the persisted term: a later append may have
replaced it meanwhile). An unstable entry at an index the storage also holds
overrides it: the host's append replaces the conflicting suffix.

``committed`` is the highest index known to be on a quorum; ``applied`` the highest
index the state machine applied (``applied <= committed`` always). A snapshot from
the leader (``restore``) replaces the whole log; it sits in ``unstable_snapshot``
until persisted.
"""

from __future__ import annotations

from .storage import limit_size
from .types import Compacted, Entry, Snapshot, Unavailable

NO_LIMIT = 1 << 62


class RaftLog:
    def __init__(self, storage, applied: int = 0) -> None:
        self.storage = storage
        self.unstable_snapshot: Snapshot | None = None
        self.unstable: list[Entry] = []
        self.offset = storage.last_index() + 1  # index of unstable[0]
        self.committed = storage.first_index() - 1
        self.applied = storage.first_index() - 1
        hard_state, _ = storage.initial_state()
        # a host applies only committed entries, and may store what it applied
        # before the hard state that recorded their commit (node/raft/host.py)
        self.commit_to(max(hard_state.commit, min(applied, self.last_index())))
        if applied:
            self.applied_to(applied)

    def __repr__(self) -> str:
        return (f"committed={self.committed} applied={self.applied} "
                f"unstable.offset={self.offset} len(unstable)={len(self.unstable)}")

    # ---- indexes and terms -----------------------------------------------------------

    def first_index(self) -> int:
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot.meta.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        if self.unstable:
            return self.offset + len(self.unstable) - 1
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot.meta.index
        return self.storage.last_index()

    def term(self, index: int) -> int:
        """The term at ``index``; raises Compacted below the snapshot, Unavailable
        beyond the last index."""
        if index < self.first_index() - 1:
            raise Compacted(index)
        if index > self.last_index():
            raise Unavailable(index)
        if self.unstable and index >= self.offset:
            return self.unstable[index - self.offset].term
        snap = self.unstable_snapshot
        if snap is not None and index == snap.meta.index:
            return snap.meta.term
        return self.storage.term(index)

    def term_or_zero(self, index: int) -> int:
        try:
            return self.term(index)
        except (Compacted, Unavailable):
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except (Compacted, Unavailable):
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Is a log ending at (last_index, term) at least as up to date as ours?"""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    # ---- appending -------------------------------------------------------------------

    def append(self, entries) -> int:
        """Append ``entries`` (their indexes follow on from some index at or after the
        commit); a conflicting uncommitted suffix is replaced. Returns the last index."""
        if not entries:
            return self.last_index()
        first = entries[0].index
        assert first > self.committed, f"append at {first} would overwrite commit {self.committed}"
        self._truncate_and_append(list(entries))
        return self.last_index()

    def _truncate_and_append(self, entries: list[Entry]) -> None:
        first = entries[0].index
        if first == self.offset + len(self.unstable):
            self.unstable.extend(entries)
        elif first <= self.offset:
            # replaces all the unstable part (and a suffix of the storage's log)
            self.offset = first
            self.unstable = entries
        else:
            del self.unstable[first - self.offset:]
            self.unstable.extend(entries)

    def find_conflict(self, entries) -> int:
        """The index of the first entry whose term differs from ours (or that we do
        not have); 0 if we have them all."""
        for e in entries:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The last index <= ``index`` whose term is <= ``term``, and that term: no
        entry after it can match a log whose entry at ``index`` has ``term``."""
        while index > 0:
            try:
                our = self.term(index)
            except (Compacted, Unavailable):
                return index, 0
            if our <= term:
                return index, our
            index -= 1
        return 0, 0

    def maybe_append(self, index: int, log_term: int, committed: int, entries) -> int | None:
        """A leader's APP: if our entry at ``index`` has ``log_term``, append what is new
        in ``entries``, advance the commit and return the last index the APP covers;
        else None (the leader must go back)."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            assert conflict > self.committed, (
                f"entry {conflict} conflicts with committed entry (commit {self.committed})")
            self.append(entries[conflict - index - 1:])
        self.commit_to(min(committed, last_new))
        return last_new

    # ---- commit and apply ------------------------------------------------------------

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            assert index <= self.last_index(), (
                f"commit {index} is out of range [last index {self.last_index()}]")
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit ``index`` if it is newer and its entry is of ``term`` (a leader only
        commits entries of its own term by counting replicas)."""
        if index > self.committed and self.term_or_zero(index) == term:
            self.commit_to(index)
            return True
        return False

    def applied_to(self, index: int) -> None:
        if not index:
            return
        assert self.applied <= index <= self.committed, (
            f"applied {index} out of range [{self.applied}, {self.committed}]")
        self.applied = index

    def has_next_committed_entries(self) -> bool:
        return self.committed > self.applied and self.applied + 1 >= self.first_index()

    def next_committed_entries(self, max_bytes: int) -> list[Entry]:
        """Committed entries not applied yet, up to ``max_bytes`` (at least one)."""
        if not self.has_next_committed_entries():
            return []
        return self.slice(self.applied + 1, self.committed + 1, max_bytes)

    # ---- persisting ------------------------------------------------------------------

    def unstable_entries(self) -> list[Entry]:
        return list(self.unstable)

    def stable_to(self, index: int, term: int) -> None:
        """The host persisted entries up to ``index`` (whose term was ``term``)."""
        if not self.unstable or index < self.offset:
            return
        if self.term_or_zero(index) != term:
            return  # replaced by a newer append since: still unstable
        del self.unstable[:index + 1 - self.offset]
        self.offset = index + 1

    def stable_snap_to(self, index: int) -> None:
        snap = self.unstable_snapshot
        if snap is not None and snap.meta.index == index:
            self.unstable_snapshot = None

    def snapshot(self) -> Snapshot:
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot
        return self.storage.snapshot()

    def restore(self, snap: Snapshot) -> None:
        """Replace the log with the leader's snapshot."""
        self.committed = snap.meta.index
        self.unstable_snapshot = snap
        self.unstable = []
        self.offset = snap.meta.index + 1

    # ---- reading ---------------------------------------------------------------------

    def entries(self, lo: int, max_bytes: int = NO_LIMIT) -> list[Entry]:
        if lo > self.last_index():
            return []
        return self.slice(lo, self.last_index() + 1, max_bytes)

    def slice(self, lo: int, hi: int, max_bytes: int = NO_LIMIT) -> list[Entry]:
        """Entries [lo, hi) up to ``max_bytes`` (at least one if lo < hi); raises
        Compacted if ``lo`` is in the snapshot."""
        if lo < self.first_index():
            raise Compacted(lo)
        assert hi <= self.last_index() + 1, f"slice [{lo}, {hi}) beyond last {self.last_index()}"
        if lo >= hi:
            return []
        out: list[Entry] = []
        if lo < self.offset:
            out = self.storage.entries(lo, min(hi, self.offset), max_bytes)
            if len(out) < min(hi, self.offset) - lo:
                return out  # the byte limit stopped it
        if hi > self.offset:
            out += self.unstable[max(lo, self.offset) - self.offset:hi - self.offset]
        return limit_size(out, max_bytes)

    def all_entries(self) -> list[Entry]:
        return self.entries(self.first_index())
