"""Raft logs in the engine (storage/raftlog.py).

First a conformance suite for ``LogStorage`` (core/raft/types.py), run against
every implementation in ``HARNESSES`` (a harness is the log plus four writes;
core/raft/storage.py's MemoryStorage joins once that module exists); then what only
the engine-backed store does: many groups in one write and one sync, a view that
changes only once durable, crashes, restarts, a bounded cache; last, Hypothesis
against a plain list.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumkv.core import keys
from quorumkv.core.raft.types import (Compacted, Config, ConfState, Entry, EntryType,
                                      HardState, Snapshot, SnapshotMeta, Unavailable)
from quorumkv.sim.loop import SimLoop
from quorumkv.sim.storage import SYNC_DELAY_S, MemEngine
from quorumkv.storage.engine import RocksEngine, StorageError
from quorumkv.storage.raftlog import RaftLogStore, decode_entry, encode_entry

GROUP = 7


def ents(first: int, last: int, term: int, size: int = 0) -> list[Entry]:
    return [Entry(term, i, bytes([i % 256]) * size) for i in range(first, last + 1)]


# ---- harnesses: one LogStorage and the writes the suite needs ------------------------

class RaftLogHarness:
    """A group of a RaftLogStore; each write is one committed batch."""

    def __init__(self, engine, **limits) -> None:
        self.engine = engine
        self.store = RaftLogStore(engine, **limits)
        self.log = self.store.group(GROUP)

    def _commit(self, op, *args) -> None:
        batch = self.store.write_batch()
        getattr(batch, op)(GROUP, *args)
        batch.commit()

    def append(self, entries) -> None:
        self._commit("append", entries)

    def set_hard_state(self, hs: HardState) -> None:
        self._commit("set_hard_state", hs)

    def apply_snapshot(self, meta: SnapshotMeta) -> None:
        self._commit("apply_snapshot", meta)

    def compact(self, index: int) -> None:
        self._commit("compact", index)


class MemoryStorageHarness:
    """core/raft/storage.py's MemoryStorage (on the Raft core's branch), written
    as the host writes it: a compaction is a snapshot created, then compact."""

    def __init__(self) -> None:
        from quorumkv.core.raft.storage import MemoryStorage
        self.log = MemoryStorage()

    def append(self, entries) -> None:
        self.log.append(list(entries))

    def set_hard_state(self, hs: HardState) -> None:
        self.log.set_hard_state(hs)

    def apply_snapshot(self, meta: SnapshotMeta) -> None:
        self.log.apply_snapshot(Snapshot(meta))

    def compact(self, index: int) -> None:
        self.log.create_snapshot(index, self.log.initial_state()[1])
        self.log.compact(index)


HARNESSES = {
    "raftlog-mem": lambda tmp_path: RaftLogHarness(MemEngine()),
    # a cache of two entries: most reads go to the engine
    "raftlog-mem-tiny-cache": lambda tmp_path: RaftLogHarness(MemEngine(), max_cached_entries=2),
    "raftlog-rocks": lambda tmp_path: RaftLogHarness(RocksEngine(str(tmp_path / "db")),
                                                   max_cached_entries=2),
}
if importlib.util.find_spec("quorumkv.core.raft.storage") is not None:
    HARNESSES["memory-storage"] = lambda tmp_path: MemoryStorageHarness()


@pytest.fixture(params=sorted(HARNESSES))
def h(request, tmp_path):
    harness = HARNESSES[request.param](tmp_path)
    yield harness
    close = getattr(getattr(harness, "engine", None), "close", None)
    if close:
        close()


def read_all(log) -> list[Entry]:
    return log.entries(log.first_index(), log.last_index() + 1, 1 << 30)


# ---- the LogStorage conformance suite -------------------------------------------

def test_an_empty_log(h):
    assert (h.log.first_index(), h.log.last_index()) == (1, 0)
    assert h.log.term(0) == 0
    assert h.log.initial_state() == (HardState(), ConfState())
    with pytest.raises(Unavailable):
        h.log.term(1)
    assert h.log.snapshot().is_empty()


def test_appended_entries_read_back(h):
    h.append(ents(1, 5, 1))
    h.append(ents(6, 8, 2))
    assert (h.log.first_index(), h.log.last_index()) == (1, 8)
    assert [h.log.term(i) for i in range(9)] == [0, 1, 1, 1, 1, 1, 2, 2, 2]
    assert read_all(h.log) == ents(1, 5, 1) + ents(6, 8, 2)
    assert h.log.entries(3, 7, 1 << 20) == ents(3, 5, 1) + ents(6, 6, 2)
    assert h.log.entries(3, 3, 1 << 20) == []


def test_entry_types_and_data_round_trip(h):
    conf = Entry(1, 2, b"\x00cc", EntryType.CONF_CHANGE)
    h.append([Entry(1, 1, b"x" * 300), conf])
    assert read_all(h.log) == [Entry(1, 1, b"x" * 300), conf]


def test_a_conflicting_suffix_is_replaced(h):
    h.append(ents(1, 6, 1))
    h.append(ents(3, 4, 2))  # the core found a conflict at 3
    assert h.log.last_index() == 4
    assert read_all(h.log) == ents(1, 2, 1) + ents(3, 4, 2)
    with pytest.raises(Unavailable):
        h.log.term(5)
    h.append(ents(5, 5, 3))  # index 5 again, of the new term
    assert read_all(h.log) == ents(1, 2, 1) + ents(3, 4, 2) + ents(5, 5, 3)


def test_entries_respect_max_bytes_but_return_at_least_one(h):
    h.append(ents(1, 4, 1, size=84))  # Entry.size() = 100 each
    assert h.log.entries(1, 5, 0) == ents(1, 1, 1, size=84)
    assert h.log.entries(1, 5, 99) == ents(1, 1, 1, size=84)
    assert h.log.entries(1, 5, 200) == ents(1, 2, 1, size=84)
    assert h.log.entries(1, 5, 299) == ents(1, 2, 1, size=84)
    assert h.log.entries(2, 5, 1 << 20) == ents(2, 4, 1, size=84)


def test_compaction_moves_the_first_index_and_keeps_the_boundary_term(h):
    h.append(ents(1, 3, 1) + ents(4, 6, 2))
    h.compact(4)
    assert (h.log.first_index(), h.log.last_index()) == (5, 6)
    assert h.log.term(4) == 2  # the snapshot's term: term(first_index() - 1)
    with pytest.raises(Compacted):
        h.log.term(3)
    with pytest.raises(Compacted):
        h.log.entries(4, 6, 1 << 20)
    with pytest.raises(Unavailable):
        h.log.entries(5, 8, 1 << 20)
    assert read_all(h.log) == ents(5, 6, 2)
    h.compact(3)  # compacted already: nothing changes
    assert (h.log.first_index(), h.log.term(4), read_all(h.log)) == (5, 2, ents(5, 6, 2))


def test_appending_below_the_first_index_skips_the_compacted_part(h):
    h.append(ents(1, 5, 1))
    h.compact(3)
    h.append(ents(2, 6, 1))
    assert (h.log.first_index(), h.log.last_index()) == (4, 6)
    assert read_all(h.log) == ents(4, 6, 1)


def test_hard_state_is_kept(h):
    h.set_hard_state(HardState(term=3, vote="n2", commit=0))
    h.append(ents(1, 2, 3))
    h.set_hard_state(HardState(term=3, vote="n2", commit=2))
    assert h.log.initial_state()[0] == HardState(3, "n2", 2)


def test_an_installed_snapshot_restarts_the_log_after_it(h):
    h.append(ents(1, 4, 1))
    members = ConfState(voters=frozenset({"n1", "n2", "n3"}), learners=frozenset({"n4"}))
    h.apply_snapshot(SnapshotMeta(index=10, term=3, conf_state=members))
    assert (h.log.first_index(), h.log.last_index()) == (11, 10)
    assert h.log.term(10) == 3
    assert h.log.initial_state()[1] == members
    assert h.log.snapshot().meta == SnapshotMeta(10, 3, members)
    with pytest.raises(Compacted):
        h.log.term(4)
    h.append(ents(11, 12, 3))
    assert read_all(h.log) == ents(11, 12, 3)


# ---- the engine-backed store ---------------------------------------------------

class Counting:
    """An engine that counts writes, syncs and reads, and can be made to fail."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.writes: list[bool] = []  # the sync flag of each write
        self.syncs = 0
        self.reads = 0
        self.fail_writes = False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def write(self, batch, sync: bool = False) -> None:
        if self.fail_writes:
            raise StorageError("disk full")
        self.writes.append(sync)
        self.inner.write(batch, sync)

    def synced(self, loop):
        self.syncs += 1
        return self.inner.synced(loop)

    def get(self, skey):
        self.reads += 1
        return self.inner.get(skey)

    def iter_span(self, lo, hi):
        self.reads += 1
        return self.inner.iter_span(lo, hi)


def one_turn(store, groups, index: int, term: int = 1):
    """A loop turn's batch: one 100-byte entry and the hard state of each group."""
    batch = store.write_batch()
    for gid in groups:
        batch.append(gid, [Entry(term, index, b"v" * 84)])
        batch.set_hard_state(gid, HardState(term, "n1", index - 1))
    return batch


def test_many_groups_in_one_batch_are_one_engine_write_with_one_sync():
    engine = Counting(MemEngine())
    store = RaftLogStore(engine)
    batch = one_turn(store, range(1, 33), 1)
    batch.put(keys.storage_key(1, b"applied"), b"\x00" * 8)  # the host's own record
    batch.commit(sync=True)
    assert engine.writes == [True]
    assert store.groups() == list(range(1, 33))
    assert all(store.group(g).last_index() == 1 for g in range(1, 33))
    assert engine.inner.durable[keys.storage_key(1, b"applied")] == b"\x00" * 8

    async def turn():
        await store.commit_async(one_turn(store, range(1, 33), 2))
    SimLoop().run_until_complete(turn())
    assert engine.writes == [True, False] and engine.syncs == 1  # one write, one sync
    assert all(store.group(g).initial_state()[0].commit == 1 for g in range(1, 33))


def test_the_view_changes_only_after_the_write_succeeded_and_a_failure_is_final():
    engine = Counting(MemEngine())
    store = RaftLogStore(engine)
    one_turn(store, [1, 2], 1).commit()
    engine.fail_writes = True
    batch = one_turn(store, [1, 2], 2)
    batch.append(3, ents(1, 1, 1))
    with pytest.raises(StorageError, match="disk full"):
        batch.commit()
    assert [store.group(g).last_index() for g in (1, 2, 3)] == [1, 1, 0]
    assert store.groups() == [1, 2]
    with pytest.raises(StorageError):
        store.write_batch()  # the engine may not match the view: restart


def test_bad_writes_are_refused_and_change_nothing():
    h = RaftLogHarness(MemEngine())
    h.append(ents(1, 3, 1))
    with pytest.raises(ValueError, match="gap"):
        h.append(ents(5, 6, 1))
    with pytest.raises(ValueError, match="not consecutive"):
        h.append([Entry(1, 4), Entry(1, 6)])
    with pytest.raises(Unavailable):
        h.compact(4)
    h.apply_snapshot(SnapshotMeta(index=10, term=3))
    with pytest.raises(ValueError, match="out of date"):
        h.apply_snapshot(SnapshotMeta(index=10, term=3))
    with pytest.raises(ValueError):
        h.store.group(-1)
    assert h.log.entries(12, 11, 1 << 20) == []  # an empty (or reversed) span
    assert (h.log.first_index(), h.log.last_index(), h.log.term(10)) == (11, 10, 3)
    assert RaftLogStore(h.engine).group(GROUP).last_index() == 10


def test_a_batch_made_before_another_commit_is_refused():
    store = RaftLogStore(MemEngine())
    stale = one_turn(store, [1], 1)
    one_turn(store, [1], 1).commit()
    with pytest.raises(RuntimeError, match="stale"):
        stale.commit()
    assert store.group(1).last_index() == 1


def test_operations_in_one_batch_see_the_ones_before_them():
    store = RaftLogStore(MemEngine(), max_cached_entries=3)
    store_batch = store.write_batch()
    store_batch.append(1, ents(1, 6, 1))
    store_batch.append(1, ents(4, 5, 2))  # overwrite inside the batch
    store_batch.compact(1, 4)             # term 2, from this batch's append
    store_batch.append(1, ents(6, 7, 2))
    store_batch.destroy(2)
    store_batch.append(2, ents(1, 1, 5))  # a group made again after its destroy
    with pytest.raises(ValueError, match="gap"):
        store_batch.append(1, ents(9, 9, 2))
    store_batch.commit()
    log = store.group(1)
    assert (log.first_index(), log.last_index(), log.term(4)) == (5, 7, 2)
    assert read_all(log) == ents(5, 5, 2) + ents(6, 7, 2)
    assert read_all(store.group(2)) == ents(1, 1, 5)
    again = RaftLogStore(store.engine)
    assert read_all(again.group(1)) == read_all(log) and again.group(1).term(4) == 2
    assert read_all(again.group(2)) == ents(1, 1, 5)


def test_a_crash_loses_what_was_not_synced():
    engine = MemEngine()
    store = RaftLogStore(engine)
    one_turn(store, [1, 2], 1).commit(sync=True)
    batch = one_turn(store, [2], 2)
    batch.append(3, ents(1, 2, 1))
    batch.compact(1, 1)
    batch.commit(sync=False)
    assert store.group(3).last_index() == 2 and store.group(1).first_index() == 2
    engine.crash()
    after = RaftLogStore(engine)
    assert after.groups() == [1, 2]
    assert [(after.group(g).first_index(), after.group(g).last_index()) for g in (1, 2, 3)] \
        == [(1, 1), (1, 1), (1, 0)]
    assert after.group(2).initial_state()[0] == HardState(1, "n1", 0)


def test_commit_async_syncs_on_virtual_time_and_the_loop_runs_meanwhile():
    loop, engine = SimLoop(), MemEngine()
    store = RaftLogStore(engine)
    seen = []

    async def main():
        task = loop.create_task(store.commit_async(one_turn(store, [1, 2], 1)))
        await asyncio.sleep(SYNC_DELAY_S / 2)  # virtual time: the sync is under way
        seen.append((task.done(), store.group(1).last_index(), engine.durable == {}))
        await task
        seen.append((loop.time() >= SYNC_DELAY_S, store.group(1).last_index()))
    loop.run_until_complete(main())
    assert seen == [(False, 0, True), (True, 1)]
    engine.crash()
    assert RaftLogStore(engine).group(2).last_index() == 1  # synced: it survives


def test_a_crash_during_commit_async_loses_the_batch_and_never_acknowledges_it():
    loop, engine = SimLoop(), MemEngine()
    store = RaftLogStore(engine)
    one_turn(store, [1], 1).commit(sync=True)

    batch = one_turn(store, [1], 2)
    batch.append(2, ents(1, 1, 1))

    async def main():
        task = loop.create_task(store.commit_async(batch))
        loop.call_later(SYNC_DELAY_S / 2, engine.crash)
        await asyncio.sleep(SYNC_DELAY_S * 10)
        return task
    task = loop.run_until_complete(main())
    assert not task.done()  # never acknowledged
    assert store.group(1).last_index() == 1
    after = RaftLogStore(engine)
    assert after.groups() == [1] and after.group(1).last_index() == 1
    task.cancel()
    loop.run_until_complete(asyncio.sleep(0))


def test_a_commit_async_cancelled_during_its_sync_stops_the_store():
    loop, engine = SimLoop(), MemEngine()
    store = RaftLogStore(engine)

    async def main():
        task = loop.create_task(store.commit_async(one_turn(store, [1], 1)))
        await asyncio.sleep(SYNC_DELAY_S / 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    loop.run_until_complete(main())
    assert store.group(1).last_index() == 0  # not durable: never in the view
    with pytest.raises(StorageError, match="cancelled"):
        store.write_batch()  # the engine holds the batch, the view does not


class GatedRocks(RocksEngine):
    """A RocksEngine whose WAL sync waits for the test to open a gate (bounded)."""

    gate: threading.Event

    def sync_wal(self) -> None:
        assert self.gate.wait(10), "the test never opened the gate"
        super().sync_wal()


def test_commit_async_on_rocksdb_syncs_off_the_loop(tmp_path):
    engine = GatedRocks(str(tmp_path / "db"))
    engine.gate = threading.Event()
    store = RaftLogStore(engine)
    seen = []

    async def main():
        task = asyncio.get_running_loop().create_task(
            store.commit_async(one_turn(store, range(1, 5), 1)))
        for _ in range(20):  # loop turns while the sync thread waits at the gate
            await asyncio.sleep(0)
        seen.append((task.done(), store.group(1).last_index()))
        engine.gate.set()
        await task
        seen.append((task.done(), store.group(1).last_index()))
    asyncio.run(main())
    engine.close()
    assert seen == [(False, 0), (True, 1)]
    reopened = RocksEngine(str(tmp_path / "db"))
    try:
        assert RaftLogStore(reopened).groups() == [1, 2, 3, 4]
    finally:
        reopened.close()


def _state_of(store):
    return {g: (store.group(g).initial_state(), store.group(g).first_index(),
                store.group(g).last_index(), store.group(g).snapshot(),
                read_all(store.group(g)))
            for g in store.groups()}


def test_a_reopened_rocksdb_store_finds_every_group_exactly(tmp_path):
    engine = RocksEngine(str(tmp_path / "db"))
    store = RaftLogStore(engine)
    members = ConfState(voters=frozenset({"n1", "n2"}), voters_outgoing=frozenset({"n1", "n3"}),
                        learners_next=frozenset({"n3"}), auto_leave=True)
    batch = store.write_batch()
    for gid in (keys.METADATA_GROUP_ID, 1, 2, 3, keys.MAX_GROUP_ID):
        batch.append(gid, ents(1, 20, 1, size=gid % 50))
        batch.set_hard_state(gid, HardState(2, f"n{gid % 3}", 15))
    batch.set_conf_state(1, members)
    batch.compact(2, 10)
    batch.apply_snapshot(3, SnapshotMeta(30, 2, members))
    batch.commit()
    batch = store.write_batch()
    batch.destroy(1)
    batch.append(2, ents(15, 16, 2))
    batch.commit()
    expected = _state_of(store)
    engine.close()
    engine = RocksEngine(str(tmp_path / "db"))
    try:
        again = RaftLogStore(engine)
        assert again.groups() == [0, 2, 3, keys.MAX_GROUP_ID]
        assert _state_of(again) == expected
        assert again.group(2).term(10) == 1 and again.group(2).last_index() == 16
        assert again.group(3).initial_state()[1] == members
    finally:
        engine.close()


def test_compaction_and_destroy_delete_the_stored_entries():
    engine = MemEngine()
    store = RaftLogStore(engine)
    one_turn(store, [1, 2], 1).commit()
    batch = store.write_batch()
    batch.append(1, ents(2, 9, 1))
    batch.append(2, ents(2, 9, 1))
    batch.commit()
    batch = store.write_batch()
    batch.compact(1, 6)
    batch.destroy(2)
    batch.commit()
    assert [keys.raft_log_index(k) for k, _ in engine.iter_span(*keys.raft_log_span(1))] \
        == [7, 8, 9]
    assert list(engine.iter_span(*keys.raft_log_span(2))) == []
    assert engine.get(keys.raft_state_key(2)) is None
    assert store.groups() == [1] and store.group(2).last_index() == 0


def test_the_cache_is_bounded_and_serves_the_tail_without_engine_reads():
    engine = Counting(MemEngine())
    store = RaftLogStore(engine, max_cached_entries=8, max_cached_bytes=1 << 20)
    for i in range(1, 101):
        one_turn(store, [1], i).commit()
    log = store.group(1)
    assert len(log._cache) == 8
    reads = engine.reads
    assert [log.term(i) for i in range(93, 101)] == [1] * 8
    assert len(log.entries(93, 101, 1 << 20)) == 8
    assert engine.reads == reads  # the tail: memory only
    assert log.term(50) == 1 and log.entries(90, 95, 1 << 20)[0].index == 90
    assert engine.reads > reads   # older entries: the engine


def test_the_cache_is_bounded_in_bytes():
    store = RaftLogStore(MemEngine(), max_cached_entries=100, max_cached_bytes=1000)
    batch = store.write_batch()
    batch.append(1, ents(1, 30, 1, size=84))  # 100 bytes each
    batch.commit()
    assert [e.index for e in store.group(1)._cache] == list(range(21, 31))
    assert read_all(store.group(1)) == ents(1, 30, 1, size=84)


def test_a_snapshot_source_gives_the_leader_a_real_snapshot():
    store = RaftLogStore(MemEngine())
    log = store.group(1)
    one_turn(store, [1], 1).commit()
    log.set_snapshot_source(lambda: Snapshot(SnapshotMeta(1, 1), b"state machine"))
    assert log.snapshot() == Snapshot(SnapshotMeta(1, 1), b"state machine")


def test_the_key_layout_of_raft_records():
    assert keys.raft_log_key(5, 9) == b"\xff\xffL" + (5).to_bytes(8, "big") + (9).to_bytes(8, "big")
    assert keys.raft_state_key(5) == b"\xff\xffR" + (5).to_bytes(8, "big")
    for gid in (0, 1, 255, 256, keys.MAX_GROUP_ID):
        lo, hi = keys.raft_log_span(gid)
        assert keys.span_keyspace(lo, hi) == keys.SYSTEM_KEYSPACE_ID  # delete_range admits it
        assert lo <= keys.raft_log_key(gid, keys.MAX_RAFT_INDEX) < hi
        assert not lo <= keys.raft_state_key(gid) < hi
        if gid < keys.MAX_GROUP_ID:
            assert hi <= keys.raft_log_key(gid + 1, 0)
        assert keys.raft_state_group(keys.raft_state_key(gid)) == gid
    with pytest.raises(ValueError):
        keys.check_group_id(-1)
    assert decode_entry(4, encode_entry(Entry(3, 4, b"d", EntryType.CONF_CHANGE))) \
        == Entry(3, 4, b"d", EntryType.CONF_CHANGE)


# ---- Hypothesis: random appends, overwrites, compactions, snapshots, restarts --------

class Oracle:
    """The log as a plain list, and the snapshot point before it."""

    def __init__(self) -> None:
        self.snap_index, self.snap_term, self.entries = 0, 0, []

    @property
    def last(self) -> int:
        return self.snap_index + len(self.entries)

    def append(self, first: int, terms: list[int]) -> None:
        keep = first - self.snap_index - 1
        self.entries = self.entries[:keep] + [Entry(t, first + i, bytes([t]) * (i % 5))
                                              for i, t in enumerate(terms)]

    def compact(self, index: int) -> None:
        self.snap_term = self.term(index)
        self.entries = self.entries[index - self.snap_index:]
        self.snap_index = index

    def term(self, index: int) -> int:
        if index == self.snap_index:
            return self.snap_term
        return self.entries[index - self.snap_index - 1].term


ops = st.lists(st.tuples(st.sampled_from(["append", "append", "append", "compact",
                                          "snapshot", "destroy", "reopen", "new batch"]),
                         st.sampled_from([GROUP, GROUP + 1]),  # neighbours: no span bleeds
                         st.integers(0, 1000), st.lists(st.integers(1, 9), min_size=1, max_size=6)),
               max_size=40)


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 6))
def test_random_operations_match_a_list(operations, cache_entries):
    engine = MemEngine()
    store = RaftLogStore(engine, max_cached_entries=cache_entries)
    oracles = {GROUP: Oracle(), GROUP + 1: Oracle()}
    batch = store.write_batch()
    for op, gid, pick, terms in operations:
        oracle = oracles[gid]
        if op == "append":
            first = oracle.snap_index + 1 + pick % (oracle.last - oracle.snap_index + 1)
            oracle.append(first, terms)
            batch.append(gid, oracle.entries[first - oracle.snap_index - 1:])
        elif op == "compact":  # at or below the first index - 1: changes nothing
            index = pick % (oracle.last + 1)
            if index > oracle.snap_index:
                oracle.compact(index)
            batch.compact(gid, index)
        elif op == "snapshot":
            oracle.snap_index, oracle.snap_term = oracle.last + 1 + pick % 3, terms[0]
            oracle.entries = []
            batch.apply_snapshot(gid, SnapshotMeta(oracle.snap_index, oracle.snap_term))
        elif op == "destroy":
            oracles[gid] = Oracle()
            batch.destroy(gid)
        else:  # "reopen", "new batch"
            batch.commit(sync=False)
            if op == "reopen":
                store = RaftLogStore(engine, max_cached_entries=cache_entries)
            check_all(store, oracles)
            batch = store.write_batch()
    batch.commit()
    check_all(store, oracles)
    check_all(RaftLogStore(engine), oracles)


def check_all(store, oracles: dict) -> None:
    for gid, oracle in oracles.items():
        check(store.group(gid), oracle)


def check(log, oracle: Oracle) -> None:
    assert (log.first_index(), log.last_index()) == (oracle.snap_index + 1, oracle.last)
    assert [log.term(i) for i in range(oracle.snap_index, oracle.last + 1)] == \
        [oracle.term(i) for i in range(oracle.snap_index, oracle.last + 1)]
    assert read_all(log) == oracle.entries
    for lo in range(oracle.snap_index + 1, oracle.last + 1):
        assert log.entries(lo, oracle.last + 1, 30) == \
            _limited(oracle.entries[lo - oracle.snap_index - 1:], 30)
    if oracle.snap_index > 0:
        with pytest.raises(Compacted):
            log.term(oracle.snap_index - 1)
    with pytest.raises(Unavailable):
        log.term(oracle.last + 1)


def _limited(entries: list[Entry], max_bytes: int) -> list[Entry]:
    out, total = [], 0
    for e in entries:
        total += e.size()
        if out and total > max_bytes:
            break
        out.append(e)
    return out


# ---- with the Raft core (core/raft/rawnode.py, once it is on main) ----------------

class RaftNodes:
    """Nodes driving Raft groups over their RaftLogStores the way the host will:
    per node and turn, every group's Ready in one batch, one commit, then send,
    apply and advance. Messages are delivered at the next turn."""

    def __init__(self, rawnode, nodes, groups) -> None:
        self.rawnode, self.nodes, self.groups = rawnode, nodes, groups
        self.engines = {n: MemEngine() for n in nodes}
        self.inbox = {n: [] for n in nodes}
        self.applied = {(n, g): [] for n in nodes for g in groups}
        self.down: set[str] = set()
        self.rnd = random.Random(1)
        self.store: dict[str, RaftLogStore] = {}
        self.rn: dict = {}  # (node, group) -> RawNode
        for n in nodes:
            self.boot(n, first=True)

    def boot(self, n: str, first: bool = False) -> None:
        store = RaftLogStore(self.engines[n])
        if first:
            batch = store.write_batch()
            for g in self.groups:
                batch.set_conf_state(g, ConfState(voters=frozenset(self.nodes)))
            batch.commit()
        self.store[n] = store
        for g in self.groups:
            self.rn[(n, g)] = self.rawnode.RawNode(Config(id=n), store.group(g), self.rnd)

    def turn(self, n: str) -> None:
        batch, readies = self.store[n].write_batch(), []
        for g, m in self.inbox[n]:
            self.rn[(n, g)].step(m)
        self.inbox[n] = []
        for g in self.groups:  # one batch and one commit for every group
            rn = self.rn[(n, g)]
            rn.tick()
            if rn.has_ready():
                rd = rn.ready()
                if not rd.snapshot.is_empty():
                    batch.apply_snapshot(g, rd.snapshot.meta)
                batch.append(g, rd.entries)
                if rd.hard_state is not None:
                    batch.set_hard_state(g, rd.hard_state)
                readies.append((g, rd))
        self.store[n].commit(batch)
        for g, rd in readies:
            self.inbox_all(g, rd.messages)
            self.applied[(n, g)] += [e.data for e in rd.committed_entries if e.data]
            self.rn[(n, g)].advance(rd)

    def inbox_all(self, g, messages) -> None:
        for m in messages:
            if m.to not in self.down:
                self.inbox[m.to].append((g, m))

    def run(self, turns: int) -> None:
        for _ in range(turns):
            for n in self.nodes:
                if n not in self.down:
                    self.turn(n)

    def leader(self, g):
        leaders = [n for n in self.nodes if n not in self.down
                   and self.rn[(n, g)].status().role.value == "leader"]
        return leaders[0] if leaders else None


def test_raft_groups_run_over_the_store_and_a_restarted_node_catches_up():
    rawnode = pytest.importorskip("quorumkv.core.raft.rawnode")
    c = RaftNodes(rawnode, ["n1", "n2", "n3"], [keys.METADATA_GROUP_ID, 1, 2, 3])
    c.run(60)
    assert all(c.leader(g) for g in c.groups)
    for i in range(30):
        for g in c.groups:
            c.rn[(c.leader(g), g)].propose(b"%d" % i)
        c.run(1)
    c.run(10)
    assert all(c.applied[(n, g)] == [b"%d" % i for i in range(30)]
               for n in c.nodes for g in c.groups)
    c.down.add("n2")
    c.engines["n2"].crash()
    c.run(80)  # new leaders where n2 led
    for i in range(30, 40):
        for g in c.groups:
            c.rn[(c.leader(g), g)].propose(b"%d" % i)
        c.run(1)
    c.run(5)
    for n in ("n1", "n3"):  # compact: n2 can only catch up by snapshot
        batch = c.store[n].write_batch()
        for g in c.groups:
            batch.compact(g, c.rn[(n, g)].status().applied)
        batch.commit()
    c.down.discard("n2")
    c.boot("n2")
    assert c.store["n2"].groups() == c.groups
    c.run(100)
    for g in c.groups:
        lead = c.store[c.leader(g)].group(g)
        mine = c.store["n2"].group(g)
        assert mine.last_index() == lead.last_index()
        assert mine.snapshot().meta.index >= lead.first_index() - 1  # installed a snapshot
        assert mine.term(mine.last_index()) == lead.term(lead.last_index())
