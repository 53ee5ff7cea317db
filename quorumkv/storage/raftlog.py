"""Raft logs and hard state of many groups in one engine, one write per loop turn.

How it works. A node holds one Raft group per range of a strong keyspace it
replicates, plus the metadata group (group id ``keys.METADATA_GROUP_ID``, 0; a
range's group id is its range id). All their logs live in the node's one plain
engine (storage/engine.py: RocksDB, or the simulation's MemEngine), as system
records (core/keys.py):

    ff ff 'L' <group> <index>   one entry: term ++ type ++ data
    ff ff 'R' <group>           hard state, conf state, snapshot meta

:class:`RaftLogStore` owns them. ``store.group(id)`` is the group's
:class:`GroupLog`, the ``LogStorage`` (core/raft/types.py) its Raft core reads:
the first and last index and the hard state are kept in memory, and so is a
bounded tail of recent entries (what a leader sends to its followers), so that
``term(i)`` and ``entries()`` on the hot path do not read the engine; older
entries are read from it.

Writes go through a :class:`WriteBatch`: the host puts the Ready of every group
of a loop turn into one batch (``append``, ``set_hard_state``, ``apply_snapshot``,
``compact``, ``destroy``, and its own ``put`` / ``delete`` of state-machine keys,
so an applied index can go with its data), then commits it as ONE engine write
with ONE sync: ``batch.commit(sync=True)`` on the caller's thread, or
``await store.commit_async(batch)``, which writes on the loop and syncs off it
(as the eventual layer does for ``fsync = always``), so the loop keeps running
during the fsync; on the simulation's MemEngine the sync takes virtual time and a
crash before it completes loses the batch. The in-memory view of a group changes
only once its batch is durable (``commit``: written), so a core never reads an
entry it could lose.

One batch at a time: a batch is built over the store's state as it was when the
batch was made and checks, within itself, each operation against the ones before
it; committing a batch made before another batch's commit (or during one) is
refused. A failed write or sync leaves the engine in a state the view may not
match: the store then refuses every further batch (the node must restart; as
etcd, it does not retry an fsync), and so does a commit_async cancelled before
its sync completed. While ``commit_async`` runs, a read of an
index the batch overwrites may see the old or the new entry in the engine (the
core reads such indexes from its own unstable log, never from storage).

Snapshots: the data of a state-machine snapshot is the range's span in the same
engine, produced by the host; :meth:`GroupLog.snapshot` returns the meta of the
snapshot the group last installed or compacted to, with empty data, unless the
host set a source (:meth:`GroupLog.set_snapshot_source`) that builds a real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import struct
from dataclasses import dataclass, field

import msgpack

from ..core import keys
from ..core.raft.types import (EMPTY_HARD_STATE, Compacted, ConfState, Entry, EntryType,
                               HardState, Snapshot, SnapshotMeta, Unavailable)
from .engine import StorageError

# per group: the tail a leader sends to followers that keep up (a lagging one is
# served from the engine); the memory bound is groups x MAX_CACHED_BYTES
MAX_CACHED_ENTRIES = 256
MAX_CACHED_BYTES = 256 << 10  # by Entry.size()
STATE_FORMAT = 1            # the first field of an 'R' record

_ENTRY_HEAD = struct.Struct(">QB")  # term, type; the data follows
_NORMAL = EntryType.NORMAL


# ---- record encoding ---------------------------------------------------------------

def encode_entry(entry: Entry) -> bytes:
    return _ENTRY_HEAD.pack(entry.term, entry.type) + entry.data


def decode_entry(index: int, raw: bytes) -> Entry:
    term, type_ = _ENTRY_HEAD.unpack_from(raw)
    return Entry(term, index, raw[_ENTRY_HEAD.size:], _NORMAL if type_ == 0 else EntryType(type_))


@functools.lru_cache(maxsize=1024)
def _conf_plain(cs: ConfState) -> tuple:
    """Cached: a group's membership rarely changes, its hard state every turn."""
    return (sorted(cs.voters), sorted(cs.learners), sorted(cs.voters_outgoing),
            sorted(cs.learners_next), cs.auto_leave)


def _conf_of(plain: list) -> ConfState:
    voters, learners, outgoing, learners_next, auto_leave = plain
    return ConfState(frozenset(voters), frozenset(learners), frozenset(outgoing),
                     frozenset(learners_next), auto_leave)


@dataclass(slots=True)
class GroupState:
    """What a group's 'R' record holds, and its last index (found in the log)."""
    hard_state: HardState = EMPTY_HARD_STATE
    conf_state: ConfState = ConfState()
    snap: SnapshotMeta = SnapshotMeta()  # index and term just before the first entry
    last: int = 0

    def copy(self) -> "GroupState":
        return GroupState(self.hard_state, self.conf_state, self.snap, self.last)


def encode_state(state: GroupState) -> bytes:
    hs, snap = state.hard_state, state.snap
    return msgpack.packb([STATE_FORMAT, [hs.term, hs.vote, hs.commit],
                          _conf_plain(state.conf_state),
                          [snap.index, snap.term, _conf_plain(snap.conf_state)]])


def decode_state(raw: bytes) -> GroupState:
    fmt, (term, vote, commit), conf, (index, snap_term, snap_conf) = msgpack.unpackb(raw)
    if fmt != STATE_FORMAT:
        raise StorageError(f"Raft state record of format {fmt}, not {STATE_FORMAT}")
    return GroupState(HardState(term, vote, commit), _conf_of(conf),
                      SnapshotMeta(index, snap_term, _conf_of(snap_conf)), index)


# ---- reading: one group's log ------------------------------------------------------

class GroupLog:
    """One group's stable log: ``LogStorage`` for its Raft core. Read-only: the
    store's write batches change it."""

    def __init__(self, store: "RaftLogStore", group_id: int, state: GroupState,
                 persisted: bool) -> None:
        self.group_id = group_id
        self.persisted = persisted  # it has an 'R' record (store.groups() lists it)
        self._store = store
        self._state = state
        self._cache: list[Entry] = []  # contiguous, ending at the last index
        self._cache_bytes = 0
        self._source = None

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._state.hard_state, self._state.conf_state

    def first_index(self) -> int:
        return self._state.snap.index + 1

    def last_index(self) -> int:
        return self._state.last

    def term(self, index: int) -> int:
        snap = self._state.snap
        if index <= snap.index:
            if index == snap.index:
                return snap.term
            raise Compacted(f"group {self.group_id}: index {index} is compacted "
                            f"(first index {snap.index + 1})")
        if index > self._state.last:
            raise Unavailable(f"group {self.group_id}: index {index} is beyond the "
                              f"last index {self._state.last}")
        cache = self._cache
        if cache and index >= cache[0].index:
            return cache[index - cache[0].index].term
        raw = self._store.engine.get(keys.raft_log_key(self.group_id, index))
        if raw is None:
            raise StorageError(f"group {self.group_id}: entry {index} is missing")
        return _ENTRY_HEAD.unpack_from(raw)[0]

    def entries(self, lo: int, hi: int, max_bytes: int) -> list[Entry]:
        """Entries ``[lo, hi)``: the first one always, then as many as keep the
        total ``Entry.size()`` within ``max_bytes``."""
        if lo <= self._state.snap.index:
            raise Compacted(f"group {self.group_id}: index {lo} is compacted "
                            f"(first index {self.first_index()})")
        if hi > self._state.last + 1:
            raise Unavailable(f"group {self.group_id}: entries up to {hi - 1} asked, "
                              f"the last index is {self._state.last}")
        if lo >= hi:
            return []
        cache = self._cache
        cache_lo = cache[0].index if cache else self._state.last + 1
        stored = self._stored(lo, min(hi, cache_lo)) if lo < cache_lo else ()
        cached = cache[max(lo, cache_lo) - cache_lo:hi - cache_lo] if hi > cache_lo else ()
        out, total = [], 0
        for entry in itertools.chain(stored, cached):
            total += entry.size()
            if out and total > max_bytes:
                break
            out.append(entry)
        return out

    def snapshot(self) -> Snapshot:
        """The host's snapshot if it set a source, else the meta of the snapshot
        this group last installed or compacted to, with no data."""
        if self._source is not None:
            return self._source()
        return Snapshot(self._state.snap)

    def set_snapshot_source(self, source) -> None:
        """``source()`` returns a :class:`Snapshot` of the state machine (the
        range's data read from the engine) or raises
        SnapshotTemporarilyUnavailable; in memory only: set again after a restart."""
        self._source = source

    def _stored(self, lo: int, hi: int):
        """Entries ``[lo, hi)`` read from the engine, lazily: a caller that stops
        early (``max_bytes``) reads no further."""
        expect = lo
        for key, raw in self._store.engine.iter_span(*keys.raft_log_span(self.group_id, lo, hi)):
            index = keys.raft_log_index(key)
            if index != expect:
                break
            yield decode_entry(index, raw)
            expect += 1
        if expect != hi:
            raise StorageError(f"group {self.group_id}: entry {expect} is missing")

    # ---- the view, changed only by a durable batch ---------------------------------

    def _install(self, draft: "_Draft", max_entries: int, max_bytes: int) -> None:
        for op, arg in draft.ops:
            if op == "append":
                self._cache_append(arg)
            elif op == "compact":
                self._cache_drop_through(arg)
            else:  # "reset": the log restarts (snapshot installed, group destroyed)
                self._cache, self._cache_bytes = [], 0
        self._state = draft.state
        self.persisted = draft.persisted
        self._trim(max_entries, max_bytes)

    def _cache_append(self, entries: list[Entry]) -> None:
        cache = self._cache
        if cache and entries[0].index <= cache[-1].index:  # a conflicting suffix
            keep = max(0, entries[0].index - cache[0].index)
            self._cache_bytes -= sum(e.size() for e in cache[keep:])
            del cache[keep:]
        assert not cache or cache[-1].index + 1 == entries[0].index, "a gap in the cache"
        cache.extend(entries)
        self._cache_bytes += sum(e.size() for e in entries)

    def _cache_drop_through(self, index: int) -> None:
        cache = self._cache
        if cache and cache[0].index <= index:
            n = min(len(cache), index - cache[0].index + 1)
            self._cache_bytes -= sum(e.size() for e in cache[:n])
            del cache[:n]

    def _trim(self, max_entries: int, max_bytes: int) -> None:
        cache = self._cache
        if len(cache) <= max_entries and self._cache_bytes <= max_bytes:
            return
        n = 0
        while n < len(cache) and (len(cache) - n > max_entries or self._cache_bytes > max_bytes):
            self._cache_bytes -= cache[n].size()
            n += 1
        del cache[:n]


# ---- writing: one batch for every group of a loop turn -----------------------------

@dataclass(slots=True)
class _Draft:
    """A group's state as the batch leaves it so far, and what its cache must do
    once the batch is durable."""
    state: GroupState
    persisted: bool                 # an 'R' record exists once the batch is written
    dirty: bool = False             # the batch must write the 'R' record
    # ("append", entries) | ("compact", index) | ("reset", None), in batch order
    ops: list = field(default_factory=list)


class WriteBatch:
    """The writes of one loop turn, for any number of groups, as one engine batch.
    ``put`` / ``delete`` / ``delete_range`` add the caller's own records (a state
    machine's data and applied index) to the same engine write."""

    def __init__(self, store: "RaftLogStore") -> None:
        self.raw = store.engine.batch()
        self._store = store
        self._made_at = store._commits
        self._drafts: dict[int, _Draft] = {}
        self.sealed = False

    def groups(self) -> list[int]:
        """The ids of the groups this batch changes."""
        return sorted(self._drafts)

    def put(self, skey: bytes, value: bytes) -> None:
        self.raw.put(skey, value)

    def delete(self, skey: bytes) -> None:
        self.raw.delete(skey)

    def delete_range(self, lo: bytes, hi: bytes) -> None:
        """Delete ``[lo, hi)``: one keyspace's span at most (as the engine's)."""
        keys.span_keyspace(lo, hi)
        self.raw.delete_range(lo, hi)

    def append(self, group_id: int, entries) -> None:
        """Append ``entries`` (consecutive indexes) to the group's log. Entries from
        an index the log already holds replace it and everything after it (the
        conflicting suffix, decided by the core); entries at or below the first
        index minus one are compacted already and skipped. A gap is a ValueError."""
        entries = list(entries)
        if not entries:
            return
        first = entries[0].index
        if any(e.index != first + i for i, e in enumerate(entries)):
            raise ValueError(f"group {group_id}: entries to append are not consecutive")
        draft = self._draft(group_id)
        state = draft.state
        if first > state.last + 1:
            raise ValueError(f"group {group_id}: entry {first} appended after the last "
                             f"index {state.last} leaves a gap")
        entries = entries[max(0, state.snap.index + 1 - first):]
        if not entries:
            return
        put, log_key = self.raw.put, keys.raft_log_key
        for entry in entries:
            put(log_key(group_id, entry.index), encode_entry(entry))
        new_last = entries[-1].index
        if new_last < state.last:  # the old suffix beyond the new entries goes
            self.raw.delete_range(*keys.raft_log_span(group_id, new_last + 1, state.last + 1))
        state.last = new_last
        draft.ops.append(("append", entries))
        if not draft.persisted:
            draft.dirty = True  # a new group: its 'R' record makes it found at restart

    def set_hard_state(self, group_id: int, hard_state: HardState) -> None:
        draft = self._draft(group_id)
        draft.state.hard_state = hard_state
        draft.dirty = True

    def set_conf_state(self, group_id: int, conf_state: ConfState) -> None:
        """The membership the group's state machine applied (a conf change entry),
        returned by ``initial_state`` after a restart."""
        draft = self._draft(group_id)
        draft.state.conf_state = conf_state
        draft.dirty = True

    def apply_snapshot(self, group_id: int, meta: SnapshotMeta) -> None:
        """The group installed a snapshot at ``meta``: every entry goes, and the log
        restarts after ``meta.index`` (first index ``meta.index + 1``) with the
        snapshot's membership. The host writes the snapshot's data itself. A
        snapshot no newer than the group's is a ValueError."""
        draft = self._draft(group_id)
        if meta.index <= draft.state.snap.index:
            raise ValueError(f"group {group_id}: snapshot at {meta.index} is out of date "
                             f"(the log starts after {draft.state.snap.index})")
        self.raw.delete_range(*keys.raft_log_span(group_id))
        draft.state = GroupState(draft.state.hard_state, meta.conf_state, meta, meta.index)
        draft.ops.append(("reset", None))
        draft.dirty = True

    def compact(self, group_id: int, index: int, conf_state: ConfState | None = None) -> None:
        """Drop the group's entries up to ``index`` (applied and in the state
        machine): one range delete; the first index becomes ``index + 1`` and the
        snapshot meta ``(index, term(index), conf_state or the current membership)``.
        An index compacted already changes nothing (a snapshot installed since may
        have passed it); one beyond the last index raises Unavailable."""
        draft = self._draft(group_id)
        state = draft.state
        if index <= state.snap.index:
            return
        if index > state.last:
            raise Unavailable(f"group {group_id}: cannot compact to {index}, the last "
                              f"index is {state.last}")
        term = self._term(group_id, draft, index)
        self.raw.delete_range(*keys.raft_log_span(group_id, 0, index + 1))
        cs = conf_state if conf_state is not None else state.conf_state
        state.snap = SnapshotMeta(index, term, cs)
        draft.ops.append(("compact", index))
        draft.dirty = True

    def destroy(self, group_id: int) -> None:
        """Drop the whole group (its range was removed here): log and state."""
        draft = self._draft(group_id)
        self.raw.delete_range(*keys.raft_log_span(group_id))
        self.raw.delete(keys.raft_state_key(group_id))
        draft.state = GroupState()
        draft.ops.append(("reset", None))
        draft.dirty = draft.persisted = False

    def commit(self, sync: bool = True) -> None:
        """:meth:`RaftLogStore.commit` of this batch."""
        self._store.commit(self, sync)

    def _draft(self, group_id: int) -> _Draft:
        draft = self._drafts.get(group_id)
        if draft is None:
            group = self._store.group(group_id)
            draft = _Draft(group._state.copy(), group.persisted)
            self._drafts[group_id] = draft
        return draft

    def _term(self, group_id: int, draft: _Draft, index: int) -> int:
        """The term at ``index`` (in the draft's log) as this batch leaves it: the
        latest of its appends that wrote the index, else the stored log's."""
        for op, arg in reversed(draft.ops):
            if op == "append" and arg[0].index <= index <= arg[-1].index:
                return arg[index - arg[0].index].term
            # after a reset every index above the snapshot was appended since
            assert op != "reset", f"group {group_id}: no term for {index} after a reset"
        return self._store.group(group_id).term(index)

    def _seal(self) -> None:
        """The 'R' records of the groups whose state changed, last in the batch."""
        assert not self.sealed, "a batch is committed once"
        self.sealed = True
        for group_id, draft in self._drafts.items():
            if draft.dirty:
                self.raw.put(keys.raft_state_key(group_id), encode_state(draft.state))
                draft.persisted = True


# ---- the store -----------------------------------------------------------------

class RaftLogStore:
    """The Raft logs of every group on a node, over one plain engine. A new store
    over an engine that holds logs finds them all (``groups()``)."""

    def __init__(self, engine, max_cached_entries: int = MAX_CACHED_ENTRIES,
                 max_cached_bytes: int = MAX_CACHED_BYTES) -> None:
        self.engine = engine
        self.max_cached_entries = max_cached_entries
        self.max_cached_bytes = max_cached_bytes
        self._groups: dict[int, GroupLog] = {}
        self._commits = 0        # batches committed: a batch made before one is stale
        self._in_flight = False  # a commit_async is waiting for its sync
        self._failed: StorageError | None = None
        self._load()

    def groups(self) -> list[int]:
        """The ids of the groups with a stored state, ascending."""
        return sorted(gid for gid, group in self._groups.items() if group.persisted)

    def group(self, group_id: int) -> GroupLog:
        """The group's log (empty for a group with nothing stored yet)."""
        group = self._groups.get(group_id)
        if group is None:
            group = GroupLog(self, keys.check_group_id(group_id), GroupState(), False)
            self._groups[group_id] = group
        return group

    def write_batch(self) -> WriteBatch:
        if self._failed is not None:
            raise self._failed
        return WriteBatch(self)

    def commit(self, batch: WriteBatch, sync: bool = True) -> None:
        """Write ``batch`` in one engine write (synced if ``sync``) on the
        caller's thread, then change the view."""
        self._begin(batch)
        with self._final_on_failure():
            self.engine.write(batch.raw, sync)
        self._install(batch)

    async def commit_async(self, batch: WriteBatch) -> None:
        """Write ``batch`` in one engine write on the loop, then sync it off the
        loop (``engine.synced``: an executor thread for RocksDB, virtual time in
        the simulation) and only then change the view. The loop runs meanwhile."""
        self._begin(batch)
        self._in_flight = True
        try:
            with self._final_on_failure():
                self.engine.write(batch.raw, False)
                await self.engine.synced(asyncio.get_running_loop())
        finally:
            self._in_flight = False
        self._install(batch)

    def _begin(self, batch: WriteBatch) -> None:
        if self._failed is not None:
            raise self._failed
        if batch._store is not self:
            raise RuntimeError("a batch of another Raft log store")
        if self._in_flight or batch._made_at != self._commits:
            raise RuntimeError("a batch made before another batch's commit (or during "
                               "it) is stale: make one batch per loop turn")
        batch._seal()

    @contextlib.contextmanager
    def _final_on_failure(self):
        """A write or sync that failed, or a commit_async cancelled in its sync,
        may have left the engine ahead of the view: no batch after it."""
        try:
            yield
        except StorageError as exc:
            self._failed = exc
            raise
        except Exception as exc:
            self._failed = StorageError(f"Raft log write failed: {exc}")
            raise self._failed from exc
        except BaseException:
            self._failed = StorageError("a Raft log commit was cancelled before its sync")
            raise

    def _install(self, batch: WriteBatch) -> None:
        self._commits += 1
        for group_id, draft in batch._drafts.items():
            self.group(group_id)._install(draft, self.max_cached_entries, self.max_cached_bytes)

    def _load(self) -> None:
        """Every stored group's state, and its last index from the end of its log,
        all read from one snapshot of the engine."""
        snap = self.engine.snapshot()
        records = list(snap.iter_span(*keys.prefix_span(keys.all_raft_states_prefix())))
        for key, raw in records:
            group_id = keys.raft_state_group(key)
            state = decode_state(raw)
            last_key = _last_key(snap, *keys.raft_log_span(group_id))
            if last_key is not None:
                state.last = max(state.last, keys.raft_log_index(last_key))
            self._groups[group_id] = GroupLog(self, group_id, state, True)


def _last_key(snap, lo: bytes, hi: bytes) -> bytes | None:
    """The highest key of ``[lo, hi)`` in ``snap``; a snapshot without a reverse
    iterator (the simulation's) is read forward: its spans are small."""
    reverse = getattr(snap, "iter_span_reverse", None)
    if reverse is not None:
        for key, _ in reverse(lo, hi):
            return key
        return None
    last = None
    for key, _ in snap.iter_span(lo, hi):
        last = key
    return last
