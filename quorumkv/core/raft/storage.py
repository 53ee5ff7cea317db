"""MemoryStorage: the stable log of one group, in memory (tests and scenarios).

It implements ``types.LogStorage`` the way the host's engine-backed log does: the
entries after the last snapshot, the hard state, the snapshot itself and the
membership as of the applied index. The host writes it as a ``Ready`` says
(``apply_snapshot``, ``append``, ``set_hard_state``), records the ConfState each
applied conf change returns (``set_conf_state``: ``initial_state`` gives it back at
a restart, which does not apply those entries again), and compacts it when the
state machine has a snapshot (``create_snapshot``, then ``compact``).

``_ents[0]`` is a dummy entry that stands for the snapshot: its index and term are
the snapshot's, so ``term(first_index() - 1)`` answers without a special case.
"""

from __future__ import annotations

from .types import (
    EMPTY_HARD_STATE, Compacted, ConfState, Entry, HardState, Snapshot, SnapshotMeta,
    Unavailable,
)


class MemoryStorage:
    def __init__(self, conf_state: ConfState = ConfState()) -> None:
        self.hard_state: HardState = EMPTY_HARD_STATE
        self._snapshot = Snapshot(SnapshotMeta(0, 0, conf_state))
        self._ents: list[Entry] = [Entry(0, 0)]
        self.conf_state = conf_state  # as of the state machine's applied index

    # ---- LogStorage ------------------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self.conf_state

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise Compacted(index)
        if index > self.last_index():
            raise Unavailable(index)
        return self._ents[index - offset].term

    def entries(self, lo: int, hi: int, max_bytes: int) -> list[Entry]:
        """Entries [lo, hi) up to ``max_bytes`` (at least one)."""
        offset = self._ents[0].index
        if lo <= offset:
            raise Compacted(lo)
        if hi > self.last_index() + 1:
            raise Unavailable(hi)
        return limit_size(self._ents[lo - offset:hi - offset], max_bytes)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # ---- what the host writes --------------------------------------------------------

    def set_hard_state(self, hs: HardState) -> None:
        self.hard_state = hs

    def set_conf_state(self, cs: ConfState) -> None:
        """The host applied a conf change: a restart (at that applied index) must
        start from this membership, since it does not apply the entry again."""
        self.conf_state = cs

    def append(self, entries) -> None:
        """Append, replacing any suffix the new entries conflict with; entries at
        compacted indexes are ignored (they are in the snapshot already)."""
        if not entries:
            return
        first = self.first_index()
        entries = [e for e in entries if e.index >= first]
        if not entries:
            return
        start = entries[0].index
        assert start <= self.last_index() + 1, f"gap: appending {start} after {self.last_index()}"
        del self._ents[start - self._ents[0].index:]
        self._ents.extend(entries)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace everything with ``snap`` (a follower restored from its leader)."""
        if snap.meta.index <= self._snapshot.meta.index:
            return  # older than what we have: nothing to do
        self._snapshot = snap
        self._ents = [Entry(snap.meta.term, snap.meta.index)]
        self.conf_state = snap.meta.conf_state

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes = b"") -> Snapshot:
        """Record a snapshot of the state machine as of ``index`` (applied by the host)."""
        if index <= self._snapshot.meta.index:
            return self._snapshot
        assert index <= self.last_index(), f"snapshot {index} beyond last {self.last_index()}"
        meta = SnapshotMeta(index, self.term(index), conf_state)
        self._snapshot = Snapshot(meta, data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Drop the entries up to ``index`` (the snapshot must cover them)."""
        offset = self._ents[0].index
        if index <= offset:
            return
        assert index <= self.last_index(), f"compact {index} beyond last {self.last_index()}"
        self._ents = [Entry(self.term(index), index)] + self._ents[index - offset + 1:]


def limit_size(entries, max_bytes: int) -> list[Entry]:
    """The longest prefix within ``max_bytes``, but never fewer than one entry."""
    if not entries:
        return []
    size = entries[0].size()
    n = 1
    while n < len(entries):
        size += entries[n].size()
        if size > max_bytes:
            break
        n += 1
    return list(entries[:n])
