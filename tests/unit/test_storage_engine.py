"""The storage engine's layers (storage/engine.py), against both plain engines:
RocksDB and the simulation's in-memory one (sim/storage.py).

The plain layer: batches, range deletes that take only their span, snapshots that
do not see later writes, export and ingest of a span. The eventual layer over it:
range deletes through the row cache, snapshot iteration inside one keyspace, a
range streamed from one storage to another and merged there by last write wins.
And ``fsync = always``: the sync runs off the event loop, the ack waits for it.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from quorumkv.core import keys
from quorumkv.core.version import Version
from quorumkv.sim.storage import MemEngine, SimStorage
from quorumkv.storage.engine import Durability, RocksEngine, Storage

KS, OTHER = 1, 2
SHARED_FILES: dict = {}  # the in-memory engines' file system, shared as a disk is


def k(keyspace_id: int, pkey: bytes) -> bytes:
    return keys.storage_key(keyspace_id, pkey)


@pytest.fixture(params=["rocksdb", "memory"])
def make_engine(request, tmp_path):
    """A factory of plain engines of one kind (several per test: a source and a
    target), closed at the end."""
    made = []

    def make(name: str = "db"):
        if request.param == "rocksdb":
            engine = RocksEngine(str(tmp_path / name))
        else:
            engine = MemEngine(SHARED_FILES)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.fixture
def make_storage(make_engine):
    def make(name: str = "db", durability=Durability.BATCH):
        return Storage(name, durability, row_cache_bytes=1 << 20, engine=make_engine(name))
    return make


def fill(engine, entries) -> None:
    batch = engine.batch()
    for skey, value in entries:
        batch.put(skey, value)
    engine.write(batch)


def span(engine, lo, hi) -> list:
    return list(engine.iter_span(lo, hi))


# ---- the plain layer ---------------------------------------------------------------

def test_a_batch_puts_and_deletes_raw_keys_and_reads_see_them(make_engine):
    e = make_engine()
    e.put(k(KS, b"a"), b"1")
    batch = e.batch()
    batch.put(k(KS, b"b"), b"2")
    batch.delete(k(KS, b"a"))
    batch.put(keys.WATERMARK_KEY, b"w")
    e.write(batch, sync=True)
    assert e.get(k(KS, b"a")) is None and e.get(k(KS, b"b")) == b"2"
    assert e.get_many([k(KS, b"a"), k(KS, b"b"), keys.WATERMARK_KEY]) == [None, b"2", b"w"]
    e.delete(k(KS, b"b"))
    assert e.get(k(KS, b"b")) is None


def test_delete_range_takes_its_span_only(make_engine):
    e = make_engine()
    around = [k(KS, b"a"), k(KS, b"b"), k(KS, b"b\x00"), k(KS, b"c"), k(KS, b"d")]
    fill(e, [(key, b"v") for key in around]
         + [(k(OTHER, b"b"), b"o"), (k(KS - 1, b"\xff"), b"z"), (keys.WATERMARK_KEY, b"w")])
    e.delete_range(k(KS, b"b"), k(KS, b"d"))
    assert [key for key, _ in span(e, *keys.keyspace_span(KS))] == [k(KS, b"a"), k(KS, b"d")]
    assert e.get(k(OTHER, b"b")) == b"o" and e.get(k(KS - 1, b"\xff")) == b"z"
    assert e.get(keys.WATERMARK_KEY) == b"w"


def test_a_span_operation_across_a_keyspace_boundary_is_refused(make_engine, tmp_path):
    e = make_engine()
    fill(e, [(k(KS, b"a"), b"1"), (k(OTHER, b"a"), b"2")])
    with pytest.raises(ValueError, match="crosses the end of keyspace"):
        e.delete_range(k(KS, b"a"), k(OTHER, b"b"))
    with pytest.raises(ValueError, match="crosses the end of keyspace"):
        e.export_span(k(KS, b""), k(OTHER, b"b"), str(tmp_path / "x.sst"))
    assert e.get(k(KS, b"a")) == b"1" and e.get(k(OTHER, b"a")) == b"2"  # nothing went


def test_a_snapshot_does_not_see_later_writes_or_deletes(make_engine):
    e = make_engine()
    fill(e, [(k(KS, b"a"), b"1"), (k(KS, b"b"), b"2"), (k(OTHER, b"a"), b"3")])
    snap = e.snapshot()
    e.delete(k(KS, b"a"))
    fill(e, [(k(KS, b"b"), b"2'"), (k(KS, b"c"), b"new"), (k(OTHER, b"b"), b"new")])
    e.delete_range(*keys.keyspace_span(OTHER))
    # two spans of one snapshot, read one after the other, agree with each other
    assert list(snap.iter_span(*keys.keyspace_span(KS))) == \
        [(k(KS, b"a"), b"1"), (k(KS, b"b"), b"2")]
    assert list(snap.iter_span(*keys.keyspace_span(OTHER))) == [(k(OTHER, b"a"), b"3")]
    assert span(e, *keys.keyspace_span(KS)) == [(k(KS, b"b"), b"2'"), (k(KS, b"c"), b"new")]


def test_export_and_ingest_move_a_span_between_engines(make_engine, tmp_path):
    source, target = make_engine("source"), make_engine("target")
    fill(source, [(k(KS, b"%02d" % i), b"s%d" % i) for i in range(10)]
         + [(k(OTHER, b"05"), b"other")])
    fill(target, [(k(KS, b"03"), b"t3"), (k(KS, b"50"), b"t50")])
    lo, hi = keys.range_span(KS, b"02", b"07")
    snap = source.snapshot()
    source.delete_range(lo, hi)  # the export reads the snapshot, not what is there now
    files, resume = [], lo
    while resume is not None:  # in chunks of two entries, from one snapshot
        path = str(tmp_path / f"chunk{len(files)}.sst")
        count, resume = source.export_span(resume, hi, path, snapshot=snap, max_entries=2)
        assert 0 < count <= 2
        files.append(path)
    assert len(files) == 3
    for path in files:
        target.ingest(path)
    # an ingested entry replaces the target's under the same key; the rest stay
    assert span(target, *keys.keyspace_span(KS)) == \
        [(k(KS, b"%02d" % i), b"s%d" % i) for i in range(2, 7)] + [(k(KS, b"50"), b"t50")]
    assert target.get(k(OTHER, b"05")) is None


def test_an_empty_span_exports_no_file(make_engine, tmp_path):
    e = make_engine()
    assert e.export_span(*keys.keyspace_span(KS), str(tmp_path / "none.sst")) == (0, None)
    assert not (tmp_path / "none.sst").exists()


# ---- the eventual layer over it ------------------------------------------------------

def run(coro):
    return asyncio.run(coro)


async def write(s: Storage, entries, cache: bool = False) -> None:
    done = asyncio.get_running_loop().create_future()
    s.write_soon(entries, done.set_result, cache=cache)
    assert await done is None


def v(ts: int, value: bytes = b"") -> Version:
    return Version(ts, "n1", value=value)


def test_delete_range_of_a_keyspace_takes_its_span_and_its_cached_entries(make_storage):
    async def main():
        s = make_storage()
        await write(s, [(KS, p, v(10, p)) for p in (b"a", b"b", b"c", b"d")]
                    + [(OTHER, b"b", v(10, b"o"))], cache=True)
        assert s.get(KS, b"b").value == b"b"  # cached
        done = asyncio.get_running_loop().create_future()
        s.write_soon([(KS, b"b2", v(11))], lambda e: None)  # queued before: deleted
        s.delete_range(KS, b"b", b"d", done.set_result)
        s.write_soon([(KS, b"c", v(12, b"after"))], lambda e: None)  # after: stays
        assert await done is None
        assert [p for p, _ in s.iter_range_raw(KS, b"", b"")] == [b"a", b"c", b"d"]
        assert s.get(KS, b"b") is None and s.get(KS, b"b2") is None
        assert s.get(KS, b"c").value == b"after"
        assert s.get(OTHER, b"b").value == b"o"
        with pytest.raises(ValueError, match="outside 0..65534"):
            s.delete_range(keys.SYSTEM_KEYSPACE_ID, b"", b"", lambda e: None)
    run(main())


def test_snapshot_iteration_stays_in_its_keyspace_and_ignores_later_writes(make_storage):
    async def main():
        s = make_storage()
        await write(s, [(KS, b"a", v(1)), (KS, b"\xff\xff", v(2)), (OTHER, b"a", v(3))])
        snap = s.snapshot()
        await write(s, [(KS, b"b", v(4)), (KS, b"a", v(5))])
        seen = [(p, Version.decode(raw).ts) for p, raw in s.iter_range_raw(
            KS, b"", b"", snapshot=snap)]
        assert seen == [(b"a", 1), (b"\xff\xff", 2)]  # to the keyspace's end, no further
        now = [(p, Version.decode(raw).ts) for p, raw in s.iter_range_raw(KS, b"", b"")]
        assert now == [(b"a", 5), (b"b", 4), (b"\xff\xff", 2)]
    run(main())


def test_a_range_streams_to_another_storage_and_merges_there_by_last_write_wins(
        make_storage, tmp_path):
    async def main():
        source, target = make_storage("source"), make_storage("target")
        await write(source, [(KS, b"newer-there", v(10, b"s")), (KS, b"older-there", v(20, b"s")),
                             (KS, b"absent-there", v(30, b"s")), (KS, b"zz-outside", v(40)),
                             (OTHER, b"a", v(50))])
        await write(target, [(KS, b"newer-there", v(15, b"t")), (KS, b"older-there", v(5, b"t"))],
                    cache=True)
        assert target.get(KS, b"older-there").value == b"t"  # in the row cache
        snap = source.snapshot()
        path = str(tmp_path / "range.sst")
        assert await source.export_range(KS, b"a", b"p", path, snapshot=snap) == (3, None)
        assert await target.ingest_range(KS, path) == 3
        got = {p: Version.decode(raw) for p, raw in target.iter_range_raw(KS, b"", b"")}
        assert {p: (x.ts, x.value) for p, x in got.items()} == {
            b"newer-there": (15, b"t"), b"older-there": (20, b"s"), b"absent-there": (30, b"s")}
        assert target.get(KS, b"older-there").value == b"s"  # the cache follows
        assert target.watermark == 30  # a later write stamped below 30 still reads first
        await write(target, [(KS, b"absent-there", v(25, b"late"))])
        assert target.get(KS, b"absent-there").ts == 30
    run(main())


def test_an_ingested_range_drops_what_a_truncation_hides_and_refuses_foreign_keys(
        make_storage, tmp_path):
    async def main():
        source, target = make_storage("source"), make_storage("target")
        await write(source, [(KS, b"old", v(10)), (KS, b"new", v(30))])
        done = asyncio.get_running_loop().create_future()
        target.truncate(KS, 20, done.set_result)
        assert await done is None
        path = str(tmp_path / "ks.sst")
        assert (await source.export_range(KS, b"", b"", path))[0] == 2
        await target.ingest_range(KS, path)
        assert [p for p, _ in target.iter_range_raw(KS, b"", b"", include_hidden=True)] == \
            [b"new"]
        with pytest.raises(ValueError, match="outside keyspace 2"):
            await target.ingest_range(OTHER, path)
        assert list(target.iter_range_raw(OTHER, b"", b"")) == []
    run(main())


def test_a_simulated_crash_loses_what_was_not_synced_and_reloads_the_layer(tmp_path):
    class FakeSim:
        pass

    async def main():
        s = SimStorage(FakeSim())
        await write(s, [(KS, b"kept", v(10))])
        lost_acks = []
        s.write_soon([(KS, b"lost", v(20))], lost_acks.append)
        await asyncio.sleep(0)  # the batch is written, its sync not done
        assert s.get(KS, b"lost") is not None and s.watermark == 20
        s.crash()
        assert s.get(KS, b"lost") is None and s.get(KS, b"kept").ts == 10
        assert s.watermark == 10  # reloaded from the record that survived
        await write(s, [(KS, b"again", v(15))])  # and it goes on
        assert lost_acks == []
    run(main())


def test_a_torn_simulated_crash_keeps_a_prefix_of_the_unsynced_writes_in_order():
    async def main():
        loop = asyncio.get_running_loop()
        e = MemEngine()

        def put(key, value, sync=False):
            b = e.batch()
            b.put(key, value)
            e.write(b, sync)

        put(b"a", b"1")
        syncing = e.synced(loop)  # covers a=1 only
        put(b"a", b"2")
        put(b"b", b"1")
        put(b"c", b"1")
        e.crash(kept=0.5)  # 4 writes pending: the first 2 survive, nothing after
        assert (e.get(b"a"), e.get(b"b"), e.get(b"c")) == (b"2", None, None)
        await asyncio.sleep(0.01)
        assert not syncing.done()  # a sync begun before the crash never completes
        put(b"a", b"3")
        e.synced(loop)
        put(b"a", b"4", sync=True)  # a synced write makes every earlier one durable
        await asyncio.sleep(0.01)   # ... and the older sync completing changes nothing
        e.crash()
        assert e.get(b"a") == b"4"
        put(b"d", b"1")
        e.crash(kept=0.99)  # a fraction of one write keeps none
        assert e.get(b"d") is None
    run(main())


# ---- durability: no sync on the event loop ---------------------------------------------

class SlowSyncEngine(RocksEngine):
    """A RocksDB whose WAL syncs wait for the test, recording the thread they ran
    on; a synchronous write would block the loop, so it fails the test."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.sync_threads: list[int] = []

    def write(self, batch, sync: bool = False) -> None:
        assert not sync or threading.current_thread() is not threading.main_thread(), \
            "a synchronous write on the event loop's thread"
        super().write(batch, sync)

    def sync_wal(self) -> None:
        self.sync_threads.append(threading.get_ident())
        self.started.release()
        assert self.release.wait(10), "the test never released the sync"
        super().sync_wal()


@pytest.mark.parametrize("durability", [Durability.ALWAYS, Durability.BATCH])
def test_a_write_is_acknowledged_after_its_sync_and_the_loop_runs_meanwhile(
        tmp_path, durability):
    async def main():
        loop = asyncio.get_running_loop()
        engine = SlowSyncEngine(str(tmp_path / "db"))
        engine.put(keys.WATERMARK_KEY, (0).to_bytes(8, "big"))  # no sync at open either
        s = Storage("db", durability, engine=engine)
        acked = loop.create_future()
        s.write_soon([(KS, b"k", v(1))], acked.set_result)
        # the sync has started in its thread and is held there
        assert await loop.run_in_executor(None, engine.started.acquire, True, 10)
        timer = loop.create_future()
        loop.call_later(0.001, timer.set_result, "fired")
        assert await asyncio.wait_for(timer, 10) == "fired"  # the loop is not blocked
        assert not acked.done()  # and the write is not acknowledged before the sync
        engine.release.set()
        assert await asyncio.wait_for(acked, 10) is None
        assert engine.sync_threads and threading.get_ident() not in engine.sync_threads
        s.close()
    run(main())


def test_always_syncs_every_batch_and_batch_shares_one_sync_among_those_waiting(tmp_path):
    async def count_syncs(durability, name) -> int:
        loop = asyncio.get_running_loop()
        engine = SlowSyncEngine(str(tmp_path / name))
        engine.put(keys.WATERMARK_KEY, (0).to_bytes(8, "big"))
        s = Storage(name, durability, engine=engine)
        acks, all_acked = [], loop.create_future()

        def acked(error) -> None:
            acks.append(error)
            if len(acks) == 3:
                all_acked.set_result(None)

        s.write_soon([(KS, b"k0", v(1))], acked)
        assert await loop.run_in_executor(None, engine.started.acquire, True, 10)
        for turn in (1, 2):  # two more loop turns, two more batches, while it is held
            s.write_soon([(KS, b"k%d" % turn, v(turn + 1))], acked)
            await asyncio.sleep(0)
        engine.release.set()
        await asyncio.wait_for(all_acked, 10)
        assert acks == [None] * 3
        s.close()
        return len(engine.sync_threads)

    async def main():
        assert await count_syncs(Durability.ALWAYS, "always") == 3
        assert await count_syncs(Durability.BATCH, "batch") == 2  # the held one, then one
    run(main())


def test_the_wal_syncer_answers_every_request_queued_before_a_sync_and_hands_on_errors():
    import threading

    from quorumkv.storage.engine import WalSyncer

    started, release, calls = threading.Event(), threading.Event(), []

    def slow_sync():
        calls.append(len(calls))
        if len(calls) == 1:
            started.set()
            release.wait(5)
        if len(calls) == 3:
            raise OSError("disk gone")

    async def main():
        loop = asyncio.get_running_loop()
        syncer = WalSyncer(slow_sync)
        first = syncer.request(loop)
        await loop.run_in_executor(None, started.wait, 5)
        # three requests while the first sync runs: one more sync serves them all
        later = [syncer.request(loop) for _ in range(3)]
        release.set()
        await asyncio.wait_for(asyncio.gather(first, *later), 5)
        assert len(calls) == 2
        with pytest.raises(OSError, match="disk gone"):
            await asyncio.wait_for(syncer.request(loop), 5)
        syncer.stop()
        done = syncer.request(loop)  # stopped (the engine closed): nothing to wait for
        assert done.done() and done.result() is None
    asyncio.run(main())


def test_a_rocks_engine_syncs_off_the_loop_and_stops_its_sync_thread_on_close(tmp_path):
    async def main():
        engine = RocksEngine(str(tmp_path / "db"))
        batch = engine.batch()
        batch.put(b"k", b"v")
        engine.write(batch)
        await asyncio.wait_for(engine.synced(asyncio.get_running_loop()), 5)
        thread = engine._syncer._thread
        engine.close()
        thread.join(5)
        assert not thread.is_alive()
        await asyncio.wait_for(engine.synced(asyncio.get_running_loop()), 1)
    asyncio.run(main())
