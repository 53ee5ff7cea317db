"""The storage engine: RocksDB under two layers, with group commit.

Layout (core/keys.py owns it): one ordered key space per node. A record's storage
key is the keyspace id (2 bytes, big-endian) followed by its placement key, so a
range is one contiguous span that can be scanned, streamed or dropped with a single
range delete; system records (watermark, hints, truncations) live under 0xFFFF.

**The plain layer** (:class:`PlainEngine`: :class:`RocksEngine` here, ``MemEngine``
in the simulation, sim/storage.py) stores raw bytes under raw storage keys, with no
merge: ``get``/``get_many``, write batches (``batch()``, ``write(batch, sync)``:
``put``, ``delete``, ``delete_range``), ``snapshot()`` (iteration of spans from one
consistent point in time), ``export_span`` / ``ingest`` (a span to a file and a file
into an engine: an SST file here, what a range move streams) and ``synced(loop)``
(an awaitable WAL sync off the event loop). The strong mode's Raft state will sit
on this layer. A span operation that destroys or streams data (``delete_range``,
``export_span``) refuses a span that crosses a keyspace boundary.

**The eventual layer** (:class:`Storage`) stores versions
(:class:`~quorumkv.core.version.Version`) over any plain engine, merged by last
write wins: a version is stored only if it beats the one already there, so
replaying, reordering or repeating writes is harmless. Checking that costs a read
per write, except for the common case of a version newer than anything stored: the
layer keeps the highest timestamp it ever wrote (the *watermark*, persisted in the
same write batches as the data) and a version above it wins without a read. Reads
go through a row cache (storage/cache.py). The simulation runs this same layer over
its in-memory engine.

A keyspace can be truncated (FLUSHDB, core/truncation.py): its versions at or
below the truncation's timestamp ``T`` are gone. Writes of such versions are
dropped (``truncated``, checked per written version only for keyspaces that have a
truncation). The stored ones are deleted at once with one range delete when no
stored version is newer than ``T`` (the watermark says so), else by a sweep
(node/truncation.py); until then reads hide them (``unswept``).

Durability (``fsync`` setting); no sync ever runs on the event loop's thread:

* ``always``   every loop turn's write batch is acknowledged after a WAL sync of
               its own (like Redis ``appendfsync always``), run off the loop;
* ``batch``    group commit (default): writes land in the WAL at once and are
               acknowledged after the next WAL sync, one sync covering every write
               that arrived while the previous one ran;
* ``periodic`` acknowledged once in the WAL (OS page cache, survives a process
               crash), synced every ``periodic_sync_ms``; power loss may lose that
               window, as with Redis ``appendfsync everysec``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import queue
import shutil
import tempfile
import threading

import rocksdict

from ..core import keys
from ..core import truncation as tr
from ..core.keys import KEYSPACE_ID_BYTES, SYSTEM_PREFIX, WATERMARK_KEY, storage_key
from ..core.version import Version
from .cache import MISSING, RowCache

# re-exported: the names callers imported from here before core/keys.py existed
__all__ = ["KEYSPACE_ID_BYTES", "WATERMARK_KEY", "Durability", "PlainEngine", "RocksEngine",
           "Storage", "StorageError", "keyspace_span", "record_swept", "storage_key",
           "truncate_keyspace"]
keyspace_span = keys.keyspace_span
log = logging.getLogger(__name__)


class Durability(enum.Enum):
    ALWAYS = "always"
    BATCH = "batch"
    PERIODIC = "periodic"


# faster than through the enum class
ALWAYS, BATCH, PERIODIC = Durability.ALWAYS, Durability.BATCH, Durability.PERIODIC


class StorageError(Exception):
    """The storage engine failed (disk full, corruption, I/O error)."""


# ---- the plain layer ---------------------------------------------------------------

class PlainEngine:
    """Raw storage keys and bytes, no merge. A subclass provides ``get(skey)``,
    ``get_many(skeys)``, ``batch()``, ``write(batch, sync)``, ``snapshot()``,
    ``write_file(path, items)``, ``read_file(path)``, ``ingest(path)``,
    ``off_loop(loop, fn, *args)``, ``synced(loop)``, ``stats()`` and ``close()``;
    the rest is built on those, once for both engines."""

    def put(self, skey: bytes, value: bytes, sync: bool = False) -> None:
        batch = self.batch()
        batch.put(skey, value)
        self.write(batch, sync)

    def delete(self, skey: bytes, sync: bool = False) -> None:
        batch = self.batch()
        batch.delete(skey)
        self.write(batch, sync)

    def delete_range(self, lo: bytes, hi: bytes, sync: bool = False) -> None:
        """Delete every key in ``[lo, hi)``, one keyspace's span at most."""
        keys.span_keyspace(lo, hi)
        batch = self.batch()
        batch.delete_range(lo, hi)
        self.write(batch, sync)

    def iter_span(self, lo: bytes, hi: bytes):
        """``(skey, value)`` of every key in ``[lo, hi)``, in order, from a snapshot
        taken now."""
        return self.snapshot().iter_span(lo, hi)

    def iter_span_reverse(self, lo: bytes, hi: bytes):
        """``(skey, value)`` of every key in ``[lo, hi)``, in descending order, from
        a snapshot taken now. A snapshot without a reverse iterator (the
        simulation's) is read forward and reversed: fine for its small spans."""
        snap = self.snapshot()
        reverse = getattr(snap, "iter_span_reverse", None)
        return reverse(lo, hi) if reverse else reversed(list(snap.iter_span(lo, hi)))

    def export_span(self, lo: bytes, hi: bytes, path: str, snapshot=None,
                    max_entries: int = 0) -> tuple[int, bytes | None]:
        """Write the entries of ``[lo, hi)`` (one keyspace's span at most) from
        ``snapshot`` (default: one taken now) to a file at ``path``, at most
        ``max_entries`` of them if given (0: all). Returns ``(entries written, the
        key to resume from or None if the span is done)``; no file is written for
        an empty span. A span larger than one file goes out as several: export
        each from the same snapshot, resuming where the last stopped."""
        keys.span_keyspace(lo, hi)
        snap = snapshot if snapshot is not None else self.snapshot()
        items, resume = [], None
        for skey, value in snap.iter_span(lo, hi):
            if max_entries and len(items) == max_entries:
                resume = skey
                break
            items.append((skey, value))
        if items:
            self.write_file(path, items)
        return len(items), resume


class RocksSnapshot:
    """One consistent point-in-time view of a RocksDB, for iterating spans.

    It is one RocksDB iterator (an iterator reads from the implicit snapshot taken
    when it is created) rather than ``Rdict.snapshot()``: rocksdict 0.3.29's
    ``Snapshot.iter()`` does not read from its snapshot (it sees later writes and
    deletes; tests/unit/test_storage_engine.py checks ours does not). So one span is
    iterated at a time: starting another ends the previous iteration."""

    def __init__(self, db) -> None:
        self._it = db.iter()
        self._turn = 0

    def iter_span(self, lo: bytes, hi: bytes):
        self._turn += 1
        turn = self._turn
        it = self._it
        it.seek(lo)
        while it.valid():
            key = it.key()
            if key >= hi:
                return
            yield key, it.value()
            if self._turn != turn:
                raise RuntimeError("another iteration of this snapshot moved its cursor")
            it.next()

    def iter_span_reverse(self, lo: bytes, hi: bytes):
        """:meth:`iter_span` from ``hi`` down to ``lo``: keys descending."""
        self._turn += 1
        turn = self._turn
        it = self._it
        it.seek_for_prev(hi)  # the last key <= hi: hi itself is outside the span
        if it.valid() and it.key() >= hi:
            it.prev()
        while it.valid():
            key = it.key()
            if key < lo:
                return
            yield key, it.value()
            if self._turn != turn:
                raise RuntimeError("another iteration of this snapshot moved its cursor")
            it.prev()


class RocksEngine(PlainEngine):
    """The plain layer over one RocksDB database."""

    def __init__(self, path: str, block_cache_bytes: int = 64 * 1024 * 1024) -> None:
        os.makedirs(path, exist_ok=True)
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_background_jobs(2)
        # point lookups dominate (every read, and the merge check of every write):
        # a bloom filter per SST file skips most files that cannot hold the key
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(10, False)
        table.set_block_cache(rocksdict.Cache(block_cache_bytes))
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        options.set_block_based_table_factory(table)
        try:
            self._db = rocksdict.Rdict(path, options)
        except Exception as exc:  # rocksdict raises plain Exception subclasses
            raise StorageError(f"cannot open RocksDB at {path}: {exc}") from exc
        self.path = path
        self._nosync = rocksdict.WriteOptions()
        self._sync = rocksdict.WriteOptions()
        self._sync.sync = True
        # the database's own methods, not wrappers: point reads are the hot path
        self.get = self._db.get
        self.get_many = self._db.get  # given a list, rocksdict reads them all
        self._closed = False
        self._lock = threading.Lock()
        self._syncer = WalSyncer(self.sync_wal)

    def batch(self):
        return rocksdict.WriteBatch(raw_mode=True)

    def write(self, batch, sync: bool = False) -> None:
        try:
            self._db.write(batch, self._sync if sync else self._nosync)
        except Exception as exc:
            raise StorageError(f"write failed: {exc}") from exc

    def snapshot(self) -> RocksSnapshot:
        return RocksSnapshot(self._db)

    def write_file(self, path: str, items) -> None:
        """An SST file of ``items``, ``(skey, value)`` in strictly ascending order."""
        writer = rocksdict.SstFileWriter(rocksdict.Options(raw_mode=True))
        try:
            writer.open(path)
            for skey, value in items:
                writer[skey] = value
            writer.finish()
        except Exception as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc

    def read_file(self, path: str) -> list[tuple[bytes, bytes]]:
        """The entries of an SST file, in order. rocksdict has no SST reader: the
        file is ingested into a scratch database beside it, read, and dropped."""
        scratch = tempfile.mkdtemp(prefix=".read-sst-", dir=os.path.dirname(os.path.abspath(path)))
        try:
            db = rocksdict.Rdict(scratch, rocksdict.Options(raw_mode=True))
            try:
                db.ingest_external_file([path], _copy_in())
                it = db.iter()
                it.seek_to_first()
                out = []
                while it.valid():
                    out.append((it.key(), it.value()))
                    it.next()
                return out
            finally:
                db.close()
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def ingest(self, path: str) -> None:
        """Ingest an :meth:`export_span` file: its entries replace those stored
        under the same keys, whatever they hold (delete the span first to replace
        the span); durable on return (RocksDB syncs the file)."""
        try:
            self._db.ingest_external_file([path], _copy_in())
        except Exception as exc:
            raise StorageError(f"cannot ingest {path}: {exc}") from exc

    def off_loop(self, loop, fn, *args):
        """An awaitable of ``fn(*args)`` run in an executor thread (file I/O)."""
        return loop.run_in_executor(None, fn, *args)

    def synced(self, loop):
        """An awaitable that completes once every write made before it is durable:
        a WAL sync on the engine's sync thread (WalSyncer), never on the loop's."""
        return self._syncer.request(loop)

    def sync_wal(self) -> None:
        """Off the loop. The lock keeps ``close`` from closing the database under a
        sync still running (a cancelled task does not stop its thread)."""
        with self._lock:
            if not self._closed:
                self._db.flush_wal(True)

    def stats(self) -> tuple[int, int]:
        """Estimated (keys, bytes) stored, from RocksDB's own counters."""
        keys_ = self._db.property_int_value("rocksdb.estimate-num-keys") or 0
        disk = self._db.property_int_value("rocksdb.total-sst-files-size") or 0
        mem = self._db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return keys_, disk + mem

    def close(self) -> None:
        self._syncer.stop()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._db.flush_wal(True)
            finally:
                self._db.close()


class WalSyncer:
    """One thread that makes the WAL durable on request. Each sync answers every
    request queued before it began (those writes are in the WAL already), so
    requests that pile up during a sync share the next one. Cheaper per sync than
    ``run_in_executor`` (no executor work item, no concurrent future chained to
    an asyncio one): the Raft host asks for one every loop turn."""

    def __init__(self, sync) -> None:
        self._sync = sync
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False

    def request(self, loop) -> asyncio.Future:
        future = loop.create_future()
        if self._stopped:  # the engine is closed: nothing left to sync (as sync_wal)
            future.set_result(None)
            return future
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="wal-sync",
                                                    daemon=True)
                    self._thread.start()
        self._requests.put((loop, future))
        return future

    def stop(self) -> None:
        """The thread ends after the requests queued before this one."""
        self._stopped = True
        if self._thread is not None:
            self._requests.put(None)

    def _run(self) -> None:
        while True:
            batch = [self._requests.get()]
            while True:
                try:
                    batch.append(self._requests.get_nowait())
                except queue.Empty:
                    break
            waiting = [item for item in batch if item is not None]
            error = None
            if waiting:
                try:
                    self._sync()
                except BaseException as exc:  # handed to every waiter
                    error = exc
            for loop, future in waiting:
                try:
                    loop.call_soon_threadsafe(_settle, future, error)
                except RuntimeError:
                    pass  # that loop is closed: nobody waits any more
            if len(waiting) < len(batch):
                return


def _settle(future, error) -> None:
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(None)


def _copy_in():
    options = rocksdict.IngestExternalFileOptions()
    options.set_move_files(False)  # the caller's file stays the caller's
    return options


# ---- the eventual layer: versions merged by last write wins ------------------------

class Storage:
    def __init__(self, path: str, durability: Durability = Durability.BATCH,
                 periodic_sync_ms: int = 1000,
                 block_cache_bytes: int = 64 * 1024 * 1024,
                 row_cache_bytes: int = 64 * 1024 * 1024, engine=None) -> None:
        """Versions over ``engine`` (a :class:`PlainEngine`; default a RocksEngine
        at ``path``)."""
        self.engine = engine if engine is not None else RocksEngine(path, block_cache_bytes)
        self._get = self.engine.get  # bound once: the read path's one call
        self.path = path
        self.durability = durability
        self.periodic_sync_ms = periodic_sync_ms
        self._sync_waiters: list = []  # per flushed batch, its callbacks owed a sync
        self._sync_task: asyncio.Task | None = None
        self._periodic_task: asyncio.Task | None = None
        self._closed = False
        self._soon: list = []
        self._soon_callbacks: list = []
        self._soon_raw: list = []
        self._soon_cache: list = []  # storage keys of _soon entries to cache if new
        self._soon_drop: list = []  # (keyspace id, T): spans to delete before the rest
        self._soon_spans: list = []  # [lo, hi): spans deleted by delete_range
        self._soon_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.watermark = 0
        # keyspace id -> T of its truncation (FLUSHDB): versions at or below are gone.
        # Mutated in place, never rebound: the coordinator holds the same dict.
        self.truncated: dict[int, int] = {}
        self.unswept: dict[int, int] = {}  # those whose old versions may still be stored
        self.cache = RowCache(row_cache_bytes)  # write-through (storage/cache.py)
        self._load()

    def _load(self) -> None:
        """Read this layer's state from the engine (at open, and after a simulated
        crash, sim/storage.py)."""
        # no stored version has a timestamp above this (see the module docstring)
        self.watermark = self._load_watermark()
        self.truncated.clear()
        self.unswept.clear()
        for key, raw in self.scan_raw(tr.truncations_prefix(), 1 << 16):
            keyspace_id = tr.truncation_keyspace(key)
            ts, swept = tr.decode_truncation(raw)
            self.truncated[keyspace_id] = ts
            if not swept:
                self.unswept[keyspace_id] = ts

    def _load_watermark(self) -> int:
        raw = self._get(WATERMARK_KEY)
        if raw is not None:
            return int.from_bytes(raw, "big")
        # a database written without one (or empty): the highest timestamp stored,
        # saved at once so that the scan happens only once
        highest, count = 0, 0
        for _, value in self.engine.iter_span(b"", SYSTEM_PREFIX):
            highest = max(highest, Version.decode(value).ts)
            count += 1
        if count:
            log.info("storage watermark recomputed from %d stored versions", count)
        self.engine.put(WATERMARK_KEY, highest.to_bytes(8, "big"), sync=True)
        return highest

    # ---- reads ---------------------------------------------------------------

    def get(self, keyspace_id: int, pkey: bytes) -> Version | None:
        version = self._read(storage_key(keyspace_id, pkey))
        unswept = self.unswept
        if unswept and version is not None and version.ts <= unswept.get(keyspace_id, -1):
            return None  # truncated, not deleted yet
        return version

    def _read(self, skey: bytes, fill: bool = True) -> Version | None:
        """The stored version, through the row cache (filled on a miss if ``fill``)."""
        version = self.cache.get(skey)
        if version is MISSING:
            raw = self._get(skey)
            version = None if raw is None else Version.decode(raw)
            if fill:
                self.cache.put(skey, version)
        return version

    def scan(self, keyspace_id: int, start: bytes, end: bytes, limit: int,
             group_prefix: int = 0, reverse: bool = False):
        """Versions with placement keys in ``[start, end)`` (``end == b""``: to the
        end of the keyspace), at least ``limit`` unless the span runs out; with
        ``reverse``, from ``end`` down (keys descending).

        After ``limit`` items the scan goes on while the first ``group_prefix``
        bytes equal the last item's, so a group is never split across pages.
        Returns ``(items, truncated, last_pkey)`` with items as ``(pkey, Version)``.
        """
        hide = self.unswept.get(keyspace_id, -1)  # truncated, not deleted yet
        items: list[tuple[bytes, Version]] = []
        group = None
        span = keys.range_span(keyspace_id, start, end)
        entries = self.engine.iter_span_reverse(*span) if reverse else \
            self.engine.iter_span(*span)
        for key, raw in entries:
            pkey = key[KEYSPACE_ID_BYTES:]
            if len(items) >= limit:
                if group is None:
                    group = items[-1][0][:group_prefix] if group_prefix else b""
                if not group_prefix or pkey[:group_prefix] != group:
                    return items, True, items[-1][0]
            version = Version.decode(raw)
            if version.ts > hide:
                items.append((pkey, version))
        return items, False, items[-1][0] if items else b""

    def snapshot(self):
        """A consistent point-in-time view for :meth:`iter_range_raw` and
        :meth:`export_range`: several spans read from one snapshot agree."""
        return self.engine.snapshot()

    def iter_range_raw(self, keyspace_id: int, start: bytes, end: bytes,
                       include_hidden: bool = False, snapshot=None):
        """``(pkey, stored bytes)`` of every entry in ``[start, end)`` of one
        keyspace (``end == b""``: to its end; the span never leaves the keyspace),
        from ``snapshot`` or one taken now: a consistent point-in-time view, even
        if the caller yields to the event loop between items. Versions a
        truncation hides are left out unless ``include_hidden`` (for the sweep
        that deletes them)."""
        hide = -1 if include_hidden else self.unswept.get(keyspace_id, -1)
        snap = snapshot if snapshot is not None else self.engine.snapshot()
        for key, raw in snap.iter_span(*keys.range_span(keyspace_id, start, end)):
            if hide < 0 or Version.decode(raw).ts > hide:
                yield key[KEYSPACE_ID_BYTES:], raw

    def get_raw_many(self, skeys) -> list:
        """Stored bytes (or None) of full storage keys."""
        return self.engine.get_many(list(skeys))

    def get_many(self, keyspace_id: int, pkeys) -> list:
        """Stored versions (or None) of ``pkeys``."""
        raws = self.engine.get_many([storage_key(keyspace_id, p) for p in pkeys])
        versions = [None if raw is None else Version.decode(raw) for raw in raws]
        hide = self.unswept.get(keyspace_id, -1) if self.unswept else -1
        if hide < 0:
            return versions
        return [None if v is None or v.ts <= hide else v for v in versions]  # not swept yet

    def stats(self) -> tuple[int, int]:
        """Estimated (keys, bytes) stored."""
        return self.engine.stats()

    # ---- writes --------------------------------------------------------------

    def apply(self, entries, raw=(), cache_new=(), drop=(), spans=()) -> bool:
        """Merge ``(keyspace_id, pkey, Version)`` entries in one write batch, with
        ``raw`` system records ``(storage key, value or None to delete)``, a
        sequence (it is read twice: into the batch, then out of the row cache).
        The winners replace their row cache entries; those whose storage keys are
        in ``cache_new`` are cached even if they were not (storage/cache.py).
        ``drop`` lists ``(keyspace id, T)`` of truncations whose keyspace span is
        deleted first in the batch, and ``spans`` the ``[lo, hi)`` spans of
        :meth:`delete_range`, so that the rest of the batch stays.

        Returns True when the batch still needs a WAL sync to be durable as the
        durability setting defines (``always``, ``batch``), False when it already is.
        """
        batch = self.engine.batch()
        for keyspace_id, _ in drop:
            batch.delete_range(*keys.keyspace_span(keyspace_id))
        for lo, hi in spans:
            batch.delete_range(lo, hi)
        for skey, value in raw:
            if value is None:
                batch.delete(skey)
            else:
                batch.put(skey, value)
        pending: dict[bytes, Version] = {}
        watermark = top = self.watermark
        cache = self.cache
        truncated = self.truncated
        dropped = False
        for keyspace_id, pkey, version in entries:
            ts = version.ts
            if truncated and ts <= truncated.get(keyspace_id, -1):
                dropped = True  # older than its keyspace's truncation: a late write,
                continue        # a repair, a hint

            skey = storage_key(keyspace_id, pkey)
            current = pending.get(skey)
            if current is None and ts <= watermark:  # may lose: read what is there
                current = self._read(skey, False)  # a write does not fill the cache
            if current is None or version > current:
                pending[skey] = version
                if ts > top:
                    top = ts
        if not pending and not raw and not drop and not spans:
            # acknowledge a dropped write only once the truncation that drops it is
            # durable (a WAL sync covers every earlier write)
            return dropped and self.durability is not PERIODIC
        put, encode = batch.put, Version.encode
        for skey, version in pending.items():
            put(skey, encode(version))
        if top > watermark:
            batch.put(WATERMARK_KEY, top.to_bytes(8, "big"))
        self.engine.write(batch)  # synced later, off the loop (``_sync_loop``)
        self.watermark = top
        if drop or spans:
            cache.clear()  # it may hold versions of the dropped spans
            for keyspace_id, ts in drop:  # deleted: nothing left to hide
                if self.unswept.get(keyspace_id) == ts:
                    del self.unswept[keyspace_id]
        for skey, _ in raw:  # system records, and the tombstone GC's deletes
            cache.discard(skey)
        cache.put_many(pending.items(), set(cache_new) if cache_new else ())
        return self.durability is not PERIODIC

    def write_soon(self, entries: list, on_durable, cache: bool = False) -> None:
        """Queue entries for the one write batch of this loop turn (write combining:
        every coordinator and replica write of a turn shares one write and one
        WAL sync). ``on_durable(error)`` is called once they are durable
        (``error`` None) or failed: directly, not through the loop. With ``cache``
        (a coordinator's own writes) the winners enter the row cache; without, they
        only replace entries cached already."""
        new_keys = [storage_key(k, p) for k, p, _ in entries] if cache else ()
        self._soon.extend(entries)
        self._soon_cache.extend(new_keys)
        self._soon_callbacks.append(on_durable)
        if not self._soon_scheduled:
            self._soon_scheduled = True
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            loop.call_soon(self._flush_soon)

    def write_raw_soon(self, records, on_durable) -> None:
        """Like :meth:`write_soon` for system records ``(storage key, value or None)``
        outside every keyspace (hints): stored as given, no merge."""
        self._soon_raw.extend(records)
        self.write_soon((), on_durable)

    def delete_range(self, keyspace_id: int, start: bytes, end: bytes, on_durable) -> None:
        """Delete the placement keys ``[start, end)`` of a keyspace (``end == b""``:
        to its end) with one range delete (a range that moved away). Every write
        queued before this call is deleted with the span and every one queued after
        it stays: the writes queued so far this turn are written first.
        ``on_durable`` as for :meth:`write_soon`."""
        span = keys.range_span(keys.check_keyspace_id(keyspace_id), start, end)
        if self._soon_scheduled:
            self._flush_soon()
        self._soon_spans.append(span)
        self.write_soon((), on_durable)

    async def export_range(self, keyspace_id: int, start: bytes, end: bytes, path: str,
                           snapshot=None, max_entries: int = 0) -> tuple[int, bytes | None]:
        """Write the stored versions of ``[start, end)`` of a keyspace (as
        :meth:`iter_range_raw`, without those a truncation hides) to a file at
        ``path``, from ``snapshot`` (default: one taken now), at most
        ``max_entries`` (0: all). Returns ``(entries written, the placement key to
        resume from or None)``: a range move streams a range in chunks from one
        snapshot. The entries are read on the loop, the file written off it."""
        items, resume = [], None
        prefix = keys.keyspace_prefix(keyspace_id)
        for pkey, raw in self.iter_range_raw(keyspace_id, start, end, snapshot=snapshot):
            if max_entries and len(items) == max_entries:
                resume = pkey
                break
            items.append((prefix + pkey, raw))
        if items:
            engine = self.engine
            await engine.off_loop(asyncio.get_running_loop(), engine.write_file, path, items)
        return len(items), resume

    async def ingest_range(self, keyspace_id: int, path: str) -> int:
        """Merge an :meth:`export_range` file of a keyspace into this storage, entry
        by entry, by last write wins (so a version stored here that is newer than
        the file's stays, and truncations drop what they hide), durably; returns
        the number of entries read (StorageError if the merge failed). A file
        holding a key of another keyspace is refused before anything is written
        (ValueError). The file is read off the loop.

        Not the plain layer's ``ingest``: an ingested SST file replaces the stored
        entries of its keys whatever their versions, and a replica receiving a
        range keeps taking live writes while the range streams to it."""
        lo, hi = keys.keyspace_span(keys.check_keyspace_id(keyspace_id))
        loop = asyncio.get_running_loop()
        items = await self.engine.off_loop(loop, self.engine.read_file, path)
        for skey, _ in items:
            if not lo <= skey < hi:
                raise ValueError(f"{path} holds key {skey.hex()}, outside keyspace "
                                 f"{keyspace_id}")
        durable = loop.create_future()
        self.write_soon([(keyspace_id, skey[KEYSPACE_ID_BYTES:], Version.decode(raw))
                         for skey, raw in items], durable.set_result)
        error = await durable
        if error is not None:
            raise error
        return len(items)

    def truncate(self, keyspace_id: int, ts: int, on_durable) -> bool:
        """:func:`truncate_keyspace` of this storage."""
        return truncate_keyspace(self, keyspace_id, ts, on_durable, self._soon_drop)

    def swept(self, keyspace_id: int, ts: int, on_durable) -> None:
        """:func:`record_swept` of this storage."""
        record_swept(self, keyspace_id, ts, on_durable)

    def scan_raw(self, prefix: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` system records whose key starts with ``prefix``, in order."""
        out = []
        if limit <= 0:
            return out
        for item in self.engine.iter_span(*keys.prefix_span(prefix)):
            out.append(item)
            if len(out) >= limit:
                break
        return out

    def _flush_soon(self) -> None:
        entries, callbacks, raw = self._soon, self._soon_callbacks, self._soon_raw
        cache_new, drop, spans = self._soon_cache, self._soon_drop, self._soon_spans
        self._soon, self._soon_callbacks, self._soon_raw, self._soon_cache = [], [], [], []
        if drop:
            self._soon_drop = []
        if spans:
            self._soon_spans = []
        self._soon_scheduled = False
        try:
            needs_sync = self.apply(entries, raw, cache_new, drop, spans)
        except StorageError as exc:
            _notify(callbacks, exc)
            return
        if needs_sync:
            self._wait_for_sync(callbacks)
        else:
            _notify(callbacks, None)

    def _wait_for_sync(self, callbacks: list) -> None:
        self._sync_waiters.append(callbacks)
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = self._loop.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        """One WAL sync at a time, in the engine's executor thread; each covers every
        write made before it began. ``batch``: a sync for every batch waiting;
        ``always``: for the oldest batch waiting only."""
        waiting = self._sync_waiters
        while waiting and not self._closed:
            if self.durability is ALWAYS:
                groups = [waiting.pop(0)]
            else:
                groups, self._sync_waiters = waiting, []
            error = None
            try:
                await self.engine.synced(self._loop)
            except Exception as exc:
                error = StorageError(f"WAL sync failed: {exc}")
            for callbacks in groups:
                _notify(callbacks, error)
            waiting = self._sync_waiters

    async def run_periodic_sync(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(self.periodic_sync_ms / 1000)
            await self.engine.synced(loop)

    def close(self) -> None:
        self._closed = True
        self.engine.close()


def _notify(callbacks, error) -> None:
    for callback in callbacks:
        callback(error)


# ---- truncation records, on the eventual layer ---------------------------------------

def truncate_keyspace(storage, keyspace_id: int, ts: int, on_durable, drops: list) -> bool:
    """Truncate a keyspace at ``ts`` (FLUSHDB, core/truncation.py): from now on
    its versions at or below ``ts`` read as absent and writes of such versions are
    dropped. The record goes into this loop turn's batch (``on_durable`` as for
    ``write_soon``). If no stored version is newer than ``ts`` the keyspace's span
    is deleted in that same batch (``(keyspace id, ts)`` appended to ``drops``, the
    storage's queue of spans to delete); otherwise returns True: the caller sweeps
    the old versions away and then calls ``swept``. An older or equal ``ts`` than
    the one held changes nothing (the record is rewritten so that ``on_durable``
    still means durable)."""
    known = storage.truncated.get(keyspace_id, -1)
    key = tr.truncation_key(keyspace_id)
    if ts <= known:
        storage.write_raw_soon([(key, tr.encode_truncation(
            known, keyspace_id not in storage.unswept))], on_durable)
        return False
    storage.truncated[keyspace_id] = ts
    storage.unswept[keyspace_id] = ts  # hidden from reads until deleted
    exact = storage.watermark <= ts  # a version queued this turn lands after the drop
    if exact:
        drops.append((keyspace_id, ts))
    storage.write_raw_soon([(key, tr.encode_truncation(ts, exact))], on_durable)
    return not exact


def record_swept(storage, keyspace_id: int, ts: int, on_durable) -> None:
    """The sweep of the truncation at ``ts`` has deleted every version it hides
    (its deletes are queued or done): record it, and stop hiding once durable."""
    if storage.unswept.get(keyspace_id) != ts:  # a newer truncation took over
        storage.write_soon((), on_durable)
        return

    def done(error) -> None:
        if error is None and storage.unswept.get(keyspace_id) == ts:
            del storage.unswept[keyspace_id]
        on_durable(error)

    storage.write_raw_soon([(tr.truncation_key(keyspace_id),
                            tr.encode_truncation(ts, True))], done)
