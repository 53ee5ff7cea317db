"""The simulation's disk: an in-memory plain engine under the real eventual layer.

:class:`MemEngine` implements the plain layer of storage/engine.py (raw keys and
bytes, write batches, range deletes, snapshots, files for export and ingest) over
dicts, with a crash that loses what was not synced: a write lands in what reads
see at once and in what survives a crash only when a sync that began after it
completes, :data:`SYNC_DELAY_S` of virtual time later. A crash may keep a prefix
of the writes not synced yet (``crash(kept)``), as RocksDB's write-ahead log after
a power loss: written in order, recovered up to where it was torn.
:class:`SimStorage` is the engine's own :class:`~quorumkv.storage.engine.Storage`
(LWW merge, watermark, truncations, row cache, group commit) over it, so the
simulation replaces only the disk under the engine interface.
"""

from __future__ import annotations

import bisect
from collections import deque

from ..storage.engine import BATCH, PlainEngine, Storage, StorageError

SYNC_DELAY_S = 0.001
ROW_CACHE_BYTES = 1 << 20


class MemBatch:
    """A write batch: operations applied in order, at once."""

    def __init__(self) -> None:
        self.ops: list[tuple] = []

    def put(self, skey: bytes, value: bytes) -> None:
        self.ops.append((skey, value))

    def delete(self, skey: bytes) -> None:
        self.ops.append((skey, None))

    def delete_range(self, lo: bytes, hi: bytes) -> None:
        self.ops.append((lo, hi, None))


def _apply(data: dict, ops) -> None:
    for op in ops:
        if len(op) == 3:
            lo, hi, _ = op
            for skey in [k for k in data if lo <= k < hi]:
                del data[skey]
        elif op[1] is None:
            data.pop(op[0], None)
        else:
            data[op[0]] = op[1]


class MemSnapshot:
    """The entries at one point in time, sorted."""

    def __init__(self, data: dict) -> None:
        self._items = sorted(data.items())
        self._keys = [k for k, _ in self._items]

    def iter_span(self, lo: bytes, hi: bytes):
        for i in range(bisect.bisect_left(self._keys, lo), len(self._items)):
            item = self._items[i]
            if item[0] >= hi:
                return
            yield item


class MemEngine(PlainEngine):
    """The plain layer in memory. ``files`` is the simulated file system that
    export and ingest use (share one dict between engines to move files)."""

    def __init__(self, files: dict | None = None) -> None:
        self.data: dict[bytes, bytes] = {}     # what reads see
        self.durable: dict[bytes, bytes] = {}  # what survives a crash
        self._pending: deque = deque()  # (number, ops) of the writes not durable, in order
        self._written = 0               # writes so far: the number of the last one
        self.files = files if files is not None else {}
        self.epoch = 0  # bumped by a crash: syncs begun before it are lost
        self.get = self.data.get  # ``data`` is mutated in place, never rebound

    def get_many(self, skeys) -> list:
        return [self.data.get(k) for k in skeys]

    def batch(self) -> MemBatch:
        return MemBatch()

    def write(self, batch: MemBatch, sync: bool = False) -> None:
        _apply(self.data, batch.ops)
        self._written += 1
        self._pending.append((self._written, batch.ops))
        if sync:  # a sync covers every earlier write too
            self._make_durable(self._written)

    def snapshot(self) -> MemSnapshot:
        return MemSnapshot(self.data)

    def write_file(self, path: str, items) -> None:
        items = list(items)
        if any(a[0] >= b[0] for a, b in zip(items, items[1:])):
            raise StorageError(f"cannot write {path}: keys must be in strictly ascending order")
        self.files[path] = items

    def read_file(self, path: str) -> list:
        try:
            return list(self.files[path])
        except KeyError:
            raise StorageError(f"cannot read {path}: no such file") from None

    def ingest(self, path: str) -> None:
        batch = MemBatch()
        for skey, value in self.read_file(path):
            batch.put(skey, value)
        self.write(batch, sync=True)  # an ingested file is durable, as RocksDB's

    def off_loop(self, loop, fn, *args):
        """Run ``fn`` now: in the simulation a file costs no time."""
        future = loop.create_future()
        future.set_result(fn(*args))
        return future

    def synced(self, loop):
        future = loop.create_future()
        loop.call_later(SYNC_DELAY_S, self._synced, self.epoch, self._written, future)
        return future

    def _synced(self, epoch: int, upto: int, future) -> None:
        if epoch != self.epoch:
            return  # crashed before the sync: lost, never acknowledged
        self._make_durable(upto)
        if not future.done():
            future.set_result(None)

    def _make_durable(self, upto: int) -> None:
        """Writes up to number ``upto`` survive a crash from now on, in order."""
        while self._pending and self._pending[0][0] <= upto:
            _apply(self.durable, self._pending.popleft()[1])

    def stats(self) -> tuple[int, int]:
        return len(self.data), sum(len(v) for v in self.data.values())

    def close(self) -> None:
        pass

    def crash(self, kept: float = 0.0) -> None:
        """Lose the writes not synced but the first ``kept`` fraction of them."""
        if self._pending:
            kept_writes = int(len(self._pending) * kept)
            if kept_writes:
                self._make_durable(self._pending[kept_writes - 1][0])
        self.epoch += 1
        self._pending.clear()
        self.data.clear()
        self.data.update(self.durable)


class SimStorage(Storage):
    """The real eventual layer over a :class:`MemEngine`; ``crash`` loses what was
    not synced, and the layer's state is reloaded from what survived."""

    def __init__(self, sim, files: dict | None = None) -> None:
        self.sim = sim
        super().__init__("sim", BATCH, row_cache_bytes=ROW_CACHE_BYTES,
                         engine=MemEngine(files))

    def crash(self, kept: float = 0.0) -> None:
        self.engine.crash(kept)
        if self._sync_task is not None:
            self._sync_task.cancel()  # its sync never completes
        self._sync_task = None
        self._sync_waiters = []
        self._soon, self._soon_callbacks, self._soon_raw, self._soon_cache = [], [], [], []
        self._soon_drop, self._soon_spans, self._soon_scheduled = [], [], False
        self.cache.clear()
        self._load()  # watermark and truncations, in place, as at a restart
