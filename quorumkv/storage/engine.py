"""RocksDB storage for versioned values, with group commit.

Layout: one ordered key space per node. A record's storage key is the keyspace id
(2 bytes, big-endian) followed by its placement key, so a range is one contiguous
span that can be scanned, streamed or dropped with a single range delete. The value
is an encoded :class:`~quorumkv.core.version.Version`.

Writes merge: a version is stored only if it beats the one already there (LWW), so
replaying, reordering or repeating writes is harmless. Checking that costs a read
per write, except for the common case of a version newer than anything stored: the
engine keeps the highest timestamp it ever wrote (the *watermark*, persisted in the
same write batches as the data) and a version above it wins without a read.

A keyspace can be truncated (FLUSHDB, core/truncation.py): its versions at or
below the truncation's timestamp ``T`` are gone. Writes of such versions are
dropped (``truncated``, checked per written version only for keyspaces that have a
truncation). The stored ones are deleted at once with one range delete when no
stored version is newer than ``T`` (the watermark says so), else by a sweep
(node/truncation.py); until then reads hide them (``unswept``).

Durability (``fsync`` setting):

* ``always``   every write batch is synced before it is acknowledged;
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
import threading

import rocksdict

from ..core import truncation as tr
from ..core.hints import SYSTEM_PREFIX
from ..core.version import Version
from .cache import MISSING, RowCache

KEYSPACE_ID_BYTES = 2
# the watermark's record, in the system keyspace 0xFFFF that no user keyspace uses
WATERMARK_KEY = SYSTEM_PREFIX + b"W"
log = logging.getLogger(__name__)


class Durability(enum.Enum):
    ALWAYS = "always"
    BATCH = "batch"
    PERIODIC = "periodic"


ALWAYS, BATCH = Durability.ALWAYS, Durability.BATCH  # faster than through the enum class


class StorageError(Exception):
    """The storage engine failed (disk full, corruption, I/O error)."""


def storage_key(keyspace_id: int, pkey: bytes) -> bytes:
    return keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big") + pkey


def keyspace_span(keyspace_id: int) -> tuple[bytes, bytes]:
    """``[start, end)`` of every storage key of a keyspace."""
    return (keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big"),
            (keyspace_id + 1).to_bytes(KEYSPACE_ID_BYTES, "big"))


class Storage:
    def __init__(self, path: str, durability: Durability = Durability.BATCH,
                 periodic_sync_ms: int = 1000,
                 block_cache_bytes: int = 64 * 1024 * 1024,
                 row_cache_bytes: int = 64 * 1024 * 1024) -> None:
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
        self.durability = durability
        self.periodic_sync_ms = periodic_sync_ms
        self._nosync = rocksdict.WriteOptions()
        self._sync = rocksdict.WriteOptions()
        self._sync.sync = True
        self._sync_waiters: list = []  # on_durable callbacks owed the next sync
        self._sync_task: asyncio.Task | None = None
        self._periodic_task: asyncio.Task | None = None
        self._closed = False
        self._wal_lock = threading.Lock()
        self._soon: list = []
        self._soon_callbacks: list = []
        self._soon_raw: list = []
        self._soon_cache: list = []  # storage keys of _soon entries to cache if new
        self._soon_drop: list = []  # (keyspace id, T): spans to delete before the rest
        self._soon_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # no stored version has a timestamp above this (see the module docstring)
        self.watermark = self._load_watermark()
        # keyspace id -> T of its truncation (FLUSHDB): versions at or below are gone.
        # Mutated in place, never rebound: the coordinator holds the same dict.
        self.truncated: dict[int, int] = {}
        self.unswept: dict[int, int] = {}  # those whose old versions may still be stored
        self._load_truncations()
        self.cache = RowCache(row_cache_bytes)  # write-through (storage/cache.py)

    def _load_watermark(self) -> int:
        raw = self._db.get(WATERMARK_KEY)
        if raw is not None:
            return int.from_bytes(raw, "big")
        # a database written without one (or empty): the highest timestamp stored,
        # saved at once so that the scan happens only once
        highest, count = 0, 0
        it = self._db.iter()
        it.seek_to_first()
        while it.valid() and not it.key().startswith(SYSTEM_PREFIX):
            highest = max(highest, Version.decode(it.value()).ts)
            count += 1
            it.next()
        if count:
            log.info("storage watermark recomputed from %d stored versions", count)
        self._db.put(WATERMARK_KEY, highest.to_bytes(8, "big"), self._sync)
        return highest

    def _load_truncations(self) -> None:
        for key, raw in self.scan_raw(tr.truncations_prefix(), 1 << 16):
            keyspace_id = tr.truncation_keyspace(key)
            ts, swept = tr.decode_truncation(raw)
            self.truncated[keyspace_id] = ts
            if not swept:
                self.unswept[keyspace_id] = ts

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
            raw = self._db.get(skey)
            version = None if raw is None else Version.decode(raw)
            if fill:
                self.cache.put(skey, version)
        return version

    def scan(self, keyspace_id: int, start: bytes, end: bytes, limit: int,
             group_prefix: int = 0):
        """Versions with placement keys in ``[start, end)`` (``end == b""``: to the
        end of the keyspace), at least ``limit`` unless the span runs out.

        After ``limit`` items the scan goes on while the first ``group_prefix``
        bytes equal the last item's, so a group is never split across pages.
        Returns ``(items, truncated, last_pkey)`` with items as ``(pkey, Version)``.
        """
        prefix = keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big")
        stop = prefix + end if end else (keyspace_id + 1).to_bytes(KEYSPACE_ID_BYTES, "big")
        hide = self.unswept.get(keyspace_id, -1)  # truncated, not deleted yet
        it = self._db.iter()
        it.seek(prefix + start)
        items: list[tuple[bytes, Version]] = []
        group = None
        while it.valid():
            key = it.key()
            if key >= stop:
                break
            pkey = key[KEYSPACE_ID_BYTES:]
            if len(items) >= limit:
                if group is None:
                    group = items[-1][0][:group_prefix] if group_prefix else b""
                if not group_prefix or pkey[:group_prefix] != group:
                    return items, True, items[-1][0]
            version = Version.decode(it.value())
            if version.ts > hide:
                items.append((pkey, version))
            it.next()
        return items, False, items[-1][0] if items else b""

    def iter_range_raw(self, keyspace_id: int, start: bytes, end: bytes,
                       include_hidden: bool = False):
        """``(pkey, stored bytes)`` of every entry in ``[start, end)``, from one
        RocksDB iterator: a consistent point-in-time view (an iterator reads from
        the implicit snapshot taken when it is created), even if the caller yields
        to the event loop between items. Versions a truncation hides are left out
        unless ``include_hidden`` (for the sweep that deletes them)."""
        prefix = keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big")
        stop = prefix + end if end else (keyspace_id + 1).to_bytes(KEYSPACE_ID_BYTES, "big")
        hide = -1 if include_hidden else self.unswept.get(keyspace_id, -1)
        it = self._db.iter()
        it.seek(prefix + start)
        while it.valid():
            key = it.key()
            if key >= stop:
                return
            raw = it.value()
            if hide < 0 or Version.decode(raw).ts > hide:
                yield key[KEYSPACE_ID_BYTES:], raw
            it.next()

    def get_raw_many(self, skeys) -> list:
        """Stored bytes (or None) of full storage keys."""
        return self._db.get(list(skeys))

    def get_many(self, keyspace_id: int, pkeys) -> list:
        """Stored versions (or None) of ``pkeys``."""
        raws = self._db.get([storage_key(keyspace_id, p) for p in pkeys])
        versions = [None if raw is None else Version.decode(raw) for raw in raws]
        hide = self.unswept.get(keyspace_id, -1) if self.unswept else -1
        if hide < 0:
            return versions
        return [None if v is None or v.ts <= hide else v for v in versions]  # not swept yet

    def stats(self) -> tuple[int, int]:
        """Estimated (keys, bytes) stored, from RocksDB's own counters."""
        keys = self._db.property_int_value("rocksdb.estimate-num-keys") or 0
        disk = self._db.property_int_value("rocksdb.total-sst-files-size") or 0
        mem = self._db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return keys, disk + mem

    # ---- writes --------------------------------------------------------------

    def apply(self, entries, raw=(), cache_new=(), drop=()) -> bool:
        """Merge ``(keyspace_id, pkey, Version)`` entries in one write batch, with
        ``raw`` system records ``(storage key, value or None to delete)``, a
        sequence (it is read twice: into the batch, then out of the row cache).
        The winners replace their row cache entries; those whose storage keys are
        in ``cache_new`` are cached even if they were not (storage/cache.py).
        ``drop`` lists ``(keyspace id, T)`` of truncations whose keyspace span is
        deleted first in the batch, so that the rest of the batch stays.

        Returns True when the batch still needs a WAL sync to be durable as the
        durability setting defines (``batch``), False when it already is.
        """
        batch = rocksdict.WriteBatch(raw_mode=True)
        for keyspace_id, _ in drop:
            batch.delete_range(*keyspace_span(keyspace_id))
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
        if not pending and not raw and not drop:
            # acknowledge a dropped write only once the truncation that drops it is
            # durable (a WAL sync covers every earlier write)
            return dropped and self.durability is BATCH
        put, encode = batch.put, Version.encode
        for skey, version in pending.items():
            put(skey, encode(version))
        if top > watermark:
            batch.put(WATERMARK_KEY, top.to_bytes(8, "big"))
        if self.durability is ALWAYS:
            self._write(batch, self._sync)
        else:
            self._write(batch, self._nosync)
        self.watermark = top
        if drop:
            cache.clear()  # it may hold versions of the dropped spans
            for keyspace_id, ts in drop:  # deleted: nothing left to hide
                if self.unswept.get(keyspace_id) == ts:
                    del self.unswept[keyspace_id]
        for skey, _ in raw:  # system records, and the tombstone GC's deletes
            cache.discard(skey)
        cache.put_many(pending.items(), set(cache_new) if cache_new else ())
        return self.durability is BATCH

    def write_soon(self, entries: list, on_durable, cache: bool = False) -> None:
        """Queue entries for the one write batch of this loop turn (write combining:
        every coordinator and replica write of a turn shares one RocksDB write and
        one WAL sync). ``on_durable(error)`` is called once they are durable
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

    def truncate(self, keyspace_id: int, ts: int, on_durable) -> bool:
        """:func:`truncate_keyspace` of this storage."""
        return truncate_keyspace(self, keyspace_id, ts, on_durable, self._soon_drop)

    def swept(self, keyspace_id: int, ts: int, on_durable) -> None:
        """:func:`record_swept` of this storage."""
        record_swept(self, keyspace_id, ts, on_durable)

    def scan_raw(self, prefix: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` system records whose key starts with ``prefix``, in order."""
        it = self._db.iter()
        it.seek(prefix)
        out = []
        while it.valid() and len(out) < limit:
            key = it.key()
            if not key.startswith(prefix):
                break
            out.append((key, it.value()))
            it.next()
        return out

    def _flush_soon(self) -> None:
        entries, callbacks, raw = self._soon, self._soon_callbacks, self._soon_raw
        cache_new, drop = self._soon_cache, self._soon_drop
        self._soon, self._soon_callbacks, self._soon_raw, self._soon_cache = [], [], [], []
        if drop:
            self._soon_drop = []
        self._soon_scheduled = False
        try:
            needs_sync = self.apply(entries, raw, cache_new, drop)
        except StorageError as exc:
            _notify(callbacks, exc)
            return
        if needs_sync:
            self._wait_for_sync(callbacks)
        else:
            _notify(callbacks, None)

    def _write(self, batch, options) -> None:
        try:
            self._db.write(batch, options)
        except Exception as exc:
            raise StorageError(f"write failed: {exc}") from exc

    def _wait_for_sync(self, callbacks: list) -> None:
        self._sync_waiters.extend(callbacks)
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = self._loop.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        """One WAL sync at a time; each covers every write made before it began."""
        while self._sync_waiters and not self._closed:
            waiters, self._sync_waiters = self._sync_waiters, []
            try:
                await self._loop.run_in_executor(None, self._sync_wal)
            except Exception as exc:
                _notify(waiters, StorageError(f"WAL sync failed: {exc}"))
            else:
                _notify(waiters, None)

    async def run_periodic_sync(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(self.periodic_sync_ms / 1000)
            await loop.run_in_executor(None, self._sync_wal)

    def _sync_wal(self) -> None:
        """In an executor thread. The lock keeps ``close`` from closing the database
        under a sync still running there (a cancelled task does not stop its thread)."""
        with self._wal_lock:
            if not self._closed:
                self._db.flush_wal(True)

    def close(self) -> None:
        with self._wal_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._db.flush_wal(True)
            finally:
                self._db.close()


def _notify(callbacks, error) -> None:
    for callback in callbacks:
        callback(error)


# ---- truncation records, shared with the simulation's storage (sim/storage.py) --------

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
