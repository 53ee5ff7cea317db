"""In-memory storage with the engine's interface and a crash that loses what was
not synced. Writes of a loop turn are one batch, applied at the end of the turn
and made durable (then acknowledged) a moment later, like group commit."""

from __future__ import annotations

from ..core import truncation as tr
from ..core.version import Version
from ..storage.engine import (KEYSPACE_ID_BYTES, keyspace_span, record_swept, storage_key,
                              truncate_keyspace)

SYNC_DELAY_S = 0.001


class SimStorage:
    def __init__(self, sim) -> None:
        self.sim = sim
        self.data: dict[bytes, bytes] = {}     # what reads see
        self.durable: dict[bytes, bytes] = {}  # what survives a crash
        self._soon: list = []
        self._soon_raw: list = []
        self._callbacks: list = []
        self._drop: list = []
        self._scheduled = False
        self.epoch = 0  # bumped by a crash: syncs scheduled before it are lost
        self.truncated: dict[int, int] = {}  # as the engine's (FLUSHDB)
        self.unswept: dict[int, int] = {}
        self.watermark = 0

    def _hidden(self, keyspace_id: int, version: Version) -> bool:
        return version.ts <= self.unswept.get(keyspace_id, -1)

    # ---- reads -------------------------------------------------------------------

    def get(self, keyspace_id: int, pkey: bytes) -> Version | None:
        raw = self.data.get(storage_key(keyspace_id, pkey))
        version = None if raw is None else Version.decode(raw)
        return None if version is None or self._hidden(keyspace_id, version) else version

    def get_many(self, keyspace_id: int, pkeys) -> list:
        return [self.get(keyspace_id, p) for p in pkeys]

    def get_raw_many(self, skeys) -> list:
        return [self.data.get(k) for k in skeys]

    def _sorted(self, lo: bytes, hi: bytes | None):
        return [(k, self.data[k]) for k in sorted(self.data) if k >= lo and (hi is None or k < hi)]

    def iter_range_raw(self, keyspace_id: int, start: bytes, end: bytes,
                       include_hidden: bool = False):
        prefix = keyspace_id.to_bytes(KEYSPACE_ID_BYTES, "big")
        hi = prefix + end if end else (keyspace_id + 1).to_bytes(KEYSPACE_ID_BYTES, "big")
        for k, raw in self._sorted(prefix + start, hi):
            if include_hidden or not self._hidden(keyspace_id, Version.decode(raw)):
                yield k[KEYSPACE_ID_BYTES:], raw

    def scan(self, keyspace_id: int, start: bytes, end: bytes, limit: int, group_prefix=0):
        items = [(p, Version.decode(raw)) for p, raw in self.iter_range_raw(keyspace_id,
                                                                          start, end)]
        return items, False, items[-1][0] if items else b""

    def scan_raw(self, prefix: bytes, limit: int):
        return [(k, v) for k, v in self._sorted(prefix, None) if k.startswith(prefix)][:limit]

    def stats(self) -> tuple[int, int]:
        return len(self.data), sum(len(v) for v in self.data.values())

    # ---- writes ------------------------------------------------------------------

    def write_soon(self, entries, on_durable, cache: bool = False) -> None:
        """As the engine's; ``cache`` means nothing here: there is no row cache."""
        self._soon.extend(entries)
        self._callbacks.append(on_durable)
        if not self._scheduled:
            self._scheduled = True
            self.sim.loop.call_soon(self._flush)

    def write_raw_soon(self, records, on_durable) -> None:
        self._soon_raw.extend(records)
        self.write_soon((), on_durable)

    def truncate(self, keyspace_id: int, ts: int, on_durable) -> bool:
        return truncate_keyspace(self, keyspace_id, ts, on_durable, self._drop)

    def swept(self, keyspace_id: int, ts: int, on_durable) -> None:
        record_swept(self, keyspace_id, ts, on_durable)

    def _flush(self) -> None:
        entries, raw, callbacks, drop = self._soon, self._soon_raw, self._callbacks, self._drop
        self._soon, self._soon_raw, self._callbacks, self._scheduled = [], [], [], False
        self._drop = []
        batch: dict[bytes, bytes | None] = {}
        for ks_id, _ in drop:
            lo, hi = keyspace_span(ks_id)
            batch.update((k, None) for k in self.data if lo <= k < hi)
        for skey, value in raw:
            batch[skey] = value
        for ks_id, pkey, version in entries:
            if version.ts <= self.truncated.get(ks_id, -1):
                continue
            self.watermark = max(self.watermark, version.ts)
            skey = storage_key(ks_id, pkey)
            current = batch.get(skey, self.data.get(skey))
            if current is None or version > Version.decode(current):
                batch[skey] = version.encode()
        for skey, value in batch.items():
            if value is None:
                self.data.pop(skey, None)
            else:
                self.data[skey] = value
        for ks_id, ts in drop:
            if self.unswept.get(ks_id) == ts:
                del self.unswept[ks_id]
        epoch = self.epoch
        self.sim.loop.call_later(SYNC_DELAY_S, self._synced, epoch, batch, callbacks)

    def _synced(self, epoch: int, batch: dict, callbacks: list) -> None:
        if epoch != self.epoch:
            return  # crashed before the sync: lost, never acknowledged
        for skey, value in batch.items():
            if value is None:
                self.durable.pop(skey, None)
            else:
                self.durable[skey] = value
        for callback in callbacks:
            callback(None)

    def crash(self) -> None:
        self.epoch += 1
        self.data = dict(self.durable)
        self._soon, self._soon_raw, self._callbacks, self._scheduled = [], [], [], False
        self._drop = []
        self.truncated.clear()  # in place, as the engine's: reloaded from what survived
        self.unswept.clear()
        for key, raw in self.scan_raw(tr.truncations_prefix(), 1 << 16):
            ts, swept = tr.decode_truncation(raw)
            self.truncated[tr.truncation_keyspace(key)] = ts
            if not swept:
                self.unswept[tr.truncation_keyspace(key)] = ts
        self.watermark = max((Version.decode(v).ts for k, v in self.data.items()
                              if not k.startswith(tr.SYSTEM_PREFIX)), default=0)
